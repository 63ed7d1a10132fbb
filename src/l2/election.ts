/**
 * The Layer 2 election: which node answers ARP/NDP for a Service's addresses. A pure function of the cached cluster
 * state and the liveness view, so every instance computes the same owner from the same inputs.
 *
 * It follows MetalLB's speaker (speaker/layer2_controller.go, `ShouldAnnounce` and `sortL2Candidates`) so that
 * MetalLB speakers and metallite instances agree on the owner during a migration:
 *
 * - the Service must be `type: LoadBalancer` with at least one `status.loadBalancer.ingress` IP, all of them inside
 *   one pool, and that pool must be named by an L2Advertisement whose `serviceSelectors` (if any) match the Service;
 * - a Service carrying `metallb.io/allow-shared-ip` is not announced when such an advertisement has
 *   `serviceSelectors` (MetalLB refuses the combination);
 * - nobody announces while the Service has no serving endpoint at all (MetalLB's `activeEndpointExists`, whatever
 *   the traffic policy); an endpoint serves when `ready` is unset or true, or `serving` is true;
 * - candidates are the nodes whose instance is alive, without the `node.kubernetes.io/exclude-from-external-load-
 *   balancers` label (unless told to ignore it), without `NetworkUnavailable=True`, selected by the `nodeSelectors`
 *   of at least one of those advertisements, and, for `externalTrafficPolicy: Local`, holding a serving endpoint;
 * - metallite adds one rule MetalLB lacks: when every advertisement selecting a node lists `interfaces`, the node
 *   must have one of them (reported by its heartbeat), or it would win the election and answer nowhere;
 * - candidates are ordered by the summed `preferredNodeSelectors` weights of those advertisements (higher first;
 *   each advertisement's weights count only for nodes its own `nodeSelectors` select), then by
 *   sha256(nodeName + "#" + firstIp) in byte order, where firstIp is the first ingress IP printed as Go's
 *   `net.IP.String()` prints it. The first candidate owns every IP of the Service (both families of a dual-stack
 *   Service go to the same node).
 * @module
 */
import type { L2Advertisement, Model } from "../config/model.ts";
import { matchesAny, matchesLabels } from "../config/selector.ts";
import { formatIp, type IpAddress, rangeContains, tryParseIp } from "../ip/mod.ts";
import { compareDigests, sha256Hex, sha256Words } from "./_sha256.ts";
import { type EndpointSlice, EXCLUDE_FROM_LB_LABEL, type Node, type Service } from "../k8s/types.ts";

/** MetalLB's IP sharing annotation and its older spelling; with `serviceSelectors` it disables Layer 2. */
const SHARED_IP_ANNOTATIONS = ["metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"] as const;

/** What liveness knows about one node's metallite instance. */
export interface PeerState {
  /** True while its heartbeats arrive (or, for this node, once its start-up window has passed). */
  readonly alive: boolean;
  /** Interfaces the instance reported it can announce on. */
  readonly interfaces: readonly string[];
  /**
   * How often its heartbeats resumed after a silence of several intervals (a link flap on either side, a stall): it
   * may have announced our addresses meanwhile, or missed our announcements. Absent means never.
   */
  readonly resumptions?: number;
}

/** Why a node is not a candidate for a Service. */
export type ExclusionReason =
  /** No metallite instance is known on the node (no heartbeat, no Lease). */
  | "no-instance"
  /** Its instance stopped sending heartbeats, or said it was leaving. */
  | "dead"
  /** Labelled node.kubernetes.io/exclude-from-external-load-balancers. */
  | "excluded-label"
  /** Condition NetworkUnavailable=True. */
  | "network-unavailable"
  /** No L2Advertisement for the Service selects the node. */
  | "not-selected"
  /** The advertisements selecting it name interfaces, and the node has none of them. */
  | "no-interface"
  /** externalTrafficPolicy Local and no serving endpoint of the Service on the node. */
  | "no-local-endpoint";

