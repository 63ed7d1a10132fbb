/**
 * The report `metallite status` prints: one plain JSON document (`--output json`) whose field names are stable, so
 * scripts can rely on them; the text output is rendered from the same document. New fields may be added; existing
 * ones keep their name and meaning while {@link STATUS_SCHEMA_VERSION} stays the same.
 * @module
 */

/** Version of the JSON shape; raised only when a field changes meaning or disappears. */
export const STATUS_SCHEMA_VERSION = 1;

/** The whole report. */
export interface StatusReport {
  /** {@link STATUS_SCHEMA_VERSION}. */
  readonly schemaVersion: number;
  /** When the cluster was read, RFC 3339. */
  readonly generatedAt: string;
  /** `--namespace`: where metallite's Leases and the metallb.io objects live. */
  readonly namespace: string;
  /** Configuration validity and where it came from. */
  readonly config: ConfigReport;
  /** Address pools and their usage, sorted by name. */
  readonly pools: readonly PoolReport[];
  /** metallite instances per node (from node Leases), sorted by node. */
  readonly instances: readonly InstanceReport[];
  /** The allocator Lease: which instance allocates. */
  readonly allocator: AllocatorReport;
  /** Every Service of type LoadBalancer, sorted by "namespace/name". */
  readonly services: readonly ServiceReport[];
  /** Objects skipped because they were malformed, lists that could not be read, and other problems. */
  readonly warnings: readonly string[];
}

/** One rejected configuration object. */
export interface RejectionReport {
  /** Kind (IPAddressPool, L2Advertisement, ...). */
  readonly kind: string;
  /** Namespace ("" for flag objects). */
  readonly namespace: string;
  /** Name ("" when missing). */
  readonly name: string;
  /** "flag", "file" or "cluster". */
  readonly source: string;
  /** Stable code (see RejectionCode in src/config/model.ts). */
  readonly code: string;
  /** One line: what is wrong. */
  readonly reason: string;
}

/** A MetalLB ConfigurationState object as the cluster holds it. */
export interface ConfigurationStateReport {
  /** Object name (MetalLB uses "controller" and "speaker-<node>"). */
  readonly name: string;
  /** "Valid", "Invalid" or "Unknown". */
  readonly result: string;
  /** One line per rejected object, "" when valid. */
  readonly errorSummary: string;
}

/** The configuration the report was computed with. */
export interface ConfigReport {
  /** True when nothing was rejected (as recomputed here from the same objects the instances read). */
  readonly valid: boolean;
  /** True when the cluster serves the metallb.io CRDs. */
  readonly crdsInstalled: boolean;
  /**
   * Where the pools of the instances' command-line flags (`--pool`, `--interface`, `--bgp-peer`) came from:
   * "published" (a node Lease carries them), "none" (instances publish that they have none), or "not-visible"
   * (no instance publishes its flags: pools given with `--pool` are unknown to this report).
   */
  readonly flags: "published" | "none" | "not-visible";
  /** The flag pools, as the instances published them (empty when none or not visible). */
  readonly flagPools: readonly string[];
  /** `--config` files the instances read (their content is not in the cluster), by path. */
  readonly instanceConfigFiles: readonly string[];
  /** `--config` files given to `metallite status` itself. */
  readonly statusConfigFiles: readonly string[];
  /** Objects rejected, recomputed here. */
  readonly rejected: readonly RejectionReport[];
  /** ConfigurationState objects in the cluster (what the instances themselves reported). */
  readonly configurationStates: readonly ConfigurationStateReport[];
  /** Counts of the accepted objects. */
  readonly counts: {
    readonly pools: number;
    readonly l2Advertisements: number;
    readonly bgpAdvertisements: number;
    readonly bgpPeers: number;
  };
  /** Remarks, one line each (e.g. why flag pools are not visible). */
  readonly notes: readonly string[];
}

/** Usage of one address family of a pool. */
export interface FamilyUsage {
  /** Addresses the pool has of this family (as a decimal string: IPv6 pools can be huge). */
  readonly size: string;
  /** Addresses in use by Services now. */
  readonly assigned: number;
  /** Addresses still free (avoidBuggyIPs ones not counted), capped at 2^53 - 1. */
  readonly available: number;
}

/** One address pool. */
export interface PoolReport {
  /** Pool name ("cli-pool-N" for `--pool` flags). */
  readonly name: string;
  /** "flag", "file" or "cluster". */
  readonly source: string;
  /** The addresses as written. */
  readonly addresses: readonly string[];
  /** false when only Services asking for it get its addresses. */
  readonly autoAssign: boolean;
  /** IPv4 usage. */
  readonly ipv4: FamilyUsage;
  /** IPv6 usage. */
  readonly ipv6: FamilyUsage;
  /** How it is announced: names of L2Advertisements and BGPAdvertisements covering it. */
  readonly l2Advertisements: readonly string[];
  /** BGPAdvertisements covering it. */
  readonly bgpAdvertisements: readonly string[];
}

/** A node and its metallite instance, as node Leases show them. */
export interface InstanceReport {
  /** Node name. */
  readonly node: string;
  /** True when a Node object of that name exists. */
  readonly nodeExists: boolean;
  /**
   * "alive": the node Lease was renewed within its duration; "stale": it was not (the instance died or cannot reach
   * the API server); "none": no node Lease, so no metallite instance runs there.
   */
  readonly state: "alive" | "stale" | "none";
  /** Seconds since the Lease was renewed, when known. */
  readonly renewedSecondsAgo?: number;
  /** metallite version the instance published, when known. */
  readonly version?: string;
  /** Interfaces the instance can announce on, when published. */
  readonly interfaces?: readonly string[];
}

