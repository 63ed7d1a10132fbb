/**
 * One read of the cluster, as `metallite status` takes it: raw objects exactly as the API server returned them
 * (every one is validated before use), plus what could not be read.
 * @module
 */
import type { FileObject, Rejection } from "../config/mod.ts";

/** Everything {@link explainCluster} reads. Lists hold raw decoded JSON: nothing in them is trusted. */
export interface ClusterSnapshot {
  /** When the cluster was read (ms since the epoch): node Lease freshness is judged against it. */
  readonly now: number;
  /** `--namespace`: where metallite's Leases and the metallb.io objects live. */
  readonly namespace: string;
  /** Services in every namespace. */
  readonly services: readonly unknown[];
  /** Nodes. */
  readonly nodes: readonly unknown[];
  /** EndpointSlices in every namespace. */
  readonly endpointSlices: readonly unknown[];
  /** Leases in `namespace` (node Leases and the allocator Lease). */
  readonly leases: readonly unknown[];
  /** Namespaces (for pools with namespaceSelectors); undefined when they could not be read. */
  readonly namespaces?: readonly unknown[];
  /** Events whose involved object is a Service; undefined when they could not be read. */
  readonly events?: readonly unknown[];
  /** True when the cluster serves the metallb.io CRDs. */
  readonly crdsInstalled: boolean;
  /** metallb.io configuration objects in `namespace` (IPAddressPool, L2Advertisement, BGPPeer, ...). */
  readonly metallbConfig: readonly unknown[];
  /** ServiceL2Status objects in `namespace`. */
  readonly serviceL2Statuses: readonly unknown[];
  /** ServiceBGPStatus objects in `namespace`. */
  readonly serviceBgpStatuses: readonly unknown[];
  /** ConfigurationState objects in `namespace`. */
  readonly configurationStates: readonly unknown[];
  /** Objects from `--config` files given to `metallite status`. */
  readonly files?: readonly FileObject[];
  /** Documents of those files that could not be read. */
  readonly fileRejections?: readonly Rejection[];
  /** Paths of those files. */
  readonly statusConfigFiles?: readonly string[];
  /** Lists that could not be read, one line each (they count as empty). */
  readonly readWarnings?: readonly string[];
}
