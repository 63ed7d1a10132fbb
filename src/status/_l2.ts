/**
 * The Layer 2 view of a Service: the election recomputed with src/l2/election.ts (the very code the instances
 * run), put next to what the announcing node reports in its ServiceL2Status object.
 * @module
 */
import type { L2Advertisement } from "../config/model.ts";
import { matchesAny } from "../config/selector.ts";
import { tryParseIp } from "../ip/mod.ts";
import type { Service } from "../k8s/types.ts";
import { candidateHash, type Election, type ExclusionReason, goIpString, type PeerState } from "../l2/election.ts";
import type { AnnouncementStatus } from "./_validate.ts";
import type { ExclusionReport, L2Report } from "./report.ts";

/** What {@link explainL2} reads besides the election. */
export interface L2Context {
  /** L2Advertisements of the model. */
  readonly advertisements: readonly L2Advertisement[];
  /** The liveness view given to the election. */
  readonly peers: ReadonlyMap<string, PeerState>;
  /** Nodes whose announce interfaces are not published (assumed to have every interface). */
  readonly interfacesUnknown: ReadonlySet<string>;
  /** Explains a node's liveness ("dead" and "no-instance"), one line. */
  readonly livenessDetail: (node: string) => string;
}

const SKIP_DETAILS: Readonly<Record<string, string>> = {
  "invalid-ip": "an entry of status.loadBalancer.ingress is not an IP address (a hostname?): nobody announces it",
  "no-pool": "its addresses are not all in one known pool",
  "no-advertisement": "no L2Advertisement covers its pool and matches its labels",
  "shared-ip-with-service-selector":
    "it has metallb.io/allow-shared-ip and an L2Advertisement with serviceSelectors covers it; MetalLB refuses that " +
    "combination, and so does metallite",
  "no-endpoints": "no serving endpoint anywhere: nobody announces a Service that cannot take traffic (as MetalLB)",
  "no-candidate": "every node is excluded (see the excluded nodes)",
};

function exclusionDetail(reason: ExclusionReason, node: string, ads: readonly L2Advertisement[], ctx: L2Context) {
  switch (reason) {
    case "no-instance":
    case "dead":
      return ctx.livenessDetail(node);
    case "excluded-label":
      return "labelled node.kubernetes.io/exclude-from-external-load-balancers";
    case "network-unavailable":
      return "its condition NetworkUnavailable is True";
    case "not-selected":
      return `the nodeSelectors of L2Advertisement ${ads.map((a) => a.name).join(", ")} do not select it`;
    case "no-interface": {
      const wanted = [...new Set(ads.flatMap((a) => a.interfaces))].sort().join(", ");
      const has = ctx.peers.get(node)?.interfaces ?? [];
      return `it has none of the interfaces ${wanted} (it can announce on ${has.join(", ") || "none"})`;
    }
    case "no-local-endpoint":
      return "externalTrafficPolicy is Local and no serving endpoint of the Service is on it";
  }
}

/** The Layer 2 view, or undefined when no L2Advertisement covers the Service and no node reports announcing it. */
export function explainL2(
  service: Service,
  election: Election,
  localEndpointNodes: readonly string[] | undefined,
  reportedStatuses: readonly AnnouncementStatus[],
  ctx: L2Context,
): L2Report | undefined {
  const reported = reportedStatuses.map((s) => ({ node: s.node, interfaces: s.interfaces }))
    .sort((a, b) => (a.node < b.node ? -1 : 1));
  if (election.skipped === "no-advertisement" && reported.length === 0) return undefined;
  if (election.skipped === "no-pool" && reported.length === 0) return undefined;
  const labels = service.metadata.labels ?? {};
  const ads = election.pool === undefined
    ? []
    : ctx.advertisements.filter((ad) => ad.pools.includes(election.pool!) && matchesAny(ad.serviceSelectors, labels));
  const first = election.ips[0] === undefined ? undefined : tryParseIp(election.ips[0]);
  const firstText = first ? goIpString(first) : "";
  const excluded: ExclusionReport[] = election.excluded.map((e) => ({
    node: e.node,
    reason: e.reason,
    detail: exclusionDetail(e.reason, e.node, ads, ctx),
  }));
  const reportedNodes = reported.map((r) => r.node);
  const agrees = election.owner === undefined
    ? reportedNodes.length === 0
    : reportedNodes.length === 1 && reportedNodes[0] === election.owner;
  return {
    advertisements: ads.map((a) => a.name),
    reported,
    ...(election.owner === undefined ? {} : { elected: election.owner }),
    ...(election.skipped === undefined ? {} : {
      skipped: election.skipped,
      skippedDetail: SKIP_DETAILS[election.skipped] ?? election.skipped,
    }),
    interfaces: election.interfaces,
    candidates: election.candidates.map((node) => ({
      node,
      weight: election.scores[node] ?? 0,
      hash: candidateHash(node, firstText).slice(0, 16),
    })),
    excluded,
    ...(localEndpointNodes === undefined ? {} : { localEndpointNodes }),
    agrees,
  };
}
