/**
 * BGP mode on this node: one speaker with a session per BGPPeer that selects this node, the routes the announcement
 * policy computes for each of them, and what is published about it (the `nodeAssigned` Event and ServiceBGPStatus
 * objects, as MetalLB's speaker does).
 *
 * Level-triggered: any change of the caches or the model schedules one reconcile (coalesced), which recomputes the
 * wanted sessions and routes from scratch and applies the difference; the speaker only sends what changed. Peers
 * are never changed in place: a changed BGPPeer (or password) is removed (Cease / Peer De-configured) and added
 * again. On stop every session is closed with Cease / Administrative Shutdown, so routers withdraw our routes at
 * once.
 * @module
 */
import type { RunOptions } from "../config/flags.ts";
import type { BgpPeer, Model } from "../config/model.ts";
import { createSpeaker, type PeerConfig, type PeerStatus, type Speaker, type SpeakerOptions } from "../bgp/mod.ts";
import {
  type BgpAnnouncements,
  computeBgpAnnouncements,
  peerFamilies,
  peersForNode,
  type ServiceAnnouncement,
} from "../bgp/policy.ts";
import { BGP_STATUS_LABELS, bgpNodeAssignedEvent, buildServiceBgpStatus } from "../bgp/status.ts";
import { tryParseIp } from "../ip/mod.ts";
import {
  type EventRecorder,
  isNotFound,
  type KubeApi,
  KubeApiError,
  type MetallbObject,
  type Node,
  type Service,
} from "../k8s/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import type { Caches } from "./caches.ts";
import type { ModelSource } from "./model_source.ts";

/** How often session counters are copied into the metrics registry. */
const METRICS_INTERVAL_MS = 5_000;
/** How often password Secrets are read again (a changed password re-creates the session). */
const SECRET_REFRESH_MS = 60_000;
/** How soon a password Secret that could not be used is read again. */
const SECRET_RETRY_MS = 5_000;
/** Retry delay after a failed status write. */
const STATUS_RETRY_MS = 5_000;
/** Longest wait for removing our ServiceBGPStatus objects on stop. */
const STOP_CLEANUP_MS = 2_000;

/** Options for {@link startBgp}. */
export interface BgpOptions {
  /** Parsed command line. */
  run: RunOptions;
  /** The cluster. */
  api: KubeApi;
  /** Shared informer caches. */
  caches: Caches;
  /** The live configuration. */
  models: ModelSource;
  /** Events. */
  events: EventRecorder;
  /** Logger. */
  log: Logger;
  /** Metrics. */
  registry: Registry;
  /** Makes the speaker (tests); default {@link createSpeaker}. */
  createSpeaker?: (options: SpeakerOptions) => Speaker;
  /** Least time between two reconciles, ms; default 100. */
  minIntervalMs?: number;
  /** How soon an unusable password Secret is read again, ms; default 5,000 (a good one: every 60 s). */
  secretRetryMs?: number;
}

/** BGP on this node. */
export interface Bgp {
  /** The last decision of the policy (undefined before the first reconcile). */
  announcements(): BgpAnnouncements | undefined;
  /** State of every session. */
  peers(): PeerStatus[];
  /** Withdraws every route (Cease / Administrative Shutdown to every peer) and stops. */
  stop(): Promise<void>;
}

/** The node's BGP identifier by default: its first IPv4 InternalIP (then ExternalIP), as MetalLB's speakers use. */
export function nodeRouterId(node: Node | undefined): string | undefined {
  const addresses = Array.isArray(node?.status?.addresses) ? node.status.addresses : [];
  for (const type of ["InternalIP", "ExternalIP"]) {
    for (const a of addresses) {
      if (a?.type === type && typeof a.address === "string" && tryParseIp(a.address)?.family === 4) return a.address;
    }
  }
  return undefined;
}

