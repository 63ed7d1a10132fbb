/**
 * A first-in first-out limit on how many tasks run at once (a counting semaphore). The client uses it so that a burst
 * of writes (1,000 Services announced at once, each with an Event) becomes a short queue over a few connections
 * instead of a thousand TLS connections whose buffers the allocator keeps long after they closed.
 * @module
 */

/** Thrown by {@link Limiter.acquire} when its signal aborts while the task still waits for its turn. */
export class LimiterAbortedError extends Error {
  override name = "LimiterAbortedError";
}

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (error: unknown) => void;
  cleanup: () => void;
}

/**
 * Lets at most `max` tasks run at once; the others wait in arrival order.
 *
 * @example
 * ```ts
 * const limiter = new Limiter(4);
 * const result = await limiter.run(() => fetch(url));
 * ```
 */
export class Limiter {
  readonly #max: number;
  #active = 0;
  readonly #waiting: Waiter[] = [];
  #head = 0;

  /** `max` of at least 1 (smaller values count as 1; Infinity means no limit). */
  constructor(max: number) {
    this.#max = Math.max(1, max);
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /**
   * Waits for a turn and returns the function that gives it back (call it exactly once; later calls do nothing).
   * Rejects with {@link LimiterAbortedError} if `signal` aborts first, so a cancelled request leaves the queue at once.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new LimiterAbortedError("Aborted while waiting for a turn"));
    if (this.#active < this.#max && this.waiting === 0) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter, this.#head);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(new LimiterAbortedError("Aborted while waiting for a turn"));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Runs `task` in its turn and gives the turn back when it settles. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#active--;
      this.#next();
    };
  }

  #next(): void {
    while (this.#active < this.#max && this.#head < this.#waiting.length) {
      const waiter = this.#waiting[this.#head++]!;
      // Compact now and then, so a long-lived queue does not keep every waiter it ever had.
      if (this.#head > 64 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      waiter.cleanup();
      this.#active++;
      waiter.resolve(this.#releaser());
    }
  }
}
