/**
 * The informer caches every part reads, started once and shared: Services, Nodes and EndpointSlices across the
 * cluster, and metallite's own node Leases in its namespace. Parts subscribe with `onChange` and read with `list`.
 * @module
 */
import type { EndpointSlice, Informer, KubeApi, Lease, Node, Service } from "../k8s/mod.ts";
import { NODE_LEASE_LABELS } from "../l2/mod.ts";

/** Options for {@link startCaches}. */
export interface CachesOptions {
  /** The cluster. */
  api: KubeApi;
  /** metallite's namespace (node Leases live there). */
  namespace: string;
}

/** The shared caches. */
export interface Caches {
  /** Every Service. */
  services: Informer<Service>;
  /** Every Node. */
  nodes: Informer<Node>;
  /** Every EndpointSlice. */
  endpointSlices: Informer<EndpointSlice>;
  /** metallite's node Leases. */
  nodeLeases: Informer<Lease>;
  /**
   * Calls `handler` on any change of Services, Nodes or EndpointSlices (not node Leases, which renew every 10 s and
   * inform only status); returns an unsubscribe function.
   */
  onAnyChange(handler: () => void): () => void;
  /** True once every cache has listed. */
  synced(): boolean;
  /** Resolves once every cache has listed. */
  whenSynced(): Promise<void>;
  /** EndpointSlices of one Service ("namespace/name"), from an index kept up to date. */
  endpointSlicesOf(serviceKey: string): readonly EndpointSlice[];
  /** Stops every informer. */
  stop(): Promise<void>;
}

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** Starts the shared informers. */
export function startCaches(options: CachesOptions): Caches {
  const { api, namespace } = options;
  const labelSelector = Object.entries(NODE_LEASE_LABELS).map(([k, v]) => `${k}=${v}`).join(",");
  const services = api.services.informer();
  const nodes = api.nodes.informer();
  const endpointSlices = api.endpointSlices.informer();
  const nodeLeases = api.leases.informer({ namespace, labelSelector });
  const all: Informer<never>[] = [services, nodes, endpointSlices, nodeLeases] as unknown as Informer<never>[];

  // Index EndpointSlices by their Service, so per-Service lookups do not scan every slice.
  const sliceIndex = new Map<string, Set<string>>();
  const sliceOwner = new Map<string, string>();
  endpointSlices.onChange(({ key }) => {
    const previous = sliceOwner.get(key);
    if (previous !== undefined) sliceIndex.get(previous)?.delete(key);
    sliceOwner.delete(key);
    const slice = endpointSlices.get(key);
    const service = slice?.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!slice || service === undefined) return;
    const owner = `${slice.metadata.namespace ?? ""}/${service}`;
    sliceOwner.set(key, owner);
    let keys = sliceIndex.get(owner);
    if (!keys) sliceIndex.set(owner, keys = new Set());
    keys.add(key);
  });

  for (const informer of all) informer.start();
  return {
    services,
    nodes,
    endpointSlices,
    nodeLeases,
    onAnyChange(handler) {
      const watched = [services, nodes, endpointSlices] as unknown as Informer<never>[];
      const offs = watched.map((i) => i.onChange(() => handler()));
      return () => offs.forEach((off) => off());
    },
    synced: () => all.every((i) => i.hasSynced()),
    whenSynced: () => Promise.all(all.map((i) => i.synced())).then(() => {}),
    endpointSlicesOf(serviceKey) {
      const keys = sliceIndex.get(serviceKey);
      if (!keys) return [];
      const out: EndpointSlice[] = [];
      for (const key of keys) {
        const slice = endpointSlices.get(key);
        if (slice) out.push(slice);
      }
      return out;
    },
    stop: () => Promise.all(all.map((i) => i.stop())).then(() => {}),
  };
}