/** What a BGPPeer becomes for the speaker, or why it cannot be run. */
export function peerConfigFor(
  peer: BgpPeer,
  model: Pick<Model, "bfdProfiles">,
  password: string | undefined,
): PeerConfig | { unsupported: string } {
  if (peer.interface !== undefined) return { unsupported: "unnumbered BGP (spec.interface) is not supported" };
  if (peer.vrf !== undefined) return { unsupported: `VRF "${peer.vrf}" is not supported` };
  let asn = peer.peerAsn;
  if (asn === undefined && peer.dynamicAsn === "internal") asn = peer.myAsn;
  if (asn === undefined) return { unsupported: "dynamicASN: external is not supported; set spec.peerASN" };
  const profile = peer.bfdProfile === undefined ? undefined : model.bfdProfiles.find((p) => p.name === peer.bfdProfile);
  return {
    name: peer.name,
    address: peer.peerAddress,
    asn,
    localAsn: peer.myAsn,
    port: peer.peerPort,
    ...(peer.routerId !== undefined ? { routerId: peer.routerId } : {}),
    ...(peer.sourceAddress !== undefined ? { sourceAddress: peer.sourceAddress } : {}),
    holdTime: peer.holdTime,
    ...(peer.holdTime > 0 && peer.keepaliveTime > 0 ? { keepaliveTime: peer.keepaliveTime } : {}),
    ...(password !== undefined && password !== "" ? { password } : {}),
    ...(peer.ebgpMultiHop ? { ebgpMultihop: true } : {}),
    ...(peer.ebgpMultiHopTtl !== undefined ? { ttl: peer.ebgpMultiHopTtl } : {}),
    ...(peer.enableGracefulRestart ? { gracefulRestart: true } : {}),
    families: peerFamilies(peer).map((f) => (f === 4 ? "ipv4" : "ipv6")),
    // MetalLB's connectTime is FRR's fixed connect-retry interval.
    ...(peer.connectTime !== undefined && peer.connectTime > 0
      ? { retryMinSeconds: peer.connectTime, retryMaxSeconds: peer.connectTime }
      : {}),
    ...(profile
      ? {
        bfd: {
          receiveInterval: profile.receiveInterval,
          transmitInterval: profile.transmitInterval,
          detectMultiplier: profile.detectMultiplier,
          passiveMode: profile.passiveMode,
          echoMode: profile.echoMode,
          echoInterval: profile.echoInterval,
          minimumTtl: profile.minimumTtl,
        },
      }
      : {}),
  };
}

interface SecretEntry {
  ref: { name: string; namespace: string };
  password?: string;
  error?: string;
  fetching: boolean;
  fetchedAt: number;
}

