/**
 * The little validation and defaulting a real API server applies to the objects metallite touches: name formats,
 * label syntax, and Service defaults (type, ClusterIP, NodePorts, protocols, policies) so that clients see what a
 * cluster would send them.
 * @module
 */
import type { ResourceInfo } from "./_resources.ts";
import { invalid } from "./_status.ts";
import type { Json } from "./_patch.ts";

type Obj = Record<string, Json> & { metadata: Record<string, Json> };

/** What defaulting needs from the store. */
export interface Allocator {
  nextClusterIp(): string;
  nextNodePort(): number;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

function isObject(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Validates the object: 422 Invalid with the causes a real server would name. */
export function validateObject(info: ResourceInfo, obj: Obj, name: string): void {
  const causes: { field: string; message: string; reason?: string }[] = [];
  if (name === "") {
    causes.push({
      field: "metadata.name",
      message: "Required value: name or generateName is required",
      reason: "FieldValueRequired",
    });
  } else if (info.nameFormat === "label" && (!DNS1123_LABEL.test(name) || name.length > 63)) {
    causes.push({
      field: "metadata.name",
      message:
        `Invalid value: "${name}": a DNS-1035 label must consist of lower case alphanumeric characters or '-', ` +
        "start with an alphabetic character, and end with an alphanumeric character",
    });
  } else if (info.nameFormat === "subdomain" && (!DNS1123_SUBDOMAIN.test(name) || name.length > 253)) {
    causes.push({
      field: "metadata.name",
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric ` +
        "characters, '-' or '.', and must start and end with an alphanumeric character",
    });
  }
  const labels = obj.metadata.labels;
  if (labels !== undefined && labels !== null) {
    if (!isObject(labels)) causes.push({ field: "metadata.labels", message: "Invalid value: must be a map" });
    else {
      for (const [k, v] of Object.entries(labels)) {
        if (!LABEL_KEY.test(k)) {
          causes.push({
            field: "metadata.labels",
            message: `Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.'`,
          });
        }
        if (typeof v !== "string" || !LABEL_VALUE.test(v) || v.length > 63) {
          causes.push({
            field: "metadata.labels",
            message: `Invalid value: "${
              String(v)
            }": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`,
          });
        }
      }
    }
  }
  const annotations = obj.metadata.annotations;
  if (annotations !== undefined && annotations !== null) {
    if (!isObject(annotations) || Object.values(annotations).some((v) => typeof v !== "string")) {
      causes.push({ field: "metadata.annotations", message: "Invalid value: annotations must be a map of strings" });
    }
  }
  if (info.plural === "services") validateService(obj, causes);
  if (causes.length > 0) throw invalid(info.kind, info.group, name, causes);
}

function validateService(obj: Obj, causes: { field: string; message: string; reason?: string }[]): void {
  const spec = obj.spec;
  if (spec === undefined) return;
  if (!isObject(spec)) {
    causes.push({ field: "spec", message: "Invalid value: must be an object" });
    return;
  }
  const type = spec.type ?? "ClusterIP";
  if (typeof type !== "string" || !SERVICE_TYPES.includes(type)) {
    causes.push({
      field: "spec.type",
      message: `Unsupported value: "${String(type)}": supported values: "${SERVICE_TYPES.join('", "')}"`,
      reason: "FieldValueNotSupported",
    });
  }
  const ports = spec.ports;
  if (ports !== undefined && !Array.isArray(ports)) {
    causes.push({ field: "spec.ports", message: "Invalid value: must be a list" });
  }
  if (Array.isArray(ports)) {
    ports.forEach((p, i) => {
      if (!isObject(p) || typeof p.port !== "number" || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        causes.push({
          field: `spec.ports[${i}].port`,
          message: "Invalid value: must be between 1 and 65535, inclusive",
        });
      }
    });
  }
  if ((type === "LoadBalancer" || type === "NodePort") && (!Array.isArray(ports) || ports.length === 0)) {
    causes.push({ field: "spec.ports", message: "Required value", reason: "FieldValueRequired" });
  }
}

/** Fills in defaults; on update `old` supplies what was allocated before (ClusterIP, NodePorts). */
export function defaultObject(info: ResourceInfo, obj: Obj, allocator: Allocator, old?: Obj): void {
  if (info.plural === "services") defaultService(obj, allocator, old);
  else if (info.plural === "namespaces") {
    if (!isObject(obj.spec)) obj.spec = { finalizers: ["kubernetes"] };
    if (!old) obj.status = { phase: "Active" };
    const labels = isObject(obj.metadata.labels) ? obj.metadata.labels : {};
    obj.metadata.labels = { ...labels, "kubernetes.io/metadata.name": String(obj.metadata.name) };
  } else if (info.plural === "secrets") {
    if (obj.type === undefined) obj.type = "Opaque";
  }
}

function defaultService(obj: Obj, allocator: Allocator, old?: Obj): void {
  const spec: Record<string, Json> = isObject(obj.spec) ? obj.spec : {};
  obj.spec = spec;
  const oldSpec = old && isObject(old.spec) ? old.spec : undefined;
  if (spec.type === undefined) spec.type = "ClusterIP";
  const type = spec.type;
  if (spec.sessionAffinity === undefined) spec.sessionAffinity = "None";
  if (type !== "ExternalName") {
    if (spec.clusterIP === undefined || spec.clusterIP === "") {
      spec.clusterIP = typeof oldSpec?.clusterIP === "string" ? oldSpec.clusterIP : allocator.nextClusterIp();
    }
    if (!Array.isArray(spec.clusterIPs)) spec.clusterIPs = [spec.clusterIP];
    if (spec.ipFamilies === undefined) spec.ipFamilies = ["IPv4"];
    if (spec.ipFamilyPolicy === undefined) spec.ipFamilyPolicy = "SingleStack";
    if (spec.internalTrafficPolicy === undefined) spec.internalTrafficPolicy = "Cluster";
  }
  const oldPorts = Array.isArray(oldSpec?.ports) ? oldSpec.ports : [];
  if (Array.isArray(spec.ports)) {
    spec.ports = spec.ports.map((p) => {
      if (!isObject(p)) return p;
      const port: Record<string, Json> = { ...p };
      if (port.protocol === undefined) port.protocol = "TCP";
      if (port.targetPort === undefined) port.targetPort = port.port ?? null;
      if ((type === "NodePort" || type === "LoadBalancer") && port.nodePort === undefined) {
        const before = oldPorts.find((o) => isObject(o) && o.port === port.port && o.protocol === port.protocol);
        const allocate = type === "NodePort" || spec.allocateLoadBalancerNodePorts !== false;
        if (isObject(before) && typeof before.nodePort === "number") port.nodePort = before.nodePort;
        else if (allocate) port.nodePort = allocator.nextNodePort();
      }
      return port;
    });
  }
  if (type === "NodePort" || type === "LoadBalancer") {
    if (spec.externalTrafficPolicy === undefined) spec.externalTrafficPolicy = "Cluster";
  }
  if (type === "LoadBalancer" && spec.allocateLoadBalancerNodePorts === undefined) {
    spec.allocateLoadBalancerNodePorts = true;
  }
  if (!old && !isObject(obj.status)) obj.status = { loadBalancer: {} };
}
