/**
 * Socket options through libc, named so that a failure says which one: integer options (`setIntOptions`), the TTL /
 * hop limit pair for either family (`setTtl`), and classic BPF filters (`attachSocketFilter`). Used by the UDP and
 * packet sockets here and by BGP's TCP sockets.
 * @module
 */

import { type BpfInstruction, encodeBpf } from "./bpf.ts";
import {
  check,
  IP_MINTTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_MINHOPCOUNT,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  libc,
  SO_ATTACH_FILTER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SOL_SOCKET,
  TCP_NODELAY,
} from "./libc.ts";

/** The integer socket options metallite sets, by name: [level, option]. */
const INT_OPTIONS = {
  SO_REUSEADDR: [SOL_SOCKET, SO_REUSEADDR],
  SO_RCVBUF: [SOL_SOCKET, SO_RCVBUF],
  IP_TTL: [IPPROTO_IP, IP_TTL],
  IP_MINTTL: [IPPROTO_IP, IP_MINTTL],
  IPV6_V6ONLY: [IPPROTO_IPV6, IPV6_V6ONLY],
  IPV6_UNICAST_HOPS: [IPPROTO_IPV6, IPV6_UNICAST_HOPS],
  IPV6_MINHOPCOUNT: [IPPROTO_IPV6, IPV6_MINHOPCOUNT],
  TCP_NODELAY: [IPPROTO_TCP, TCP_NODELAY],
} as const;

/** Name of an integer socket option {@link setIntOptions} knows. */
export type IntSocketOption = keyof typeof INT_OPTIONS;

/** Integer socket options to set, by name; undefined ones are skipped. */
export type IntSocketOptions = { readonly [Name in IntSocketOption]?: number | undefined };

/** TTL settings for {@link setTtl}. */
export interface TtlOptions {
  /** 4 or 6: IPv4 options (IP_TTL, IP_MINTTL) or IPv6 ones (IPV6_UNICAST_HOPS, IPV6_MINHOPCOUNT). */
  readonly family: 4 | 6;
  /** TTL / hop limit of packets sent; undefined leaves the kernel's default. */
  readonly ttl?: number | undefined;
  /** Smallest TTL / hop limit accepted from the peer (GTSM, RFC 5082); undefined leaves it off. */
  readonly minTtl?: number | undefined;
}

const SOCK_FPROG_SIZE = 16;

/**
 * Sets integer socket options in the order given; throws a `LibcError` for the first the kernel refuses, naming it
 * (`setsockopt(IP_TTL) (...) failed: Invalid argument`).
 * @example
 * setIntOptions(fd, { SO_REUSEADDR: 1, IPV6_V6ONLY: 1 }, "BFD port 3784");
 */
export function setIntOptions(fd: number, options: IntSocketOptions, context?: string): void {
  const value = new Uint8Array(4);
  const view = new DataView(value.buffer);
  for (const [name, wanted] of Object.entries(options) as [IntSocketOption, number | undefined][]) {
    if (wanted === undefined) continue;
    const [level, option] = INT_OPTIONS[name];
    view.setInt32(0, wanted, true);
    check(`setsockopt(${name})`, libc().setsockopt(fd, level, option, value, 4), context);
  }
}

/** Sets the TTL (IPv6: hop limit) of sent packets and the minimum accepted, for a socket of `options.family`. */
export function setTtl(fd: number, options: TtlOptions): void {
  const { ttl, minTtl } = options;
  const context = [ttl === undefined ? "" : `TTL ${ttl}`, minTtl === undefined ? "" : `minimum TTL ${minTtl}`]
    .filter((part) => part !== "").join(", ");
  if (options.family === 4) setIntOptions(fd, { IP_TTL: ttl, IP_MINTTL: minTtl }, context);
  else setIntOptions(fd, { IPV6_UNICAST_HOPS: ttl, IPV6_MINHOPCOUNT: minTtl }, context);
}

/**
 * Attaches (or atomically replaces) a classic BPF program that the kernel runs on every packet the socket would
 * receive: `struct sock_fprog` is a 16-bit length and, 8 bytes in, a pointer to the code.
 */
export function attachSocketFilter(fd: number, program: readonly BpfInstruction[], context?: string): void {
  const code = encodeBpf(program);
  const fprog = new Uint8Array(SOCK_FPROG_SIZE);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, program.length, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(code))), true);
  check(
    "setsockopt(SO_ATTACH_FILTER)",
    libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, SOCK_FPROG_SIZE),
    context,
  );
}