/** Why nobody announces a Service. */
export type SkipReason =
  /** Not type LoadBalancer. */
  | "not-load-balancer"
  /** No ingress IP yet. */
  | "no-ip"
  /** An ingress entry is not a valid IP. */
  | "invalid-ip"
  /** No pool holds all of its IPs. */
  | "no-pool"
  /** No L2Advertisement covers the pool (and matches the Service's labels). */
  | "no-advertisement"
  /** allow-shared-ip together with an advertisement that has serviceSelectors (refused, as by MetalLB). */
  | "shared-ip-with-service-selector"
  /** No serving endpoint anywhere. */
  | "no-endpoints"
  /** Every node was excluded. */
  | "no-candidate";

/** A node left out of one Service's election, and why. */
export interface Exclusion {
  /** Node name. */
  readonly node: string;
  /** The first rule it failed, in MetalLB's order of checks. */
  readonly reason: ExclusionReason;
}

/** The outcome of the election for one Service. */
export interface Election {
  /** "namespace/name". */
  readonly service: string;
  /** Its ingress IPs, canonical, in status order (empty when it has none or one is invalid). */
  readonly ips: readonly string[];
  /** The pool holding them. */
  readonly pool?: string;
  /** The node that announces every IP; undefined when nobody does. */
  readonly owner?: string;
  /** Eligible nodes in election order (the owner first). */
  readonly candidates: readonly string[];
  /** Preference score per candidate with a non-zero one. */
  readonly scores: Readonly<Record<string, number>>;
  /** Nodes that are not candidates, sorted by name, each with its reason. */
  readonly excluded: readonly Exclusion[];
  /** Why nobody announces, when {@link owner} is undefined. */
  readonly skipped?: SkipReason;
  /**
   * Where the owner announces: "all" when an advertisement selecting it lists no interfaces, else the sorted union of
   * the interfaces its advertisements list (empty when there is no owner).
   */
  readonly interfaces: readonly string[] | "all";
}

/** Everything the election reads besides the Service itself. */
export interface ElectionContext {
  /** The validated configuration (pools and L2 advertisements are read). */
  readonly model: Pick<Model, "pools" | "l2Advertisements">;
  /** Node objects from the cache. Nodes without an object are never candidates (MetalLB selects from Node objects). */
  readonly nodes: readonly Node[];
  /** Liveness of each node's instance, by node name; a node missing here runs no instance. */
  readonly peers: ReadonlyMap<string, PeerState>;
  /** EndpointSlices of a Service ("namespace/name"), e.g. from {@link indexEndpointSlices}. */
  readonly endpointSlices: (serviceKey: string) => readonly EndpointSlice[];
  /** Ignore the exclude-from-external-load-balancers label (MetalLB's --ignore-exclude-lb). Default false. */
  readonly ignoreExcludeLabel?: boolean;
  /** Hash orders kept between elections (the controller keeps one); default none. */
  readonly cache?: ElectionCache;
}

/** "namespace/name" of an object. */
export function objectKey(obj: { readonly metadata: { readonly name: string; readonly namespace?: string } }): string {
  return `${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
}

/**
 * The text MetalLB hashes for an address: Go's `net.IP.String()`, which is canonical dotted quad or RFC 5952, except
 * that an IPv4-mapped IPv6 address (::ffff:a.b.c.d) prints as plain dotted quad.
 */
export function goIpString(ip: IpAddress): string {
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return formatIp({ family: 4, value: ip.value & 0xffffffffn });
  return formatIp(ip);
}

/**
 * The key a node is ordered by for an address, sha256(node + "#" + ip), as 64 hex digits: what `metallite status`
 * prints to explain the order. `ip` is the text {@link goIpString} gives.
 */
export function candidateHash(node: string, ip: string): string {
  return sha256Hex(`${node}#${ip}`);
}

