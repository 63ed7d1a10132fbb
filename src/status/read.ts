/**
 * Reads the cluster once for `metallite status`: one LIST per resource, no watch. Services must be readable;
 * every other list that fails is recorded as a warning and counts as empty, so a narrow RBAC role or a cluster
 * without MetalLB's CRDs still gets a report.
 * @module
 */
import {
  type KubeApi,
  KubeApiError,
  type ListOptions,
  type ListResult,
  type MetallbObject,
  type ResourceClient,
} from "../k8s/mod.ts";
import type { ClusterSnapshot } from "./snapshot.ts";

/** Options of {@link readSnapshot}. */
export interface ReadSnapshotOptions {
  /** `--namespace`: where metallite's Leases and the metallb.io objects live. */
  readonly namespace: string;
  /** Clock for Lease freshness; default Date.now. */
  readonly now?: () => number;
}

const CONFIG_KINDS = [
  "ipAddressPools",
  "l2Advertisements",
  "bgpAdvertisements",
  "bgpPeers",
  "communities",
  "bfdProfiles",
] as const;

function oneLine(error: unknown): string {
  if (error instanceof KubeApiError) {
    const why = error.reason || `HTTP ${error.status}`;
    return `${error.status} ${why}${error.serverMessage ? `: ${error.serverMessage}` : ""}`.replace(/\s+/g, " ");
  }
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ");
}

/**
 * Lists everything `explainCluster` reads. Throws the API client's error when Services cannot be listed (the
 * caller turns it into one line); any other failure becomes a warning in the snapshot.
 */
export async function readSnapshot(api: KubeApi, options: ReadSnapshotOptions): Promise<ClusterSnapshot> {
  const ns = options.namespace;
  const warnings: string[] = [];
  // Services first and alone: if the API server is unreachable or refuses us, that is the one error to show.
  const services = (await api.services.list()).items;

  async function optional<T>(what: string, list: () => Promise<ListResult<T>>): Promise<T[] | undefined> {
    try {
      return (await list()).items;
    } catch (error) {
      warnings.push(`cannot list ${what}: ${oneLine(error)}; left out`);
      return undefined;
    }
  }

  const [nodes, endpointSlices, leases, namespaces, events, discovery] = await Promise.all([
    optional("nodes", () => api.nodes.list()),
    optional("endpointslices", () => api.endpointSlices.list()),
    optional(`leases in ${ns}`, () => api.leases.list({ namespace: ns })),
    optional("namespaces", () => api.client.list("/api/v1/namespaces")),
    optional("events of Services", () => api.events.list({ fieldSelector: "involvedObject.kind=Service" })),
    api.discoverMetallb().catch((error) => {
      warnings.push(`cannot ask whether the metallb.io CRDs are installed: ${oneLine(error)}; assuming not`);
      return undefined;
    }),
  ]);

  const installed = discovery?.installed ?? false;
  const served = (client: ResourceClient<MetallbObject>) =>
    (discovery?.resources[client.type.version] ?? []).includes(client.type.plural);
  async function metallb(client: ResourceClient<MetallbObject>): Promise<unknown[]> {
    if (!installed || !served(client)) return [];
    const options: ListOptions & { namespace: string } = { namespace: ns };
    return await optional(`${client.type.plural} in ${ns}`, () => client.list(options)) ?? [];
  }
  const config = await Promise.all(CONFIG_KINDS.map((field) => metallb(api[field])));
  const [l2, bgp, states] = await Promise.all([
    metallb(api.serviceL2Statuses),
    metallb(api.serviceBgpStatuses),
    metallb(api.configurationStates),
  ]);

  return {
    now: (options.now ?? Date.now)(),
    namespace: ns,
    services,
    nodes: nodes ?? [],
    endpointSlices: endpointSlices ?? [],
    leases: leases ?? [],
    ...(namespaces ? { namespaces } : {}),
    ...(events ? { events } : {}),
    crdsInstalled: installed,
    metallbConfig: config.flat(),
    serviceL2Statuses: l2,
    serviceBgpStatuses: bgp,
    configurationStates: states,
    readWarnings: warnings,
  };
}
