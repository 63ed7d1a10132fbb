/**
 * What the BGP part publishes about what it announces, in MetalLB's shapes so tools written for MetalLB read
 * metallite's state unchanged: the `nodeAssigned` Event on the Service (speaker/main.go `handleService`), and one
 * ServiceBGPStatus per announced Service and node listing the peers it is advertised to
 * (internal/k8s/controllers/bgp_status_controller.go). Pure builders; the daemon writes.
 * @module
 */

/** Labels MetalLB puts on ServiceBGPStatus objects (internal/k8s/controllers/values.go). */
export const BGP_STATUS_LABELS = {
  node: "metallb.io/node",
  serviceName: "metallb.io/service-name",
  serviceNamespace: "metallb.io/service-namespace",
} as const;

/** The `status` of a ServiceBGPStatus (MetalLB's MetalLBServiceBGPStatus). */
export interface ServiceBgpStatusBody {
  /** The announcing node. */
  readonly node: string;
  /** The Service's name. */
  readonly serviceName: string;
  /** The Service's namespace. */
  readonly serviceNamespace: string;
  /** The BGPPeers the Service is advertised to, sorted. */
  readonly peers: readonly string[];
}

/** A metallb.io/v1beta1 ServiceBGPStatus to create (POST) and then write to its status subresource. */
export interface ServiceBgpStatusObject {
  /** "metallb.io/v1beta1". */
  readonly apiVersion: "metallb.io/v1beta1";
  /** "ServiceBGPStatus". */
  readonly kind: "ServiceBGPStatus";
  /** generateName "bgp-" in metallite's namespace, with MetalLB's three labels. */
  readonly metadata: {
    readonly generateName: "bgp-";
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
  };
  /** Empty, as in MetalLB. */
  readonly spec: Record<string, never>;
  /** Node, Service and peers. */
  readonly status: ServiceBgpStatusBody;
}

/** Options for {@link buildServiceBgpStatus}. */
export interface ServiceBgpStatusOptions {
  /** The announcing node (this one). */
  readonly nodeName: string;
  /** metallite's namespace (where MetalLB keeps these objects too). */
  readonly namespace: string;
  /** The Service's name. */
  readonly serviceName: string;
  /** The Service's namespace. */
  readonly serviceNamespace: string;
  /** The peers it is advertised to. */
  readonly peers: readonly string[];
}

/**
 * The ServiceBGPStatus object for one announced Service, as MetalLB's speaker writes it. The status subresource is
 * enabled on this CRD, so the API server ignores `status` on create: create, then update `/status`.
 */
export function buildServiceBgpStatus(options: ServiceBgpStatusOptions): ServiceBgpStatusObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: {
      generateName: "bgp-",
      namespace: options.namespace,
      labels: {
        [BGP_STATUS_LABELS.node]: options.nodeName,
        [BGP_STATUS_LABELS.serviceName]: options.serviceName,
        [BGP_STATUS_LABELS.serviceNamespace]: options.serviceNamespace,
      },
    },
    spec: {},
    status: {
      node: options.nodeName,
      serviceName: options.serviceName,
      serviceNamespace: options.serviceNamespace,
      peers: [...options.peers].sort(),
    },
  };
}

/** The Event MetalLB's speaker records on a Service it announces (speaker/main.go `handleService`). */
export function bgpNodeAssignedEvent(nodeName: string): { type: "Normal"; reason: "nodeAssigned"; message: string } {
  return { type: "Normal", reason: "nodeAssigned", message: `announcing from node "${nodeName}" with protocol "bgp"` };
}
