/**
 * Inputs and outputs of the pure allocator. The input shapes are structural subsets of the Kubernetes objects
 * (src/alloc sits below src/k8s and does not import it): a `Service` from the informer cache fits `ServiceLike`
 * as is. Every field is still checked at run time, since a hostile or broken cluster can send anything.
 * @module
 */
import type { Model } from "../config/model.ts";

/** The fields of a core/v1 Service the allocator reads. */
export interface ServiceLike {
  /** metadata; namespace defaults to "default". */
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly creationTimestamp?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  /** spec. */
  readonly spec?: {
    readonly type?: string;
    readonly selector?: Readonly<Record<string, string>>;
    readonly ports?: readonly { readonly protocol?: string; readonly port: number }[];
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly loadBalancerIP?: string;
    readonly loadBalancerClass?: string;
    readonly externalTrafficPolicy?: string;
    readonly ipFamilies?: readonly string[];
    readonly ipFamilyPolicy?: string;
  };
  /** status: the IPs already written (by metallite or by MetalLB) are adopted first. */
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string }[] } };
}

/** The fields of a core/v1 Namespace the allocator reads (for serviceAllocation.namespaceSelectors). */
export interface NamespaceLike {
  /** metadata. */
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>> };
}

/** What an address-conflict probe says about one address. */
export type AddressVerdict = { readonly usable: true } | { readonly usable: false; readonly reason: string };

/** Inputs of `allocateAll`. */
export interface AllocateOptions {
  /** The validated configuration (only its pools are read). */
  readonly model: Pick<Model, "pools">;
  /** Every Service in the cluster (others than LoadBalancer are reported as ignored). */
  readonly services: readonly ServiceLike[];
  /** Namespaces with their labels; needed only when a pool has namespaceSelectors. */
  readonly namespaces?: readonly NamespaceLike[];
  /** Our `spec.loadBalancerClass` (`--lb-class`); undefined serves Services without a class. */
  readonly lbClass?: string;
  /**
   * Address-conflict check for addresses about to be handed out (never for adopted ones, which we answer for
   * ourselves). Must be synchronous and cheap, e.g. a lookup in the Layer 2 prober's cache; an address it refuses
   * is skipped, listed in `conflicts`, and named in the pending message if nothing else is free.
   */
  readonly isAddressUsable?: (ip: string, pool: string) => AddressVerdict;
}

/**
 * Why a Service has no address (or not the one it asked for). Stable: used in Events, conditions and metrics.
 * - `NoPools`: no pool is configured at all.
 * - `NoSuitablePool`: no autoAssign pool admits the Service (serviceAllocation, or every pool has autoAssign false).
 * - `NoPoolForFamily`: no admitted pool has the family (e.g. "no pool for IPv6"), or none has both for RequireDualStack.
 * - `PoolExhausted`: the admitted pools have no free address of the family (conflicting addresses are named).
 * - `UnknownPool`: metallb.io/address-pool names a pool that does not exist (or was rejected).
 * - `PoolNotAllowed`: the requested pool (or the pool of the requested IP) excludes the Service by serviceAllocation.
 * - `InvalidRequest`: loadBalancerIPs / spec.loadBalancerIP unreadable, both set, or more than one per family.
 * - `FamilyMismatch`: the requested IPs' families differ from the Service's.
 * - `IpNotInPool`: a requested IP is in no pool (or is a .0/.255 of an avoidBuggyIPs pool), or in two pools.
 * - `PoolMismatch`: the requested IP is not in the requested pool.
 * - `IpInUse`: the requested IP is used by a Service that does not share (or this one has no sharing key).
 * - `SharingKeyMismatch`: the requested IP is shared under another allow-shared-ip key.
 * - `BackendMismatch`: same key, but externalTrafficPolicy differs, or both are Local with different selectors.
 * - `PortConflict`: same key, but a port/protocol is already used on that IP.
 * - `AddressConflict`: the requested IP is answered for by another host (isAddressUsable said so).
 * - `NotDualStack`: RequireDualStack on a Service whose clusterIPs have one family.
 */
