/**
 * The fake API server's resource table: every resource it serves, with what discovery says about it and the few
 * per-resource rules the store applies (status subresource, generation, name format). Written from the Kubernetes
 * API reference and MetalLB's CRD YAMLs (config/crd/bases in metallb/metallb); nothing here is read at run time.
 * @module
 */

/** How a resource's names are validated. */
export type NameFormat = "subdomain" | "label";

/** One resource the fake server serves. */
export interface ResourceInfo {
  /** Plural lower-case name, the URL segment: "services". */
  plural: string;
  singular: string;
  kind: string;
  /** "" for the core group. */
  group: string;
  /** Versions served, the preferred (storage) version first. */
  versions: string[];
  namespaced: boolean;
  shortNames: string[];
  /** Has a /status subresource: main writes ignore status, /status writes change only status. */
  status: boolean;
  /** Keeps status given on create (nodes do; services and CRDs with a status subresource drop it). */
  statusOnCreate: boolean;
  /** Sets metadata.generation to 1 on create and bumps it when anything outside metadata and status changes. */
  generation: boolean;
  /** Served by a CustomResourceDefinition: strategic merge patch is refused with 415, as a real server does. */
  custom: boolean;
  /** Name format: DNS-1123 label (services, namespaces) or subdomain (most others). */
  nameFormat: NameFormat;
  /** Category names for discovery ("all" for services). */
  categories: string[];
}

const VERBS_COLLECTION = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function core(
  plural: string,
  kind: string,
  extra: Partial<ResourceInfo> = {},
): ResourceInfo {
  return {
    plural,
    singular: kind.toLowerCase(),
    kind,
    group: "",
    versions: ["v1"],
    namespaced: true,
    shortNames: [],
    status: false,
    statusOnCreate: false,
    generation: false,
    custom: false,
    nameFormat: "subdomain",
    categories: [],
    ...extra,
  };
}

function metallb(plural: string, kind: string, extra: Partial<ResourceInfo> = {}): ResourceInfo {
  // Every MetalLB CRD (v0.14/v0.15) is namespaced and declares `subresources: status: {}`.
  return core(plural, kind, {
    group: "metallb.io",
    versions: ["v1beta1"],
    status: true,
    generation: true,
    custom: true,
    ...extra,
  });
}

/** Every resource the fake server knows, keyed by plural name. */
export const RESOURCES: readonly ResourceInfo[] = [
  core("namespaces", "Namespace", {
    namespaced: false,
    shortNames: ["ns"],
    status: true,
    statusOnCreate: false,
    nameFormat: "label",
  }),
  core("services", "Service", { shortNames: ["svc"], status: true, nameFormat: "label", categories: ["all"] }),
  core("nodes", "Node", { namespaced: false, shortNames: ["no"], status: true, statusOnCreate: true }),
  core("events", "Event", { shortNames: ["ev"] }),
  core("secrets", "Secret"),
  core("configmaps", "ConfigMap", { shortNames: ["cm"] }),
  core("endpoints", "Endpoints", { shortNames: ["ep"] }),
  core("pods", "Pod", { shortNames: ["po"], status: true, statusOnCreate: false, categories: ["all"] }),
  core("serviceaccounts", "ServiceAccount", { shortNames: ["sa"] }),
  core("endpointslices", "EndpointSlice", { group: "discovery.k8s.io", generation: true }),
  core("leases", "Lease", { group: "coordination.k8s.io" }),
  core("events.events.k8s.io", "Event", { group: "events.k8s.io", shortNames: ["ev"] }),
  metallb("ipaddresspools", "IPAddressPool"),
  metallb("l2advertisements", "L2Advertisement"),
  metallb("bgpadvertisements", "BGPAdvertisement"),
  metallb("communities", "Community"),
  metallb("bfdprofiles", "BFDProfile"),
  metallb("servicel2statuses", "ServiceL2Status"),
  metallb("servicebgpstatuses", "ServiceBGPStatus"),
  metallb("configurationstates", "ConfigurationState"),
  // bgppeers: v1beta2 is the storage version; v1beta1 is still served (the CRD converts by webhook; we only
  // relabel apiVersion, since the fields metallite uses are the same in both).
  metallb("bgppeers", "BGPPeer", { versions: ["v1beta2", "v1beta1"] }),
];

/** The URL segment of a resource (events.k8s.io events share the plural "events" with core events). */
export function urlPlural(info: ResourceInfo): string {
  return info.plural.split(".")[0]!;
}

/** Kubernetes version priority (GA before beta before alpha, higher numbers first), as discovery orders them. */
export function compareVersions(a: string, b: string): number {
  const rank = (v: string): number[] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0];
    const level = m[2] === undefined ? 3 : m[2] === "beta" ? 2 : 1;
    return [level, Number(m[1]), Number(m[3] ?? 0)];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
  return 0;
}

/** A lookup from (group, plural) to resource info, honouring `crds: false`. */
export class ResourceTable {
  readonly #byKey = new Map<string, ResourceInfo>();
  readonly #byName = new Map<string, ResourceInfo>();
  readonly all: ResourceInfo[];

  /** Builds the table; without CRDs the metallb.io group is absent, like a cluster without MetalLB installed. */
  constructor(options: { crds: boolean }) {
    this.all = RESOURCES.filter((r) => options.crds || !r.custom);
    for (const info of this.all) {
      this.#byKey.set(`${info.group}/${urlPlural(info)}`, info);
      this.#byName.set(info.plural, info);
      if (info.group !== "") this.#byName.set(`${urlPlural(info)}.${info.group}`, info);
    }
  }

  /** The resource at /api(s)/group/version/plural, or undefined if that group/version does not serve it. */
  lookup(group: string, version: string, plural: string): ResourceInfo | undefined {
    const info = this.#byKey.get(`${group}/${plural}`);
    return info && info.versions.includes(version) ? info : undefined;
  }

  /** The resource by its store name ("services", "ipaddresspools", "events.events.k8s.io"). */
  byName(name: string): ResourceInfo | undefined {
    return this.#byName.get(name);
  }

  /** Groups other than core, each with its versions, preferred first. */
  groups(): { name: string; versions: string[] }[] {
    const groups = new Map<string, Set<string>>();
    for (const info of this.all) {
      if (info.group === "") continue;
      const set = groups.get(info.group) ?? new Set<string>();
      for (const v of info.versions) set.add(v);
      groups.set(info.group, set);
    }
    return [...groups].map(([name, versions]) => ({ name, versions: [...versions].sort(compareVersions) }));
  }

  /** The APIResourceList of one group version, as discovery serves it. */
  resourceList(group: string, version: string): unknown | undefined {
    const infos = this.all.filter((r) => r.group === group && r.versions.includes(version));
    if (infos.length === 0) return undefined;
    const resources: unknown[] = [];
    for (const info of infos) {
      resources.push({
        name: urlPlural(info),
        singularName: info.singular,
        namespaced: info.namespaced,
        kind: info.kind,
        verbs: VERBS_COLLECTION,
        ...(info.shortNames.length > 0 ? { shortNames: info.shortNames } : {}),
        ...(info.categories.length > 0 ? { categories: info.categories } : {}),
        storageVersionHash: "",
      });
      if (info.status) {
        resources.push({
          name: `${urlPlural(info)}/status`,
          singularName: "",
          namespaced: info.namespaced,
          kind: info.kind,
          verbs: ["get", "patch", "update"],
        });
      }
    }
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group === "" ? version : `${group}/${version}`,
      resources,
    };
  }
}
