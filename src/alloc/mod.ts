/**
 * IP allocation with MetalLB's semantics, as a pure function of (pools, Services, Namespaces): adopts the addresses
 * Services already have, then allocates the rest deterministically.
 * @module
 */
export type * from "./types.ts";
export { allocateAll } from "./allocate.ts";
export { ALLOCATED_FROM_POOL_ANNOTATION, ANNOTATIONS } from "./annotations.ts";
