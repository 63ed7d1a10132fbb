/**
 * The little validation and defaulting a real API server applies to the objects metallite touches: name formats,
 * label syntax, and Service defaults (type, ClusterIP, NodePorts, protocols, policies) so that clients see what a
 * cluster would send them.
 * @module
 */
import type { ResourceInfo } from "./_resources.ts";
import { badRequest, invalid } from "./_status.ts";
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

/** Validates the object: 422 Invalid with the causes a real server would name; 400 for undecodable field types. */
export function validateObject(info: ResourceInfo, obj: Obj, name: string, statusWrite = false, old?: Obj): void {
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
  if (info.plural === "services") {
    validateService(obj, causes, old);
    // Status is only validated where it can change: writes to /status (create and main writes ignore it).
    if (statusWrite) validateServiceStatus(obj, causes);
  }
  if (info.plural === "leases") decodeLease(obj);
  if (info.plural === "events") {
    decodeMicroTime(info.kind, obj.eventTime, "eventTime");
    const involved = obj.involvedObject;
    const ns = isObject(involved) ? involved.namespace : undefined;
    if (typeof ns === "string" && ns !== "" && obj.metadata.namespace !== undefined && ns !== obj.metadata.namespace) {
      causes.push({
        field: "involvedObject.namespace",
        message: `Invalid value: "${ns}": does not match event.namespace`,
      });
    }
  }
  if (causes.length > 0) throw invalid(info.kind, info.group, name, causes);
}

// metav1.MicroTime is parsed with Go's layout "2006-01-02T15:04:05.000000Z07:00": exactly six fractional digits.
// JavaScript's toISOString() (three digits) is rejected by a real server, so it is here too.
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

function decodeMicroTime(kind: string, value: Json | undefined, field: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "string" || !MICRO_TIME.test(value)) {
    throw badRequest(
      `${kind} in version "v1" cannot be handled as a ${kind}: ${field}: parsing time ${JSON.stringify(value)} as ` +
        `"2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC 3339 with microseconds`,
    );
  }
}

function decodeInt32(kind: string, value: Json | undefined, field: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
    throw badRequest(
      `${kind} in version "v1" cannot be handled as a ${kind}: json: cannot unmarshal ${typeof value} into Go struct ` +
        `field ${field} of type int32`,
    );
  }
}

