/**
 * `UdpSocket`: a nonblocking AF_INET/AF_INET6 datagram socket through libc that receives without ever blocking
 * Deno's event loop, for the Layer 2 heartbeats. It replaces `node:dgram` (importing any `node:` module makes Deno
 * load its Node compatibility layer, about 7 MB) and `Deno.listenDatagram` (still behind `--unstable-net` in 2.9).
 *
 * Receiving works as in `PacketSocket`: drain with `recvfrom` until EAGAIN (at most a batch, so a flood cannot
 * starve timers), then wait in `poll` on a Deno worker thread (`nonblocking` FFI) over the socket and an eventfd.
 * `close()` writes the eventfd so that poll returns, waits for it, and only then closes both descriptors, so no
 * thread is left watching a descriptor number the process may reuse.
 * @module
 */

import { formatIp, ipFromBytes, ipToBytes, tryParseIp } from "../ip/mod.ts";
import {
  AF_INET,
  AF_INET6,
  check,
  cString,
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINTR,
  errno,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  libc,
  LibcError,
  MSG_DONTWAIT,
  MSG_TRUNC,
  POLLIN,
  POLLNVAL,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
} from "./libc.ts";

/** Options for {@link UdpSocket.open}. */
export interface UdpSocketOptions {
  /** Local address to bind: "0.0.0.0", "::", or one address of the host. Its family is the socket's. */
  readonly address: string;
  /** Local port; 0 lets the kernel pick one (read it back from {@link UdpSocket.port}). */
  readonly port: number;
  /** For an IPv6 socket: refuse IPv4 traffic (IPV6_V6ONLY). Default true, so an IPv4 socket can share the port. */
  readonly ipv6Only?: boolean;
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

const SOCKADDR_IN_SIZE = 16;
const SOCKADDR_IN6_SIZE = 28;
const POLLFD_SIZE = 8;

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
export function decodeSockaddr(bytes: Uint8Array): { address: string; port: number } | undefined {
  if (bytes.length < SOCKADDR_IN_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2);
  if (family === AF_INET) return { address: formatIp(ipFromBytes(bytes.subarray(4, 8))), port };
  if (family !== AF_INET6 || bytes.length < SOCKADDR_IN6_SIZE) return undefined;
  const scope = view.getUint32(24, true);
  const address = formatIp(ipFromBytes(bytes.subarray(8, 24)));
  return { address: scope === 0 ? address : `${address}%${scope}`, port };
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
  readonly stats: UdpSocketStats = { received: 0, truncated: 0, errors: 0 };
  readonly #fd: number;
  readonly #wakeFd: number;
  readonly #buffer: Uint8Array<ArrayBuffer>;
  readonly #from = new Uint8Array(SOCKADDR_IN6_SIZE);
  readonly #fromLength = new Uint8Array(4);
  readonly #pollFds = new Uint8Array(2 * POLLFD_SIZE);
  readonly #batchSize: number;
  #pending: Promise<number> | undefined;
  #reading = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(fd: number, wakeFd: number, family: 4 | 6, port: number, options: UdpSocketOptions) {
    this.#fd = fd;
    this.#wakeFd = wakeFd;
    this.family = family;
    this.port = port;
    this.#buffer = new Uint8Array(options.maxDatagramBytes ?? 65535);
    this.#batchSize = options.batchSize ?? 64;
    const view = new DataView(this.#pollFds.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt32(POLLFD_SIZE, wakeFd, true);
    view.setInt16(POLLFD_SIZE + 4, POLLIN, true);
  }

  /**
   * Opens and binds the socket. Throws a `TypeError` for an address that is not an IP address, a `RangeError` for a
   * bad port or size, and a `LibcError` naming the failed call (EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT without
   * IPv6).
   */
  static open(options: UdpSocketOptions): UdpSocket {
    const maxDatagramBytes = options.maxDatagramBytes ?? 65535;
    if (!Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 1 || maxDatagramBytes > 65535) {
      throw new RangeError(`maxDatagramBytes must be an integer from 1 to 65535, not ${maxDatagramBytes}`);
    }
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 0xffff) {
      throw new RangeError(`UDP port must be an integer from 0 to 65535, not ${options.port}`);
    }
    const local = encodeSockaddr(options.address, options.port);
    if (local === undefined) throw new TypeError(`Cannot bind UDP to "${options.address}": not an IP address`);
    const family = local.length === SOCKADDR_IN_SIZE ? 4 : 6;
    const context = `${options.address} port ${options.port}`;
    const lib = libc();
    const fd = check(
      "socket(SOCK_DGRAM)",
      lib.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
      context,
    );
    let wakeFd = -1;
    try {
      if (family === 6) {
        const only = new Uint8Array(4);
        new DataView(only.buffer).setInt32(0, options.ipv6Only === false ? 0 : 1, true);
        check("setsockopt(IPV6_V6ONLY)", lib.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, only, 4), context);
      }
      check("bind", lib.bind(fd, local, local.length), context);
      const bound = new Uint8Array(SOCKADDR_IN6_SIZE);
      const boundLength = new Uint8Array(4);
      new DataView(boundLength.buffer).setUint32(0, bound.length, true);
      check("getsockname", lib.getsockname(fd, bound, boundLength), context);
      const port = decodeSockaddr(bound)?.port ?? options.port;
      wakeFd = check("eventfd", lib.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), context);
      return new UdpSocket(fd, wakeFd, family, port, options);
    } catch (error) {
      lib.close(fd);
      if (wakeFd >= 0) lib.close(wakeFd);
      throw error;
    }
  }

  /**
   * Sends one datagram without waiting. Throws a `TypeError` for an address that is not an IP address of this
   * socket's family, and a `LibcError` when the kernel refuses it (EAGAIN with a full send buffer, ENETUNREACH, ...).
   */
  sendTo(data: Uint8Array, address: string, port: number): void {
    if (this.#closed) throw new Error(`Cannot send on a closed UDP socket (port ${this.port})`);
    const to = encodeSockaddr(address, port);
    if (to === undefined || (to.length === SOCKADDR_IN_SIZE ? 4 : 6) !== this.family) {
      throw new TypeError(`Cannot send UDP to "${address}" port ${port}: not an IPv${this.family} address and port`);
    }
    const bytes = data as Uint8Array<ArrayBuffer>;
    const sent = Number(libc().sendto(this.#fd, bytes, BigInt(bytes.length), MSG_DONTWAIT, to, to.length));
    if (sent < 0) throw new LibcError("sendto", errno(), `${address} port ${port}`);
  }

  /** Datagrams as they arrive, until `close()` or until `signal` aborts. Only one reader may iterate at a time. */
  async *datagrams(options: DatagramsOptions = {}): AsyncGenerator<ReceivedDatagram, void, undefined> {
    if (this.#reading) throw new Error(`UDP socket on port ${this.port} already has a reader`);
    this.#reading = true;
    const signal = options.signal;
    const wake = (): void => this.#wake();
    signal?.addEventListener("abort", wake, { once: true });
    try {
      let batch = 0;
      let failures = 0;
      while (!this.#closed && !signal?.aborted) {
        // Waiting in poll after a batch also returns to the event loop, so a flood cannot starve timers.
        const datagram = batch >= this.#batchSize || failures >= 8 ? "again" : this.#receiveOne();
        if (datagram === "again") {
          batch = 0;
          failures = 0;
          if (!await this.#wait()) return;
        } else if (datagram === "error") {
          failures++;
        } else {
          batch++;
          yield datagram;
        }
      }
    } finally {
      signal?.removeEventListener("abort", wake);
      // An abort leaves the eventfd counter set; reset it so the next reader does not stop at once.
      if (!this.#closed) libc().read(this.#wakeFd, new Uint8Array(8), 8n);
      this.#reading = false;
    }
  }

  /** Reads one datagram without blocking. */
  #receiveOne(): ReceivedDatagram | "again" | "error" {
    new DataView(this.#fromLength.buffer).setUint32(0, this.#from.length, true);
    const n = Number(
      libc().recvfrom(this.#fd, this.#buffer, BigInt(this.#buffer.length), MSG_TRUNC, this.#from, this.#fromLength),
    );
    if (n < 0) {
      const code = errno();
      if (code === EAGAIN) return "again";
      if (code !== EINTR) this.stats.errors++;
      return "error";
    }
    const sender = decodeSockaddr(this.#from);
    if (sender === undefined) {
      this.stats.errors++;
      return "error";
    }
    const truncated = n > this.#buffer.length;
    if (truncated) this.stats.truncated++;
    this.stats.received++;
    return {
      bytes: this.#buffer.slice(0, Math.min(n, this.#buffer.length)),
      length: n,
      truncated,
      address: sender.address,
      port: sender.port,
    };
  }

  /** Makes a pending (or the next) poll return through the eventfd. */
  #wake(): void {
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 1n, true);
    libc().write(this.#wakeFd, one, 8n);
  }

  /** Waits until the socket is readable; false once the socket is being closed or the reader was told to stop. */
  async #wait(): Promise<boolean> {
    if (this.#closed) return false;
    const view = new DataView(this.#pollFds.buffer);
    view.setInt16(6, 0, true);
    view.setInt16(POLLFD_SIZE + 6, 0, true);
    this.#pending = libc().pollAsync(this.#pollFds, 2n, -1);
    let ready: number;
    try {
      ready = await this.#pending;
    } finally {
      this.#pending = undefined;
    }
    if (this.#closed) return false;
    // -1 comes from the worker thread, whose errno is out of reach (EINTR in practice): just look again.
    if (ready < 0) return true;
    const socketEvents = view.getInt16(6, true);
    const wakeEvents = view.getInt16(POLLFD_SIZE + 6, true);
    return (socketEvents & POLLNVAL) === 0 && (wakeEvents & POLLIN) === 0;
  }

  /** Ends `datagrams()`, waits until poll has returned, then closes the socket and the eventfd. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const lib = libc();
    this.#wake();
    if (this.#pending !== undefined) await this.#pending.catch(() => 0);
    lib.close(this.#fd);
    lib.close(this.#wakeFd);
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
