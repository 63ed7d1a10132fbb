/**
 * Typed access to the resources metallite uses: where each lives in the API (group, version, plural), a client
 * per resource with get/list/create/update/patch/status/delete/watch/informer, and discovery of the metallb.io CRDs.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import type { Clock } from "./clock.ts";
import {
  type FetchFunction,
  KubeClient,
  type ListOptions,
  type ListResult,
  type PatchOptions,
  type PatchType,
  type WatchOptions,
} from "./client.ts";
import { isNotFound } from "./errors.ts";
import { Informer, type InformerOptions } from "./informer.ts";
import type { KubeConfig } from "./kubeconfig.ts";
import type { EndpointSlice, KubeEvent, KubeObject, Lease, Node, Secret, Service, WatchEvent } from "./types.ts";
import type { MetallbObject } from "./types.ts";

/** Where a resource lives in the API. */
export interface ResourceType {
  /** API group; "" for the core group. */
  group: string;
  /** Version, e.g. "v1". */
  version: string;
  /** Plural resource name used in paths and RBAC, e.g. "services". */
  plural: string;
  /** Kind, e.g. "Service". */
  kind: string;
  /** True when objects live in namespaces. */
  namespaced: boolean;
}

function type(group: string, version: string, plural: string, kind: string, namespaced = true): ResourceType {
  return { group, version, plural, kind, namespaced };
}

