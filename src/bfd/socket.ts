/**
 * UDP sockets for single-hop BFD (RFC 5881) through libc, because Deno's datagram sockets cannot set the TTL:
 * packets leave with TTL/hop limit 255 from one source port in 49152-65535, and the receiving socket on port 3784
 * carries a classic BPF filter that drops anything that did not arrive with TTL 255 (RFC 5881 §5, GTSM), so a
 * spoofed packet from off-link never reaches the state machine.
 */
import { assembleBpf, BPF_ACCEPT, BPF_DROP, encodeBpf } from "../net/bpf.ts";
import { formatIp, ipFromBytes, ipToBytes, parseIp } from "../ip/mod.ts";
import {
  AF_INET,
  AF_INET6,
  check,
  EADDRINUSE,
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  errno,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  libc,
  LibcError,
  MSG_DONTWAIT,
  POLLIN,
  SO_ATTACH_FILTER,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../net/libc.ts";
import { BFD_CONTROL_PORT } from "./packet.ts";

/** Runs socket creation in a namespace (tests) or as is. */
export type BfdSocketScope = <T>(create: () => T) => T;

/** What the BFD runtime needs from the network for one address family. */
export interface BfdSocket {
  /** Sends a Control packet to a peer's port 3784. */
  send(peer: string, bytes: Uint8Array): void;
  /** Stops receiving and closes. */
  close(): Promise<void>;
}

/** Options for {@link openBfdSocket}. */
export interface BfdSocketOptions {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Receives each datagram that passed the TTL filter. */
  readonly onPacket: (from: string, bytes: Uint8Array) => void;
  /** Where the sockets are created. */
  readonly scope?: BfdSocketScope;
  /** Picks source ports to try; default random in 49152-65535. */
  readonly random?: () => number;
}

// uapi/linux/filter.h: SKF_NET_OFF lets a socket filter read the network header of a UDP datagram.
const SKF_NET_OFF = -0x100000;
// The TTL is octet 8 of the IPv4 header; the hop limit octet 7 of the IPv6 header.
const TTL_OFFSET = { 4: 8, 6: 7 } as const;

function intOpt(fd: number, level: number, option: number, value: number, what: string): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  check("setsockopt", libc().setsockopt(fd, level, option, b, 4), what);
}

function sockaddrOf(family: 4 | 6, address: string, port: number): Uint8Array<ArrayBuffer> {
  if (family === 4) {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint16(0, AF_INET, true);
    v.setUint16(2, port);
    b.set(ipToBytes(parseIp(address)), 4);
    return b;
  }
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET6, true);
  v.setUint16(2, port);
  b.set(ipToBytes(parseIp(address)), 8);
  return b;
}

function attachTtlFilter(fd: number, family: 4 | 6): void {
  const program = assembleBpf([
    { op: "ld", size: "byte", offset: SKF_NET_OFF + TTL_OFFSET[family] },
    { op: "jeq", value: 255, then: "ok", else: "drop" },
    { op: "label", name: "ok" },
    { op: "ret", value: BPF_ACCEPT },
    { op: "label", name: "drop" },
    { op: "ret", value: BPF_DROP },
  ]);
  const code = encodeBpf(program);
  const fprog = new Uint8Array(16);
  const v = new DataView(fprog.buffer);
  v.setUint16(0, program.length, true);
  v.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(code))), true);
  check("setsockopt", libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16), "BFD TTL filter");
}

/**
 * Opens the receive socket (port 3784, TTL-255 filter) and the send socket (TTL 255, one source port in
 * 49152-65535) of one family.
 */
export function openBfdSocket(options: BfdSocketOptions): BfdSocket {
  const family = options.family;
  const af = family === 4 ? AF_INET : AF_INET6;
  const any = family === 4 ? "0.0.0.0" : "::";
  const scope = options.scope ?? ((f) => f());
  const lib = libc();
  const fds: number[] = [];
  try {
    const rx = scope(() => check("socket", lib.socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
    fds.push(rx);
    const tx = scope(() => check("socket", lib.socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
    fds.push(tx);
    const wake = check("eventfd", lib.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    fds.push(wake);
    if (family === 6) {
      intOpt(rx, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
      intOpt(tx, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    }
    intOpt(rx, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    attachTtlFilter(rx, family);
    const rxAddr = sockaddrOf(family, any, BFD_CONTROL_PORT);
    check("bind", lib.bind(rx, rxAddr, rxAddr.length), `BFD port ${BFD_CONTROL_PORT}`);
    intOpt(tx, family === 4 ? IPPROTO_IP : IPPROTO_IPV6, family === 4 ? IP_TTL : IPV6_UNICAST_HOPS, 255, "TTL 255");
    const random = options.random ?? Math.random;
    for (let attempt = 0;; attempt++) {
      // RFC 5881 §4: the source port MUST be in 49152-65535.
      const port = 49152 + Math.floor(random() * 16384);
      const a = sockaddrOf(family, any, port);
      if (lib.bind(tx, a, a.length) === 0) break;
      const code = errno();
      if (code !== EADDRINUSE || attempt > 50) throw new LibcError("bind", code, "BFD source port");
    }
    return new UdpBfdSocket(family, rx, tx, wake, options.onPacket);
  } catch (error) {
    for (const fd of fds) lib.close(fd);
    throw error;
  }
}

class UdpBfdSocket implements BfdSocket {
  readonly #family: 4 | 6;
  readonly #rx: number;
  readonly #tx: number;
  readonly #wake: number;
  readonly #onPacket: (from: string, bytes: Uint8Array) => void;
  #closed = false;
  readonly #loop: Promise<void>;

  constructor(
    family: 4 | 6,
    rx: number,
    tx: number,
    wake: number,
    onPacket: (from: string, bytes: Uint8Array) => void,
  ) {
    this.#family = family;
    this.#rx = rx;
    this.#tx = tx;
    this.#wake = wake;
    this.#onPacket = onPacket;
    this.#loop = this.#receive();
  }

  send(peer: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    const to = sockaddrOf(this.#family, peer, BFD_CONTROL_PORT);
    // A full send buffer or an unreachable neighbour loses one packet; BFD's detection tolerates that.
    libc().sendto(this.#tx, bytes as Uint8Array<ArrayBuffer>, BigInt(bytes.length), MSG_DONTWAIT, to, to.length);
  }

  async #receive(): Promise<void> {
    const lib = libc();
    const pfds = new Uint8Array(16);
    const v = new DataView(pfds.buffer);
    v.setInt32(0, this.#rx, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, POLLIN, true);
    const buf = new Uint8Array(512);
    const from = new Uint8Array(28);
    const fromLen = new Uint8Array(4);
    while (!this.#closed) {
      v.setInt16(6, 0, true);
      v.setInt16(14, 0, true);
      await lib.pollAsync(pfds, 2n, -1);
      if (this.#closed) break;
      for (;;) {
        new DataView(fromLen.buffer).setUint32(0, 28, true);
        const n = Number(lib.recvfrom(this.#rx, buf, BigInt(buf.length), MSG_DONTWAIT, from, fromLen));
        if (n < 0) {
          if (errno() !== EAGAIN) break;
          break;
        }
        const address = this.#family === 4 ? ipFromBytes(from.subarray(4, 8)) : ipFromBytes(from.subarray(8, 24));
        try {
          this.#onPacket(formatIp(address), buf.slice(0, n));
        } catch {
          // The handler guards itself; a throw here must not end the receive loop.
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 1n, true);
    libc().write(this.#wake, one, 8n);
    await this.#loop;
    for (const fd of [this.#rx, this.#tx, this.#wake]) libc().close(fd);
  }
}
