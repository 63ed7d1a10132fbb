/**
 * What the daemon reads from the cluster: the informer caches and the live configuration, started in the order that
 * gets it ready soonest. With 10,000 Services, listing the caches is most of the time to ready, and nothing in them
 * waits for the configuration, so their LISTs go out first; the configuration's discovery request and metallb.io
 * LISTs follow beside them instead of ahead of them.
 * @module
 */
import type { EventRecorder, KubeApi } from "../k8s/mod.ts";
import type { RunOptions } from "../config/flags.ts";
import type { Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import { type Caches, startCaches } from "./caches.ts";
import { type ModelSource, startModelSource } from "./model_source.ts";

/** Options for {@link startSources}. */
export interface SourcesOptions {
  /** Parsed command line. */
  run: RunOptions;
  /** The cluster. */
  api: KubeApi;
  /** Events on rejected configuration objects. */
  events?: EventRecorder;
  /** Logger. */
  log: Logger;
  /** Metrics. */
  registry: Registry;
  /** Reads a `--config` file; default Deno.readTextFile. */
  readFile?: (path: string) => Promise<string>;
}

/**
 * Starts the caches, then the configuration source. Throws what {@link startModelSource} throws (a `--config` file
 * that cannot be read), after stopping the caches.
 */
export async function startSources(options: SourcesOptions): Promise<{ caches: Caches; models: ModelSource }> {
  const caches = startCaches({ api: options.api, namespace: options.run.namespace });
  try {
    const models = await startModelSource(options);
    return { caches, models };
  } catch (error) {
    await caches.stop();
    throw error;
  }
}
