/**
 * The daemon: wires the parts together (watch → model → allocate → elect → announce) and owns their lifetimes.
 * Each part is started by a function of its own file here; this one only orders them and registers their
 * shutdown steps (run in reverse: BGP routes are withdrawn first, then ARP/NDP stop, then the allocator Lease is
 * released, and the metrics endpoint closes last).
 * @module
 */
import type { RunOptions } from "../config/flags.ts";
import { createKubeApi, EventRecorder, KubeConfigError, loadKubeConfig } from "../k8s/mod.ts";
import { monotonicClock, systemClock } from "../clock/mod.ts";
import type { Logger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { OpsServerError, type Shutdown, startOpsServer } from "../ops/mod.ts";
import { VERSION } from "../version.ts";
import type { Model } from "../config/mod.ts";
import { createConflictDetector } from "../l2/mod.ts";
import { startAllocator } from "./allocator.ts";
import { startBgp } from "./bgp.ts";
import { startLayer2 } from "./layer2.ts";
import { ConfigFileError } from "./model_source.ts";
import { startSources } from "./sources.ts";
import { pageOutCode } from "../net/mod.ts";
import { createHeapTrimmer } from "./trim.ts";
import { createTurns } from "./turns.ts";

/** A start-up failure with a one-line message; main prints it and exits with status 1. */
export class StartupError extends Error {
  override name = "StartupError";
}

const USABLE = { usable: true } as const;

/** Only addresses announced over Layer 2 share the LAN with other hosts, so only they are probed before use. */
function isLayer2Pool(model: Model, pool: string | undefined): boolean {
  return pool !== undefined && model.l2Advertisements.some((adv) => adv.pools.includes(pool));
}

/** Options for {@link runDaemon}. */
export interface DaemonOptions {
  /** Parsed command-line options. */
  run: RunOptions;
  /** Logger for the whole process. */
  log: Logger;
  /** Runs the shutdown steps on SIGTERM/SIGINT. */
  shutdown: Shutdown;
  /** Metrics; default a new registry. */
  registry?: Registry;
}

/** Starts every part, then waits until shutdown has finished. Throws {@link StartupError} when it cannot start. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { run, log, shutdown } = options;
  const registry = options.registry ?? new Registry();
  // Not ready until every part has started (then each part's own check must pass too).
  let started = false;
  const readiness: (() => true | string)[] = [() => started || "starting"];
  log.info("metallite starting", { version: VERSION, node: run.nodeName, pools: run.pools.map((p) => p.text) });

  let config;
  try {
    config = await loadKubeConfig({ env: Deno.env, ...(run.kubeconfig === undefined ? {} : { path: run.kubeconfig }) });
  } catch (error) {
    if (error instanceof KubeConfigError) throw new StartupError(error.message);
    throw error;
  }
  if (run.metricsAddr) {
    try {
      const ops = startOpsServer({
        ...run.metricsAddr,
        registry,
        log,
        ready: () => {
          if (shutdown.signal.aborted) return "shutting down";
          for (const check of readiness) {
            const answer = check();
            if (answer !== true) return answer;
          }
          return true;
        },
      });
      shutdown.add("close the metrics endpoint", () => ops.close());
    } catch (error) {
      if (error instanceof OpsServerError) throw new StartupError(error.message);
      throw error;
    }
  }

  const api = createKubeApi({ config, log, metrics: registry });
  shutdown.add("close the API client", () => api.close());
  const events = new EventRecorder({ events: api.events, component: "metallite", host: run.nodeName, log });

  let sources;
  try {
    sources = await startSources({ run, api, events, log, registry });
  } catch (error) {
    if (error instanceof ConfigFileError) throw new StartupError(error.message);
    throw error;
  }
  const { caches, models } = sources;
  shutdown.add("stop watching the configuration", () => models.stop());
  readiness.push(() => models.ready() || "metallb.io objects not listed yet");
  shutdown.add("stop the informers", () => caches.stop());
  // Start-up and every burst of changes leave freed memory in the C heap: return it once things are quiet.
  const trimmer = createHeapTrimmer({
    busy: () => api.client.queue.active + api.client.queue.waiting > 0,
    ...(run.pageOut === "auto" ? { pageOut: pageOutCode } : {}),
    log,
  });
  trimmer.activity();
  const offTrimCaches = caches.onAnyChange(() => trimmer.activity());
  const offTrimModels = models.onChange(() => trimmer.activity());
  shutdown.add("stop trimming memory", () => {
    offTrimCaches();
    offTrimModels();
    trimmer.stop();
  });
  readiness.push(() => caches.synced() || "Services, Nodes and EndpointSlices not listed yet");

  // The election and the allocator each reconcile every Service at once, and the caches' first listing hands every
  // object to every subscriber: none of them follows another before the event loop has had a quiet moment.
  const turns = createTurns();
  caches.whenSynced().then(() => turns.ran(), () => {});
  shutdown.add("stop taking turns", () => turns.stop());
  let layer2;
  try {
    layer2 = await startLayer2({
      run,
      api,
      caches,
      models,
      events,
      log,
      registry,
      reconcileClock: turns.clock(monotonicClock),
    });
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
  shutdown.add("stop answering ARP and NDP", () => layer2.stop());

  // One allocator per cluster (by Lease); every instance runs this and keeps its caches warm for a takeover.
  const poke = { allocator: () => {} };
  const detector = createConflictDetector({
    probe: (ip) => layer2.probe(ip),
    onSettled: () => poke.allocator(),
    log,
    metrics: registry,
  });
  const allocator = startAllocator({
    api,
    namespace: run.namespace,
    nodeName: run.nodeName,
    lbClass: run.lbClass,
    // Until every configuration source has been read, a pool not known yet would look like a released address.
    model: () => (models.ready() ? models.current() : undefined),
    conflictDetector: {
      check: (ip, pool) => (isLayer2Pool(models.current(), pool) ? detector.check(ip, pool) : USABLE),
    },
    log,
    registry,
    services: caches.services,
    passClock: turns.clock(systemClock),
  });
  poke.allocator = () => allocator.poke();
  const offModel = models.onChange(() => allocator.poke());
  shutdown.add("release the allocator Lease", async () => {
    offModel();
    await allocator.stop();
    await detector.stop();
  });
  readiness.push(() => allocator.ready() || "allocator caches not synced");

  const bgp = await startBgp({ run, api, caches, models, events, log, registry });
  shutdown.add("withdraw BGP routes", () => bgp.stop());

  started = true;
  await shutdown.done;
  log.info("metallite stopped");
}
