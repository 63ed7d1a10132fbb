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
  /** Calls `fn` every `ms` milliseconds until cancelled; optional, see {@link repeat}. */
  setRepeating?(ms: number, fn: () => void): () => void;
}

function setTimer(ms: number, fn: () => void): () => void {
  const id = setTimeout(fn, ms);
  return () => clearTimeout(id);
}

function setRepeating(ms: number, fn: () => void): () => void {
  const id = setInterval(fn, ms);
  return () => clearInterval(id);
}

/** The real wall clock: `Date.now`, `setTimeout` and `setInterval`. */
export const systemClock: Clock = { now: () => Date.now(), setTimer, setRepeating };

/**
 * The real clock, monotonic (`performance.now`), so a wall-clock step (NTP, a suspended VM) never makes every peer
 * look dead at once.
 */
export const monotonicClock: Clock = { now: () => performance.now(), setTimer, setRepeating };

/**
 * Calls `fn` every `ms` on `clock` until the returned function is called: one interval timer where the clock has
 * them (a real timer costs an allocation each time it is set, which a 200 ms loop repeats forever), else a chain of
 * one-shot timers (a fake clock).
 */
export function repeat(clock: Clock, ms: number, fn: () => void): () => void {
  if (clock.setRepeating) return clock.setRepeating(ms, fn);
  let stopped = false;
  let cancel = () => {};
  const arm = () => {
    cancel = clock.setTimer(ms, () => {
      if (stopped) return;
      arm();
      fn();
    });
  };
  arm();
  return () => {
    stopped = true;
    cancel();
  };
}

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