/** The allocator Lease. */
export interface AllocatorReport {
  /** The Lease's name. */
  readonly lease: string;
  /** The holder (a node or instance identity), when the Lease exists and names one. */
  readonly holder?: string;
  /** True when the holder renewed within the Lease duration. */
  readonly fresh: boolean;
}

/** Why a node does not announce a Service. */
export interface ExclusionReport {
  /** Node name. */
  readonly node: string;
  /**
   * Stable reason: "no-instance", "dead", "excluded-label", "network-unavailable", "not-selected", "no-interface",
   * "no-local-endpoint" (Layer 2 and BGP), "no-peer" (BGP: no BGPPeer selects the node).
   */
  readonly reason: string;
  /** One line for people. */
  readonly detail: string;
}

/** One candidate of a Layer 2 election, in election order. */
export interface CandidateReport {
  /** Node name. */
  readonly node: string;
  /** Summed preferredNodeSelectors weight (higher wins first). */
  readonly weight: number;
  /** First 16 hex digits of sha256(node + "#" + first IP), the tie-breaker (lower wins). */
  readonly hash: string;
}

/** Layer 2 view of a Service. */
export interface L2Report {
  /** L2Advertisements covering the Service's pool and matching its labels. */
  readonly advertisements: readonly string[];
  /** Nodes that report announcing it (ServiceL2Status objects), with their interfaces ("all" or names). */
  readonly reported: readonly { readonly node: string; readonly interfaces: readonly string[] | "all" }[];
  /** The owner recomputed here from the cluster state; undefined when nobody should announce. */
  readonly elected?: string;
  /** Why nobody should announce (election skip reason), when {@link elected} is undefined. */
  readonly skipped?: string;
  /** One line explaining {@link skipped}. */
  readonly skippedDetail?: string;
  /** Where the owner announces: "all" or interface names. */
  readonly interfaces: readonly string[] | "all";
  /** Eligible nodes in election order (owner first). */
  readonly candidates: readonly CandidateReport[];
  /** Nodes left out, sorted by name. */
  readonly excluded: readonly ExclusionReport[];
  /** externalTrafficPolicy Local: nodes holding a serving endpoint (undefined for Cluster). */
  readonly localEndpointNodes?: readonly string[];
  /** True when the reported owner is exactly the recomputed one (or neither exists). */
  readonly agrees: boolean;
}

/** BGP view of a Service. */
export interface BgpReport {
  /** BGPAdvertisements covering the Service's pool and matching its labels. */
  readonly advertisements: readonly string[];
  /** Nodes that report announcing it (ServiceBGPStatus objects), each with the peers named there. */
  readonly reported: readonly { readonly node: string; readonly peers: readonly string[] }[];
  /** Nodes that should announce it, recomputed here, each with the BGPPeers it should announce to. */
  readonly expected: readonly { readonly node: string; readonly peers: readonly string[] }[];
  /** Why nobody should announce, when nobody should ("no-endpoints"). */
  readonly skipped?: string;
  /** Nodes that should not announce, and why. */
  readonly excluded: readonly ExclusionReport[];
  /** externalTrafficPolicy Local: nodes holding a serving endpoint (undefined for Cluster). */
  readonly localEndpointNodes?: readonly string[];
  /** True when the reported nodes and peers are exactly the expected ones. */
  readonly agrees: boolean;
}

/** Why a Service has no address. */
export interface PendingReport {
  /** What the allocator wrote in the Service's status condition, if anything. */
  readonly reported?: {
    readonly type: string;
    readonly reason: string;
    readonly message: string;
  };
  /**
   * The allocation recomputed here from the cluster state: "pending" with the reason, or "assignable" when an
   * address is free for it now (then the allocator has not run since, or is not running).
   */
  readonly recomputed:
    | { readonly state: "pending"; readonly code: string; readonly message: string }
    | { readonly state: "assignable"; readonly ips: readonly string[]; readonly pool: string };
  /** True when the reported reason and the recomputed one are the same code (false when either is missing). */
  readonly agrees: boolean;
}

/** A recent Event on the Service. */
export interface EventReport {
  /** "Normal" or "Warning". */
  readonly type: string;
  /** Reason. */
  readonly reason: string;
  /** Message. */
  readonly message: string;
  /** Times it happened. */
  readonly count: number;
  /** Last time, RFC 3339, when known. */
  readonly lastTimestamp?: string;
}

/** One LoadBalancer Service. */
export interface ServiceReport {
  /** Namespace. */
  readonly namespace: string;
  /** Name. */
  readonly name: string;
  /**
   * "announced" (has addresses and someone should announce them), "unannounced" (has addresses but nobody should
   * announce them: no advertisement, no endpoints, no candidate), "pending" (no address yet), "other-class" (another
   * loadBalancerClass: not metallite's).
   */
  readonly state: "announced" | "unannounced" | "pending" | "other-class";
  /** Addresses in status.loadBalancer.ingress, canonical. */
  readonly ips: readonly string[];
  /** The pool: from the annotation when present, else recomputed from the addresses. */
  readonly pool?: string;
  /** Where {@link pool} came from. */
  readonly poolSource: "annotation" | "recomputed" | "none";
  /** spec.externalTrafficPolicy ("Cluster" when unset). */
  readonly externalTrafficPolicy: string;
  /** spec.loadBalancerClass, when set. */
  readonly loadBalancerClass?: string;
  /** Layer 2 view, when an L2Advertisement covers the pool. */
  readonly l2?: L2Report;
  /** BGP view, when a BGPAdvertisement covers the pool. */
  readonly bgp?: BgpReport;
  /** For pending Services: why. */
  readonly pending?: PendingReport;
  /** The latest Events on the Service (at most 3, newest first), when Events could be read. */
  readonly events: readonly EventReport[];
  /** Explanations and warnings about this Service, one line each. */
  readonly notes: readonly string[];
}
