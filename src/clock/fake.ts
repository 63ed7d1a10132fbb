/**
 * A clock that moves only when told, for tests of every part: timers fire in time order during
 * {@link FakeClock.advance}, with promise callbacks run between them.
 * @module
 */
import type { Clock } from "./mod.ts";

/**
 * A fake {@link Clock}.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * clock.setTimer(100, () => fired = true);
 * await clock.advance(100); // fired
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  /** Starts at `start` milliseconds. */
  constructor(start = 1_000_000) {
    this.#now = start;
  }

  /** The fake time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + ms. */
  setTimer(ms: number, fn: () => void): () => void {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return () => this.#timers.delete(id);
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The delays (from now) of the pending timers, soonest first. */
  pendingDelays(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting promise callbacks run between them, so code
   * that awaits a timer and then sets the next one is driven through the whole span.
   */
  async advance(ms: number): Promise<void> {
    await this.#run(this.#now + ms, false);
  }

  /** Jumps forward as a stalled process sees it: time moves first, then every due timer fires late, in order. */
  async stall(ms: number): Promise<void> {
    await this.#run(this.#now + ms, true);
  }

  async #run(end: number, late: boolean): Promise<void> {
    if (late) this.#now = end;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets pending promise reactions (several hops deep) run, then one macrotask, before a fake clock moves on. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
}
