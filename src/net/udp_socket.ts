/**
 * `UdpSocket`: a nonblocking AF_INET/AF_INET6 datagram socket through libc that receives without ever blocking
 * Deno's event loop, for the Layer 2 heartbeats and BFD. It replaces `node:dgram` (importing any `node:` module makes
 * Deno load its Node compatibility layer, about 7 MB) and `Deno.listenDatagram` (still behind `--unstable-net` in
 * 2.9, and unable to set a TTL or a filter). Also the one `sockaddr_in`/`sockaddr_in6` codec (`encodeSockaddr`,
 * `decodeSockaddr`) that BGP's TCP sockets use too.
 *
 * Receiving drains the socket with `recvfrom` until EAGAIN (at most a batch, so a flood cannot starve timers), then
 * waits in `poll` on a worker thread through `Readiness`, whose eventfd `close()` writes so that poll returns before
 * the socket is closed: no thread is left watching a descriptor number the process may reuse.
 * @module
 */

import { formatIp, ipFromBytes, ipToBytes, tryParseIp } from "../ip/mod.ts";
import { assembleBpf, BPF_ACCEPT, BPF_DROP, type BpfInstruction } from "./bpf.ts";
import {
  AF_INET,
  AF_INET6,
  check,
  cString,
  EADDRINUSE,
  errno,
  libc,
  LibcError,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
} from "./libc.ts";
import { Readiness } from "./readiness.ts";
import { Receiver } from "./_receiver.ts";
import { attachSocketFilter, setIntOptions, setTtl } from "./socket_options.ts";

/** A range of local ports to bind one of, both ends included. */
export interface UdpPortRange {
  /** Lowest port. */
  readonly min: number;
  /** Highest port. */
  readonly max: number;
}

/** Options for {@link UdpSocket.open}. */
export interface UdpSocketOptions {
  /** Local address to bind: "0.0.0.0", "::", or one address of the host. Its family is the socket's. */
  readonly address: string;
  /**
   * Local port; 0 lets the kernel pick one (read it back from {@link UdpSocket.port}). With a range, a free port in
   * it is taken, starting from a random one (e.g. RFC 5881's BFD source ports, 49152-65535).
   */
  readonly port: number | UdpPortRange;
  /** Picks where in a port range to start looking (a number in [0, 1)); default `Math.random`. */
  readonly random?: () => number;
  /** For an IPv6 socket: refuse IPv4 traffic (IPV6_V6ONLY). Default true, so an IPv4 socket can share the port. */
  readonly ipv6Only?: boolean;
  /** SO_REUSEADDR, so another socket that sets it too may bind the same port. Default false. */
  readonly reuseAddress?: boolean;
  /** TTL (IPv6: hop limit) of the datagrams sent, e.g. 255 for GTSM (RFC 5082); default the kernel's. */
  readonly ttl?: number;
  /**
   * Smallest TTL (IPv6: hop limit) a datagram may arrive with; lower ones are dropped in the kernel by a classic BPF
   * filter attached before bind, so none is ever queued (GTSM, RFC 5082: 255 accepts directly connected senders only).
   */
  readonly minTtl?: number;
  /** Largest datagram kept; longer ones are delivered cut, with `truncated` set. Default 65535. */
  readonly maxDatagramBytes?: number;
  /** Datagrams read in one go before waiting in poll again, which lets timers run under a flood. Default 64. */
  readonly batchSize?: number;
}

/** A datagram as read from a {@link UdpSocket}. */
export interface ReceivedDatagram {
  /** The payload, at most the socket's `maxDatagramBytes`. */
  readonly bytes: Uint8Array;
  /** The datagram's real length; larger than `bytes.length` when it was cut. */
  readonly length: number;
  /** True when the datagram was longer than `maxDatagramBytes`. */
  readonly truncated: boolean;
  /** The sender's address, canonical text (with `%<scope id>` for a scoped IPv6 address). */
  readonly address: string;
  /** The sender's port. */
  readonly port: number;
}

/** Options for {@link UdpSocket.datagrams}. */
export interface DatagramsOptions {
  /** Ends the iteration (the socket stays open) when aborted. */
  readonly signal?: AbortSignal;
}

/** Counters a UDP socket keeps about itself. */
export interface UdpSocketStats {
  /** Datagrams delivered to the reader. */
  received: number;
  /** Datagrams longer than `maxDatagramBytes`. */
  truncated: number;
  /** Receive errors other than EAGAIN and EINTR. */
  errors: number;
}

/** Options for {@link decodeSockaddr}. */
export interface DecodeSockaddrOptions {
  /** Append `%<scope id>` to a scoped IPv6 address. Default true. */
  readonly zone?: boolean;
  /** Give an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as IPv4. Default false. */
  readonly unmapIpv4?: boolean;
}

