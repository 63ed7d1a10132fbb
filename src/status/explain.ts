/**
 * The heart of `metallite status`: a pure function from one read of the cluster to the report. It rebuilds the
 * configuration with `buildModel`, re-runs the allocator (`allocateAll`) and the Layer 2 election
 * (`createElector`) — the code the instances run — and sets the result beside what the instances published
 * (Service status and conditions, ServiceL2Status, ServiceBGPStatus, ConfigurationState), so a difference between
 * the two is shown rather than hidden.
 * @module
 */
import { allocateAll } from "../alloc/allocate.ts";
import { ALLOCATED_FROM_POOL_ANNOTATION } from "../alloc/annotations.ts";
import type { NamespaceLike, ServiceOutcome } from "../alloc/types.ts";
import { buildModel } from "../config/build.ts";
import type { FlagBgpPeer, FlagPool } from "../config/flags.ts";
import type { Model, Rejection } from "../config/model.ts";
import { formatIp, type IpAddress, parseRange, tryParseIp } from "../ip/mod.ts";
import type { EndpointSlice, KubeEvent, Lease, Service } from "../k8s/types.ts";
import { createElector, indexEndpointSlices, objectKey, type PeerState } from "../l2/election.ts";
import { nodeLeaseName } from "../l2/peers.ts";
import { explainBgp } from "./_bgp.ts";
import { nodeFacts, servingNodes } from "./_facts.ts";
import { chooseFlagConfig, readAllocator, readInstances } from "./_instances.ts";
import { explainL2 } from "./_l2.ts";
import { explainPending } from "./_pending.ts";
import { poolContaining, poolUsage } from "./_usage.ts";
import {
  type AnnouncementStatus,
  checkAnnouncementStatus,
  checkConfigurationState,
  type Checked,
  checkEndpointSlice,
  checkEvent,
  checkLease,
  checkNamed,
  checkNode,
  checkService,
  describeObject,
} from "./_validate.ts";
import { NODE_CONFIG_ANNOTATION } from "./node_config.ts";
import {
  type AllocatorReport,
  type BgpReport,
  type ConfigReport,
  type EventReport,
  type L2Report,
  type PendingReport,
  type PoolReport,
  type ServiceReport,
  STATUS_SCHEMA_VERSION,
  type StatusReport,
} from "./report.ts";
import type { ClusterSnapshot } from "./snapshot.ts";

const MAX_EVENTS = 3;

function checkAll<T>(kind: string, raws: readonly unknown[], check: (raw: unknown) => Checked<T>, warn: string[]) {
  const out: T[] = [];
  for (const raw of raws) {
    const checked = check(raw);
    if (checked.ok) out.push(checked.value);
    else warn.push(`${describeObject(kind, raw)} skipped: ${checked.why}`);
  }
  return out;
}

function byService(statuses: readonly AnnouncementStatus[]): Map<string, AnnouncementStatus[]> {
  const out = new Map<string, AnnouncementStatus[]>();
  for (const s of statuses) {
    const list = out.get(s.service);
    if (list) list.push(s);
    else out.set(s.service, [s]);
  }
  return out;
}

function eventsByService(events: readonly KubeEvent[]): Map<string, EventReport[]> {
  const out = new Map<string, { at: number; report: EventReport }[]>();
  for (const e of events) {
    if (e.involvedObject.kind !== "Service") continue;
    const key = `${e.involvedObject.namespace ?? e.metadata?.namespace ?? ""}/${e.involvedObject.name}`;
    const raw = e as unknown as Record<string, unknown>;
    const time = [e.lastTimestamp, raw.eventTime, e.firstTimestamp, e.metadata?.creationTimestamp]
      .find((t): t is string => typeof t === "string" && t !== "");
    const report: EventReport = {
      type: e.type ?? "Normal",
      reason: e.reason ?? "",
      message: e.message ?? "",
      count: typeof e.count === "number" && e.count > 0 ? e.count : 1,
      ...(time === undefined ? {} : { lastTimestamp: time }),
    };
    const list = out.get(key) ?? [];
    list.push({ at: time === undefined ? 0 : Date.parse(time) || 0, report });
    out.set(key, list);
  }
  const sorted = new Map<string, EventReport[]>();
  for (const [key, list] of out) {
    sorted.set(key, list.sort((a, b) => b.at - a.at).slice(0, MAX_EVENTS).map((x) => x.report));
  }
  return sorted;
}

