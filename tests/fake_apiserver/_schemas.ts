/**
 * The shallow shape of each resource: known top-level fields, and the known fields of `spec` and `status` with their
 * JSON types and which are required. Enough to behave like a real server at the first two levels: unknown fields are
 * dropped with a warning (fieldValidation Warn, the default) or rejected (Strict, what kubectl sends); wrong types and
 * missing required fields of MetalLB's CRDs are 422 Invalid, as their OpenAPI schemas make them.
 * Field lists from the Kubernetes 1.32 API reference and MetalLB's CRDs (metallb.io v1beta1, bgppeers v1beta2).
 * @module
 */
import type { Json } from "./_patch.ts";

type FieldType = "string" | "integer" | "boolean" | "array" | "object" | "any";

/** The shape of one resource. */
interface Shape {
  top: string[];
  spec?: Record<string, FieldType>;
  specRequired?: string[];
  status?: Record<string, FieldType>;
  statusRequired?: string[];
  topRequired?: string[];
}

const META = ["apiVersion", "kind", "metadata"];
const METADATA = new Set([
  "annotations",
  "creationTimestamp",
  "deletionGracePeriodSeconds",
  "deletionTimestamp",
  "finalizers",
  "generateName",
  "generation",
  "labels",
  "managedFields",
  "name",
  "namespace",
  "ownerReferences",
  "resourceVersion",
  "selfLink",
  "uid",
]);

function fields(type: FieldType, names: string): Record<string, FieldType> {
  return Object.fromEntries(names.split(/\s+/).filter((n) => n !== "").map((n) => [n, type]));
}

const SELECTORS = fields("array", "nodeSelectors serviceSelectors ipAddressPoolSelectors");

/** Shapes by store name; resources not listed are not checked. */
const SHAPES: Record<string, Shape> = {
  services: {
    top: [...META, "spec", "status"],
    spec: {
      ...fields(
        "string",
        "clusterIP externalName externalTrafficPolicy internalTrafficPolicy ipFamilyPolicy loadBalancerClass " +
          "loadBalancerIP sessionAffinity trafficDistribution type",
      ),
      ...fields("array", "clusterIPs externalIPs ipFamilies loadBalancerSourceRanges ports"),
      ...fields("boolean", "allocateLoadBalancerNodePorts publishNotReadyAddresses"),
      ...fields("object", "selector sessionAffinityConfig"),
      healthCheckNodePort: "integer",
    },
    status: { loadBalancer: "object", conditions: "array" },
  },
  leases: {
    top: [...META, "spec"],
    spec: {
      ...fields("string", "acquireTime holderIdentity preferredHolder renewTime strategy"),
      ...fields("integer", "leaseDurationSeconds leaseTransitions"),
    },
  },
  events: {
    top: [
      ...META,
      ..."action count eventTime firstTimestamp involvedObject lastTimestamp message reason related reportingComponent"
        .split(" "),
      ..."reportingInstance series source type".split(" "),
    ],
  },
  secrets: { top: [...META, "data", "immutable", "stringData", "type"] },
  configmaps: { top: [...META, "binaryData", "data", "immutable"] },
  nodes: { top: [...META, "spec", "status"] },
  namespaces: { top: [...META, "spec", "status"] },
  endpointslices: { top: [...META, "addressType", "endpoints", "ports"] },
  ipaddresspools: {
    top: [...META, "spec", "status"],
    topRequired: ["spec"],
    spec: { addresses: "array", autoAssign: "boolean", avoidBuggyIPs: "boolean", serviceAllocation: "object" },
    specRequired: ["addresses"],
    status: fields("integer", "assignedIPv4 assignedIPv6 availableIPv4 availableIPv6"),
    statusRequired: ["assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"],
  },
  l2advertisements: {
    top: [...META, "spec", "status"],
    spec: { ...fields("array", "interfaces ipAddressPools preferredNodeSelectors"), ...SELECTORS },
    status: {},
  },
  bgpadvertisements: {
    top: [...META, "spec", "status"],
    spec: {
      ...fields("integer", "aggregationLength aggregationLengthV6 localPref"),
      ...fields("array", "communities ipAddressPools peers"),
      ...SELECTORS,
    },
    status: {},
  },
  communities: { top: [...META, "spec", "status"], spec: { communities: "array" }, status: {} },
  bfdprofiles: {
    top: [...META, "spec", "status"],
    spec: {
      ...fields("integer", "detectMultiplier echoInterval minimumTtl receiveInterval transmitInterval"),
      ...fields("boolean", "echoMode passiveMode"),
    },
    status: {},
  },
  bgppeers: {
    top: [...META, "spec", "status"],
    spec: {
      ...fields(
        "string",
        "bfdProfile connectTime dynamicASN holdTime interface keepaliveTime password peerAddress routerID " +
          "sourceAddress vrf",
      ),
      ...fields("integer", "localASN myASN peerASN peerPort"),
      ...fields("boolean", "disableMP dualStackAddressFamily ebgpMultiHop enableGracefulRestart"),
      nodeSelectors: "array",
      passwordSecret: "object",
    },
    specRequired: ["myASN"],
    status: {},
  },
  servicel2statuses: {
    top: [...META, "spec", "status"],
    spec: {},
    status: { ...fields("string", "node serviceName serviceNamespace"), interfaces: "array" },
  },
  servicebgpstatuses: {
    top: [...META, "spec", "status"],
    spec: {},
    status: { ...fields("string", "node serviceName serviceNamespace"), peers: "array" },
  },
  configurationstates: {
    top: [...META, "status"],
    status: { conditions: "array", errorSummary: "string", result: "string" },
  },
};

