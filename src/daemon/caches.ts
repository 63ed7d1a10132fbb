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
   * Calls `handler` on any change of Services, Nodes or EndpointSlices that the announcing parts can see (not node
   * Leases, which renew every 10 s and inform only status); returns an unsubscribe function. Until every cache has
   * listed it stays silent, then calls once: a decision over half-listed caches would be wasted (or wrong), and
   * 10,000 Services listed would otherwise ask for 10,000 recomputations. A Service update that changes nothing
   * Layer 2 or BGP read (the allocator's own condition and pool-annotation writes, a new resourceVersion) is
   * not passed on: see {@link announcementView}.
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

/** Annotations only the allocator reads (it watches Services itself); MetalLB writes the same one. */
const ALLOCATOR_ONLY_ANNOTATIONS = ["metallb.io/ip-allocated-from-pool"];

/**
 * What the announcing parts (Layer 2 election, BGP policy, their Events) may read of a Service, as one string:
 * everything but the status conditions, the server's bookkeeping (resourceVersion, generation, managedFields) and
 * the annotations only the allocator reads. Two versions with the same view decide the same announcements.
 */
export function announcementView(service: Service): string {
  const { resourceVersion: _rv, generation: _gen, managedFields: _mf, annotations, ...metadata } = service
    .metadata as Service["metadata"] & { generation?: unknown; managedFields?: unknown };
  let kept = annotations;
  if (annotations && ALLOCATOR_ONLY_ANNOTATIONS.some((a) => Object.hasOwn(annotations, a))) {
    kept = { ...annotations };
    for (const a of ALLOCATOR_ONLY_ANNOTATIONS) delete kept[a];
  }
  const { conditions: _c, ...status } = (service.status ?? {}) as NonNullable<Service["status"]> & {
    conditions?: unknown;
  };
  const none = kept === undefined || Object.keys(kept).length === 0;
  return JSON.stringify([metadata, none ? null : kept, service.spec, status]);
}

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

  const synced = () => all.every((i) => i.hasSynced());
  const whenSynced = () => Promise.all(all.map((i) => i.synced())).then(() => {});
  for (const informer of all) informer.start();
  return {
    services,
    nodes,
    endpointSlices,
    nodeLeases,
    onAnyChange(handler) {
      let live = true;
      const call = () => {
        if (live && synced()) handler();
      };
      const offs = [
        services.onChange((change) => {
          const { previous, object } = change;
          if (
            change.type === "modified" && previous && object && announcementView(previous) === announcementView(object)
          ) {
            return;
          }
          call();
        }),
        nodes.onChange(call),
        endpointSlices.onChange(call),
      ];
      // The one call for the initial sync (a relist later is ordinary changes).
      whenSynced().then(call, () => {});
      return () => {
        live = false;
        offs.forEach((off) => off());
      };
    },
    synced,
    whenSynced,
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
