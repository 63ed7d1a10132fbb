/**
 * `PacketSocket`: an AF_PACKET/SOCK_RAW socket bound to one interface and one ethertype, filtered in the kernel by a
 * classic BPF program, that receives without ever blocking Deno's event loop.
 *
 * The socket is nonblocking. Receiving drains it with `recvfrom` until EAGAIN, then waits in `poll` on a Deno
 * worker thread through `Readiness`, whose eventfd `close()` writes so that poll returns before the socket is closed:
 * a thread blocked in `recv` on an AF_PACKET socket is not woken by `close`, and closing a descriptor another thread
 * still polls could let it watch a reused number.
 * @module
 */

import type { BpfInstruction } from "./bpf.ts";
import { interfaceInfo } from "./interface.ts";
import {
  AF_PACKET,
  check,
  errno,
  htons,
  libc,
  LibcError,
  PACKET_ADD_MEMBERSHIP,
  PACKET_DROP_MEMBERSHIP,
  PACKET_MR_MULTICAST,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_PACKET,
} from "./libc.ts";
import { Readiness } from "./readiness.ts";
import { Receiver } from "./_receiver.ts";
import { attachSocketFilter, setIntOptions } from "./socket_options.ts";

/** A frame as read from a packet socket. */
export interface ReceivedFrame {
  /** The frame from the Ethernet header on (no FCS), at most the socket's `maxFrameBytes`. */
  bytes: Uint8Array;
  /** The frame's real length; larger than `bytes.length` when it was truncated. */
  length: number;
  /** True when the frame was longer than the receive buffer and was cut. */
  truncated: boolean;
  /** `sll_pkttype`: 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by this host. */
  pktType: number;
}

/**
 * What the ARP and NDP responders need from a socket on one interface; {@link PacketSocket} implements it and tests
 * pass fakes.
 */
export interface FrameSocket {
  /** Interface name, e.g. "eth0". */
  readonly interfaceName: string;
  /** Kernel interface index. */
  readonly interfaceIndex: number;
  /** The interface's MAC address (6 bytes). */
  readonly mac: Uint8Array;
  /** Sends one complete Ethernet frame; throws on failure (e.g. a `LibcError` with ENOBUFS or ENETDOWN). */
  send(frame: Uint8Array): void;
  /** Frames as they arrive, until the socket is closed or `signal` aborts. Only one reader at a time. */
  frames(options?: FramesOptions): AsyncIterable<ReceivedFrame>;
  /** Replaces the kernel filter (atomically: no frame sees no filter), e.g. when the set of owned VIPs changes. */
  setFilter(program: readonly BpfInstruction[]): void;
  /** Joins a link-layer multicast group (e.g. 33:33:ff:xx:xx:xx for an IPv6 solicited-node group). */
  addMembership(mac: Uint8Array): void;
  /** Leaves a group joined with `addMembership`. */
  dropMembership(mac: Uint8Array): void;
  /** Stops reading and releases the socket; resolves once nothing is waiting on it any more. */
  close(): Promise<void>;
}

/** Options for {@link FrameSocket.frames}. */
export interface FramesOptions {
  /** Ends the iteration (the socket stays open) when aborted. */
  signal?: AbortSignal;
}

/** Options for {@link PacketSocket.open}. */
export interface PacketSocketOptions {
  /** Interface to bind to, e.g. "eth0". */
  interface: string;
  /** Ethertype to receive, e.g. `ETH_P_ARP` (0x0806) or `ETH_P_IPV6` (0x86dd). */
  protocol: number;
  /** Classic BPF program run by the kernel on every frame; without one every frame of `protocol` is delivered. */
  filter?: readonly BpfInstruction[];
  /** Largest frame kept; longer ones are reported as truncated. Default 9216 (jumbo frames). */
  maxFrameBytes?: number;
  /** SO_RCVBUF in bytes; default the kernel's. */
  receiveBufferBytes?: number;
  /** Frames read in one go before waiting in poll again, which lets timers run under a flood. Default 64. */
  batchSize?: number;
}

/** Counters a packet socket keeps about itself. */
export interface PacketSocketStats {
  /** Frames delivered to the reader. */
  received: number;
  /** Frames longer than the receive buffer (delivered with `truncated: true`). */
  truncated: number;
  /** Receive errors other than EAGAIN (e.g. ENETDOWN when the link went down). */
  errors: number;
}

const SOCKADDR_LL_SIZE = 20;
const PACKET_MREQ_SIZE = 16;