/** What checking found: unknown fields (already dropped from the object) and invalid ones. */
export interface ShapeReport {
  unknown: string[];
  invalid: { field: string; message: string; reason?: string }[];
}

function typeOf(v: Json): FieldType {
  if (Array.isArray(v)) return "array";
  if (v === null) return "any";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "any";
  if (typeof v === "object") return "object";
  return typeof v as FieldType;
}

function isObject(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function checkSection(
  obj: Record<string, Json>,
  section: "spec" | "status",
  known: Record<string, FieldType> | undefined,
  required: string[] | undefined,
  strictTypes: boolean,
  report: ShapeReport,
): void {
  const value = obj[section];
  if (value === undefined || value === null || known === undefined) return;
  if (!isObject(value)) {
    report.invalid.push({
      field: section,
      message: `Invalid value: "${typeOf(value)}": ${section} in body must be of type object`,
    });
    return;
  }
  const kept: Record<string, Json> = {};
  for (const [k, v] of Object.entries(value)) {
    const want = known[k];
    if (want === undefined) {
      report.unknown.push(`${section}.${k}`);
      continue;
    }
    if (strictTypes && want !== "any" && v !== null && typeOf(v) !== want) {
      report.invalid.push({
        field: `${section}.${k}`,
        message: `Invalid value: "${typeOf(v)}": ${section}.${k} in body must be of type ${want}: "${typeOf(v)}"`,
      });
    }
    kept[k] = v;
  }
  for (const r of required ?? []) {
    if (kept[r] === undefined) {
      report.invalid.push({ field: `${section}.${r}`, message: "Required value", reason: "FieldValueRequired" });
    }
  }
  obj[section] = kept;
}

/**
 * Drops unknown fields (top level, metadata, spec, status) from `obj` and reports them; for CRDs also reports wrong
 * types and missing required fields (their OpenAPI schema); `sections` limits the check to what the write changes.
 */
export function checkShape(
  resource: string,
  obj: Record<string, Json>,
  options: { custom: boolean; sections: "all" | "status" },
): ShapeReport {
  const report: ShapeReport = { unknown: [], invalid: [] };
  const shape = SHAPES[resource];
  if (!shape) return report;
  if (options.sections === "all") {
    for (const k of Object.keys(obj)) {
      if (!shape.top.includes(k)) {
        report.unknown.push(k);
        delete obj[k];
      }
    }
    const meta = obj.metadata;
    if (isObject(meta)) {
      for (const k of Object.keys(meta)) {
        if (!METADATA.has(k)) {
          report.unknown.push(`metadata.${k}`);
          delete meta[k];
        }
      }
    }
    for (const r of shape.topRequired ?? []) {
      if (obj[r] === undefined) {
        report.invalid.push({ field: r, message: "Required value", reason: "FieldValueRequired" });
      }
    }
    checkSection(obj, "spec", shape.spec, shape.specRequired, options.custom, report);
  }
  checkSection(obj, "status", shape.status, shape.statusRequired, options.custom, report);
  return report;
}
