/**
 * The live configuration: flags and `--config` files (read once at start) merged with the metallb.io objects in the
 * cluster (watched, so edits apply without a restart) into one validated Model, rebuilt on every change.
 * @module
 */
import {
  buildModel,
  describeRejection,
  type FileObject,
  type MetalLbKind,
  type Model,
  parseConfigFile,
  type Rejection,
} from "../config/mod.ts";
import type { RunOptions } from "../config/flags.ts";
import type { Informer, KubeApi, MetallbObject } from "../k8s/mod.ts";
import type { EventRecorder } from "../k8s/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";

/** A configuration problem that stops start-up, such as an unreadable `--config` file. */
export class ConfigFileError extends Error {
  override name = "ConfigFileError";
}

/** Options for {@link startModelSource}. */
export interface ModelSourceOptions {
  /** Parsed command line. */
  run: RunOptions;
  /** The cluster; undefined runs on flags and files only. */
  api?: KubeApi;
  /** Events on rejected cluster objects. */
  events?: EventRecorder;
  /** Logger. */
  log: Logger;
  /** Metrics. */
  registry: Registry;
  /** Reads a file; default Deno.readTextFile (injected for tests). */
  readFile?: (path: string) => Promise<string>;
  /** Rebuild debounce in ms; default 50. */
  debounceMs?: number;
}

/** The current model and its changes. */
export interface ModelSource {
  /** The model now. */
  current(): Model;
  /** Calls `handler` after each rebuild that changed the model; returns an unsubscribe function. */
  onChange(handler: (model: Model) => void): () => void;
  /** True once the cluster's metallb.io objects (if any) have been listed. */
  ready(): boolean;
  /** Whether the cluster serves the metallb.io CRDs. */
  readonly crdsInstalled: boolean;
  /** Stops watching. */
  stop(): Promise<void>;
}

async function readConfigFiles(options: ModelSourceOptions): Promise<{ objects: FileObject[]; rejected: Rejection[] }> {
  const read = options.readFile ?? Deno.readTextFile;
  const objects: FileObject[] = [];
  const rejected: Rejection[] = [];
  for (const file of options.run.configFiles) {
    let text: string;
    try {
      text = await read(file);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message.split("\n")[0];
      throw new ConfigFileError(`cannot read --config file "${file}": ${why}`);
    }
    const parsed = parseConfigFile(text, { file });
    objects.push(...parsed.objects);
    rejected.push(...parsed.rejected);
    for (const ref of parsed.ignored) {
      options.log.debug("skipping a document of another kind in a --config file", {
        file,
        kind: ref.kind,
        name: ref.name,
      });
    }
  }
  return { objects, rejected };
}

/** The metallb.io kinds that make up the configuration, by KubeApi field. */
const CONFIG_RESOURCES = {
  ipAddressPools: "IPAddressPool",
  l2Advertisements: "L2Advertisement",
  bgpAdvertisements: "BGPAdvertisement",
  communities: "Community",
  bfdProfiles: "BFDProfile",
  bgpPeers: "BGPPeer",
} as const satisfies Record<string, MetalLbKind>;

function rejectionKey(r: Rejection): string {
  return `${r.source}|${r.file ?? ""}|${r.ref.kind}|${r.ref.namespace}|${r.ref.name}|${r.code}|${r.reason}`;
}

