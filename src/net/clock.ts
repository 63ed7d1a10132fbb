/**
 * The clock responders and probes are given, so tests drive time instead of sleeping. Structurally the same as
 * `Clock` in src/k8s/clock.ts, so the daemon can pass one object to every part.
 * @module
 */

/** A wall clock with one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** The real clock: `Date.now` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};
