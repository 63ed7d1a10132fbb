/**
 * What the Layer 2 part publishes about who announces what, in MetalLB's shapes, so tools written for MetalLB read
 * metallite's state unchanged: the `nodeAssigned` Event on the Service, and one ServiceL2Status object per announced
 * Service and node (MetalLB internal/k8s/controllers/layer2_status_controller.go). Pure builders; the daemon writes.
 * @module
 */

/** Labels MetalLB puts on ServiceL2Status objects (internal/k8s/controllers/values.go). */
export const L2_STATUS_LABELS = {
  node: "metallb.io/node",
  serviceName: "metallb.io/service-name",
  serviceNamespace: "metallb.io/service-namespace",
} as const;

/** A metallb.io/v1beta1 ServiceL2Status to create (POST) and then write to its status subresource. */
export interface ServiceL2StatusObject {
  /** "metallb.io/v1beta1". */
  readonly apiVersion: "metallb.io/v1beta1";
  /** "ServiceL2Status". */
  readonly kind: "ServiceL2Status";
  /** generateName "l2-" in metallite's namespace, with MetalLB's three labels. */
  readonly metadata: {
    readonly generateName: "l2-";
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
  };
  /** Empty, as in MetalLB. */
  readonly spec: Record<string, never>;
  /** The announcing node, the Service, and the interfaces (omitted when announcing on every interface). */
  readonly status: {
    readonly node: string;
    readonly serviceName: string;
    readonly serviceNamespace: string;
    readonly interfaces?: readonly { readonly name: string }[];
  };
}

/** Options for {@link buildServiceL2Status}. */
export interface ServiceL2StatusOptions {
  /** The announcing node (this one). */
  readonly nodeName: string;
  /** metallite's namespace (where MetalLB keeps these objects too). */
  readonly namespace: string;
  /** The Service's name. */
  readonly serviceName: string;
  /** The Service's namespace. */
  readonly serviceNamespace: string;
  /** "all", or the interfaces announced on. */
  readonly interfaces: readonly string[] | "all";
}

/**
 * The ServiceL2Status object for one announced Service, as MetalLB's speaker writes it. The status subresource is
 * enabled on this CRD, so the API server ignores `status` on create: create, then update `/status`.
 */
export function buildServiceL2Status(options: ServiceL2StatusOptions): ServiceL2StatusObject {
  const status = {
    node: options.nodeName,
    serviceName: options.serviceName,
    serviceNamespace: options.serviceNamespace,
    ...(options.interfaces === "all" ? {} : { interfaces: options.interfaces.map((name) => ({ name })) }),
  };
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceL2Status",
    metadata: {
      generateName: "l2-",
      namespace: options.namespace,
      labels: {
        [L2_STATUS_LABELS.node]: options.nodeName,
        [L2_STATUS_LABELS.serviceName]: options.serviceName,
        [L2_STATUS_LABELS.serviceNamespace]: options.serviceNamespace,
      },
    },
    spec: {},
    status,
  };
}

/** The Event MetalLB's speaker records on a Service it starts announcing (speaker/main.go `handleService`). */
export function nodeAssignedEvent(nodeName: string): { type: "Normal"; reason: "nodeAssigned"; message: string } {
  return {
    type: "Normal",
    reason: "nodeAssigned",
    message: `announcing from node "${nodeName}" with protocol "layer2"`,
  };
}

/** The Warning Event for a Service left pending because a candidate address is used by another host. */
export function addressConflictEvent(
  ip: string,
  mac: string,
): { type: "Warning"; reason: "AddressConflict"; message: string } {
  return {
    type: "Warning",
    reason: "AddressConflict",
    message: `Address ${ip} is in use by another host on the LAN (MAC ${mac}); skipped, and probed again later`,
  };
}
