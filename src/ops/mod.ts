/**
 * Operations: the metrics and health endpoint on `--metrics-addr`, process metrics, and graceful shutdown.
 * @module
 */
export * from "./http_server.ts";
export * from "./process_metrics.ts";
export * from "./shutdown.ts";