/** A `struct sockaddr_ll` for bind(): family, protocol (network order), ifindex; the rest zero. */
function sockaddrLl(protocol: number, index: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(SOCKADDR_LL_SIZE);
  const view = new DataView(out.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setUint16(2, htons(protocol), true);
  view.setInt32(4, index, true);
  return out;
}

/** A `struct packet_mreq` for a multicast MAC on one interface. */
function packetMreq(index: number, mac: Uint8Array): Uint8Array<ArrayBuffer> {
  if (mac.length !== 6) throw new TypeError(`A multicast MAC has 6 bytes, not ${mac.length}`);
  const out = new Uint8Array(PACKET_MREQ_SIZE);
  const view = new DataView(out.buffer);
  view.setInt32(0, index, true);
  view.setUint16(4, PACKET_MR_MULTICAST, true);
  view.setUint16(6, 6, true);
  out.set(mac, 8);
  return out;
}

/**
 * An AF_PACKET raw socket on one interface (needs CAP_NET_RAW and `--allow-ffi`).
 * @example
 * const socket = PacketSocket.open({ interface: "eth0", protocol: ETH_P_ARP, filter: arpRequestFilter() });
 * for await (const frame of socket.frames()) handle(frame.bytes);
 * await socket.close(); // from elsewhere: ends the loop above
 */
export class PacketSocket implements FrameSocket {
  readonly interfaceName: string;
  readonly interfaceIndex: number;
  readonly mac: Uint8Array;
  /** Counters about this socket. */
  readonly stats: PacketSocketStats;
  readonly #fd: number;
  readonly #readiness: Readiness;
  readonly #receiver: Receiver;
  readonly #batchSize: number;

  private constructor(
    fd: number,
    readiness: Readiness,
    info: { name: string; index: number; mac: Uint8Array },
    options: PacketSocketOptions,
  ) {
    this.#fd = fd;
    this.#readiness = readiness;
    this.interfaceName = info.name;
    this.interfaceIndex = info.index;
    this.mac = info.mac;
    this.#receiver = new Receiver(fd, { maxBytes: options.maxFrameBytes ?? 9216, addressBytes: SOCKADDR_LL_SIZE });
    this.stats = this.#receiver.stats;
    this.#batchSize = options.batchSize ?? 64;
  }

  /**
   * Opens and binds the socket. Throws a `LibcError` naming the failed call (EPERM without CAP_NET_RAW, ENODEV for
   * an unknown interface) and a `TypeError` for a bad interface name.
   */
  static open(options: PacketSocketOptions): PacketSocket {
    const maxFrameBytes = options.maxFrameBytes ?? 9216;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 64 || maxFrameBytes > 65536) {
      throw new RangeError(`maxFrameBytes must be an integer from 64 to 65536, not ${maxFrameBytes}`);
    }
    if (!Number.isInteger(options.protocol) || options.protocol <= 0 || options.protocol > 0xffff) {
      throw new RangeError(`protocol must be an ethertype from 1 to 0xffff, not ${options.protocol}`);
    }
    const context = `interface ${JSON.stringify(options.interface)}`;
    const lib = libc();
    // Protocol 0 receives nothing until bind(), so no unfiltered frame can queue up before the filter is attached.
    const fd = check("socket(AF_PACKET)", lib.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), context);
    try {
      const info = interfaceInfo(options.interface, fd);
      if (options.filter !== undefined) attachSocketFilter(fd, options.filter, context);
      setIntOptions(fd, { SO_RCVBUF: options.receiveBufferBytes }, context);
      check("bind(AF_PACKET)", lib.bind(fd, sockaddrLl(options.protocol, info.index), SOCKADDR_LL_SIZE), context);
      return new PacketSocket(fd, new Readiness(fd, `Packet socket on ${info.name}`), info, options);
    } catch (error) {
      lib.close(fd);
      throw error;
    }
  }

  /** Sends one Ethernet frame out of the bound interface; throws a `LibcError` on failure. */
  send(frame: Uint8Array): void {
    if (this.#readiness.closed) {
      throw new Error(`Cannot send on closed packet socket (interface ${this.interfaceName})`);
    }
    const sent = Number(libc().send(this.#fd, frame as Uint8Array<ArrayBuffer>, BigInt(frame.length), 0));
    if (sent < 0) throw new LibcError("send", errno(), `interface ${JSON.stringify(this.interfaceName)}`);
  }

  /** Replaces the kernel filter; SO_ATTACH_FILTER swaps programs atomically. */
  setFilter(program: readonly BpfInstruction[]): void {
    if (this.#readiness.closed) return;
    attachSocketFilter(this.#fd, program, `interface ${JSON.stringify(this.interfaceName)}`);
  }

  /** Joins a link-layer multicast group on the bound interface. */
  addMembership(mac: Uint8Array): void {
    this.#membership(PACKET_ADD_MEMBERSHIP, mac);
  }

  /** Leaves a link-layer multicast group. */
  dropMembership(mac: Uint8Array): void {
    this.#membership(PACKET_DROP_MEMBERSHIP, mac);
  }

  #membership(option: number, mac: Uint8Array): void {
    if (this.#readiness.closed) return;
    const name = option === PACKET_ADD_MEMBERSHIP ? "PACKET_ADD_MEMBERSHIP" : "PACKET_DROP_MEMBERSHIP";
    const request = packetMreq(this.interfaceIndex, mac);
    check(`setsockopt(${name})`, libc().setsockopt(this.#fd, SOL_PACKET, option, request, PACKET_MREQ_SIZE));
  }

  /** Frames as they arrive, until `close()` or until `signal` aborts. Only one reader may iterate at a time. */
  frames(options: FramesOptions = {}): AsyncGenerator<ReceivedFrame, void, undefined> {
    // sockaddr_ll: sll_pkttype is octet 10.
    const receiveOne = () => this.#receiver.read((from) => ({ pktType: from[10] ?? 0 }));
    return this.#readiness.drain(receiveOne, { batchSize: this.#batchSize, signal: options.signal });
  }

  /** Ends `frames()`, waits until poll has returned, then closes the socket. Idempotent. */
  close(): Promise<void> {
    return this.#readiness.close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