/** Decoding a Lease: the types Go's JSON decoder insists on (a wrong type is a 400, not a 422). */
function decodeLease(obj: Obj): void {
  const spec = obj.spec;
  if (spec === undefined || spec === null) return;
  if (!isObject(spec)) throw badRequest('Lease in version "v1" cannot be handled as a Lease: spec must be an object');
  if (spec.holderIdentity !== undefined && spec.holderIdentity !== null && typeof spec.holderIdentity !== "string") {
    throw badRequest('Lease in version "v1" cannot be handled as a Lease: spec.holderIdentity must be a string');
  }
  decodeInt32("Lease", spec.leaseDurationSeconds, "LeaseSpec.spec.leaseDurationSeconds");
  decodeInt32("Lease", spec.leaseTransitions, "LeaseSpec.spec.leaseTransitions");
  decodeMicroTime("Lease", spec.acquireTime, "spec.acquireTime");
  decodeMicroTime("Lease", spec.renewTime, "spec.renewTime");
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIp(text: string): boolean {
  if (IPV4.test(text)) return true;
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return false;
  try {
    return new URL(`http://[${text}]/`).hostname !== "";
  } catch {
    return false;
  }
}

const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** Service status as ValidateLoadBalancerStatus and ValidateConditions check it. */
function validateServiceStatus(obj: Obj, causes: { field: string; message: string; reason?: string }[]): void {
  const status = obj.status;
  if (!isObject(status)) return;
  const lb = status.loadBalancer;
  if (isObject(lb) && lb.ingress !== undefined && lb.ingress !== null) {
    if (!Array.isArray(lb.ingress)) {
      causes.push({ field: "status.loadBalancer.ingress", message: "Invalid value: must be a list" });
    } else {
      const type = isObject(obj.spec) ? obj.spec.type : undefined;
      if (lb.ingress.length > 0 && type !== "LoadBalancer") {
        causes.push({
          field: "status.loadBalancer.ingress",
          message: "Forbidden: may only be used when `spec.type` is 'LoadBalancer'",
        });
      }
      lb.ingress.forEach((ing, i) => {
        const at = `status.loadBalancer.ingress[${i}]`;
        if (!isObject(ing)) {
          causes.push({ field: at, message: "Invalid value: must be an object" });
          return;
        }
        if (ing.ip !== undefined && (typeof ing.ip !== "string" || !isIp(ing.ip))) {
          causes.push({ field: `${at}.ip`, message: `Invalid value: "${String(ing.ip)}": must be a valid IP address` });
        }
        if (ing.ipMode !== undefined) {
          if (ing.ip === undefined) {
            causes.push({ field: `${at}.ipMode`, message: "Forbidden: may not be specified when `ip` is not" });
          } else if (ing.ipMode !== "VIP" && ing.ipMode !== "Proxy") {
            causes.push({
              field: `${at}.ipMode`,
              message: `Unsupported value: "${String(ing.ipMode)}": supported values: "Proxy", "VIP"`,
              reason: "FieldValueNotSupported",
            });
          }
        }
      });
    }
  }
  const conditions = status.conditions;
  if (Array.isArray(conditions)) {
    const seen = new Set<string>();
    conditions.forEach((c, i) => {
      const at = `status.conditions[${i}]`;
      if (!isObject(c)) return;
      if (typeof c.type !== "string" || c.type === "") {
        causes.push({ field: `${at}.type`, message: "Required value", reason: "FieldValueRequired" });
      } else if (seen.has(c.type)) {
        causes.push({ field: `${at}.type`, message: `Duplicate value: "${c.type}"`, reason: "FieldValueDuplicate" });
      } else seen.add(c.type);
      if (c.status !== "True" && c.status !== "False" && c.status !== "Unknown") {
        causes.push({
          field: `${at}.status`,
          message: `Unsupported value: "${String(c.status)}": supported values: "False", "True", "Unknown"`,
          reason: "FieldValueNotSupported",
        });
      }
      if (typeof c.reason !== "string" || c.reason === "") {
        causes.push({ field: `${at}.reason`, message: "Required value", reason: "FieldValueRequired" });
      } else if (!CONDITION_REASON.test(c.reason) || c.reason.length > 1024) {
        causes.push({
          field: `${at}.reason`,
          message:
            `Invalid value: "${c.reason}": a condition reason must start with alphabetic character, optionally followed by a string of alphanumeric characters or '_,:', and must end with an alphanumeric character or '_'`,
        });
      }
      if (typeof c.lastTransitionTime !== "string" || Number.isNaN(Date.parse(c.lastTransitionTime))) {
        causes.push({
          field: `${at}.lastTransitionTime`,
          message: "Required value: must be set",
          reason: "FieldValueRequired",
        });
      }
      if (typeof c.message === "string" && c.message.length > 32768) {
        causes.push({
          field: `${at}.message`,
          message: "Too long: may not be more than 32768 bytes",
          reason: "FieldValueTooLong",
        });
      }
    });
  }
}

function validateService(
  obj: Obj,
  causes: { field: string; message: string; reason?: string }[],
  old: Obj | undefined,
): void {
  const spec = obj.spec;
  if (spec === undefined) return;
  if (!isObject(spec)) {
    causes.push({ field: "spec", message: "Invalid value: must be an object" });
    return;
  }
  const type = spec.type ?? "ClusterIP";
  const oldSpec = old && isObject(old.spec) ? old.spec : undefined;
  // validateLoadBalancerClassField: only for type LoadBalancer, a qualified name, and immutable once set.
  const lbClass = spec.loadBalancerClass;
  if (lbClass !== undefined && lbClass !== null) {
    if (type !== "LoadBalancer") {
      causes.push({
        field: "spec.loadBalancerClass",
        message: "Forbidden: may only be used when `type` is 'LoadBalancer'",
        reason: "FieldValueForbidden",
      });
    } else if (typeof lbClass !== "string" || !LABEL_KEY.test(lbClass)) {
      causes.push({
        field: "spec.loadBalancerClass",
        message: `Invalid value: "${String(lbClass)}": must be a qualified name`,
      });
    }
  }
  if (
    oldSpec?.type === "LoadBalancer" && type === "LoadBalancer" &&
    (oldSpec.loadBalancerClass ?? null) !== (lbClass ?? null)
  ) {
    causes.push({
      field: "spec.loadBalancerClass",
      message: `Invalid value: ${JSON.stringify(lbClass ?? "null")}: may not change once set`,
    });
  }
  if (
    oldSpec && type !== "ExternalName" && oldSpec.type !== "ExternalName" && typeof oldSpec.clusterIP === "string" &&
    spec.clusterIP !== oldSpec.clusterIP
  ) {
    causes.push({
      field: "spec.clusterIPs[0]",
      message: `Invalid value: ${JSON.stringify(spec.clusterIP)}: may not change once set`,
    });
  }
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
    // stringData is write-only: the server folds it into data (base64) and never stores it.
    if (isObject(obj.stringData)) {
      const data: Record<string, Json> = isObject(obj.data) ? { ...obj.data } : {};
      for (const [k, v] of Object.entries(obj.stringData)) {
        data[k] = btoa(String.fromCharCode(...new TextEncoder().encode(String(v))));
      }
      obj.data = data;
    }
    delete obj.stringData;
  }
}