function rejectionReport(r: Rejection) {
  return {
    kind: r.ref.kind,
    namespace: r.ref.namespace,
    name: r.ref.name,
    source: r.file === undefined ? r.source : `${r.source} ${r.file}`,
    code: r.code,
    reason: r.reason,
  };
}

function ingressOf(service: Service): { ips: IpAddress[]; invalid: string[] } {
  const ips: IpAddress[] = [];
  const invalid: string[] = [];
  for (const entry of service.status?.loadBalancer?.ingress ?? []) {
    const ip = typeof entry.ip === "string" ? tryParseIp(entry.ip) : undefined;
    if (ip) ips.push(ip);
    else invalid.push(entry.ip ?? (typeof entry.hostname === "string" ? entry.hostname : "(empty)"));
  }
  return { ips, invalid };
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "at an unknown time" : `${Math.round(ms / 1000)} s ago`;
}

function list(items: readonly string[]): string {
  return items.length === 0 ? "none" : items.join(", ");
}

/** What the per-Service explanations share. */
interface Shared {
  readonly snapshot: ClusterSnapshot;
  readonly model: Model;
  readonly lbClass: string | undefined;
  readonly outcomes: ReadonlyMap<string, ServiceOutcome>;
  readonly elector: ReturnType<typeof createElector>;
  readonly slices: ReadonlyMap<string, readonly EndpointSlice[]>;
  readonly l2Statuses: ReadonlyMap<string, AnnouncementStatus[]>;
  readonly bgpStatuses: ReadonlyMap<string, AnnouncementStatus[]>;
  readonly events: ReadonlyMap<string, EventReport[]> | undefined;
  readonly alive: ReadonlyMap<string, boolean>;
  readonly leaseAge: ReadonlyMap<string, number | undefined>;
  readonly peers: ReadonlyMap<string, PeerState>;
  readonly interfacesUnknown: ReadonlySet<string>;
  readonly facts: ReturnType<typeof nodeFacts>[];
  readonly allocator: AllocatorReport;
  readonly flagsVisible: boolean;
  readonly livenessDetail: (node: string) => string;
}

function l2Notes(l2: L2Report, shared: Shared): string[] {
  const notes: string[] = [];
  const reportedNodes = l2.reported.map((r) => r.node);
  const liveness = (node: string) => shared.alive.get(node);
  if (reportedNodes.length > 1) {
    notes.push(
      `${reportedNodes.length} nodes report announcing it over Layer 2 (${reportedNodes.join(", ")}): ` +
        "more than one may be answering ARP/NDP for its address, or some ServiceL2Status objects are left over",
    );
  }
  for (const node of reportedNodes) {
    if (node === l2.elected) continue;
    if (liveness(node) !== true) {
      notes.push(
        `node ${node} reports announcing it, but its instance is not alive (node Lease renewed ` +
          `${seconds(shared.leaseAge.get(node))}): its ServiceL2Status is left over` +
          (l2.elected ? `; ${l2.elected} should have taken over` : ""),
      );
    } else if (l2.elected) {
      notes.push(
        `node ${node} reports announcing it, but the election recomputed here picks ${l2.elected}: a failover in ` +
          "progress, or instances that see the cluster differently (split view: compare their Node, " +
          "EndpointSlice and Lease views and their heartbeats)",
      );
    } else {
      notes.push(`node ${node} reports announcing it, but nobody should: ${l2.skippedDetail ?? l2.skipped}`);
    }
  }
  if (l2.elected && reportedNodes.length === 0 && shared.snapshot.crdsInstalled) {
    notes.push(
      `no node reports announcing it (no ServiceL2Status): ${l2.elected} should; it may not have published yet, ` +
        "or may lack permission to write servicel2statuses",
    );
  }
  if (l2.elected && shared.interfacesUnknown.has(l2.elected) && l2.interfaces !== "all") {
    notes.push(
      `node ${l2.elected} does not publish its interfaces: the election here assumes it has ${
        list(l2.interfaces as string[])
      }`,
    );
  }
  return notes;
}