const SOCKADDR_IN_SIZE = 16;
const SOCKADDR_IN6_SIZE = 28;
// uapi/linux/filter.h: a socket filter reads the network header from SKF_NET_OFF on (offset 0 is the UDP payload).
const SKF_NET_OFF = -0x100000;
// The TTL is octet 8 of the IPv4 header (RFC 791), the hop limit octet 7 of the IPv6 header (RFC 8200).
const TTL_OFFSET = { 4: 8, 6: 7 } as const;

/** A classic BPF program that drops datagrams which arrived with a TTL / hop limit below `minTtl`. */
function minTtlFilter(family: 4 | 6, minTtl: number): BpfInstruction[] {
  return assembleBpf([
    { op: "ld", size: "byte", offset: SKF_NET_OFF + TTL_OFFSET[family] },
    { op: "jge", value: minTtl, then: "accept", else: "drop" },
    { op: "label", name: "accept" },
    { op: "ret", value: BPF_ACCEPT },
    { op: "label", name: "drop" },
    { op: "ret", value: BPF_DROP },
  ]);
}

/**
 * A `struct sockaddr_in` or `sockaddr_in6` for an address text and port. IPv6 text may carry a zone
 * (`fe80::1%eth0` or `fe80::1%2`). Undefined when the text is not an address or names an unknown interface.
 */
export function encodeSockaddr(address: string, port: number): Uint8Array<ArrayBuffer> | undefined {
  const percent = address.indexOf("%");
  const ip = tryParseIp(percent < 0 ? address : address.slice(0, percent));
  if (ip === undefined || !Number.isInteger(port) || port < 0 || port > 0xffff) return undefined;
  if (ip.family === 4) {
    if (percent >= 0) return undefined;
    const out = new Uint8Array(SOCKADDR_IN_SIZE);
    const view = new DataView(out.buffer);
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port);
    out.set(ipToBytes(ip), 4);
    return out;
  }
  let scope = 0;
  if (percent >= 0) {
    const zone = address.slice(percent + 1);
    scope = /^\d+$/.test(zone) ? Number(zone) : zone === "" ? -1 : libc().if_nametoindex(cString(zone));
    if (scope <= 0 || scope > 0xffffffff) return undefined;
  }
  const out = new Uint8Array(SOCKADDR_IN6_SIZE);
  const view = new DataView(out.buffer);
  view.setUint16(0, AF_INET6, true);
  view.setUint16(2, port);
  out.set(ipToBytes(ip), 8);
  view.setUint32(24, scope, true);
  return out;
}

/** Reads the address and port of a `struct sockaddr_in` or `sockaddr_in6`; undefined for another family. */
export function decodeSockaddr(
  bytes: Uint8Array,
  options: DecodeSockaddrOptions = {},
): { address: string; port: number } | undefined {
  if (bytes.length < SOCKADDR_IN_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2);
  if (family === AF_INET) return { address: formatIp(ipFromBytes(bytes.subarray(4, 8))), port };
  if (family !== AF_INET6 || bytes.length < SOCKADDR_IN6_SIZE) return undefined;
  const raw = bytes.subarray(8, 24);
  // RFC 4291 §2.5.5.2: ::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4 peer.
  if (options.unmapIpv4 && raw.subarray(0, 10).every((b) => b === 0) && raw[10] === 0xff && raw[11] === 0xff) {
    return { address: formatIp(ipFromBytes(raw.subarray(12, 16))), port };
  }
  const scope = view.getUint32(24, true);
  const address = formatIp(ipFromBytes(raw));
  return { address: scope === 0 || options.zone === false ? address : `${address}%${scope}`, port };
}

/** Binds `fd` to `address` and a port, or to a free one of a range (starting at a random place in it). */
function bindPort(fd: number, options: UdpSocketOptions, context: string): void {
  const lib = libc();
  const range = typeof options.port === "number" ? { min: options.port, max: options.port } : options.port;
  const size = range.max - range.min + 1;
  const start = Math.min(size - 1, Math.max(0, Math.floor((options.random ?? Math.random)() * size)));
  for (let i = 0; i < size; i++) {
    const local = encodeSockaddr(options.address, range.min + ((start + i) % size));
    if (local === undefined) break; // checked by open()
    if (lib.bind(fd, local, local.length) === 0) return;
    const code = errno();
    if (code !== EADDRINUSE || size === 1) throw new LibcError("bind", code, context);
  }
  throw new LibcError("bind", EADDRINUSE, `${context}: every port is taken`);
}

/**
 * A bound UDP socket (needs `--allow-ffi`).
 * @example
 * const socket = UdpSocket.open({ address: "0.0.0.0", port: 7947 });
 * socket.sendTo(bytes, "198.51.100.2", 7947);
 * for await (const datagram of socket.datagrams()) handle(datagram.bytes, datagram.address);
 * await socket.close(); // from elsewhere: ends the loop above
 */
export class UdpSocket {
  /** 4 or 6, from the bound address. */
  readonly family: 4 | 6;
  /** The port bound (the kernel's pick for port 0). */
  readonly port: number;
  /** Counters about this socket. */
  readonly stats: UdpSocketStats;
  readonly #fd: number;
  readonly #readiness: Readiness;
  readonly #receiver: Receiver;
  readonly #batchSize: number;