/**
 * Defaults applied to a status write: a Service's ingress entries with an IP get `ipMode: VIP` (LoadBalancerIPMode,
 * GA in Kubernetes 1.32), so a client comparing what it wrote with what it reads must expect the field.
 */
export function defaultStatus(info: ResourceInfo, obj: Obj): void {
  if (info.plural !== "services" || !isObject(obj.status)) return;
  const lb = obj.status.loadBalancer;
  if (!isObject(lb) || !Array.isArray(lb.ingress)) return;
  const ingress = lb.ingress.map((ing) =>
    isObject(ing) && typeof ing.ip === "string" && ing.ip !== "" && ing.ipMode === undefined
      ? { ...ing, ipMode: "VIP" }
      : ing
  );
  obj.status = { ...obj.status, loadBalancer: { ...lb, ingress } };
}

/**
 * What kube-apiserver's service strategy clears when a Service changes type (dropTypeDependentFields): NodePorts,
 * allocateLoadBalancerNodePorts, loadBalancerClass and externalTrafficPolicy when no longer meaningful and not
 * changed by the user, and status.loadBalancer whenever the type is not LoadBalancer.
 */
function dropTypeDependentFields(obj: Obj, spec: Record<string, Json>, oldSpec: Record<string, Json>): void {
  const type = spec.type;
  const nodePorts = (s: Record<string, Json>) =>
    new Set((Array.isArray(s.ports) ? s.ports : []).map((p) => isObject(p) ? p.nodePort : undefined).filter((n) => n));
  const needsNodePort = (t: Json | undefined) => t === "NodePort" || t === "LoadBalancer";
  if (needsNodePort(oldSpec.type) && !needsNodePort(type)) {
    const before = nodePorts(oldSpec);
    if ([...nodePorts(spec)].every((n) => before.has(n)) && Array.isArray(spec.ports)) {
      spec.ports = spec.ports.map((p) => {
        if (!isObject(p)) return p;
        const { nodePort: _drop, ...rest } = p;
        return rest;
      });
    }
  }
  if (oldSpec.type === "LoadBalancer" && type !== "LoadBalancer") {
    if (spec.allocateLoadBalancerNodePorts === oldSpec.allocateLoadBalancerNodePorts) {
      delete spec.allocateLoadBalancerNodePorts;
    }
    if (spec.loadBalancerClass === oldSpec.loadBalancerClass) delete spec.loadBalancerClass;
    if (spec.healthCheckNodePort === oldSpec.healthCheckNodePort) delete spec.healthCheckNodePort;
  }
  if (
    needsNodePort(oldSpec.type) && !needsNodePort(type) && spec.externalTrafficPolicy === oldSpec.externalTrafficPolicy
  ) {
    delete spec.externalTrafficPolicy;
  }
  if (type !== "LoadBalancer" && isObject(obj.status)) obj.status = { ...obj.status, loadBalancer: {} };
}

function defaultService(obj: Obj, allocator: Allocator, old?: Obj): void {
  const spec: Record<string, Json> = isObject(obj.spec) ? obj.spec : {};
  obj.spec = spec;
  const oldSpec = old && isObject(old.spec) ? old.spec : undefined;
  if (spec.type === undefined) spec.type = "ClusterIP";
  const type = spec.type;
  if (oldSpec) dropTypeDependentFields(obj, spec, oldSpec);
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
