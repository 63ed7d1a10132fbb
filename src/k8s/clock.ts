/**
 * Time as the Kubernetes client sees it: the shared clock (src/clock), injected everywhere so that backoff, leases,
 * event aggregation and timeouts are tested by moving a fake clock instead of sleeping.
 * @module
 */
import { FakeClock as SharedFakeClock } from "../clock/fake.ts";

export { type Clock, sleep, systemClock } from "../clock/mod.ts";

/** The shared fake clock, starting at a wall-clock time (2023-11-14) so timestamps written to objects look real. */
export class FakeClock extends SharedFakeClock {
  /** Starts at `start` milliseconds since the epoch. */
  constructor(start = 1_700_000_000_000) {
    super(start);
  }
}
