/**
 * The clock responders and probes are given: the shared one (src/clock), so tests drive time instead of sleeping
 * and the daemon passes one object to every part.
 * @module
 */
export { type Clock, repeat, systemClock } from "../clock/mod.ts";
