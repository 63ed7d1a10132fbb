/**
 * The validated configuration model: what metallite's parts read after flags, `--config` YAML files and the
 * metallb.io objects in the cluster have been checked and merged. Types only; `buildModel` in `build.ts` makes one. Every value here is already valid: consumers never re-check it.
 * @module
 */
import type { IpFamily, IpRange } from "../ip/mod.ts";

/** Where an object came from: `--pool`/`--bgp-peer` flags, a `--config` YAML file, or a CRD in the cluster. */
export type ConfigSource = "flag" | "file" | "cluster";

/** The MetalLB kinds metallite reads. */
export type MetalLbKind =
  | "IPAddressPool"
  | "L2Advertisement"
  | "BGPPeer"
  | "BGPAdvertisement"
  | "Community"
  | "BFDProfile";

/** Names one configuration object. */
export interface ObjectRef {
  /** The kind, or the kind the document claimed when it was not a valid one. */
  readonly kind: string;
  /** metadata.namespace ("" when absent, as for flag objects). */
  readonly namespace: string;
  /** metadata.name ("" when absent or invalid). */
  readonly name: string;
}

/** Operators of a label selector requirement, as in metav1.LabelSelectorRequirement. */
export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

/** One `matchExpressions` entry. */
export interface LabelRequirement {
  /** Label key. */
  readonly key: string;
  /** How the label's value is compared. */
  readonly operator: SelectorOperator;
  /** Values for In and NotIn (non-empty for those); empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/**
 * A validated metav1.LabelSelector. Every `matchLabels` pair and every expression must hold; an empty selector
 * matches everything. Evaluate it with `matchesLabels` from `selector.ts`.
 */
export interface LabelSelector {
  /** Labels that must be present with exactly these values. */
  readonly matchLabels: Readonly<Record<string, string>>;
  /** Further requirements. */
  readonly matchExpressions: readonly LabelRequirement[];
}

/** An L2Advertisement's `preferredNodeSelectors` entry (a node matching it gets `weight` added to its score). */
export interface WeightedSelector {
  /** 1 to 100. */
  readonly weight: number;
  /** The nodes this weight applies to. */
  readonly preference: LabelSelector;
}

/** Addresses of one pool, split by family; every list sorted by first address, none overlapping. */
export interface PoolRanges {
  /** IPv4 ranges. */
  readonly 4: readonly IpRange[];
  /** IPv6 ranges. */
  readonly 6: readonly IpRange[];
}

/** An IPAddressPool's `serviceAllocation`: which Services may take from the pool, and its priority. */
export interface ServiceAllocation {
  /**
   * MetalLB's priority: a lower positive number is tried first; 0 (unset) is tried after every pool with a priority.
   */
  readonly priority: number;
  /** Namespaces whose Services may use the pool (any of them, or any namespace matching a selector below). */
  readonly namespaces: readonly string[];
  /** Namespace label selectors (any matching). */
  readonly namespaceSelectors: readonly LabelSelector[];
  /** Service label selectors (any matching); empty means any Service of an allowed namespace. */
  readonly serviceSelectors: readonly LabelSelector[];
}

/** An address pool (IPAddressPool, or a `--pool` flag). */
export interface Pool {
  /** Pool name (flags give "cli-pool-1", "cli-pool-2", ...). */
  readonly name: string;
  /** Where it came from. */
  readonly source: ConfigSource;
  /** The object it came from. */
  readonly ref: ObjectRef;
  /** metadata.labels, matched by advertisements' `ipAddressPoolSelectors`. */
  readonly labels: Readonly<Record<string, string>>;
  /** The addresses, per family. */
  readonly ranges: PoolRanges;
  /** The addresses as the user wrote them (spec.addresses or the flag). */
  readonly addresses: readonly string[];
  /** Number of addresses per family (may be astronomically large for IPv6; never iterate it). */
  readonly size: { readonly 4: bigint; readonly 6: bigint };
  /** false: only Services that ask for this pool or one of its IPs get an address from it. Default true. */
  readonly autoAssign: boolean;
  /** Skip IPv4 addresses ending in .0 or .255. Default false. */
  readonly avoidBuggyIPs: boolean;
  /** Restrictions and priority; undefined when the pool has none (any Service may use it, priority 0). */
  readonly serviceAllocation?: ServiceAllocation;
}

/** A Layer 2 announcement rule (L2Advertisement, or the one made for `--pool` flags). */
export interface L2Advertisement {
  /** Name ("cli-l2" for the flags' one). */
  readonly name: string;
  /** Where it came from. */
  readonly source: ConfigSource;
  /** The object it came from. */
  readonly ref: ObjectRef;
  /** Pools named in spec.ipAddressPools (all exist). */
  readonly ipAddressPools: readonly string[];
  /** spec.ipAddressPoolSelectors. */
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  /**
   * The pool names this advertisement applies to, resolved: the listed ones plus those matching a selector, or every
   * pool when both lists are empty. Sorted.
   */
  readonly pools: readonly string[];
  /** Nodes allowed to announce (any matching); empty means every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Services this advertisement applies to (any matching); empty means every Service. */
  readonly serviceSelectors: readonly LabelSelector[];
  /** Interfaces to announce on; empty means every interface. */
  readonly interfaces: readonly string[];
  /** Election preferences by node labels. */
  readonly preferredNodeSelectors: readonly WeightedSelector[];
}

/** A BGP community value: RFC 1997 standard (32 bits) or RFC 8092 large (three 32-bit numbers). */
export type BgpCommunity =
  | { readonly kind: "standard"; readonly value: number }
  | { readonly kind: "large"; readonly globalAdmin: number; readonly localData1: number; readonly localData2: number };

/** A named community from a Community object. */
export interface CommunityAlias {
  /** The alias (e.g. NO_ADVERTISE). */
  readonly name: string;
  /** Its value. */
  readonly value: BgpCommunity;
  /** The Community object that defines it. */
  readonly ref: ObjectRef;
  /** Where it came from. */
  readonly source: ConfigSource;
}

/** A BGP announcement rule (BGPAdvertisement). */
export interface BgpAdvertisement {
  /** Name. */
  readonly name: string;
  /** Where it came from. */
  readonly source: ConfigSource;
  /** The object it came from. */
  readonly ref: ObjectRef;
  /** IPv4 aggregation prefix length, 0-32 (MetalLB's default 32); never shorter than any pool range's prefix. */
  readonly aggregationLength: number;
  /** IPv6 aggregation prefix length, 0-128 (default 128). */
  readonly aggregationLengthV6: number;
  /** LOCAL_PREF for iBGP sessions; undefined when unset (then none is sent). */
  readonly localPref?: number;
  /** Communities to attach, aliases already resolved, duplicates removed. */
  readonly communities: readonly BgpCommunity[];
  /** Pools named in spec.ipAddressPools. */
  readonly ipAddressPools: readonly string[];
  /** spec.ipAddressPoolSelectors. */
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  /** Resolved pool names, as for {@link L2Advertisement.pools}. */
  readonly pools: readonly string[];
  /** Nodes allowed to announce; empty means every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Services this applies to; empty means every Service. */
  readonly serviceSelectors: readonly LabelSelector[];
  /** BGPPeer names to announce to; empty means every peer. */
  readonly peers: readonly string[];
}

/** A Secret holding a BGP password (key "password", type kubernetes.io/basic-auth, as MetalLB expects). */
export interface SecretRef {
  /** Secret name. */
  readonly name: string;
  /** Secret namespace; MetalLB only reads its own namespace, so this defaults to it. */
  readonly namespace: string;
}

/** A BGP neighbour (BGPPeer v1beta1/v1beta2, or a `--bgp-peer` flag). */
export interface BgpPeer {
  /** Name ("cli-peer-1", ... for flags). */
  readonly name: string;
  /** Where it came from. */
  readonly source: ConfigSource;
  /** The object it came from. */
  readonly ref: ObjectRef;
  /** Our AS number. */
  readonly myAsn: number;
  /** The peer's AS number; undefined when {@link dynamicAsn} is set instead. */
  readonly peerAsn?: number;
  /** "internal"/"external": accept whatever ASN the peer sends of that kind (v1beta2 dynamicASN). */
  readonly dynamicAsn?: "internal" | "external";
  /** Peer address, canonical text. */
  readonly peerAddress: string;
  /** Its family. */
  readonly peerFamily: IpFamily;
  /** Local address to bind, canonical text. */
  readonly sourceAddress?: string;
  /** Unnumbered BGP over this interface (v1beta2 `interface`); peerAddress is then "" and peerFamily 6. */
  readonly interface?: string;
  /** TCP port (default 179). */
  readonly peerPort: number;
  /** Hold time in seconds to offer (0 or 3-65535; default 90). */
  readonly holdTime: number;
  /** Keepalive in seconds (default holdTime / 3). */
  readonly keepaliveTime: number;
  /** Connect retry time in seconds; undefined means the speaker's default. */
  readonly connectTime?: number;
  /** BGP identifier, dotted quad; undefined means derived from the node. */
  readonly routerId?: string;
  /** Nodes that open this session; empty means every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** TCP MD5 password given inline (never logged). */
  readonly password?: string;
  /** Or a Secret holding it; the speaker resolves it. Never both. */
  readonly passwordSecret?: SecretRef;
  /** Name of a BFDProfile (exists in the model). */
  readonly bfdProfile?: string;
  /** Allow eBGP peers more than one hop away. */
  readonly ebgpMultiHop: boolean;
  /** TTL for multihop sessions when given (`--bgp-peer ...,multihop=N`); MetalLB objects leave it to the speaker. */
  readonly ebgpMultiHopTtl?: number;
  /** VRF to open the session in; undefined for the default VRF. */
  readonly vrf?: string;
  /** Advertise the graceful restart capability (RFC 4724). */
  readonly enableGracefulRestart: boolean;
  /** Disable multiprotocol: carry each family over a session of its own family only. */
  readonly disableMp: boolean;
  /** v1beta2 dualStackAddressFamily. */
  readonly dualStackAddressFamily: boolean;
}

/** BFD session parameters (BFDProfile), with MetalLB's defaults filled in. Times in milliseconds. */
export interface BfdProfile {
  /** Name. */
  readonly name: string;
  /** Where it came from. */
  readonly source: ConfigSource;
  /** The object it came from. */
  readonly ref: ObjectRef;
  /** Minimum interval we accept between received packets (10-60000, default 300). */
  readonly receiveInterval: number;
  /** Minimum interval between packets we send (10-60000, default 300). */
  readonly transmitInterval: number;
  /** Missed packets before the session is down (2-255, default 3). */
  readonly detectMultiplier: number;
  /** Echo interval (10-60000, default 50). */
  readonly echoInterval: number;
  /** Echo mode (default false). */
  readonly echoMode: boolean;
  /** Passive mode: wait for the peer's packets (default false). */
  readonly passiveMode: boolean;
  /** Minimum incoming TTL for multihop (1-254, default 254). */
  readonly minimumTtl: number;
}

/**
 * Why an object was rejected:
 * - `InvalidDocument`: not YAML, not an object, or an unexpected failure reading it.
 * - `InvalidName`: metadata.name missing or not a Kubernetes name.
 * - `DuplicateName`: another object of the same kind and name came first (flag, then file, then cluster).
 * - `InvalidField`: a field has the wrong type or an out-of-range value.
 * - `InvalidAddress`: an address, CIDR or range that does not parse, or includes reserved addresses.
 * - `PoolTooLarge`: a range larger than a /8 (IPv4) or /48 (IPv6).
 * - `PoolOverlap`: a range overlaps another of the same pool, or of a pool whose name sorts earlier.
 * - `UnknownPool`: an advertisement names a pool that does not exist (or was rejected).
 * - `UnknownPeer`: a BGPAdvertisement names a BGPPeer that does not exist (or was rejected).
 * - `UnknownCommunity`: a community that is neither N:N, large:N:N:N nor a defined alias.
 * - `InvalidCommunity`: a community of the right shape with an out-of-range number.
 * - `DuplicateCommunity`: a Community alias already defined by an earlier Community object.
 * - `AggregationTooShort`: aggregationLength shorter than a prefix of a pool it applies to.
 * - `LocalPrefConflict`: two BGPAdvertisements give one pool's routes different localPref to the same peers.
 * - `DuplicateAdvertisement`: a BGPAdvertisement with the same spec as an earlier one.
 * - `DuplicatePeer`: a BGPPeer identical (but for its name) to an earlier one.
 * - `UnknownBfdProfile`: a BGPPeer names a BFDProfile that does not exist (or was rejected).
 * - `WrongNamespace`: a cluster object outside `--namespace`, or a password Secret elsewhere.
 * - `UnsupportedVersion`: a metallb.io apiVersion or kind metallite does not read (e.g. AddressPool).
 * - `MissingAsn`: `--bgp-peer` without `--asn`.
 */
export type RejectionCode =
  | "InvalidDocument"
  | "InvalidName"
  | "DuplicateName"
  | "InvalidField"
  | "InvalidAddress"
  | "PoolTooLarge"
  | "PoolOverlap"
  | "UnknownPool"
  | "UnknownPeer"
  | "UnknownCommunity"
  | "InvalidCommunity"
  | "DuplicateCommunity"
  | "AggregationTooShort"
  | "LocalPrefConflict"
  | "DuplicateAdvertisement"
  | "DuplicatePeer"
  | "UnknownBfdProfile"
  | "WrongNamespace"
  | "UnsupportedVersion"
  | "MissingAsn";

/** One configuration object that was not accepted; the rest of the configuration still applies. */
export interface Rejection {
  /** The object. */
  readonly ref: ObjectRef;
  /** Where it came from (for files, `file` also names the path). */
  readonly source: ConfigSource;
  /** The file path, for source "file". */
  readonly file?: string;
  /** A stable code for metrics and Events. */
  readonly code: RejectionCode;
  /** One line saying what was wrong, with the value. */
  readonly reason: string;
}

/** The whole validated configuration. Lists are sorted by name; nothing in them needs checking again. */
export interface Model {
  /** Address pools. */
  readonly pools: readonly Pool[];
  /** Layer 2 advertisements. */
  readonly l2Advertisements: readonly L2Advertisement[];
  /** BGP neighbours. */
  readonly bgpPeers: readonly BgpPeer[];
  /** BGP advertisements. */
  readonly bgpAdvertisements: readonly BgpAdvertisement[];
  /** Community aliases, by alias name. */
  readonly communities: readonly CommunityAlias[];
  /** BFD profiles. */
  readonly bfdProfiles: readonly BfdProfile[];
  /** Objects left out, each with its reason. */
  readonly rejected: readonly Rejection[];
}