/** Decodes a Secret's base64 `data.password` as UTF-8 text. */
function decodePassword(data: unknown): string | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Starts BGP mode. Sessions open once the caches have synced and a BGPPeer selects this node. */
export function startBgp(options: BgpOptions): Promise<Bgp> {
  const { run, api, caches, models, events, registry } = options;
  const log = options.log.with({ part: "bgp" });
  const makeSpeaker = options.createSpeaker ?? createSpeaker;
  const minIntervalMs = options.minIntervalMs ?? 100;
  const announcedGauge = registry.gauge(
    "metallite_bgp_announced_services",
    "Services this node announces over BGP to at least one peer",
  );
  const reconcileErrors = registry.counter("metallite_bgp_reconcile_errors_total", "BGP reconciles that failed");

  let speaker: Speaker | undefined;
  /** Running sessions: peer name → the exact configuration it was added with. */
  const running = new Map<string, { key: string; families: readonly (4 | 6)[] }>();
  const routesSent = new Map<string, string>();
  const secrets = new Map<string, SecretEntry>();
  /** Secrets the last reconcile asked for. */
  let secretsInUse = new Set<string>();
  const secretRetryMs = options.secretRetryMs ?? SECRET_RETRY_MS;
  /** Services this node announces, with the peers they go to. */
  const announced = new Map<string, ServiceAnnouncement>();
  let last: BgpAnnouncements | undefined;
  let stopped = false;

  const statuses = createStatusWriter({ api, run, crds: models.crdsInstalled, log });

  function secretPassword(ref: { name: string; namespace: string }): { password?: string; pending?: true } | {
    error: string;
  } {
    const key = `${ref.namespace}/${ref.name}`;
    secretsInUse.add(key);
    let entry = secrets.get(key);
    if (entry === undefined) {
      secrets.set(key, entry = { ref, fetching: false, fetchedAt: 0 });
      fetchSecret(key, entry);
    }
    if (entry.password !== undefined) return { password: entry.password };
    if (entry.error !== undefined) return { error: entry.error };
    return { pending: true };
  }

  /** Reads again the Secrets that are due: unusable ones soon, good ones now and then; forgets unused ones. */
  function refreshSecrets(): void {
    const now = Date.now();
    for (const [key, entry] of secrets) {
      if (!secretsInUse.has(key)) {
        secrets.delete(key);
        continue;
      }
      const age = now - entry.fetchedAt;
      if (age > (entry.password === undefined ? secretRetryMs : SECRET_REFRESH_MS)) fetchSecret(key, entry);
    }
  }

  function fetchSecret(key: string, entry: SecretEntry): void {
    if (entry.fetching || stopped) return;
    entry.fetching = true;
    const { ref } = entry;
    api.secrets.get({ namespace: ref.namespace, name: ref.name }).then((secret) => {
      // MetalLB's rules: type kubernetes.io/basic-auth, key "password".
      if (secret.type !== "kubernetes.io/basic-auth") {
        return { error: `Secret ${key} is of type "${secret.type ?? ""}", expected "kubernetes.io/basic-auth"` };
      }
      const password = decodePassword(secret.data?.password);
      if (password === undefined) return { error: `Secret ${key} has no valid "password" key` };
      return { password };
    }, (error) => {
      // A Secret that is gone or forbidden stops the session; a passing API failure keeps the password we have.
      const definite = error instanceof KubeApiError && error.status >= 400 && error.status < 500;
      if (!definite && entry.password !== undefined) return { password: entry.password };
      return { error: `cannot read Secret ${key}: ${(error as Error).message}` };
    }).then((result) => {
      const changed = result.password !== entry.password || result.error !== entry.error;
      entry.fetching = false;
      entry.fetchedAt = Date.now();
      if (result.password !== undefined) {
        entry.password = result.password;
        delete entry.error;
      } else {
        delete entry.password;
        entry.error = result.error;
      }
      if (changed) poke();
    }, (error) => {
      entry.fetching = false;
      log.warnOnce(`bgp-secret-read:${key}`, "reading a password Secret failed", { error });
    });
  }

  async function reconcile(): Promise<void> {
    if (stopped || !caches.synced()) return;
    const model = models.current();
    const node = caches.nodes.get(run.nodeName);
    const nodeId = nodeRouterId(node);

    secretsInUse = new Set();
    // The sessions this node should run, each with its exact configuration.
    const desired = new Map<string, { config: PeerConfig; families: readonly (4 | 6)[] }>();
    for (const peer of peersForNode(model.bgpPeers, node)) {
      let password = peer.password;
      if (peer.passwordSecret) {
        const found = secretPassword(peer.passwordSecret);
        if ("error" in found) {
          log.warnOnce(`bgp-secret:${peer.name}:${found.error}`, "BGP peer not started: its password Secret", {
            peer: peer.name,
            reason: found.error,
          });
          continue;
        }
        if (found.pending) continue; // poked again once the Secret has been read
        password = found.password;
      }
      const config = peerConfigFor(peer, model, password);
      if ("unsupported" in config) {
        log.warnOnce(`bgp-unsupported:${peer.name}:${config.unsupported}`, "BGP peer not started", {
          peer: peer.name,
          reason: config.unsupported,
        });
        continue;
      }
      if (config.routerId === undefined && nodeId === undefined) {
        log.warnOnce(`bgp-router-id:${peer.name}`, "BGP peer not started: no router ID", {
          peer: peer.name,
          reason: "set spec.routerID, or give the Node an IPv4 InternalIP",
        });
        continue;
      }
      desired.set(peer.name, { config, families: peerFamilies(peer) });
    }

    for (const [name, was] of [...running]) {
      const now = desired.get(name);
      if (now && JSON.stringify(now.config) === was.key) continue;
      running.delete(name);
      routesSent.delete(name);
      log.info(now ? "BGP peer changed: restarting its session" : "BGP peer removed: closing its session", {
        peer: name,
      });
      await speaker?.removePeer(name);
    }
    if (stopped) return;

    if (speaker === undefined && desired.size > 0) {
      const first = desired.values().next().value!.config;
      const routerId = nodeId ?? first.routerId!;
      speaker = makeSpeaker({
        asn: first.localAsn ?? first.asn,
        routerId,
        logger: log,
        metrics: registry,
        onEvent: (event) => {
          if (event.type === "down") {
            log.warnOnce(`bgp-down:${event.peer}:${event.reason}`, "BGP session down", {
              peer: event.peer,
              reason: event.reason,
            });
          }
        },
      });
      log.info("BGP speaker started", { routerId });
    }
    for (const [name, d] of desired) {
      if (running.has(name) || !speaker) continue;
      try {
        speaker.addPeer(d.config);
        running.set(name, { key: JSON.stringify(d.config), families: d.families });
        log.info("BGP peer added", { peer: name, address: d.config.address, asn: d.config.asn });
      } catch (error) {
        log.warnOnce(`bgp-add:${name}:${(error as Error).message}`, "BGP peer not started", {
          peer: name,
          reason: (error as Error).message,
        });
      }
    }

    // No session and nothing announced: nothing to compute (with 10,000 Services and no BGP, this was most of a
    // reconcile's cost on every cache change).
    if (running.size === 0 && announced.size === 0) {
      last = { routes: new Map(), services: [] };
      announcedGauge.set(undefined, 0);
      return;
    }
    const decision = computeBgpAnnouncements({
      model,
      nodeName: run.nodeName,
      node,
      services: caches.services.list(),
      endpointSlices: (key) => caches.endpointSlicesOf(key),
      peers: [...running].map(([name, r]) => ({ name, families: r.families })),
      ...(run.lbClass === undefined ? {} : { lbClass: run.lbClass }),
    });
    last = decision;
    for (const [peer, routes] of decision.routes) {
      const key = JSON.stringify(routes);
      if (routesSent.get(peer) === key) continue;
      speaker!.setRoutes(peer, routes);
      routesSent.set(peer, key);
    }
    publish(decision);
  }

  /** Logs, records Events and queues ServiceBGPStatus writes for Services whose announcement changed. */
  function publish(decision: BgpAnnouncements): void {
    const now = new Map<string, ServiceAnnouncement>();
    const objects = new Map<string, Service>();
    for (const s of decision.services) if (s.peers.length > 0) now.set(s.service, s);
    if (now.size > 0) { for (const svc of caches.services.list()) objects.set(objectKeyOf(svc), svc); }
    const byKey = new Map(decision.services.map((s) => [s.service, s]));
    for (const [key, was] of [...announced]) {
      if (now.has(key)) continue;
      announced.delete(key);
      log.info("stopped announcing service over BGP", {
        service: key,
        prefixes: was.prefixes,
        reason: byKey.get(key)?.skipped ?? "deleted",
      });
      statuses.set(key, undefined);
    }
    for (const [key, s] of now) {
      const was = announced.get(key);
      if (was && was.peers.join() === s.peers.join() && was.prefixes.join() === s.prefixes.join()) continue;
      announced.set(key, s);
      log.info("announcing service over BGP", { service: key, prefixes: s.prefixes, peers: s.peers });
      const object = objects.get(key);
      if (!was && object) {
        void events.record(
          {
            kind: "Service",
            apiVersion: "v1",
            name: object.metadata.name,
            namespace: object.metadata.namespace ?? "",
            ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
          },
          bgpNodeAssignedEvent(run.nodeName),
        );
      }
      statuses.set(key, s.peers);
    }
    announcedGauge.set(undefined, announced.size);
  }

  // Coalescing: many pokes, one reconcile at a time, at most one every minIntervalMs or three times the last
  // reconcile's cost if longer (a reconcile reads every Service: a stream of updates must not keep a core busy).
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> | undefined;
  let again = false;
  let lastRunAt = -Infinity;
  let lastCost = 0;
  function poke(): void {
    if (stopped || timer !== undefined) return;
    if (inFlight) {
      again = true;
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      lastRunAt = performance.now();
      inFlight = reconcile().then(() => {
        lastCost = performance.now() - lastRunAt;
      }, (error) => {
        reconcileErrors.inc();
        log.error("BGP reconcile failed; retrying in 1 s", { error });
        retry = setTimeout(() => {
          retry = undefined;
          poke();
        }, 1000);
      }).finally(() => {
        inFlight = undefined;
        if (again) {
          again = false;
          poke();
        }
      });
    }, Math.max(0, lastRunAt + Math.max(minIntervalMs, 3 * lastCost) - performance.now()));
  }
  let retry: ReturnType<typeof setTimeout> | undefined;

  const offCaches = caches.onAnyChange(poke);
  const offModel = models.onChange(poke);
  caches.whenSynced().then(poke, () => {});
  // Secrets are read with GET (no watch): look again now and then, so a changed password takes effect.
  const secretTimer = setInterval(refreshSecrets, Math.min(secretRetryMs, SECRET_REFRESH_MS));
  const metricsTimer = setInterval(() => speaker?.collectMetrics(), METRICS_INTERVAL_MS);

  return Promise.resolve({
    announcements: () => last,
    peers: () => speaker?.peers() ?? [],
    async stop() {
      if (stopped) return;
      stopped = true;
      offCaches();
      offModel();
      clearTimeout(timer);
      clearTimeout(retry);
      clearInterval(secretTimer);
      clearInterval(metricsTimer);
      await inFlight;
      if (speaker) {
        speaker.collectMetrics();
        await speaker.shutdown({ message: "metallite stopping" });
        log.info("BGP sessions closed; routes withdrawn");
      }
      announced.clear();
      announcedGauge.set(undefined, 0);
      await statuses.stop(STOP_CLEANUP_MS);
    },
  });
}

