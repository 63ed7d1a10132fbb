/**
 * The daemon: wires the parts together (watch → model → allocate → elect → announce) and owns their lifetimes.
 * @module
 */
import type { RunOptions } from "../config/flags.ts";
import type { Logger } from "../log/mod.ts";
import { VERSION } from "../version.ts";

/** Options for {@link runDaemon}. */
export interface DaemonOptions {
  /** Parsed command-line options. */
  run: RunOptions;
  /** Logger for the whole process. */
  log: Logger;
  /** Resolves when the process should stop (SIGTERM, SIGINT). */
  stopSignal: AbortSignal;
}

/** Runs the daemon until `stopSignal` aborts. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { run, log } = options;
  log.info("metallite starting", {
    version: VERSION,
    node: run.nodeName,
    pools: run.pools.map((p) => p.text),
    interfaces: run.interfaces,
  });
  await new Promise<void>((resolve) => {
    if (options.stopSignal.aborted) resolve();
    options.stopSignal.addEventListener("abort", () => resolve(), { once: true });
  });
  log.info("metallite stopped");
}
