/**
 * `Readiness`: waits until a nonblocking descriptor is readable without blocking Deno's event loop. `poll` runs on a
 * Deno worker thread (`nonblocking` FFI) over the descriptor and an eventfd; `wake()` and `close()` write the eventfd
 * so that a waiting poll returns at once. `close()` closes the descriptor only after poll has returned, so no thread
 * is left watching a number the process may reuse (and no op is left pending for Deno's sanitizer). UdpSocket,
 * PacketSocket and the BGP listener wait through it.
 * @module
 */

import { check, EFD_CLOEXEC, EFD_NONBLOCK, libc, POLLIN, POLLNVAL } from "./libc.ts";

const POLLFD_SIZE = 8;
/** Failed reads in a row after which the reader waits in poll before trying again, so an error cannot spin. */
const MAX_FAILURES_IN_A_ROW = 8;

/** What the `receiveOne` callback of {@link Readiness.drain} returns: an item, or why there was none. */
export type ReadOutcome<T> = T | "again" | "error";

/** Options for {@link Readiness.drain}. */
export interface DrainOptions {
  /** Items read in one go before waiting in poll again, which lets timers run under a flood. */
  readonly batchSize: number;
  /** Ends the iteration (the descriptor stays open) when aborted. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * One descriptor's wait for readability, woken by `wake()` or `close()`, which also closes the descriptor.
 * @example
 * const readiness = new Readiness(fd, "UDP socket on port 7947");
 * for await (const item of readiness.drain(() => readOne(fd), { batchSize: 64 })) handle(item);
 * await readiness.close(); // from elsewhere: ends the loop above, then closes fd
 */
export class Readiness {
  readonly #fd: number;
  readonly #wakeFd: number;
  readonly #pollFds = new Uint8Array(2 * POLLFD_SIZE);
  readonly #what: string;
  #pending: Promise<number> | undefined;
  #reading = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Watches `fd` and from now on owns it (`close()` closes it); `what` names it in errors (`UDP socket on port 7947`).
   * Throws a `LibcError` when the eventfd cannot be made (EMFILE); `fd` is then still the caller's.
   */
  constructor(fd: number, what: string) {
    this.#fd = fd;
    this.#what = what;
    this.#wakeFd = check("eventfd", libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), what);
    const view = new DataView(this.#pollFds.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt32(POLLFD_SIZE, this.#wakeFd, true);
    view.setInt16(POLLFD_SIZE + 4, POLLIN, true);
  }

  /** True once `close()` was called: the descriptor is about to be closed, or is. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits until the descriptor is readable. True when it is (or when poll failed on its thread, whose errno is out of
   * reach: EINTR in practice, so just look again); false once woken, closed, or when the descriptor is not open.
   * One wait at a time.
   */
  async wait(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#pending !== undefined) throw new Error(`${this.#what} is already waiting in poll`);
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
    if (ready < 0) return true;
    return (view.getInt16(6, true) & POLLNVAL) === 0 && (view.getInt16(POLLFD_SIZE + 6, true) & POLLIN) === 0;
  }

  /** Makes a waiting (or the next) `wait()` return false, until `reset()`. */
  wake(): void {
    if (this.#closing !== undefined) return;
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 1n, true);
    libc().write(this.#wakeFd, one, 8n);
  }

  /** Forgets a `wake()`, so the next `wait()` waits again. */
  reset(): void {
    if (this.#closing === undefined) libc().read(this.#wakeFd, new Uint8Array(8), 8n);
  }

  /**
   * Items as `receiveOne` reads them, until `close()` or until `signal` aborts. `receiveOne` reads one item without
   * blocking, or says `"again"` (EAGAIN: wait in poll) or `"error"` (counted by the caller; after a few in a row the
   * reader waits in poll too). Only one reader may iterate at a time.
   */
  async *drain<T extends object>(
    receiveOne: () => ReadOutcome<T>,
    options: DrainOptions,
  ): AsyncGenerator<T, void, undefined> {
    if (this.#reading) throw new Error(`${this.#what} already has a reader`);
    this.#reading = true;
    const signal = options.signal;
    const wake = (): void => this.wake();
    signal?.addEventListener("abort", wake, { once: true });
    try {
      let batch = 0;
      let failures = 0;
      while (!this.#closed && !signal?.aborted) {
        const item = batch >= options.batchSize || failures >= MAX_FAILURES_IN_A_ROW ? "again" : receiveOne();
        if (item === "again") {
          batch = 0;
          failures = 0;
          if (!await this.wait()) return;
        } else if (item === "error") {
          failures++;
        } else {
          batch++;
          yield item;
        }
      }
    } finally {
      signal?.removeEventListener("abort", wake);
      // An abort leaves the eventfd counter set; clear it so the next reader does not stop at once.
      this.reset();
      this.#reading = false;
    }
  }

  /** Ends `drain()`, wakes a waiting poll, waits until it has returned, then closes the descriptor. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.wake();
      this.#closing = this.#close();
    }
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#pending !== undefined) await this.#pending.catch(() => 0);
    libc().close(this.#fd);
    libc().close(this.#wakeFd);
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
