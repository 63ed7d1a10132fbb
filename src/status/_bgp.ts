/**
 * Which nodes should announce a Service over BGP, and to which peers, recomputed with MetalLB's rules (speaker
 * `bgpController.ShouldAnnounce` and the peers' and advertisements' node selectors): every node with a live
 * instance, not excluded by label or NetworkUnavailable, selected by a BGPAdvertisement for the Service, with a
 * serving endpoint of its own under `externalTrafficPolicy: Local`, announces to the BGPPeers those advertisements
 * name (all when they name none) whose nodeSelectors select it. Nobody announces a Service without a serving
 * endpoint.
 * @module
 */
import type { BgpAdvertisement, BgpPeer, Model } from "../config/model.ts";
import { matchesAny } from "../config/selector.ts";
import type { Service } from "../k8s/types.ts";
import type { NodeFacts } from "./_facts.ts";
import type { AnnouncementStatus } from "./_validate.ts";
import type { BgpReport, ExclusionReport } from "./report.ts";

/** What {@link explainBgp} reads besides the Service. */
export interface BgpContext {
  /** The configuration. */
  readonly model: Pick<Model, "bgpAdvertisements" | "bgpPeers">;
  /** Nodes, sorted by name. */
  readonly nodes: readonly NodeFacts[];
  /** Liveness per node: true alive, false stale Lease; nodes missing run no instance. */
  readonly alive: ReadonlyMap<string, boolean>;
  /** Explains a node's liveness ("dead" and "no-instance"), one line. */
  readonly livenessDetail: (node: string) => string;
}

function peersFor(ads: readonly BgpAdvertisement[], peers: readonly BgpPeer[], node: NodeFacts): string[] {
  const names = new Set<string>();
  for (const ad of ads) {
    for (const peer of peers) {
      if (ad.peers.length > 0 && !ad.peers.includes(peer.name)) continue;
      if (matchesAny(peer.nodeSelectors, node.labels)) names.add(peer.name);
    }
  }
  return [...names].sort();
}

function sameAnnouncements(
  a: readonly { node: string; peers: readonly string[] }[],
  b: readonly { node: string; peers: readonly string[] }[],
): boolean {
  const key = (list: readonly { node: string; peers: readonly string[] }[]) =>
    list.map((x) => `${x.node}=${x.peers.join(",")}`).sort().join(";");
  return key(a) === key(b);
}

/** The BGP view of a Service in `pool`, or undefined when no BGPAdvertisement covers it. */
export function explainBgp(
  service: Service,
  pool: string,
  serving: { any: boolean; nodes: readonly string[] },
  reportedStatuses: readonly AnnouncementStatus[],
  context: BgpContext,
): BgpReport | undefined {
  const labels = service.metadata.labels ?? {};
  const ads = context.model.bgpAdvertisements.filter((ad) =>
    ad.pools.includes(pool) && matchesAny(ad.serviceSelectors, labels)
  );
  const reported = reportedStatuses.map((s) => ({ node: s.node, peers: s.peers }))
    .sort((a, b) => (a.node < b.node ? -1 : 1));
  if (ads.length === 0 && reported.length === 0) return undefined;
  const local = service.spec?.externalTrafficPolicy === "Local";
  const localEndpointNodes = local ? { localEndpointNodes: [...serving.nodes] } : {};
  const advertisements = ads.map((a) => a.name);
  if (!serving.any || ads.length === 0) {
    return {
      advertisements,
      reported,
      expected: [],
      skipped: ads.length === 0 ? "no-advertisement" : "no-endpoints",
      excluded: [],
      ...localEndpointNodes,
      agrees: reported.length === 0,
    };
  }
  const expected: { node: string; peers: string[] }[] = [];
  const excluded: ExclusionReport[] = [];
  const servingOn = new Set(serving.nodes);
  for (const node of context.nodes) {
    const exclude = (reason: string, detail: string) => excluded.push({ node: node.name, reason, detail });
    const alive = context.alive.get(node.name);
    if (alive === undefined) {
      exclude("no-instance", context.livenessDetail(node.name));
      continue;
    }
    if (!alive) {
      exclude("dead", context.livenessDetail(node.name));
      continue;
    }
    if (node.networkUnavailable) {
      exclude("network-unavailable", "its condition NetworkUnavailable is True");
      continue;
    }
    if (node.excludedLabel) {
      exclude("excluded-label", "labelled node.kubernetes.io/exclude-from-external-load-balancers");
      continue;
    }
    const selecting = ads.filter((ad) => matchesAny(ad.nodeSelectors, node.labels));
    if (selecting.length === 0) {
      exclude("not-selected", `the nodeSelectors of BGPAdvertisement ${advertisements.join(", ")} do not select it`);
      continue;
    }
    if (local && !servingOn.has(node.name)) {
      exclude("no-local-endpoint", "externalTrafficPolicy is Local and no serving endpoint of the Service is on it");
      continue;
    }
    const peers = peersFor(selecting, context.model.bgpPeers, node);
    if (peers.length === 0) {
      exclude("no-peer", "no BGPPeer named by its advertisements selects it (peer nodeSelectors)");
      continue;
    }
    expected.push({ node: node.name, peers });
  }
  return {
    advertisements,
    reported,
    expected,
    excluded,
    ...localEndpointNodes,
    agrees: sameAnnouncements(reported, expected),
  };
}