/** Every resource metallite reads or writes. */
export const RESOURCE_TYPES = {
  services: type("", "v1", "services", "Service"),
  nodes: type("", "v1", "nodes", "Node", false),
  endpointSlices: type("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
  events: type("", "v1", "events", "Event"),
  secrets: type("", "v1", "secrets", "Secret"),
  leases: type("coordination.k8s.io", "v1", "leases", "Lease"),
  ipAddressPools: type("metallb.io", "v1beta1", "ipaddresspools", "IPAddressPool"),
  l2Advertisements: type("metallb.io", "v1beta1", "l2advertisements", "L2Advertisement"),
  bgpAdvertisements: type("metallb.io", "v1beta1", "bgpadvertisements", "BGPAdvertisement"),
  communities: type("metallb.io", "v1beta1", "communities", "Community"),
  bfdProfiles: type("metallb.io", "v1beta1", "bfdprofiles", "BFDProfile"),
  serviceL2Statuses: type("metallb.io", "v1beta1", "servicel2statuses", "ServiceL2Status"),
  serviceBgpStatuses: type("metallb.io", "v1beta1", "servicebgpstatuses", "ServiceBGPStatus"),
  configurationStates: type("metallb.io", "v1beta1", "configurationstates", "ConfigurationState"),
  bgpPeers: type("metallb.io", "v1beta2", "bgppeers", "BGPPeer"),
} as const;

/** The API group of MetalLB's CRDs. */
export const METALLB_GROUP = "metallb.io";

/** The `apiVersion` string of a resource type, e.g. "coordination.k8s.io/v1". */
export function apiVersionOf(resource: ResourceType): string {
  return resource.group === "" ? resource.version : `${resource.group}/${resource.version}`;
}

/** A name, with its namespace for namespaced resources. */
export interface ObjectRef {
  /** Namespace; required for namespaced resources except in collection paths across all namespaces. */
  namespace?: string | undefined;
  /** Object name. */
  name: string;
}

/**
 * The API path of a collection, an object or a subresource.
 *
 * @example
 * ```ts
 * resourcePath(RESOURCE_TYPES.services, { namespace: "default", name: "web", subresource: "status" });
 * // "/api/v1/namespaces/default/services/web/status"
 * ```
 */
export function resourcePath(
  resource: ResourceType,
  where: { namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined } = {},
): string {
  const base = resource.group === "" ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const enc = encodeURIComponent;
  let path = base;
  if (resource.namespaced && where.namespace !== undefined && where.namespace !== "") {
    path += `/namespaces/${enc(where.namespace)}`;
  }
  path += `/${resource.plural}`;
  if (where.name !== undefined) {
    if (where.name === "") throw new TypeError(`Empty ${resource.kind} name`);
    path += `/${enc(where.name)}`;
    if (where.subresource !== undefined) path += `/${where.subresource}`;
  }
  return path;
}

/** Options for {@link ResourceClient.informer}. */
export type ResourceInformerOptions<T extends KubeObject> =
  & Omit<InformerOptions<T>, "client" | "path">
  & { namespace?: string };

/** Typed requests for one resource type. Objects carry their own namespace in `metadata.namespace`. */
export class ResourceClient<T extends KubeObject> {
  /** The underlying client. */
  readonly client: KubeClient;
  /** Where the resource lives. */
  readonly type: ResourceType;
  readonly #defaults: Partial<InformerOptions<T>>;

  constructor(client: KubeClient, type: ResourceType, defaults: Partial<InformerOptions<T>> = {}) {
    this.client = client;
    this.type = type;
    this.#defaults = defaults;
  }

  #objectPath(ref: ObjectRef, subresource?: string): string {
    if (this.type.namespaced && !ref.namespace) {
      throw new TypeError(`${this.type.kind} "${ref.name}" needs a namespace`);
    }
    return resourcePath(this.type, { namespace: ref.namespace, name: ref.name, subresource });
  }

  #ref(object: KubeObject): ObjectRef {
    return { namespace: object.metadata.namespace, name: object.metadata.name };
  }

  #stamp(object: T): T {
    return { ...object, apiVersion: apiVersionOf(this.type), kind: this.type.kind };
  }

  /** Path of the collection (in `namespace`, or across all namespaces). */
  collectionPath(namespace?: string): string {
    return resourcePath(this.type, { namespace });
  }

  /** GET one object. */
  get(ref: ObjectRef, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.client.get<T>(this.#objectPath(ref), options);
  }

  /** LIST every page (in `namespace`, or across all namespaces). */
  list(options: ListOptions & { namespace?: string } = {}): Promise<ListResult<T>> {
    const { namespace, ...rest } = options;
    return this.client.list<T>(this.collectionPath(namespace), rest);
  }

  /** POST a new object into its namespace. */
  create(object: T, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.client.create<T>(this.collectionPath(object.metadata.namespace), this.#stamp(object), options);
  }

  /** PUT a whole object; `metadata.resourceVersion` makes it conflict-checked (409). */
  update(object: T, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.client.update<T>(this.#objectPath(this.#ref(object)), this.#stamp(object), options);
  }

  /** PUT the status subresource (only `status` is written; 409 on a stale resourceVersion). */
  updateStatus(object: T, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.client.update<T>(this.#objectPath(this.#ref(object), "status"), this.#stamp(object), options);
  }

  /** PATCH one object. */
  patch(ref: ObjectRef, patch: unknown, type: PatchType, options: PatchOptions = {}): Promise<T> {
    return this.client.patch<T>(this.#objectPath(ref), patch, type, options);
  }

  /** PATCH the status subresource. */
  patchStatus(ref: ObjectRef, patch: unknown, type: PatchType, options: PatchOptions = {}): Promise<T> {
    return this.client.patch<T>(this.#objectPath(ref, "status"), patch, type, options);
  }

  /** DELETE one object; with `resourceVersion`, only that version. */
  delete(ref: ObjectRef, options: { resourceVersion?: string; signal?: AbortSignal } = {}): Promise<void> {
    return this.client.delete(this.#objectPath(ref), options);
  }

  /** WATCH the collection (in `namespace`, or across all namespaces). */
  watch(options: WatchOptions & { namespace?: string } = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const { namespace, ...rest } = options;
    return this.client.watch<T>(this.collectionPath(namespace), rest);
  }

  /** A new (not started) informer over the collection. */
  informer(options: ResourceInformerOptions<T> = {}): Informer<T> {
    const { namespace, ...rest } = options;
    return new Informer<T>({
      name: this.type.plural,
      ...this.#defaults,
      ...rest,
      client: this.client,
      path: this.collectionPath(namespace),
    });
  }
}

/** Which metallb.io CRDs the cluster serves. */
export interface MetallbDiscovery {
  /** True when the metallb.io group exists (any of its versions). */
  installed: boolean;
  /** Plural names served, by version: `{ v1beta1: ["ipaddresspools", ...], v1beta2: ["bgppeers"] }`. */
  resources: Record<string, string[]>;
}

/** Options for {@link createKubeApi}. */
export interface KubeApiOptions {
  /** Connection settings (from {@link loadKubeConfig}); ignored when `client` is given. */
  config?: KubeConfig;
  /** An existing client to share. */
  client?: KubeClient;
  /** Injected fetch (tests). */
  fetch?: FetchFunction;
  /** Clock for timeouts, backoff and informers. */
  clock?: Clock;
  /** Logger, passed to informers. */
  log?: Logger;
  /** Metrics registry, passed to the client and informers. */
  metrics?: Registry;
  /** Request timeout; default 30,000 ms. */
  timeoutMs?: number;
}

/** The API as metallite uses it: one client, one {@link ResourceClient} per resource. */
export interface KubeApi {
  /** The shared client. */
  client: KubeClient;
  /** core/v1 Services. */
  services: ResourceClient<Service>;
  /** core/v1 Nodes. */
  nodes: ResourceClient<Node>;
  /** discovery.k8s.io/v1 EndpointSlices. */
  endpointSlices: ResourceClient<EndpointSlice>;
  /** core/v1 Events. */
  events: ResourceClient<KubeEvent>;
  /** core/v1 Secrets (BGP passwords). */
  secrets: ResourceClient<Secret>;
  /** coordination.k8s.io/v1 Leases. */
  leases: ResourceClient<Lease>;
  /** metallb.io/v1beta1 IPAddressPools. */
  ipAddressPools: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 L2Advertisements. */
  l2Advertisements: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 BGPAdvertisements. */
  bgpAdvertisements: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 Communities. */
  communities: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 BFDProfiles. */
  bfdProfiles: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 ServiceL2Statuses. */
  serviceL2Statuses: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 ServiceBGPStatuses. */
  serviceBgpStatuses: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta1 ConfigurationStates. */
  configurationStates: ResourceClient<MetallbObject>;
  /** metallb.io/v1beta2 BGPPeers. */
  bgpPeers: ResourceClient<MetallbObject>;
  /** Asks the API server which metallb.io resources it serves; a 404 means the CRDs are not installed. */
  discoverMetallb(options?: { signal?: AbortSignal }): Promise<MetallbDiscovery>;
  /** Closes the client (when this function created it). */
  close(): void;
}

/**
 * Wires a client and a typed resource client for every resource metallite uses.
 *
 * @example
 * ```ts
 * const api = createKubeApi({ config: await loadKubeConfig() });
 * const pools = (await api.discoverMetallb()).installed ? api.ipAddressPools.informer({ namespace: "metallb-system" }) : undefined;
 * ```
 */
export function createKubeApi(options: KubeApiOptions): KubeApi {
  let owned = false;
  let client = options.client;
  if (client === undefined) {
    if (options.config === undefined) throw new TypeError("createKubeApi needs a config or a client");
    client = new KubeClient({
      config: options.config,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    });
    owned = true;
  }
  const shared = client;
  const defaults = {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  const make = <T extends KubeObject>(t: ResourceType) => new ResourceClient<T>(shared, t, defaults);
  const t = RESOURCE_TYPES;
  return {
    client: shared,
    services: make<Service>(t.services),
    nodes: make<Node>(t.nodes),
    endpointSlices: make<EndpointSlice>(t.endpointSlices),
    events: make<KubeEvent>(t.events),
    secrets: make<Secret>(t.secrets),
    leases: make<Lease>(t.leases),
    ipAddressPools: make<MetallbObject>(t.ipAddressPools),
    l2Advertisements: make<MetallbObject>(t.l2Advertisements),
    bgpAdvertisements: make<MetallbObject>(t.bgpAdvertisements),
    communities: make<MetallbObject>(t.communities),
    bfdProfiles: make<MetallbObject>(t.bfdProfiles),
    serviceL2Statuses: make<MetallbObject>(t.serviceL2Statuses),
    serviceBgpStatuses: make<MetallbObject>(t.serviceBgpStatuses),
    configurationStates: make<MetallbObject>(t.configurationStates),
    bgpPeers: make<MetallbObject>(t.bgpPeers),
    discoverMetallb: (o = {}) => discoverMetallb(shared, o),
    close: () => {
      if (owned) shared.close();
    },
  };
}

/** Asks which metallb.io resources the API server serves (GET /apis/metallb.io/<version> per version). */
export async function discoverMetallb(
  client: KubeClient,
  options: { signal?: AbortSignal } = {},
): Promise<MetallbDiscovery> {
  const resources: Record<string, string[]> = {};
  for (const version of ["v1beta1", "v1beta2"]) {
    let doc: unknown;
    try {
      doc = await client.getRaw(`/apis/${METALLB_GROUP}/${version}`, options);
    } catch (error) {
      if (isNotFound(error)) continue;
      throw error;
    }
    const list = (doc as { resources?: unknown } | undefined)?.resources;
    const names: string[] = [];
    if (Array.isArray(list)) {
      for (const r of list) {
        const name = (r as { name?: unknown } | null)?.name;
        if (typeof name === "string" && !name.includes("/")) names.push(name);
      }
    }
    resources[version] = names;
  }
  return { installed: Object.keys(resources).length > 0, resources };
}