function bgpNotes(bgp: BgpReport, shared: Shared): string[] {
  const notes: string[] = [];
  const expected = new Map(bgp.expected.map((e) => [e.node, e.peers]));
  const excluded = new Map(bgp.excluded.map((e) => [e.node, e.detail]));
  for (const r of bgp.reported) {
    const want = expected.get(r.node);
    if (want === undefined) {
      const why = excluded.get(r.node) ?? (bgp.skipped === "no-endpoints" ? "the Service has no serving endpoint" : "");
      notes.push(`node ${r.node} reports announcing it over BGP, but should not${why ? `: ${why}` : ""}`);
    } else if (want.join() !== r.peers.join()) {
      notes.push(
        `node ${r.node} reports announcing it to ${list(r.peers)}, but should announce to ${list(want)}`,
      );
    }
  }
  if (shared.snapshot.crdsInstalled) {
    const reported = new Set(bgp.reported.map((r) => r.node));
    const missing = bgp.expected.filter((e) => !reported.has(e.node)).map((e) => e.node);
    if (missing.length > 0) {
      notes.push(`no ServiceBGPStatus from ${missing.join(", ")}, which should announce it`);
    }
  }
  return notes;
}

function pendingNotes(pending: PendingReport, shared: Shared): string[] {
  const notes: string[] = [];
  const { reported, recomputed } = pending;
  if (recomputed.state === "assignable") {
    const a = shared.allocator;
    const who = a.holder === undefined
      ? `no allocator holds the Lease ${a.lease}: is metallite running in namespace ${shared.snapshot.namespace}?`
      : a.fresh
      ? `the allocator (${a.holder}) has not acted yet, or cannot write Service status`
      : `the allocator Lease (${a.holder}) has expired: no instance is allocating`;
    notes.push(`address ${recomputed.ips.join(", ")} of pool ${recomputed.pool} is free for it now; ${who}`);
    if (reported) notes.push(`the allocator last wrote: ${reported.reason}: ${reported.message}`);
    return notes;
  }
  if (!reported) {
    notes.push("no pending condition on the Service: the reason shown is recomputed here");
  } else if (reported.reason !== recomputed.code) {
    notes.push(
      `the allocator wrote ${reported.reason} (${reported.message}) but recomputing now gives ${recomputed.code}: ` +
        "the cluster changed since its last pass, or it sees other pools",
    );
  }
  if (!shared.flagsVisible && (recomputed.code === "NoPools" || recomputed.code === "IpNotInPool")) {
    notes.push("pools given to the instances with --pool are not visible here and may change this answer");
  }
  return notes;
}

