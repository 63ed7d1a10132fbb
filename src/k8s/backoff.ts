/**
 * Capped exponential backoff with jitter, so that a failing API server sees a bounded trickle of retries from every
 * node instead of a hot loop or a synchronized stampede.
 * @module
 */

/** Options for {@link Backoff}. */
export interface BackoffOptions {
  /** First delay in milliseconds; default 200. */
  initialMs?: number;
  /** Largest delay in milliseconds; default 30,000. */
  maxMs?: number;
  /** Growth per failure; default 2. */
  factor?: number;
  /** Random source in [0, 1); default `Math.random`. Injected so tests get fixed delays. */
  random?: () => number;
}

/**
 * Delays for consecutive failures: `initialMs × factor^n`, capped at `maxMs`, each drawn at random from its upper
 * half ("equal jitter"). The lower half is kept so that even the unluckiest draw waits `initialMs / 2`: never a hot
 * loop.
 *
 * @example
 * ```ts
 * const backoff = new Backoff();
 * await sleep(clock, backoff.next()); // 100..200 ms, then 200..400 ms, ...
 * backoff.reset(); // after a success
 * ```
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #random: () => number;
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 200;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
    if (!(this.#initialMs > 0) || !(this.#maxMs >= this.#initialMs) || !(this.#factor >= 1)) {
      throw new RangeError(
        `Invalid backoff: initial ${this.#initialMs} ms, max ${this.#maxMs} ms, factor ${this.#factor}`,
      );
    }
  }

  /** Consecutive failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next attempt, in milliseconds; counts one more failure. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * this.#factor ** Math.min(this.#failures, 64));
    this.#failures++;
    const r = Math.min(Math.max(this.#random(), 0), 1);
    return Math.round(ceiling / 2 + (ceiling / 2) * r);
  }

  /** Forgets past failures (call after a success). */
  reset(): void {
    this.#failures = 0;
  }
}
