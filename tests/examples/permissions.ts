/**
 * The Kubernetes permissions metallite needs, each with the reason, in one place. `rbac_test.ts` keeps the
 * ClusterRole and Role of examples/daemonset.yaml equal to this list, and {@link checkRequests} in `rbac.ts` checks
 * the requests an integration run made against the fake API server are all allowed by those roles.
 *
 * Derived from issues 3-6 and src/k8s/api.ts (RESOURCE_TYPES); the Kubernetes client's author should confirm each
 * line against the calls the code makes. Discovery (GET /apis/metallb.io/v1beta1 to learn whether MetalLB's CRDs are
 * installed) needs no rule: every authenticated client may read discovery documents (system:discovery).
 * @module
 */

/** One rule: verbs on a resource (with "/subresource"), cluster-wide or in metallite's namespace. */
export interface Permission {
  /** API group; "" for the core group. */
  readonly group: string;
  /** Plural resource, with "/subresource" where it applies, as RBAC names it. */
  readonly resource: string;
  /** Verbs, as RBAC names them. */
  readonly verbs: readonly string[];
  /** "cluster" (ClusterRole) or "namespace" (Role in `--namespace`, default metallb-system). */
  readonly scope: "cluster" | "namespace";
  /** Why metallite needs it. */
  readonly why: string;
}

/** Every permission metallite needs, and nothing more. */
export const NEEDED_PERMISSIONS: readonly Permission[] = [
  {
    group: "",
    resource: "services",
    verbs: ["get", "list", "watch", "patch"],
    scope: "cluster",
    why: "Service informer across namespaces; the status writer re-reads a Service after a 409 Conflict; the " +
      "allocator patches the metallb.io/ip-allocated-from-pool annotation, as MetalLB's controller does",
  },
  {
    group: "",
    resource: "services/status",
    verbs: ["update", "patch"],
    scope: "cluster",
    why: "the allocator writes status.loadBalancer.ingress and the pending-reason condition",
  },
  {
    group: "",
    resource: "nodes",
    verbs: ["list", "watch"],
    scope: "cluster",
    why: "node labels and conditions for L2 election, L2/BGP nodeSelectors and excluded nodes",
  },
  {
    group: "",
    resource: "namespaces",
    verbs: ["list", "watch"],
    scope: "cluster",
    why: "namespace labels for IPAddressPool serviceAllocation.namespaceSelectors",
  },
  {
    group: "discovery.k8s.io",
    resource: "endpointslices",
    verbs: ["list", "watch"],
    scope: "cluster",
    why: "ready endpoints per node, for externalTrafficPolicy: Local and for not announcing Services without endpoints",
  },
  {
    group: "",
    resource: "events",
    verbs: ["create", "patch"],
    scope: "cluster",
    why: "Events on Services (in their namespaces) and on rejected MetalLB objects; repeats patch the existing Event",
  },
  {
    group: "coordination.k8s.io",
    resource: "leases",
    verbs: ["get", "list", "watch", "create", "update"],
    scope: "namespace",
    why: "the allocator Lease (one allocator at a time) and per-node liveness Leases read by the other nodes",
  },
  {
    group: "",
    resource: "secrets",
    verbs: ["get", "list", "watch"],
    scope: "namespace",
    why: "BGP TCP-MD5 passwords named by BGPPeer passwordSecret, watched so a changed password applies",
  },
  ...["ipaddresspools", "l2advertisements", "bgpadvertisements", "bgppeers", "communities", "bfdprofiles"].map(
    (resource): Permission => ({
      group: "metallb.io",
      resource,
      verbs: ["list", "watch"],
      scope: "namespace",
      why: "MetalLB configuration objects, watched so edits apply without a restart",
    }),
  ),
  {
    group: "metallb.io",
    resource: "ipaddresspools/status",
    verbs: ["update", "patch"],
    scope: "namespace",
    why: "IPAddressPool status counters (assigned and available addresses per family)",
  },
  ...["configurationstates", "servicel2statuses", "servicebgpstatuses"].map((resource): Permission => ({
    group: "metallb.io",
    resource,
    verbs: ["get", "list", "watch", "create", "update", "delete"],
    scope: "namespace",
    why: "status objects as MetalLB writes them: the configuration outcome, which node announces a Service (L2) " +
      "and to which peers (BGP); stale ones are deleted",
  })),
  ...["configurationstates/status", "servicel2statuses/status", "servicebgpstatuses/status"].map(
    (resource): Permission => ({
      group: "metallb.io",
      resource,
      verbs: ["update", "patch"],
      scope: "namespace",
      why: "the status subresource of those objects",
    }),
  ),
];
