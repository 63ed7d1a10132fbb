/**
 * The BGP announcement policy of one node: from the validated configuration and the cached cluster state, which
 * routes this node announces to each of its BGP peers. Pure, so every rule is table-tested and `metallite status`
 * can recompute any node's answer.
 *
 * It follows MetalLB's speaker (speaker/bgp_controller.go `ShouldAnnounce`, `SetBalancer`, `publishAds` and
 * `PeersForService`; internal/bgp/native `Set`), so a cluster migrating from MetalLB sees the same routes:
 *
 * - the Service must be `type: LoadBalancer` of our `loadBalancerClass`, with at least one ingress IP, every one of
 *   them valid and all inside one pool;
 * - its advertisements are the BGPAdvertisements of that pool whose `nodeSelectors` select this node and whose
 *   `serviceSelectors` (if any) match the Service; none → not announced here;
 * - two of them with different `localPref` that would give the same prefix to the same peer make MetalLB refuse the
 *   Service ("conflictingAdvertisements"); so do we;
 * - nothing is announced from a node with `NetworkUnavailable=True` or labelled
 *   `node.kubernetes.io/exclude-from-external-load-balancers` (unless told to ignore the label);
 * - `externalTrafficPolicy: Local` → only a node holding a serving endpoint announces; `Cluster` → every selected node
 *   announces while the Service has a serving endpoint anywhere, and nobody does without one (MetalLB withdraws a
 *   Service with no endpoints whatever its policy). An endpoint serves when it has an address and `ready` is unset or
 *   true, or `serving` is true (MetalLB's `EndpointCanServe` plus its `len(Addresses) > 0`);
 * - each IP × advertisement gives one route: the IP masked to `aggregationLength` (IPv4) or `aggregationLengthV6`,
 *   with the advertisement's `localPref` (the speaker sends it to iBGP peers only) and communities; it goes to the
 *   advertisement's `peers` (all peers when it names none) among the BGPPeers whose `nodeSelectors` select this
 *   node;
 * - per peer, routes with the same prefix (aggregates, shared IPs, several advertisements) become one, with the
 *   union of their communities, as MetalLB's native session merges them. Where `localPref` still differs (MetalLB
 *   leaves this to map order) the first Service by "namespace/name", then the first advertisement by name, wins;
 * - a peer carries only its own address family unless `dualStackAddressFamily` (MetalLB's FRR mode), so an IPv6
 *   route is never handed to an IPv4-only session;
 * - a Service is reported as advertised to every peer that receives one of its prefixes, including a prefix another
 *   Service's advertisement sent there (MetalLB's `PeersForService` works by prefix); this is what ServiceBGPStatus
 *   objects list.
 * @module
 */
import type { BgpAdvertisement, BgpCommunity, BgpPeer, Model, Pool } from "../config/model.ts";
import { matchesAny } from "../config/selector.ts";
import {
  containingPrefix,
  formatCidr,
  formatIp,
  type IpAddress,
  type IpFamily,
  rangeContains,
  tryParseIp,
} from "../ip/mod.ts";
import { type EndpointSlice, EXCLUDE_FROM_LB_LABEL, type Node, type Service } from "../k8s/types.ts";
import type { Route } from "./rib_out.ts";

/** Why this node announces nothing for a Service. */
export type BgpSkipReason =
  /** Not type LoadBalancer. */
  | "not-load-balancer"
  /** Another `spec.loadBalancerClass` than ours. */
  | "other-class"
  /** No ingress IP yet. */
  | "no-ip"
  /** An ingress entry is not a valid IP. */
  | "invalid-ip"
  /** No pool holds all of its IPs. */
  | "no-pool"
  /** No BGPAdvertisement of the pool selects this node and matches the Service. */
  | "no-advertisement"
  /** Two of its advertisements give the same prefix to the same peer with different localPref. */
  | "conflicting-advertisements"
  /** This node has the condition NetworkUnavailable=True. */
  | "network-unavailable"
  /** This node is labelled node.kubernetes.io/exclude-from-external-load-balancers. */
  | "excluded-label"
  /** No serving endpoint anywhere. */
  | "no-endpoints"
  /** externalTrafficPolicy Local and no serving endpoint on this node. */
  | "no-local-endpoint"
  /** Eligible, but no peer of this node is named by its advertisements (or carries its family). */
  | "no-peer";

/** A BGP session of this node, as the policy needs it. */
export interface PeerSessionInfo {
  /** The BGPPeer's name. */
  readonly name: string;
  /** Address families the session carries. */
  readonly families: readonly IpFamily[];
}

