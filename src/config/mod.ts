/**
 * Configuration: command-line flags, MetalLB YAML files and metallb.io objects from the cluster, validated and merged
 * into one {@link Model}.
 * @module
 */
export * from "./flags.ts";
export type * from "./model.ts";
export * from "./selector.ts";
export * from "./community.ts";
export * from "./build.ts";
export * from "./yaml.ts";
export * from "./state.ts";
