/**
 * Time, injected everywhere: a clock with one-shot timers, so backoff, leases, heartbeats, probes and bursts are tested
 * by moving a fake clock (`fake.ts`) instead of sleeping. One shape for every part, so the daemon passes one object.
 * @module
 */

/** A clock with one-shot timers. */
export interface Clock {
  /** Milliseconds: since the epoch for {@link systemClock}; only differences matter for {@link monotonicClock}. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

function setTimer(ms: number, fn: () => void): () => void {
  const id = setTimeout(fn, ms);
  return () => clearTimeout(id);
}

/** The real wall clock: `Date.now` and `setTimeout`. */
export const systemClock: Clock = { now: () => Date.now(), setTimer };

/**
 * The real clock, monotonic (`performance.now`), so a wall-clock step (NTP, a suspended VM) never makes every peer
 * look dead at once.
 */
export const monotonicClock: Clock = { now: () => performance.now(), setTimer };

/** Waits `ms` on `clock`; resolves early (never rejects) when `signal` aborts, so loops check the signal after. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const cancel = clock.setTimer(ms, done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