function objectKeyOf(service: Service): string {
  return `${service.metadata.namespace ?? ""}/${service.metadata.name}`;
}

interface StatusWriterOptions {
  api: KubeApi;
  run: RunOptions;
  crds: boolean;
  log: Logger;
}

/**
 * Keeps one ServiceBGPStatus per announced Service in step with the wanted peers, writing in the background (one
 * request at a time, latest wish per Service wins), so the API server never slows announcements.
 */
function createStatusWriter(options: StatusWriterOptions) {
  const { api, run, log } = options;
  const wanted = new Map<string, readonly string[] | undefined>();
  const written = new Map<string, { name: string; peers: string }>();
  const dirty = new Set<string>();
  let worker: Promise<void> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let closing = false;
  const ready = options.crds ? deleteStale() : Promise.resolve();

  // Objects of an earlier run of this node describe nothing now: this instance announces nothing yet.
  async function deleteStale(): Promise<void> {
    try {
      const stale = await api.serviceBgpStatuses.list({
        namespace: run.namespace,
        labelSelector: `${BGP_STATUS_LABELS.node}=${run.nodeName}`,
      });
      for (const item of stale.items) await remove(item.metadata.name);
    } catch (error) {
      log.warnOnce(`bgp-status-stale:${String(error)}`, "cannot remove old ServiceBGPStatus objects", { error });
    }
  }

  async function remove(name: string): Promise<void> {
    try {
      await api.serviceBgpStatuses.delete({ namespace: run.namespace, name });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async function write(key: string): Promise<void> {
    const peers = wanted.get(key);
    const existing = written.get(key);
    if (peers === undefined) {
      wanted.delete(key);
      if (existing === undefined) return;
      await remove(existing.name);
      written.delete(key);
      return;
    }
    if (existing?.peers === peers.join()) return;
    const [serviceNamespace = "", serviceName = ""] = key.split("/");
    const desired = buildServiceBgpStatus({
      nodeName: run.nodeName,
      namespace: run.namespace,
      serviceName,
      serviceNamespace,
      peers,
    });
    let object: MetallbObject;
    if (existing === undefined) {
      object = await api.serviceBgpStatuses.create(desired as unknown as MetallbObject);
      written.set(key, { name: object.metadata.name, peers: "" });
    } else {
      object = await api.serviceBgpStatuses.get({ namespace: run.namespace, name: existing.name });
    }
    await api.serviceBgpStatuses.updateStatus({ ...object, status: { ...desired.status } } as MetallbObject);
    written.set(key, { name: object.metadata.name, peers: peers.join() });
  }

  async function drain(): Promise<void> {
    await ready;
    while (dirty.size > 0) {
      const key = dirty.values().next().value!;
      dirty.delete(key);
      try {
        await write(key);
      } catch (error) {
        log.warnOnce(`bgp-status:${String(error)}`, "cannot write ServiceBGPStatus; retrying", { error });
        if (!closing) {
          dirty.add(key);
          clearTimeout(retryTimer);
          retryTimer = setTimeout(() => {
            retryTimer = undefined;
            kick();
          }, STATUS_RETRY_MS);
          return;
        }
      }
    }
  }

  function kick(): void {
    if (!options.crds || worker) return;
    worker = drain().finally(() => {
      worker = undefined;
      if (dirty.size > 0 && !closing && retryTimer === undefined) kick();
    });
  }

  return {
    /** The peers a Service is advertised to from this node; undefined when it no longer is. */
    set(key: string, peers: readonly string[] | undefined): void {
      if (!options.crds) return;
      wanted.set(key, peers);
      dirty.add(key);
      if (retryTimer === undefined) kick();
    },
    /** Removes this node's objects (best effort, within `budgetMs`) and stops. */
    async stop(budgetMs: number): Promise<void> {
      clearTimeout(retryTimer);
      retryTimer = undefined;
      if (!options.crds) return;
      for (const key of written.keys()) {
        wanted.set(key, undefined);
        dirty.add(key);
      }
      closing = true;
      let timeout: ReturnType<typeof setTimeout> | undefined;
      const budget = new Promise<void>((resolve) => timeout = setTimeout(resolve, budgetMs));
      await Promise.race([(worker ?? Promise.resolve()).then(() => drain()), budget]);
      clearTimeout(timeout);
    },
  };
}