function explainService(service: Service, shared: Shared): ServiceReport {
  const key = objectKey(service);
  const { model } = shared;
  const outcome = shared.outcomes.get(key);
  const { ips, invalid } = ingressOf(service);
  const ipTexts = ips.map(formatIp);
  const notes: string[] = [];
  if (invalid.length > 0) {
    notes.push(`status.loadBalancer.ingress holds entries that are not IPs: ${invalid.join(", ")}`);
  }
  const annotation = service.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION];
  const recomputedPool = poolContaining(model.pools, ips)?.name;
  const policy = service.spec?.externalTrafficPolicy ?? "Cluster";
  const base = {
    namespace: service.metadata.namespace ?? "",
    name: service.metadata.name,
    ips: ipTexts,
    externalTrafficPolicy: policy,
    ...(service.spec?.loadBalancerClass === undefined ? {} : { loadBalancerClass: service.spec.loadBalancerClass }),
    events: shared.events?.get(key) ?? [],
  };
  const poolFields = annotation !== undefined
    ? { pool: annotation, poolSource: "annotation" as const }
    : recomputedPool !== undefined
    ? { pool: recomputedPool, poolSource: "recomputed" as const }
    : { poolSource: "none" as const };
  if (annotation !== undefined && recomputedPool !== undefined && annotation !== recomputedPool) {
    notes.push(`annotated as from pool ${annotation}, but its addresses are in pool ${recomputedPool}`);
  }

  if (outcome?.state === "ignored" && outcome.code === "OtherClass") {
    notes.push(
      shared.lbClass === undefined
        ? `loadBalancerClass ${service.spec?.loadBalancerClass} is not metallite's (it serves Services without a class)`
        : `loadBalancerClass ${service.spec?.loadBalancerClass} is not metallite's (${shared.lbClass})`,
    );
    return { ...base, state: "other-class", ...poolFields, notes };
  }

  if (ips.length === 0 && invalid.length === 0) {
    const pending = explainPending(service, outcome);
    notes.push(...pendingNotes(pending, shared));
    return { ...base, state: "pending", ...poolFields, pending, notes };
  }

  if (recomputedPool === undefined && ips.length > 0) {
    notes.push(
      shared.flagsVisible
        ? "its addresses are in no known pool: nobody announces them"
        : "its addresses are in no pool visible here: pools given to the instances with --pool are not visible; " +
          "pass them to status with --config",
    );
  }
  if (outcome?.state === "assigned" && outcome.changed) {
    notes.push(`the allocator would change its addresses to ${outcome.ips.join(", ")} (pool ${outcome.pool})`);
  } else if (outcome?.state === "pending") {
    notes.push(`the allocator would not keep its addresses: ${outcome.message}`);
  }
  for (const note of outcome?.notes ?? []) notes.push(note.message);

  const election = shared.elector.elect(service);
  const serving = servingNodes(shared.slices.get(key) ?? []);
  const local = policy === "Local";
  const l2 = explainL2(service, election, local ? serving.nodes : undefined, shared.l2Statuses.get(key) ?? [], {
    advertisements: model.l2Advertisements,
    peers: shared.peers,
    interfacesUnknown: shared.interfacesUnknown,
    livenessDetail: shared.livenessDetail,
  });
  const bgp = recomputedPool === undefined
    ? undefined
    : explainBgp(service, recomputedPool, serving, shared.bgpStatuses.get(key) ?? [], {
      model,
      nodes: shared.facts,
      alive: shared.alive,
      livenessDetail: shared.livenessDetail,
    });
  if (l2) notes.push(...l2Notes(l2, shared));
  if (bgp) notes.push(...bgpNotes(bgp, shared));
  if (!l2 && !bgp && recomputedPool !== undefined) {
    notes.push(`no L2Advertisement or BGPAdvertisement covers pool ${recomputedPool} (and its labels): not announced`);
  }
  const announced = (l2?.elected !== undefined) || (bgp !== undefined && bgp.expected.length > 0);
  return {
    ...base,
    state: announced ? "announced" : "unannounced",
    ...poolFields,
    ...(l2 ? { l2 } : {}),
    ...(bgp ? { bgp } : {}),
    notes,
  };
}

/**
 * Explains the cluster: configuration, pools, instances, and for every LoadBalancer Service its addresses, pool,
 * who announces it and why (or why it is pending). Pure: the same snapshot always gives the same report. Malformed
 * objects are skipped and listed in `warnings`; nothing in the snapshot can make it throw.
 *
 * @example
 * ```ts
 * const report = explainCluster(await readSnapshot(api, { namespace: "metallb-system" }));
 * console.log(renderText(report));
 * ```
 */