/** What the policy decided for one Service on this node. */
export interface ServiceAnnouncement {
  /** "namespace/name". */
  readonly service: string;
  /** Its ingress IPs, canonical, in status order (empty when skipped before they were read). */
  readonly ips: readonly string[];
  /** The pool holding them. */
  readonly pool?: string;
  /** Names of the advertisements that apply on this node. */
  readonly advertisements: readonly string[];
  /** The prefixes this node announces for it, sorted (empty when skipped). */
  readonly prefixes: readonly string[];
  /** Peers it is advertised to, sorted (what ServiceBGPStatus lists); empty when skipped. */
  readonly peers: readonly string[];
  /** Why nothing is announced, when that is so. */
  readonly skipped?: BgpSkipReason;
}

/** The whole decision for this node. */
export interface BgpAnnouncements {
  /** Routes per peer name, for every given peer (possibly empty), sorted by prefix. */
  readonly routes: ReadonlyMap<string, readonly Route[]>;
  /** One entry per LoadBalancer Service (other types are left out), sorted by key. */
  readonly services: readonly ServiceAnnouncement[];
}

/** Everything {@link computeBgpAnnouncements} reads. */
export interface BgpPolicyInputs {
  /** The validated configuration. */
  readonly model: Pick<Model, "pools" | "bgpPeers" | "bgpAdvertisements">;
  /** This node's name. */
  readonly nodeName: string;
  /** This node's object; without one nothing is announced (MetalLB selects nodes from Node objects). */
  readonly node: Node | undefined;
  /** Every Service. */
  readonly services: Iterable<Service>;
  /** EndpointSlices of a Service, by "namespace/name". */
  readonly endpointSlices: (serviceKey: string) => readonly EndpointSlice[];
  /** The sessions this node runs; default {@link peersForNode} of the model. */
  readonly peers?: readonly PeerSessionInfo[];
  /** Our `spec.loadBalancerClass` (`--lb-class`); undefined serves Services without a class. */
  readonly lbClass?: string;
  /** Ignore the exclude-from-external-load-balancers label (MetalLB's --ignore-exclude-lb). */
  readonly ignoreExcludeLabel?: boolean;
}