function byHash(nodes: readonly string[], ip: string): string[] {
  const keyed = nodes.map((name) => ({ name, hash: sha256Words(`${name}#${ip}`) }));
  keyed.sort((a, b) => compareDigests(a.hash, b.hash) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return keyed.map((k) => k.name);
}

/** Higher score first; a stable sort, so equal scores keep the hash order they come in. */
function byScore(ordered: string[], scores: Readonly<Record<string, number>>): string[] {
  return ordered.sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0));
}

/**
 * Orders nodes as MetalLB does for one address: higher preference score first, then sha256(node + "#" + ip) in byte
 * order. Returns a new array.
 *
 * @example
 * ```ts
 * sortCandidates(["node-a", "node-b", "node-c"], "10.0.0.1"); // ["node-b", "node-a", "node-c"]
 * ```
 */
export function sortCandidates(
  nodes: readonly string[],
  ip: string,
  scores: Readonly<Record<string, number>> = {},
): string[] {
  return byScore(byHash(nodes, ip), scores);
}

/**
 * Remembers, per address, every node in hash order, so that re-electing thousands of Services after each change
 * hashes nothing unless the set of nodes changed. Entries unused for two sweeps are dropped.
 */
export class ElectionCache {
  #current = new Map<string, { nodesKey: string; order: string[] }>();
  #previous = new Map<string, { nodesKey: string; order: string[] }>();

  /** Every node of `nodes` in hash order for `ip`. */
  order(ip: string, nodes: readonly string[], nodesKey: string): readonly string[] {
    let entry = this.#current.get(ip) ?? this.#previous.get(ip);
    if (entry === undefined || entry.nodesKey !== nodesKey) entry = { nodesKey, order: byHash(nodes, ip) };
    this.#current.set(ip, entry);
    return entry.order;
  }

  /** Ends a generation: addresses not looked up since the previous sweep are forgotten. */
  sweep(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }

