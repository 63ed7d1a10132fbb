/**
 * Time for the Layer 2 parts: the shared clock (src/clock), injected so liveness, probes and the controller are
 * tested by moving a fake clock. The real one is monotonic.
 * @module
 */
export { type Clock, monotonicClock } from "../clock/mod.ts";