function stringRecord(value: unknown): Readonly<Record<string, string>> {
  if (typeof value !== "object" || value === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

/** The labels of a Node object, keeping string values only. */
export function nodeLabels(node: Node | undefined): Readonly<Record<string, string>> {
  return stringRecord(node?.metadata?.labels);
}

/** The families a BGPPeer's session carries: its own, or both with `dualStackAddressFamily` or unnumbered BGP. */
export function peerFamilies(peer: BgpPeer): IpFamily[] {
  return peer.dualStackAddressFamily || peer.interface !== undefined ? [4, 6] : [peer.peerFamily];
}

/**
 * The BGPPeers whose `nodeSelectors` select this node (all of them when a peer has none), as MetalLB's `syncPeers`
 * decides which sessions a speaker runs.
 */
export function peersForNode(peers: readonly BgpPeer[], node: Node | undefined): BgpPeer[] {
  const labels = nodeLabels(node);
  return peers.filter((p) => matchesAny(p.nodeSelectors, labels));
}

/** Go's `To4()`: an IPv4-mapped IPv6 address is an IPv4 address. */
function unmap(ip: IpAddress): IpAddress {
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

function ingressIps(service: Service): IpAddress[] | "invalid" {
  const ingress = service.status?.loadBalancer?.ingress;
  if (!Array.isArray(ingress)) return [];
  const out: IpAddress[] = [];
  for (const entry of ingress) {
    const ip = typeof entry?.ip === "string" ? tryParseIp(entry.ip) : undefined;
    if (!ip) return "invalid";
    out.push(unmap(ip));
  }
  return out;
}

function poolFor(pools: readonly Pool[], ips: readonly IpAddress[]): Pool | undefined {
  return pools.find((pool) => ips.every((ip) => pool.ranges[ip.family].some((r) => rangeContains(r, ip))));
}

/** MetalLB's `EndpointCanServe`, on an endpoint that has an address. */
function endpointServes(ep: unknown): ep is { nodeName?: unknown } {
  if (typeof ep !== "object" || ep === null) return false;
  const { addresses, conditions } = ep as { addresses?: unknown; conditions?: unknown };
  if (!Array.isArray(addresses) || addresses.length === 0) return false;
  if (typeof conditions !== "object" || conditions === null) return true;
  const { ready, serving } = conditions as { ready?: unknown; serving?: unknown };
  return ready === undefined || ready === null || ready === true || serving === true;
}

/** Whether any endpoint of the slices serves, and whether one on `nodeName` does. */
export function servingEndpoints(slices: readonly EndpointSlice[], nodeName: string): { any: boolean; local: boolean } {
  let any = false;
  for (const slice of slices) {
    if (!Array.isArray(slice?.endpoints)) continue;
    for (const ep of slice.endpoints) {
      if (!endpointServes(ep)) continue;
      any = true;
      if (ep.nodeName === nodeName) return { any, local: true };
    }
  }
  return { any, local: false };
}

/** MetalLB's `isAggrLengthDifferent`: the two advertisements cannot produce the same prefixes for this pool. */
function aggregationDiffers(a: BgpAdvertisement, b: BgpAdvertisement, pool: Pool): boolean {
  const v4 = pool.ranges[4].length > 0;
  const v6 = pool.ranges[6].length > 0;
  if (!v4 && !v6) return true;
  const diff4 = a.aggregationLength !== b.aggregationLength;
  const diff6 = a.aggregationLengthV6 !== b.aggregationLengthV6;
  return (diff4 && !v6) || (diff6 && !v4) || (diff4 && diff6);
}

/** MetalLB's `BGPAdvertisementsHaveCompatibleLocalPref` for two advertisements that both select this node. */
function compatibleLocalPref(a: BgpAdvertisement, b: BgpAdvertisement, pool: Pool): boolean {
  if ((a.localPref ?? 0) === (b.localPref ?? 0)) return true;
  if (aggregationDiffers(a, b, pool)) return true;
  return a.peers.length > 0 && b.peers.length > 0 && !a.peers.some((p) => b.peers.includes(p));
}

function conflicting(ads: readonly BgpAdvertisement[], pool: Pool): boolean {
  for (let i = 0; i < ads.length; i++) {
    for (let j = i + 1; j < ads.length; j++) if (!compatibleLocalPref(ads[i]!, ads[j]!, pool)) return true;
  }
  return false;
}

function communityText(c: BgpCommunity): string {
  return c.kind === "standard"
    ? `${Math.floor(c.value / 0x10000)}:${c.value % 0x10000}`
    : `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}

function compareNumbers(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function numbersOf(text: string): number[] {
  return text.split(":").map(Number);
}

/** Sorts community texts numerically, without duplicates. */
function sortCommunities(texts: Iterable<string>): string[] {
  return [...new Set(texts)].sort((a, b) => compareNumbers(numbersOf(a), numbersOf(b)));
}

/** Prefixes sort by family, then address, then length. */
function comparePrefixes(a: PrefixEntry, b: PrefixEntry): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  return a.length - b.length;
}

interface PrefixEntry {
  readonly prefix: string;
  readonly family: IpFamily;
  readonly value: bigint;
  readonly length: number;
  localPref: number | undefined;
  readonly communities: Set<string>;
  readonly largeCommunities: Set<string>;
}

function toRoute(entry: PrefixEntry): Route {
  const communities = sortCommunities(entry.communities);
  const large = sortCommunities(entry.largeCommunities);
  return {
    prefix: entry.prefix,
    ...(entry.localPref !== undefined ? { localPref: entry.localPref } : {}),
    ...(communities.length > 0 ? { communities } : {}),
    ...(large.length > 0 ? { largeCommunities: large } : {}),
  };
}

function objectKey(service: Service): string {
  return `${service.metadata.namespace ?? ""}/${service.metadata.name}`;
}

/**
 * Computes the routes this node announces to each peer, and the per-Service outcome, from one snapshot.
 *
 * @example
 * ```ts
 * const { routes, services } = computeBgpAnnouncements({
 *   model, nodeName: "node1", node, services: cache.list(), endpointSlices: (key) => slices.get(key) ?? [],
 * });
 * for (const [peer, list] of routes) speaker.setRoutes(peer, list);
 * ```
 */
export function computeBgpAnnouncements(inputs: BgpPolicyInputs): BgpAnnouncements {
  const { model, nodeName, node } = inputs;
  const peers = inputs.peers ??
    peersForNode(model.bgpPeers, node).map((p) => ({ name: p.name, families: peerFamilies(p) }));
  const labels = nodeLabels(node);
  const conditions = Array.isArray(node?.status?.conditions) ? node.status.conditions : [];
  const networkUnavailable = conditions.some((c) => c?.type === "NetworkUnavailable" && c.status === "True");
  const excluded = !inputs.ignoreExcludeLabel && Object.hasOwn(labels, EXCLUDE_FROM_LB_LABEL);
  // Advertisements selecting this node, by pool, in name order (the model keeps lists sorted by name).
  const adsByPool = new Map<string, BgpAdvertisement[]>();
  if (node !== undefined) {
    for (const ad of model.bgpAdvertisements) {
      if (!matchesAny(ad.nodeSelectors, labels)) continue;
      for (const pool of ad.pools) {
        const list = adsByPool.get(pool);
        if (list) list.push(ad);
        else adsByPool.set(pool, [ad]);
      }
    }
  }

  const services = new Map<string, Service>();
  for (const service of inputs.services) {
    if (typeof service?.metadata?.name !== "string" || service.spec?.type !== "LoadBalancer") continue;
    services.set(objectKey(service), service);
  }
  const keys = [...services.keys()].sort();

  // Per peer: prefix → merged route; per prefix: the Services using it (for PeersForService).
  const perPeer = new Map<string, Map<string, PrefixEntry>>(peers.map((p) => [p.name, new Map()]));
  const prefixServices = new Map<string, Set<string>>();
  const results = new Map<string, ServiceAnnouncement>();
  const eligible: { key: string; ips: string[]; pool: string; ads: string[]; prefixes: Set<string> }[] = [];

  for (const key of keys) {
    const service = services.get(key)!;
    const base = { service: key, ips: [] as string[], advertisements: [] as string[], prefixes: [], peers: [] };
    const skip = (skipped: BgpSkipReason, extra: Partial<ServiceAnnouncement> = {}) =>
      results.set(key, { ...base, ...extra, skipped });

    const cls = service.spec?.loadBalancerClass;
    const ours = inputs.lbClass === undefined ? cls === undefined || cls === null : cls === inputs.lbClass;
    if (!ours) {
      skip("other-class");
      continue;
    }
    const parsed = ingressIps(service);
    if (parsed === "invalid") {
      skip("invalid-ip");
      continue;
    }
    if (parsed.length === 0) {
      skip("no-ip");
      continue;
    }
    const ips = parsed.map(formatIp);
    const pool = poolFor(model.pools, parsed);
    if (pool === undefined) {
      skip("no-pool", { ips });
      continue;
    }
    const serviceLabels = stringRecord(service.metadata.labels);
    const ads = (adsByPool.get(pool.name) ?? []).filter((ad) => matchesAny(ad.serviceSelectors, serviceLabels));
    const info = { ips, pool: pool.name, advertisements: ads.map((a) => a.name) };
    if (ads.length === 0) {
      skip("no-advertisement", info);
      continue;
    }
    if (conflicting(ads, pool)) {
      skip("conflicting-advertisements", info);
      continue;
    }
    if (networkUnavailable) {
      skip("network-unavailable", info);
      continue;
    }
    if (excluded) {
      skip("excluded-label", info);
      continue;
    }
    const serving = servingEndpoints(inputs.endpointSlices(key), nodeName);
    if (service.spec?.externalTrafficPolicy === "Local" ? !serving.local : !serving.any) {
      skip(serving.any ? "no-local-endpoint" : "no-endpoints", info);
      continue;
    }

    const prefixes = new Set<string>();
    for (const ip of parsed) {
      for (const ad of ads) {
        const length = ip.family === 4 ? ad.aggregationLength : ad.aggregationLengthV6;
        const cidr = containingPrefix(ip, length);
        const prefix = formatCidr(cidr);
        prefixes.add(prefix);
        let users = prefixServices.get(prefix);
        if (!users) prefixServices.set(prefix, users = new Set());
        users.add(key);
        for (const peer of peers) {
          if (ad.peers.length > 0 && !ad.peers.includes(peer.name)) continue;
          if (!peer.families.includes(ip.family)) continue;
          const table = perPeer.get(peer.name)!;
          let entry = table.get(prefix);
          if (!entry) {
            entry = {
              prefix,
              family: ip.family,
              value: cidr.address.value,
              length,
              // MetalLB sends no LOCAL_PREF for 0 (its "unset").
              localPref: ad.localPref ? ad.localPref : undefined,
              communities: new Set(),
              largeCommunities: new Set(),
            };
            table.set(prefix, entry);
          }
          for (const c of ad.communities) {
            (c.kind === "standard" ? entry.communities : entry.largeCommunities).add(communityText(c));
          }
        }
      }
    }
    eligible.push({ key, ...info, ads: info.advertisements, prefixes });
  }

  // MetalLB's PeersForService: a Service is advertised to every peer holding one of the prefixes it uses.
  const peersOfService = new Map<string, Set<string>>();
  for (const [peer, table] of perPeer) {
    for (const prefix of table.keys()) {
      for (const key of prefixServices.get(prefix) ?? []) {
        let set = peersOfService.get(key);
        if (!set) peersOfService.set(key, set = new Set());
        set.add(peer);
      }
    }
  }
  for (const e of eligible) {
    const announcedTo = [...(peersOfService.get(e.key) ?? [])].sort();
    const prefixes = [...e.prefixes].sort();
    results.set(e.key, {
      service: e.key,
      ips: e.ips,
      pool: e.pool,
      advertisements: e.ads,
      prefixes: announcedTo.length > 0 ? prefixes : [],
      peers: announcedTo,
      ...(announcedTo.length > 0 ? {} : { skipped: "no-peer" as const }),
    });
  }

  const routes = new Map<string, readonly Route[]>();
  for (const [peer, table] of perPeer) routes.set(peer, [...table.values()].sort(comparePrefixes).map(toRoute));
  return { routes, services: keys.map((k) => results.get(k)!) };
}
