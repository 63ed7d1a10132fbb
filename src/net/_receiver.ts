/**
 * The receive side UdpSocket and PacketSocket share: one nonblocking `recvfrom` with MSG_TRUNC (so the real length of
 * a datagram or frame longer than the buffer is known) into buffers reused from read to read, with the counters both
 * report as `stats`.
 * @module
 */

import { EAGAIN, EINTR, errno, libc, MSG_TRUNC } from "./libc.ts";

/** Counters of a socket's receive side. */
export interface ReceiveStats {
  /** Packets delivered to the reader. */
  received: number;
  /** Packets longer than the buffer (delivered cut, with `truncated` set). */
  truncated: number;
  /** Receive errors other than EAGAIN and EINTR, and senders `describe` refused. */
  errors: number;
}

/** What every read gives, before the socket adds what it knows about the sender. */
export interface ReceivedBytes {
  /** A copy of the packet, at most the buffer's size. */
  readonly bytes: Uint8Array;
  /** The packet's real length; larger than `bytes.length` when it was cut. */
  readonly length: number;
  /** True when the packet was longer than the buffer. */
  readonly truncated: boolean;
}

/** Reads one packet at a time from a nonblocking socket; see the module doc. */
export class Receiver {
  /** Counters, shared with the owning socket's `stats`. */
  readonly stats: ReceiveStats = { received: 0, truncated: 0, errors: 0 };
  readonly #fd: number;
  readonly #buffer: Uint8Array<ArrayBuffer>;
  readonly #from: Uint8Array<ArrayBuffer>;
  readonly #fromLength = new Uint8Array(4);

  /** Reads from `fd` into a buffer of `maxBytes`, the sender's address into one of `addressBytes`. */
  constructor(fd: number, options: { readonly maxBytes: number; readonly addressBytes: number }) {
    this.#fd = fd;
    this.#buffer = new Uint8Array(options.maxBytes);
    this.#from = new Uint8Array(options.addressBytes);
  }

  /**
   * Reads one packet without blocking: its bytes with what `describe` makes of the sender's address (undefined:
   * counted as an error), `"again"` when none is queued, or `"error"`.
   */
  read<T extends object>(describe: (from: Uint8Array) => T | undefined): (ReceivedBytes & T) | "again" | "error" {
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
    const sender = describe(this.#from);
    if (sender === undefined) {
      this.stats.errors++;
      return "error";
    }
    const truncated = n > this.#buffer.length;
    if (truncated) this.stats.truncated++;
    this.stats.received++;
    return { bytes: this.#buffer.slice(0, Math.min(n, this.#buffer.length)), length: n, truncated, ...sender };
  }
}
