/**
 * Layer 2 mode: the per-Service election (MetalLB's order, so both agree during a migration), fast liveness of peer
 * instances over UDP heartbeats, address-conflict detection for the allocator, and the controller that drives this
 * node's ARP/NDP responders and publishes who announces what.
 * @module
 */
export * from "./clock.ts";
export * from "./election.ts";
export * from "./heartbeat.ts";
export * from "./liveness.ts";
export * from "./udp.ts";
export * from "./conflict.ts";
export * from "./controller.ts";
export * from "./status.ts";
export * from "./peers.ts";