  private constructor(fd: number, readiness: Readiness, family: 4 | 6, port: number, options: UdpSocketOptions) {
    this.#fd = fd;
    this.#readiness = readiness;
    this.family = family;
    this.port = port;
    this.#receiver = new Receiver(fd, { maxBytes: options.maxDatagramBytes ?? 65535, addressBytes: SOCKADDR_IN6_SIZE });
    this.stats = this.#receiver.stats;
    this.#batchSize = options.batchSize ?? 64;
  }

  /**
   * Opens and binds the socket. Throws a `TypeError` for an address that is not an IP address, a `RangeError` for a
   * bad port, range or size, and a `LibcError` naming the failed call (EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT
   * without IPv6).
   */
  static open(options: UdpSocketOptions): UdpSocket {
    const maxDatagramBytes = options.maxDatagramBytes ?? 65535;
    if (!Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 1 || maxDatagramBytes > 65535) {
      throw new RangeError(`maxDatagramBytes must be an integer from 1 to 65535, not ${maxDatagramBytes}`);
    }
    const { min, max } = typeof options.port === "number" ? { min: options.port, max: options.port } : options.port;
    const ports = min === max ? `${min}` : `${min}-${max}`;
    if (![min, max].every((p) => Number.isInteger(p) && p >= 0 && p <= 0xffff) || min > max) {
      throw new RangeError(`UDP port must be an integer from 0 to 65535 (a range: lowest first), not ${ports}`);
    }
    for (const [name, ttl] of [["ttl", options.ttl], ["minTtl", options.minTtl]] as const) {
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)) {
        throw new RangeError(`${name} must be an integer from 1 to 255, not ${ttl}`);
      }
    }
    const local = encodeSockaddr(options.address, min);
    if (local === undefined) throw new TypeError(`Cannot bind UDP to "${options.address}": not an IP address`);
    const family = local.length === SOCKADDR_IN_SIZE ? 4 : 6;
    const context = `${options.address} port ${ports}`;
    const lib = libc();
    const fd = check(
      "socket(SOCK_DGRAM)",
      lib.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
      context,
    );
    try {
      setIntOptions(fd, {
        IPV6_V6ONLY: family === 6 ? (options.ipv6Only === false ? 0 : 1) : undefined,
        SO_REUSEADDR: options.reuseAddress ? 1 : undefined,
      }, context);
      if (options.ttl !== undefined) setTtl(fd, { family, ttl: options.ttl });
      if (options.minTtl !== undefined) attachSocketFilter(fd, minTtlFilter(family, options.minTtl), context);
      bindPort(fd, options, context);
      const bound = new Uint8Array(SOCKADDR_IN6_SIZE);
      const boundLength = new Uint8Array(4);
      new DataView(boundLength.buffer).setUint32(0, bound.length, true);
      check("getsockname", lib.getsockname(fd, bound, boundLength), context);
      const port = decodeSockaddr(bound)?.port ?? min;
      const readiness = new Readiness(fd, `UDP socket on ${options.address} port ${port}`);
      return new UdpSocket(fd, readiness, family, port, options);
    } catch (error) {
      lib.close(fd);
      throw error;
    }
  }

  /**
   * Sends one datagram without waiting. Throws a `TypeError` for an address that is not an IP address of this
   * socket's family, and a `LibcError` when the kernel refuses it (EAGAIN with a full send buffer, ENETUNREACH, ...).
   */
  sendTo(data: Uint8Array, address: string, port: number): void {
    if (this.#readiness.closed) throw new Error(`Cannot send on a closed UDP socket (port ${this.port})`);
    const to = encodeSockaddr(address, port);
    if (to === undefined || (to.length === SOCKADDR_IN_SIZE ? 4 : 6) !== this.family) {
      throw new TypeError(`Cannot send UDP to "${address}" port ${port}: not an IPv${this.family} address and port`);
    }
    const bytes = data as Uint8Array<ArrayBuffer>;
    const sent = Number(libc().sendto(this.#fd, bytes, BigInt(bytes.length), MSG_DONTWAIT, to, to.length));
    if (sent < 0) throw new LibcError("sendto", errno(), `${address} port ${port}`);
  }

  /** Datagrams as they arrive, until `close()` or until `signal` aborts. Only one reader may iterate at a time. */
  datagrams(options: DatagramsOptions = {}): AsyncGenerator<ReceivedDatagram, void, undefined> {
    const receiveOne = () => this.#receiver.read((from) => decodeSockaddr(from));
    return this.#readiness.drain(receiveOne, { batchSize: this.#batchSize, signal: options.signal });
  }

  /** Ends `datagrams()`, waits until poll has returned, then closes the socket. Idempotent. */
  close(): Promise<void> {
    return this.#readiness.close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