export function explainCluster(snapshot: ClusterSnapshot): StatusReport {
  const warnings: string[] = [...(snapshot.readWarnings ?? [])];
  const now = snapshot.now;
  const services = dedupe(checkAll("Service", snapshot.services, checkService, warnings), objectKey);
  const nodes = dedupe(checkAll("Node", snapshot.nodes, checkNode, warnings), (n) => n.metadata.name);
  const slices = checkAll("EndpointSlice", snapshot.endpointSlices, checkEndpointSlice, warnings);
  const leases: Lease[] = checkAll("Lease", snapshot.leases, checkLease, warnings);
  const namespaces: NamespaceLike[] | undefined = snapshot.namespaces &&
    checkAll("Namespace", snapshot.namespaces, checkNamed, warnings);
  const events = snapshot.events && checkAll("Event", snapshot.events, checkEvent, warnings);
  const l2Statuses = checkAll("ServiceL2Status", snapshot.serviceL2Statuses, checkAnnouncementStatus, warnings);
  const bgpStatuses = checkAll("ServiceBGPStatus", snapshot.serviceBgpStatuses, checkAnnouncementStatus, warnings);
  const states = checkAll("ConfigurationState", snapshot.configurationStates, checkConfigurationState, warnings);

  const facts = nodes.map(nodeFacts).sort((a, b) => (a.name < b.name ? -1 : 1));
  const view = readInstances(leases, facts.map((f) => f.name), now);
  warnings.push(...view.warnings);
  const allocator = readAllocator(leases, now);
  const chosen = chooseFlagConfig(view, allocator);
  if (chosen.warning) warnings.push(chosen.warning);
  const flags = chosen.config;

  const flagPools: FlagPool[] = [];
  for (const text of flags?.pools ?? []) {
    try {
      flagPools.push({ text, range: parseRange(text) });
    } catch (error) {
      warnings.push(`--pool "${text}" published by ${chosen.node} skipped: ${(error as Error).message}`);
    }
  }
  const flagBgpPeers: FlagBgpPeer[] = (flags?.bgpPeers ?? []).map((p) => ({
    address: p.address,
    asn: p.asn,
    port: p.port,
    holdTime: p.holdTime,
    ...(p.multihop === undefined ? {} : { ebgpMultihop: p.multihop }),
  }));
  const model = buildModel({
    flagPools,
    flagInterfaces: flags?.interfaces ?? [],
    flagBgpPeers,
    ...(flags?.asn === undefined ? {} : { myAsn: flags.asn }),
    files: snapshot.files ?? [],
    cluster: snapshot.metallbConfig,
    namespace: snapshot.namespace,
  });
  const rejected = [...(snapshot.fileRejections ?? []), ...model.rejected];

  // Liveness as node Leases show it; the instances' heartbeat view is not readable from the cluster.
  const alive = new Map<string, boolean>();
  const leaseAge = new Map<string, number | undefined>();
  const peers = new Map<string, PeerState>();
  const interfacesUnknown = new Set<string>();
  const adInterfaces = [...new Set(model.l2Advertisements.flatMap((a) => a.interfaces))].sort();
  for (const [node, lease] of view.leases) {
    alive.set(node, lease.fresh);
    leaseAge.set(node, lease.renewedAgoMs);
    const published = view.configs.get(node)?.announceInterfaces;
    if (published === undefined) interfacesUnknown.add(node);
    peers.set(node, { alive: lease.fresh, interfaces: published ?? adInterfaces });
  }
  const livenessDetail = (node: string): string => {
    const state = alive.get(node);
    if (state === undefined) {
      return `no metallite instance: no node Lease ${nodeLeaseName(node)} in ${snapshot.namespace}`;
    }
    if (!state) {
      return `its instance is dead or cut off: its node Lease was last renewed ${seconds(leaseAge.get(node))}`;
    }
    return "alive";
  };

  const lbClass = flags?.lbClass;
  const lbServices = services.filter((s) => s.spec?.type === "LoadBalancer")
    .sort((a, b) => (objectKey(a) < objectKey(b) ? -1 : 1));
  const allocation = allocateAll({
    model,
    services: lbServices,
    ...(namespaces ? { namespaces } : {}),
    ...(lbClass === undefined ? {} : { lbClass }),
  });
  const outcomes = new Map(allocation.services.map((o) => [o.key, o]));
  const sliceIndex = indexEndpointSlices(slices);
  const elector = createElector({
    model,
    nodes,
    peers,
    endpointSlices: (key) => sliceIndex.get(key) ?? [],
  });

  const shared: Shared = {
    snapshot,
    model,
    lbClass,
    outcomes,
    elector,
    slices: sliceIndex,
    l2Statuses: byService(l2Statuses),
    bgpStatuses: byService(bgpStatuses),
    events: events && eventsByService(events),
    alive,
    leaseAge,
    peers,
    interfacesUnknown,
    facts,
    allocator,
    flagsVisible: view.configs.size > 0,
    livenessDetail,
  };
  const serviceReports = lbServices.map((s) => explainService(s, shared));

  // Usage from the addresses Services hold now (shared addresses counted once).
  const inUse = lbServices.flatMap((s) => ingressOf(s).ips);
  const usage = poolUsage(model.pools, inUse);
  const pools: PoolReport[] = model.pools.map((p) => ({
    name: p.name,
    source: p.source,
    addresses: p.addresses,
    autoAssign: p.autoAssign,
    ...usage.get(p.name)!,
    l2Advertisements: model.l2Advertisements.filter((a) => a.pools.includes(p.name)).map((a) => a.name),
    bgpAdvertisements: model.bgpAdvertisements.filter((a) => a.pools.includes(p.name)).map((a) => a.name),
  }));

  const configNotes: string[] = [];
  const instanceCount = view.instances.filter((i) => i.state !== "none").length;
  if (instanceCount === 0) {
    configNotes.push(
      `no metallite instance has a node Lease in namespace ${snapshot.namespace}: is metallite running, with ` +
        `--namespace ${snapshot.namespace}?`,
    );
  } else {
    configNotes.push(
      "liveness here comes from node Leases (renewed every 10 s, stale after 30 s); the instances themselves notice " +
        "a dead peer within about a second through UDP heartbeats, which this command cannot hear, so right after " +
        "a failure this report may still count a dead node alive",
    );
  }
  if (view.configs.size === 0 && instanceCount > 0) {
    configNotes.push(
      `pools from command-line flags are not visible: no instance publishes its flags (annotation ` +
        `${NODE_CONFIG_ANNOTATION} on its node Lease); pass the same pools to status with --config`,
    );
  }
  const instanceFiles = [...new Set([...view.configs.values()].flatMap((c) => c.configFiles))].sort();
  if (instanceFiles.length > 0) {
    configNotes.push(
      `instances also read --config files (${instanceFiles.join(", ")}) whose content is not in the cluster; ` +
        "pass the same files to status with --config to include them",
    );
  }
  if (!snapshot.crdsInstalled) {
    configNotes.push(
      "the metallb.io CRDs are not installed: configuration comes from flags and files only, and who announces " +
        "what is recomputed here but not reported by the instances (no ServiceL2Status/ServiceBGPStatus)",
    );
  }
  if (!namespaces && model.pools.some((p) => (p.serviceAllocation?.namespaceSelectors.length ?? 0) > 0)) {
    configNotes.push("namespaces could not be read: pools with namespaceSelectors are judged without their labels");
  }
  if (interfacesUnknown.size > 0 && adInterfaces.length > 0) {
    configNotes.push(
      `nodes ${[...interfacesUnknown].sort().join(", ")} do not publish their interfaces: the Layer 2 election here ` +
        `assumes they have every interface an L2Advertisement names (${adInterfaces.join(", ")})`,
    );
  }

  const config: ConfigReport = {
    valid: rejected.length === 0,
    crdsInstalled: snapshot.crdsInstalled,
    flags: view.configs.size === 0
      ? "not-visible"
      : (flags?.pools.length ?? 0) + (flags?.bgpPeers.length ?? 0) > 0
      ? "published"
      : "none",
    flagPools: flags?.pools ?? [],
    instanceConfigFiles: instanceFiles,
    statusConfigFiles: snapshot.statusConfigFiles ?? [],
    rejected: rejected.map(rejectionReport),
    configurationStates: states.sort((a, b) => (a.name < b.name ? -1 : 1)),
    counts: {
      pools: model.pools.length,
      l2Advertisements: model.l2Advertisements.length,
      bgpAdvertisements: model.bgpAdvertisements.length,
      bgpPeers: model.bgpPeers.length,
    },
    notes: configNotes,
  };

  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    generatedAt: new Date(now).toISOString(),
    namespace: snapshot.namespace,
    config,
    pools,
    instances: view.instances,
    allocator,
    services: serviceReports,
    warnings,
  };
}

function dedupe<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