  /** Number of addresses remembered. */
  get size(): number {
    return new Set([...this.#current.keys(), ...this.#previous.keys()]).size;
  }
}

/** True when an endpoint can take traffic, as MetalLB's `EndpointCanServe`: ready unset or true, or serving. */
function endpointServes(conditions: { ready?: boolean; serving?: boolean } | undefined): boolean {
  if (conditions === undefined || conditions.ready === undefined || conditions.ready === true) return true;
  return conditions.serving === true;
}

/** Groups EndpointSlices by the Service they belong to (label kubernetes.io/service-name), keyed "namespace/name". */
export function indexEndpointSlices(slices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const slice of slices) {
    const name = slice.metadata?.labels?.["kubernetes.io/service-name"];
    if (typeof name !== "string" || name === "") continue;
    const key = `${slice.metadata.namespace ?? ""}/${name}`;
    const list = out.get(key);
    if (list) list.push(slice);
    else out.set(key, [slice]);
  }
  return out;
}

/** Nodes holding a serving endpoint, and whether any endpoint serves at all. */
function servingNodes(slices: readonly EndpointSlice[]): { any: boolean; nodes: Set<string> } {
  const nodes = new Set<string>();
  let any = false;
  for (const slice of slices) {
    if (!Array.isArray(slice?.endpoints)) continue;
    for (const ep of slice.endpoints) {
      if (typeof ep !== "object" || ep === null || !endpointServes(ep.conditions)) continue;
      any = true;
      if (typeof ep.nodeName === "string") nodes.add(ep.nodeName);
    }
  }
  return { any, nodes };
}

interface NodeFacts {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly excludedLabel: boolean;
  readonly networkUnavailable: boolean;
}

function nodeFacts(node: Node): NodeFacts | undefined {
  const name = node?.metadata?.name;
  if (typeof name !== "string" || name === "") return undefined;
  const raw = node.metadata.labels;
  const labels: Record<string, string> = {};
  if (typeof raw === "object" && raw !== null) {
    for (const [k, v] of Object.entries(raw)) if (typeof v === "string") labels[k] = v;
  }
  const conditions = Array.isArray(node.status?.conditions) ? node.status.conditions : [];
  return {
    name,
    labels,
    excludedLabel: Object.hasOwn(labels, EXCLUDE_FROM_LB_LABEL),
    networkUnavailable: conditions.some((c) => c?.type === "NetworkUnavailable" && c.status === "True"),
  };
}

function ingressIps(service: Service): IpAddress[] | "invalid" {
  const ingress = service.status?.loadBalancer?.ingress;
  if (!Array.isArray(ingress)) return [];
  const out: IpAddress[] = [];
  for (const entry of ingress) {
    // As MetalLB: an entry without a parsable IP (hostname-only included) makes the whole Service unannounced.
    const ip = typeof entry?.ip === "string" ? tryParseIp(entry.ip) : undefined;
    if (!ip) return "invalid";
    out.push(ip);
  }
  return out;
}

function stringRecord(value: unknown): Readonly<Record<string, string>> {
  if (typeof value !== "object" || value === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

/** A prepared election: node facts computed once, then any number of Services elected against them. */
export interface Elector {
  /** Elects the owner of one Service. */
  elect(service: Service): Election;
}

/**
 * Prepares an election over one snapshot of the cluster: node facts are computed once, so electing thousands of
 * Services costs one pass over the nodes each.
 *
 * @example
 * ```ts
 * const elector = createElector({ model, nodes, peers, endpointSlices: (key) => slices.get(key) ?? [] });
 * const { owner, candidates, excluded } = elector.elect(service);
 * ```
 */
export function createElector(context: ElectionContext): Elector {
  const facts: NodeFacts[] = [];
  const seen = new Set<string>();
  for (const node of context.nodes) {
    const f = nodeFacts(node);
    if (f && !seen.has(f.name)) {
      seen.add(f.name);
      facts.push(f);
    }
  }
  facts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const ignoreExclude = context.ignoreExcludeLabel ?? false;
  const allNames = facts.map((f) => f.name);
  const nodesKey = allNames.join("\n");

  // Per advertisement, evaluated once per elector: which nodes its nodeSelectors select, and their preference weight.
  const adNodes = new Map<L2Advertisement, Map<string, number>>();
  function selectedBy(ad: L2Advertisement): Map<string, number> {
    let selected = adNodes.get(ad);
    if (selected) return selected;
    selected = new Map();
    for (const node of facts) {
      if (!matchesAny(ad.nodeSelectors, node.labels)) continue;
      let weight = 0;
      for (const pref of ad.preferredNodeSelectors) {
        if (matchesLabels(pref.preference, node.labels)) weight += pref.weight;
      }
      selected.set(node.name, weight);
    }
    adNodes.set(ad, selected);
    return selected;
  }

  function order(candidates: readonly string[], ip: string, scores: Readonly<Record<string, number>>): string[] {
    if (!context.cache) return sortCandidates(candidates, ip, scores);
    const wanted = new Set(candidates);
    const ordered = context.cache.order(ip, allNames, nodesKey).filter((n) => wanted.has(n));
    return byScore(ordered, scores);
  }

  function poolFor(ips: readonly IpAddress[]): string | undefined {
    for (const pool of context.model.pools) {
      if (ips.every((ip) => pool.ranges[ip.family].some((r) => rangeContains(r, ip)))) return pool.name;
    }
    return undefined;
  }

  function elect(service: Service): Election {
    const key = objectKey(service);
    const base = { service: key, candidates: [] as string[], scores: {}, excluded: [] as Exclusion[] };
    const skip = (skipped: SkipReason, extra: { ips?: string[]; pool?: string } = {}): Election => ({
      ...base,
      ips: [],
      ...extra,
      skipped,
      interfaces: [],
    });

    if (service.spec?.type !== "LoadBalancer") return skip("not-load-balancer");
    const parsed = ingressIps(service);
    if (parsed === "invalid") return skip("invalid-ip");
    if (parsed.length === 0) return skip("no-ip");
    const ips = parsed.map(formatIp);
    const pool = poolFor(parsed);
    if (pool === undefined) return skip("no-pool", { ips });

    const serviceLabels = stringRecord(service.metadata?.labels);
    const ads = context.model.l2Advertisements.filter((ad) =>
      ad.pools.includes(pool) && matchesAny(ad.serviceSelectors, serviceLabels)
    );
    if (ads.length === 0) return skip("no-advertisement", { ips, pool });
    const annotations = stringRecord(service.metadata?.annotations);
    const shared = SHARED_IP_ANNOTATIONS.some((a) => Object.hasOwn(annotations, a));
    if (shared && ads.some((ad) => ad.serviceSelectors.length > 0)) {
      return skip("shared-ip-with-service-selector", { ips, pool });
    }
    const serving = servingNodes(context.endpointSlices(key));
    if (!serving.any) return skip("no-endpoints", { ips, pool });

    const local = service.spec?.externalTrafficPolicy === "Local";
    const candidates: string[] = [];
    const excluded: Exclusion[] = [];
    const scores: Record<string, number> = {};
    const announceOn = new Map<string, readonly string[] | "all">();
    for (const node of facts) {
      const reason = exclusionFor(node, ads, local, serving.nodes, announceOn);
      if (reason) {
        excluded.push({ node: node.name, reason });
        continue;
      }
      candidates.push(node.name);
      // MetalLB's preferredScoresFor: weights summed over the Service's advertisements that select the node.
      let score = 0;
      for (const ad of ads) score += selectedBy(ad).get(node.name) ?? 0;
      if (score !== 0) scores[node.name] = score;
    }
    if (candidates.length === 0) {
      return { ...base, ips, pool, excluded, skipped: "no-candidate", interfaces: [] };
    }
    const ordered = order(candidates, goIpString(parsed[0]!), scores);
    const owner = ordered[0]!;
    return {
      service: key,
      ips,
      pool,
      owner,
      candidates: ordered,
      scores,
      excluded,
      interfaces: announceOn.get(owner)!,
    };
  }

  function exclusionFor(
    node: NodeFacts,
    ads: readonly L2Advertisement[],
    local: boolean,
    servingOn: ReadonlySet<string>,
    announceOn: Map<string, readonly string[] | "all">,
  ): ExclusionReason | undefined {
    const peer = context.peers.get(node.name);
    if (!peer) return "no-instance";
    if (!peer.alive) return "dead";
    if (node.networkUnavailable) return "network-unavailable";
    if (!ignoreExclude && node.excludedLabel) return "excluded-label";
    const selecting = ads.filter((ad) => selectedBy(ad).has(node.name));
    if (selecting.length === 0) return "not-selected";
    const interfaces = announceInterfaces(selecting);
    if (interfaces !== "all" && !interfaces.some((i) => peer.interfaces.includes(i))) return "no-interface";
    if (local && !servingOn.has(node.name)) return "no-local-endpoint";
    announceOn.set(node.name, interfaces);
    return undefined;
  }

  return { elect };
}

/** MetalLB's `ipAdvertisementFor`: every interface if one advertisement lists none, else the union of the lists. */
function announceInterfaces(ads: readonly L2Advertisement[]): readonly string[] | "all" {
  if (ads.some((ad) => ad.interfaces.length === 0)) return "all";
  return [...new Set(ads.flatMap((ad) => ad.interfaces))].sort();
}

/** Elects every Service against one snapshot; see {@link createElector}. */
export function electServices(services: Iterable<Service>, context: ElectionContext): Election[] {
  const elector = createElector(context);
  const out: Election[] = [];
  for (const service of services) out.push(elector.elect(service));
  return out;
}