/** Starts the configuration source; throws {@link ConfigFileError} when a `--config` file cannot be read. */
export async function startModelSource(options: ModelSourceOptions): Promise<ModelSource> {
  const { run, api, log, registry } = options;
  const files = await readConfigFiles(options);
  const rejectedGauge = registry.gauge(
    "metallite_config_rejected_objects",
    "Configuration objects left out because they are invalid, by kind",
    ["kind"],
  );
  const rebuilds = registry.counter("metallite_config_rebuilds_total", "Times the configuration model was rebuilt");

  let crdsInstalled = false;
  const informers: { kind: MetalLbKind; informer: Informer<MetallbObject> }[] = [];
  if (api) {
    try {
      const discovery = await api.discoverMetallb();
      crdsInstalled = discovery.installed;
    } catch (error) {
      // Discovery failing is not fatal: flags and files still work, and the informers would fail the same way.
      log.warn("cannot ask the API server for metallb.io resources; using flags and files only", { error });
    }
    if (crdsInstalled) {
      for (const [field, kind] of Object.entries(CONFIG_RESOURCES) as [keyof typeof CONFIG_RESOURCES, MetalLbKind][]) {
        informers.push({ kind, informer: api[field].informer({ namespace: run.namespace }) });
      }
    }
  }

  const listeners = new Set<(model: Model) => void>();
  const reported = new Set<string>();
  let model = build();
  let timer: ReturnType<typeof setTimeout> | undefined;

  function build(): Model {
    // Items of a LIST carry no kind, so objects are passed by the kind of the informer that holds them.
    const clusterByKind: Partial<Record<MetalLbKind, unknown[]>> = {};
    for (const { kind, informer } of informers) clusterByKind[kind] = informer.list();
    const next = buildModel({
      flagPools: run.pools,
      flagInterfaces: run.interfaces,
      flagBgpPeers: run.bgpPeers,
      ...(run.asn === undefined ? {} : { myAsn: run.asn }),
      files: files.objects,
      clusterByKind,
      namespace: run.namespace,
    });
    const all = [...files.rejected, ...next.rejected];
    rebuilds.inc();
    rejectedGauge.reset();
    const current = new Set<string>();
    for (const r of all) {
      rejectedGauge.inc({ kind: r.ref.kind || "unknown" });
      const key = rejectionKey(r);
      current.add(key);
      if (reported.has(key)) continue;
      // Logged once per distinct rejection, and an Event on cluster objects so `kubectl describe` shows it.
      log.warn("configuration object rejected", { reason: describeRejection(r) });
      if (r.source === "cluster" && r.ref.name && options.events) {
        options.events.record(
          {
            kind: r.ref.kind,
            apiVersion: r.ref.kind === "BGPPeer" ? "metallb.io/v1beta2" : "metallb.io/v1beta1",
            name: r.ref.name,
            namespace: r.ref.namespace,
          },
          { type: "Warning", reason: "InvalidConfiguration", message: r.reason },
        );
      }
    }
    // Forget rejections that were fixed, so a regression is reported again.
    for (const key of reported) if (!current.has(key)) reported.delete(key);
    for (const key of current) reported.add(key);
    return { ...next, rejected: all };
  }

  // Listeners are told about the first rebuild after every source has been read even when the model is unchanged:
  // `ready()` turned true then, and consumers that wait for it (the allocator) must look again.
  let readyAnnounced = informers.length === 0;
  function schedule(): void {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      const next = build();
      const unchanged = JSON.stringify(next, bigintSafe) === JSON.stringify(model, bigintSafe);
      const becameReady = !readyAnnounced && allSynced();
      if (unchanged && !becameReady) return;
      readyAnnounced ||= becameReady;
      model = next;
      for (const listener of listeners) listener(model);
    }, options.debounceMs ?? 50);
  }

  const allSynced = () => informers.every(({ informer }) => informer.hasSynced());
  for (const { informer } of informers) {
    informer.onChange(() => {
      if (allSynced()) schedule();
    });
    informer.start();
  }
  if (informers.length) {
    Promise.all(informers.map(({ informer }) => informer.synced())).then(() => schedule(), () => {});
  }

  return {
    current: () => model,
    onChange(handler) {
      listeners.add(handler);
      return () => listeners.delete(handler);
    },
    ready: allSynced,
    get crdsInstalled() {
      return crdsInstalled;
    },
    async stop() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await Promise.all(informers.map(({ informer }) => informer.stop()));
    },
  };
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
