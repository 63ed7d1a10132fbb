/**
 * Turn-taking for the daemon's heavy work. The Layer 2 election and the allocator's pass each compute over every
 * Service at once (hundreds of milliseconds with 10,000 Services), and both come due the moment the caches have
 * listed (itself a long task: 10,000 objects taken in and handed to every subscriber). Back to back, they held the
 * event loop for 1.2-1.7 s, and `/readyz` (true since the caches listed), heartbeats and watch events all waited.
 *
 * So heavy work takes turns: after each heavy task the event loop must get a quiet moment before the next one
 * starts. A request to the ops endpoint needs several trips through the loop (accept, read, write), and after a long
 * task the loop first runs what piled up meanwhile, so "a moment" is a short timer that comes on time: one that fires
 * late means the loop was still busy, and the next task waits another moment (a few at most, so that heavy work is
 * never starved). A task that is due while the loop is quiet runs at once.
 * @module
 */
import { type Clock, monotonicClock } from "../clock/mod.ts";

/** Options for {@link createTurns}. */
export interface TurnsOptions {
  /** Clock of the quiet moments; default the monotonic clock. */
  clock?: Clock;
  /** Length of the quiet moment between two heavy tasks, ms; default 20. */
  gapMs?: number;
  /** Most moments waited for a quiet one before the next task runs anyway; default 5. */
  maxWaits?: number;
}

/** Turn-taking, shared by every heavy task of one process. */
export interface Turns {
  /** `base` with timers that take turns (`now()` is base's). */
  clock(base: Clock): Clock;
  /** Says that heavy work just ran outside these timers (a cache listing 10,000 objects): the next waits its turn. */
  ran(): void;
  /** Tasks that had to wait so far (for tests and debugging). */
  readonly deferred: number;
  /** Stops the pending quiet-moment timer and drops waiting tasks; later tasks run at once, as without turns. */
  stop(): void;
}

/**
 * Creates the turn-taker. Waiting tasks keep their order and run one per turn.
 *
 * @example
 * ```ts
 * const turns = createTurns();
 * createL2Controller({ ..., clock: turns.clock(monotonicClock) });
 * new AllocatorController({ ..., clock: turns.clock(systemClock) });
 * caches.whenSynced().then(() => turns.ran());
 * ```
 */
export function createTurns(options: TurnsOptions = {}): Turns {
  const clock = options.clock ?? monotonicClock;
  const gapMs = options.gapMs ?? 20;
  const maxWaits = options.maxWaits ?? 5;
  /** A heavy task ran and the loop has not had its quiet moment since. */
  let busy = false;
  let deferred = 0;
  /** Tasks waiting for their turn, in order. */
  const waiting: (() => void)[] = [];
  let cancelGap: (() => void) | undefined;
  let stopped = false;

  /** Waits for a quiet moment, then hands the turn to the first waiting task. */
  function endTurn(): void {
    if (stopped) return;
    busy = true;
    cancelGap?.();
    let waits = 0;
    const wait = () => {
      const due = clock.now() + gapMs;
      cancelGap = clock.setTimer(gapMs, () => {
        cancelGap = undefined;
        // Late by more than a moment: the loop was still busy with what piled up. Give it another one.
        if (clock.now() - due > gapMs && ++waits < maxWaits) return wait();
        busy = false;
        // The first task still wanted takes the turn (and ends it); cancelled ones are skipped.
        while (!busy && waiting.length > 0) waiting.shift()!();
      });
    };
    wait();
  }

  function take(fn: () => void, isLive: () => boolean): void {
    if (!isLive()) return;
    if (busy) {
      deferred++;
      waiting.push(() => take(fn, isLive));
      return;
    }
    try {
      fn();
    } finally {
      endTurn();
    }
  }

  return {
    clock(base) {
      return {
        now: () => base.now(),
        setTimer(ms, fn) {
          let live = true;
          const cancel = base.setTimer(ms, () => take(fn, () => live));
          return () => {
            live = false;
            cancel();
          };
        },
      };
    },
    ran: endTurn,
    get deferred() {
      return deferred;
    },
    stop() {
      stopped = true;
      busy = false;
      cancelGap?.();
      cancelGap = undefined;
      waiting.length = 0;
    },
  };
}
