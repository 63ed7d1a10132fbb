/**
 * metallite instances as the cluster shows them: node Leases (alive when renewed within their duration), the flag
 * configuration each instance publishes on its Lease, and the allocator Lease.
 * @module
 */
import type { Lease } from "../k8s/types.ts";
import { type NodeLeaseState, readNodeLeases } from "../l2/peers.ts";
import { decodeNodeConfig, NODE_CONFIG_ANNOTATION, type NodeConfig } from "./node_config.ts";
import type { AllocatorReport, InstanceReport } from "./report.ts";

/** The Lease the allocator instances compete for (src/k8s LeaseLock), in `--namespace`. */
export const ALLOCATOR_LEASE_NAME = "metallite-allocator";

/** What node Leases say. */
export interface InstanceView {
  /** One entry per node (Node objects and Lease holders), sorted. */
  readonly instances: InstanceReport[];
  /** Lease state per node that has one. */
  readonly leases: ReadonlyMap<string, NodeLeaseState>;
  /** Published flag configuration per node, when its Lease carries one. */
  readonly configs: ReadonlyMap<string, NodeConfig>;
  /** Problems, one line each. */
  readonly warnings: string[];
}

/** Reads node Leases against the Node names. */
export function readInstances(leases: readonly Lease[], nodeNames: readonly string[], now: number): InstanceView {
  const states = new Map<string, NodeLeaseState>();
  const configs = new Map<string, NodeConfig>();
  const warnings: string[] = [];
  for (const lease of leases) {
    const state = readNodeLeases([lease], now)[0];
    if (!state) continue;
    if (states.has(state.node)) {
      warnings.push(`Lease ${lease.metadata.name} names node ${state.node}, which another node Lease names too`);
      continue;
    }
    states.set(state.node, state);
    const annotation = lease.metadata.annotations?.[NODE_CONFIG_ANNOTATION];
    if (annotation === undefined) continue;
    const decoded = decodeNodeConfig(annotation);
    if (decoded.ok) configs.set(state.node, decoded.config);
    else warnings.push(`Lease ${lease.metadata.name}: annotation ${NODE_CONFIG_ANNOTATION} skipped: ${decoded.error}`);
  }
  const known = new Set(nodeNames);
  const names = [...new Set([...nodeNames, ...states.keys()])].sort();
  const instances = names.map((node): InstanceReport => {
    const lease = states.get(node);
    const config = configs.get(node);
    return {
      node,
      nodeExists: known.has(node),
      state: lease === undefined ? "none" : lease.fresh ? "alive" : "stale",
      ...(lease?.renewedAgoMs === undefined ? {} : { renewedSecondsAgo: Math.round(lease.renewedAgoMs / 1000) }),
      ...(config?.version ? { version: config.version } : {}),
      ...(config?.announceInterfaces ? { interfaces: config.announceInterfaces } : {}),
    };
  });
  for (const i of instances) {
    if (!i.nodeExists) warnings.push(`node Lease of ${i.node} names a node that does not exist (deleted?)`);
  }
  return { instances, leases: states, configs, warnings };
}

/** The allocator Lease's holder and whether it is fresh. */
export function readAllocator(leases: readonly Lease[], now: number): AllocatorReport {
  const lease = leases.find((l) => l.metadata.name === ALLOCATOR_LEASE_NAME);
  const holder = lease?.spec?.holderIdentity;
  if (lease === undefined || typeof holder !== "string" || holder === "") {
    return { lease: ALLOCATOR_LEASE_NAME, fresh: false };
  }
  const renewed = Date.parse(lease.spec?.renewTime ?? "");
  const seconds = lease.spec?.leaseDurationSeconds;
  const durationMs = (typeof seconds === "number" && seconds > 0 ? seconds : 15) * 1000;
  return { lease: ALLOCATOR_LEASE_NAME, holder, fresh: !Number.isNaN(renewed) && now - renewed < durationMs };
}

function flagKey(c: NodeConfig): string {
  return JSON.stringify([c.pools, c.interfaces, c.bgpPeers, c.asn ?? null, c.lbClass ?? null]);
}

function describeFlags(c: NodeConfig): string {
  const parts = [
    ...c.pools.map((p) => `--pool ${p}`),
    ...c.interfaces.map((i) => `--interface ${i}`),
    ...c.bgpPeers.map((p) => `--bgp-peer ${p.address},asn=${p.asn}`),
    ...(c.lbClass === undefined ? [] : [`--lb-class ${c.lbClass}`]),
  ];
  return parts.length ? parts.join(" ") : "no flags";
}

/** The flag configuration to explain with, and a warning when instances disagree. */
export function chooseFlagConfig(
  view: InstanceView,
  allocator: AllocatorReport,
): { config?: NodeConfig; node?: string; warning?: string } {
  const alive = [...view.configs].filter(([node]) => view.leases.get(node)?.fresh);
  const pool = alive.length > 0 ? alive : [...view.configs];
  if (pool.length === 0) return {};
  pool.sort(([a], [b]) => (a < b ? -1 : 1));
  const distinct = new Set(pool.map(([, c]) => flagKey(c)));
  // The allocator's flags decide which pools exist for allocation, so its view wins a disagreement.
  const holder = allocator.holder ?? "";
  const preferred = pool.find(([node]) => holder === node || holder.startsWith(`${node}/`)) ?? pool[0]!;
  if (distinct.size === 1) return { config: preferred[1], node: preferred[0] };
  const list = pool.map(([node, c]) => `${node}: ${describeFlags(c)}`).join("; ");
  return {
    config: preferred[1],
    node: preferred[0],
    warning: `instances run with different flags (${list}); this report uses ${preferred[0]}'s`,
  };
}