export type PendingCode =
  | "NoPools"
  | "NoSuitablePool"
  | "NoPoolForFamily"
  | "PoolExhausted"
  | "UnknownPool"
  | "PoolNotAllowed"
  | "InvalidRequest"
  | "FamilyMismatch"
  | "IpNotInPool"
  | "PoolMismatch"
  | "IpInUse"
  | "SharingKeyMismatch"
  | "BackendMismatch"
  | "PortConflict"
  | "AddressConflict"
  | "NotDualStack";

/** Why a Service is not ours to allocate. */
export type IgnoredCode = "NotLoadBalancer" | "OtherClass";

/** How a Service got its addresses. */
export type AssignedCode = "Adopted" | "Allocated" | "Requested" | "AdditionalFamily";

/** A remark on a Service besides its outcome, e.g. why an address it had was not kept. */
export interface AllocationNote {
  /** Stable code (a PendingCode, or "FamilyChanged", "RequestChanged", "PoolChanged", "NoAdditionalFamily", "AddressConflict"). */
  readonly code: string;
  /** One line, naming the values. */
  readonly message: string;
}

/** The outcome for one Service. */
export type ServiceOutcome =
  & {
    /** "namespace/name". */
    readonly key: string;
    /** Namespace. */
    readonly namespace: string;
    /** Name. */
    readonly name: string;
    /** Remarks (addresses dropped and why, extra family not available...), for Events. */
    readonly notes: readonly AllocationNote[];
  }
  & (
    | {
      readonly state: "assigned";
      /** How it got them. */
      readonly code: AssignedCode;
      /** Canonical addresses, IPv4 first: write them to status.loadBalancer.ingress. */
      readonly ips: readonly string[];
      /** The pool, for the `metallb.io/ip-allocated-from-pool` annotation. */
      readonly pool: string;
      /** True when the addresses differ from the Service's current status (a status write is needed). */
      readonly changed: boolean;
      /** One line for logs and the Event. */
      readonly message: string;
    }
    | {
      readonly state: "pending";
      /** Why. */
      readonly code: PendingCode;
      /** One line, e.g. `pool "lan" is exhausted (IPv4)` or `IP 203.0.113.5 is in use by default/web`. */
      readonly message: string;
      /** True when the Service's status still holds addresses that must be cleared. */
      readonly changed: boolean;
    }
    | { readonly state: "ignored"; readonly code: IgnoredCode; readonly message: string }
  );

/** IPAddressPool status counters, as MetalLB writes them (int64 there; capped here at 2^53 - 1). */
export interface PoolStatus {
  /** Pool name. */
  readonly name: string;
  /** Distinct IPv4 addresses in use. */
  readonly assignedIPv4: number;
  /** Distinct IPv6 addresses in use. */
  readonly assignedIPv6: number;
  /** IPv4 addresses still free (avoidBuggyIPs ones not counted). */
  readonly availableIPv4: number;
  /** IPv6 addresses still free, capped at Number.MAX_SAFE_INTEGER for huge ranges. */
  readonly availableIPv6: number;
}

/** An address skipped because `isAddressUsable` refused it. */
export interface AddressConflict {
  /** The address. */
  readonly ip: string;
  /** Its pool. */
  readonly pool: string;
  /** What the probe said (e.g. "MAC aa:bb:cc:dd:ee:ff answers for it"). */
  readonly reason: string;
}

/** What `allocateAll` returns. */
export interface AllocationResult {
  /** One outcome per Service, sorted by key. */
  readonly services: readonly ServiceOutcome[];
  /** Counters per pool, sorted by name. */
  readonly pools: readonly PoolStatus[];
  /** Addresses skipped for conflicts, sorted. */
  readonly conflicts: readonly AddressConflict[];
}
