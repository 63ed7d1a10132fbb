/**
 * Time for the Layer 2 parts: a clock with one-shot timers, injected so liveness, probes and the controller are
 * tested by moving a fake clock. Same shape as the Kubernetes client's clock, so one fake drives both.
 * @module
 */

/** A clock with one-shot timers. */
export interface Clock {
  /** Milliseconds; only differences matter. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * The real clock, monotonic (`performance.now`), so a wall-clock step (NTP, a suspended VM) never makes every peer
 * look dead at once.
 */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};
