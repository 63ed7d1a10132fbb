/**
 * Who the heartbeats go to, and what node Leases say: pure helpers for the daemon, which owns the informers and the
 * Lease writer (`LeaseLock` from src/k8s, renewed every {@link NODE_LEASE_RENEW_MS}).
 *
 * Every node with an InternalIP gets heartbeats, whether or not it runs metallite yet, so a starting instance is
 * heard by the others and hears them without waiting for its Lease. Node Leases (`metallite-node-<name>`) tell which
 * nodes run metallite (for `metallite status`) and let the daemon warn when a node's Lease is fresh but its
 * heartbeats are missing: heartbeats blocked by a firewall would otherwise make every node answer everything.
 * @module
 */
import type { Lease, Node } from "../k8s/types.ts";
import { sha256Hex } from "./_sha256.ts";
import type { PeerEndpoint, PeerReport } from "./liveness.ts";

/** How often each node renews its Lease: far below the API budget of one write per node per 2 s. */
export const NODE_LEASE_RENEW_MS = 10_000;
/** The Lease's duration: three renewals. */
export const NODE_LEASE_DURATION_SECONDS = 30;
/** Labels on node Leases, so the daemon's informer selects only them. */
export const NODE_LEASE_LABELS: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "metallite",
  "metallite.io/lease": "node",
};
const PREFIX = "metallite-node-";

/** The node Lease's name: `metallite-node-<node>`, shortened with a hash when that would pass 253 characters. */
export function nodeLeaseName(nodeName: string): string {
  const name = PREFIX + nodeName;
  if (name.length <= 253) return name;
  const hash = sha256Hex(nodeName).slice(0, 10);
  return `${name.slice(0, 253 - 11).replace(/[.-]+$/, "")}-${hash}`;
}

/** The first InternalIP of a Node (kubelet lists the primary family first), if any. */
export function nodeInternalIp(node: Node): string | undefined {
  const addresses = Array.isArray(node?.status?.addresses) ? node.status.addresses : [];
  const found = addresses.find((a) => a?.type === "InternalIP" && typeof a.address === "string" && a.address !== "");
  return found?.address;
}

/** Heartbeat destinations for {@link Liveness.setPeers}: every named Node, with its InternalIP when it has one. */
export function peersFromNodes(nodes: Iterable<Node>): PeerEndpoint[] {
  const out: PeerEndpoint[] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    const name = node?.metadata?.name;
    if (typeof name !== "string" || name === "" || seen.has(name)) continue;
    seen.add(name);
    const address = nodeInternalIp(node);
    out.push(address === undefined ? { name } : { name, address });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** What one node Lease says. */
export interface NodeLeaseState {
  /** The node (the Lease's holder). */
  readonly node: string;
  /** Renewed within its duration, judged on `now`. */
  readonly fresh: boolean;
  /** Milliseconds since its renewTime (undefined when unparsable). */
  readonly renewedAgoMs?: number;
}

/** Reads node Leases (those named `metallite-node-…` with a holder); others and malformed ones are skipped. */
export function readNodeLeases(leases: Iterable<Lease>, now: number): NodeLeaseState[] {
  const out: NodeLeaseState[] = [];
  for (const lease of leases) {
    const name = lease?.metadata?.name;
    const holder = lease?.spec?.holderIdentity;
    if (typeof name !== "string" || !name.startsWith(PREFIX) || typeof holder !== "string" || holder === "") continue;
    const renew = Date.parse(lease.spec?.renewTime ?? "");
    const seconds = lease.spec?.leaseDurationSeconds;
    const durationMs = typeof seconds === "number" && seconds > 0 ? seconds * 1000 : NODE_LEASE_DURATION_SECONDS * 1000;
    if (Number.isNaN(renew)) {
      out.push({ node: holder, fresh: false });
      continue;
    }
    out.push({ node: holder, fresh: now - renew < durationMs, renewedAgoMs: Math.max(0, now - renew) });
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : 1));
}

/** Clock skew tolerated between a peer's renewTime and our clock when comparing it with heartbeat silence. */
const SKEW_MARGIN_MS = 5000;

/**
 * Nodes that keep renewing their Lease while their heartbeats do not arrive: the sign of a filtered heartbeat port
 * or a one-way partition, under which two nodes may answer for the same address. A killed node is not listed (its
 * last renewal is older than its last heartbeat); a never-heard node with a fresh Lease is, so call this only once
 * this instance has been running for a Lease duration. The daemon logs each name once.
 */
export function silentPeersWithFreshLeases(
  report: readonly PeerReport[],
  leases: readonly NodeLeaseState[],
): string[] {
  const byNode = new Map(leases.map((l) => [l.node, l]));
  return report.filter((p) => {
    const lease = byNode.get(p.name);
    if (!lease?.fresh || lease.renewedAgoMs === undefined) return false;
    if (p.phase === "unknown") return true;
    if (p.phase !== "dead" || p.lastHeardAgoMs === undefined) return false;
    return lease.renewedAgoMs + SKEW_MARGIN_MS < p.lastHeardAgoMs;
  }).map((p) => p.name);
}
