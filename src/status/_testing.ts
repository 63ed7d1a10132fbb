/**
 * Builders of raw cluster objects for the status tests (unit tests here, integration tests in tests/status), shaped
 * as the API server serves them. Addresses are documentation ranges only.
 * @module
 */
import { microTime } from "../k8s/lease.ts";
import { nodeLeaseName } from "../l2/peers.ts";
import { NODE_CONFIG_ANNOTATION, type NodeConfig } from "./node_config.ts";
import type { ClusterSnapshot } from "./snapshot.ts";

/** The namespace of the fixtures. */
export const NS = "metallb-system";
/** A fixed "now" for snapshots, 2025-01-01T00:00:00Z. */
export const NOW = Date.UTC(2025, 0, 1);

type Json = Record<string, unknown>;

/** A Service of type LoadBalancer. */
export function service(name: string, options: {
  namespace?: string;
  ips?: string[];
  local?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  conditions?: Json[];
  lbClass?: string;
  created?: string;
} = {}): Json {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? "default",
      creationTimestamp: options.created ?? "2024-12-01T00:00:00Z",
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {
      type: "LoadBalancer",
      selector: { app: name },
      ports: [{ port: 80, protocol: "TCP" }],
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      externalTrafficPolicy: options.local ? "Local" : "Cluster",
      ...(options.lbClass ? { loadBalancerClass: options.lbClass } : {}),
    },
    status: {
      loadBalancer: options.ips ? { ingress: options.ips.map((ip) => ({ ip })) } : {},
      ...(options.conditions ? { conditions: options.conditions } : {}),
    },
  };
}

/** A Node with an InternalIP. */
export function node(name: string, labels: Record<string, string> = {}, conditions: Json[] = []): Json {
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name, ...labels } },
    status: { addresses: [{ type: "InternalIP", address: "192.0.2.1" }], conditions },
  };
}

/** An EndpointSlice of a Service with one ready endpoint on each node given. */
export function slice(serviceName: string, nodes: string[], namespace = "default"): Json {
  return {
    metadata: { name: `${serviceName}-abc`, namespace, labels: { "kubernetes.io/service-name": serviceName } },
    addressType: "IPv4",
    endpoints: nodes.map((n, i) => ({ addresses: [`10.244.${i}.5`], conditions: { ready: true }, nodeName: n })),
  };
}

/** A node Lease renewed `agoMs` before {@link NOW}, optionally carrying a published flag configuration. */
export function nodeLease(nodeName: string, agoMs: number, config?: Partial<NodeConfig>, now = NOW): Json {
  const annotations = config === undefined ? undefined : {
    [NODE_CONFIG_ANNOTATION]: JSON.stringify({
      v: 1,
      version: "0.1.0",
      pools: [],
      interfaces: [],
      bgpPeers: [],
      configFiles: [],
      ...config,
    }),
  };
  return {
    metadata: {
      name: nodeLeaseName(nodeName),
      namespace: NS,
      labels: { "app.kubernetes.io/name": "metallite", "metallite.io/lease": "node" },
      ...(annotations ? { annotations } : {}),
    },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: 30, renewTime: microTime(now - agoMs) },
  };
}

/** The allocator Lease held by `holder`, renewed `agoMs` before {@link NOW}. */
export function allocatorLease(holder: string, agoMs = 1000, now = NOW): Json {
  return {
    metadata: { name: "metallite-allocator", namespace: NS },
    spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: microTime(now - agoMs) },
  };
}

/** An IPAddressPool. */
export function ipPool(name: string, addresses: string[], spec: Json = {}): Json {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: NS },
    spec: { addresses, ...spec },
  };
}

/** An L2Advertisement. */
export function l2Adv(name: string, pools: string[], spec: Json = {}): Json {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "L2Advertisement",
    metadata: { name, namespace: NS },
    spec: { ipAddressPools: pools, ...spec },
  };
}

/** A BGPAdvertisement. */
export function bgpAdv(name: string, pools: string[], spec: Json = {}): Json {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "BGPAdvertisement",
    metadata: { name, namespace: NS },
    spec: { ipAddressPools: pools, ...spec },
  };
}

/** A BGPPeer (v1beta2). */
export function bgpPeer(name: string, address: string, spec: Json = {}): Json {
  return {
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name, namespace: NS },
    spec: { myASN: 64500, peerASN: 64501, peerAddress: address, ...spec },
  };
}

/** A ServiceL2Status as MetalLB writes it. */
export function l2Status(nodeName: string, serviceName: string, serviceNamespace = "default"): Json {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceL2Status",
    metadata: {
      name: `l2-${nodeName}-${serviceName}`,
      namespace: NS,
      labels: {
        "metallb.io/node": nodeName,
        "metallb.io/service-name": serviceName,
        "metallb.io/service-namespace": serviceNamespace,
      },
    },
    spec: {},
    status: { node: nodeName, serviceName, serviceNamespace },
  };
}

/** A ServiceBGPStatus as MetalLB writes it. */
export function bgpStatus(nodeName: string, serviceName: string, peers: string[], serviceNamespace = "default"): Json {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: { name: `bgp-${nodeName}-${serviceName}`, namespace: NS },
    spec: {},
    status: { node: nodeName, serviceName, serviceNamespace, peers },
  };
}

/** A snapshot with nothing in it but what `parts` gives. */
export function snapshot(parts: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    now: NOW,
    namespace: NS,
    services: [],
    nodes: [],
    endpointSlices: [],
    leases: [],
    namespaces: [],
    events: [],
    crdsInstalled: true,
    metallbConfig: [],
    serviceL2Statuses: [],
    serviceBgpStatuses: [],
    configurationStates: [],
    ...parts,
  };
}
