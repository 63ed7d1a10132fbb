/**
 * `metallite status`: reads the cluster once and explains, for every LoadBalancer Service, its addresses and pool,
 * who announces it and why (the Layer 2 election order, ETP Local, excluded and dead nodes; BGP nodes and peers),
 * and for a pending Service the exact reason — recomputed with the same code the instances run and set beside what
 * they published, so a difference shows. Text for people, JSON (`--output json`, {@link StatusReport}) for scripts.
 *
 * Instances publish their command-line flags on their node Lease ({@link NODE_CONFIG_ANNOTATION}), since `--pool`
 * and friends are otherwise invisible in the cluster.
 *
 * @example
 * ```ts
 * import { runStatus, StatusError } from "./src/status/mod.ts";
 * try {
 *   return await runStatus(options, { log, stdout: print, color: Deno.stdout.isTerminal() });
 * } catch (error) {
 *   if (error instanceof StatusError) fail(error.message, 1);
 *   throw error;
 * }
 * ```
 * @module
 */
export { runStatus, StatusError } from "./run.ts";
export type { StatusIo, StatusRunOptions } from "./run.ts";
export { readSnapshot } from "./read.ts";
export type { ReadSnapshotOptions } from "./read.ts";
export type { ClusterSnapshot } from "./snapshot.ts";
export { explainCluster } from "./explain.ts";
export { renderJson, renderText } from "./render.ts";
export type { RenderTextOptions } from "./render.ts";
export * from "./report.ts";
export * from "./node_config.ts";
export { ALLOCATOR_LEASE_NAME } from "./_instances.ts";
