/**
 * Builders shared by the allocator's tests: pools through the real config path, Services as the API serves them.
 * @module
 */
import { buildModel } from "../config/build.ts";
import type { Model } from "../config/model.ts";
import type { ServiceLike, ServiceOutcome } from "./types.ts";

/** The MetalLB namespace the test pools live in. */
export const NS = "metallb-system";

/** Builds pools through the real config path, so tests also prove the model the allocator gets. */
export function poolsOf(specs: Record<string, { addresses: string[]; [k: string]: unknown }>): Model {
  const cluster = Object.entries(specs).map(([name, { labels, ...spec }]) => ({
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: NS, ...(labels ? { labels } : {}) },
    spec,
  }));
  const model = buildModel({ namespace: NS, cluster });
  if (model.rejected.length) throw new Error(`test pools rejected: ${JSON.stringify(model.rejected)}`);
  return model;
}

/** Options of a test Service. */
export interface SvcOptions {
  ns?: string;
  t?: number; // creation order (seconds)
  status?: string[];
  family?: "4" | "6" | "46" | "64";
  policy?: "SingleStack" | "PreferDualStack" | "RequireDualStack";
  lbIP?: string;
  ann?: Record<string, string>;
  labels?: Record<string, string>;
  ports?: (number | string)[];
  local?: Record<string, string>; // externalTrafficPolicy Local with this selector
  cls?: string;
  type?: string;
}

const CLUSTER_IPS = {
  "4": ["10.96.0.10"],
  "6": ["fd00::10"],
  "46": ["10.96.0.10", "fd00::10"],
  "64": ["fd00::10", "10.96.0.10"],
};
const FAMILIES = { "4": ["IPv4"], "6": ["IPv6"], "46": ["IPv4", "IPv6"], "64": ["IPv6", "IPv4"] };

/** A Service as the API serves it. */
export function svc(name: string, o: SvcOptions = {}): ServiceLike {
  const family = o.family ?? "4";
  return {
    metadata: {
      name,
      namespace: o.ns ?? "default",
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, o.t ?? 0)).toISOString(),
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.ann ? { annotations: o.ann } : {}),
    },
    spec: {
      type: o.type ?? "LoadBalancer",
      clusterIPs: CLUSTER_IPS[family],
      ipFamilies: FAMILIES[family],
      ipFamilyPolicy: o.policy ?? (family.length === 2 ? "RequireDualStack" : "SingleStack"),
      ports: (o.ports ?? [80]).map((p) =>
        typeof p === "number"
          ? { port: p, protocol: "TCP" }
          : { port: Number(p.split("/")[1]), protocol: p.split("/")[0]! }
      ),
      ...(o.lbIP ? { loadBalancerIP: o.lbIP } : {}),
      ...(o.local ? { externalTrafficPolicy: "Local", selector: o.local } : { externalTrafficPolicy: "Cluster" }),
      ...(o.cls ? { loadBalancerClass: o.cls } : {}),
    },
    ...(o.status ? { status: { loadBalancer: { ingress: o.status.map((ip) => ({ ip })) } } } : {}),
  };
}

/** Compact outcome: "ips@pool", "pending:Code" or "ignored:Code". */
export function short(o: ServiceOutcome): string {
  if (o.state === "assigned") return `${o.ips.join(",")}@${o.pool}`;
  return `${o.state}:${o.code}`;
}
