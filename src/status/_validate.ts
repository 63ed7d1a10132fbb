/**
 * Checks of raw objects from the API: each reader returns a typed object or a one-line reason to skip it, so a
 * malformed object is listed as a warning and never reaches the explanation.
 * @module
 */
import type { EndpointSlice, KubeEvent, Lease, Node, Service } from "../k8s/types.ts";

/** A typed object, or why it was skipped. */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly why: string };

/** True for a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isRecord(value) && Object.values(value).every((v) => typeof v === "string");
}

/** "namespace/name" (or the name alone) of a raw object, for warnings; "(unnamed)" when it has none. */
export function describeObject(kind: string, raw: unknown): string {
  const meta = isRecord(raw) && isRecord(raw.metadata) ? raw.metadata : {};
  const name = typeof meta.name === "string" && meta.name !== "" ? meta.name : "(unnamed)";
  const ns = typeof meta.namespace === "string" && meta.namespace !== "" ? `${meta.namespace}/` : "";
  return `${kind} ${ns}${name}`;
}

function fail<T>(why: string): Checked<T> {
  return { ok: false, why };
}

/** Checks metadata: a non-empty name, an optional namespace, labels and annotations that are maps of texts. */
function checkMeta(raw: unknown, namespaced: boolean): string | undefined {
  if (!isRecord(raw)) return "it is not an object";
  const meta = raw.metadata;
  if (!isRecord(meta)) return "metadata is missing";
  if (typeof meta.name !== "string" || meta.name === "") return "metadata.name is missing";
  if (namespaced && (typeof meta.namespace !== "string" || meta.namespace === "")) {
    return "metadata.namespace is missing";
  }
  if (meta.labels !== undefined && !isStringMap(meta.labels)) return "metadata.labels is not a map of texts";
  if (meta.annotations !== undefined && !isStringMap(meta.annotations)) {
    return "metadata.annotations is not a map of texts";
  }
  return undefined;
}

function optionalText(value: unknown): boolean {
  return value === undefined || typeof value === "string";
}

/** A Service whose fields the explanation reads have the right types. */
export function checkService(raw: unknown): Checked<Service> {
  const bad = checkMeta(raw, true);
  if (bad) return fail(bad);
  const svc = raw as Record<string, unknown>;
  if (svc.spec !== undefined && !isRecord(svc.spec)) return fail("spec is not an object");
  const spec = (svc.spec ?? {}) as Record<string, unknown>;
  for (const field of ["type", "externalTrafficPolicy", "loadBalancerClass", "loadBalancerIP"]) {
    if (!optionalText(spec[field])) return fail(`spec.${field} is not a text`);
  }
  if (spec.selector !== undefined && !isStringMap(spec.selector)) return fail("spec.selector is not a map of texts");
  if (svc.status !== undefined && !isRecord(svc.status)) return fail("status is not an object");
  const status = (svc.status ?? {}) as Record<string, unknown>;
  if (status.loadBalancer !== undefined && !isRecord(status.loadBalancer)) {
    return fail("status.loadBalancer is not an object");
  }
  const ingress = (status.loadBalancer as Record<string, unknown> | undefined)?.ingress;
  if (ingress !== undefined) {
    if (!Array.isArray(ingress) || !ingress.every((e) => isRecord(e) && optionalText(e.ip))) {
      return fail("status.loadBalancer.ingress is not a list of {ip}");
    }
  }
  if (status.conditions !== undefined && !Array.isArray(status.conditions)) {
    return fail("status.conditions is not a list");
  }
  return { ok: true, value: raw as Service };
}

/** A Node with a name, text labels and a list of conditions. */
export function checkNode(raw: unknown): Checked<Node> {
  const bad = checkMeta(raw, false);
  if (bad) return fail(bad);
  const status = (raw as Record<string, unknown>).status;
  if (status !== undefined && !isRecord(status)) return fail("status is not an object");
  if (isRecord(status) && status.conditions !== undefined && !Array.isArray(status.conditions)) {
    return fail("status.conditions is not a list");
  }
  return { ok: true, value: raw as Node };
}

/** An EndpointSlice with a list of endpoint objects. */
export function checkEndpointSlice(raw: unknown): Checked<EndpointSlice> {
  const bad = checkMeta(raw, true);
  if (bad) return fail(bad);
  const endpoints = (raw as Record<string, unknown>).endpoints;
  if (endpoints !== undefined && (!Array.isArray(endpoints) || !endpoints.every(isRecord))) {
    return fail("endpoints is not a list of objects");
  }
  return { ok: true, value: raw as EndpointSlice };
}

/** A Lease with a spec object whose holder and times are texts. */
export function checkLease(raw: unknown): Checked<Lease> {
  const bad = checkMeta(raw, false);
  if (bad) return fail(bad);
  const spec = (raw as Record<string, unknown>).spec;
  if (spec !== undefined && !isRecord(spec)) return fail("spec is not an object");
  const s = (spec ?? {}) as Record<string, unknown>;
  if (!optionalText(s.holderIdentity) || !optionalText(s.renewTime)) {
    return fail("spec.holderIdentity or spec.renewTime is not a text");
  }
  if (s.leaseDurationSeconds !== undefined && typeof s.leaseDurationSeconds !== "number") {
    return fail("spec.leaseDurationSeconds is not a number");
  }
  return { ok: true, value: raw as Lease };
}

/** An Event about a Service, with its reason and message as texts. */
export function checkEvent(raw: unknown): Checked<KubeEvent> {
  if (!isRecord(raw) || !isRecord(raw.involvedObject)) return fail("involvedObject is missing");
  const involved = raw.involvedObject;
  if (typeof involved.name !== "string" || !optionalText(involved.namespace) || typeof involved.kind !== "string") {
    return fail("involvedObject has no kind or name");
  }
  if (!optionalText(raw.reason) || !optionalText(raw.message) || !optionalText(raw.type)) {
    return fail("reason, message or type is not a text");
  }
  return { ok: true, value: raw as unknown as KubeEvent };
}

/** The status of a ServiceL2Status or ServiceBGPStatus object. */
export interface AnnouncementStatus {
  /** Object name. */
  readonly name: string;
  /** Announcing node. */
  readonly node: string;
  /** "namespace/name" of the Service. */
  readonly service: string;
  /** L2: interfaces ("all" when the list is absent or empty); BGP: unused. */
  readonly interfaces: readonly string[] | "all";
  /** BGP: peers named; L2: unused. */
  readonly peers: readonly string[];
}

/**
 * A ServiceL2Status or ServiceBGPStatus as MetalLB writes it: node, serviceName and serviceNamespace in `status`,
 * with the `metallb.io/...` labels as a fallback (a status write may not have happened yet after the create).
 */
export function checkAnnouncementStatus(raw: unknown): Checked<AnnouncementStatus> {
  const bad = checkMeta(raw, false);
  if (bad) return fail(bad);
  const obj = raw as Record<string, unknown>;
  const meta = obj.metadata as { name: string; labels?: Record<string, string> };
  const status = isRecord(obj.status) ? obj.status : {};
  const labels = meta.labels ?? {};
  const text = (value: unknown, label: string): string | undefined =>
    typeof value === "string" && value !== "" ? value : labels[label] || undefined;
  const node = text(status.node, "metallb.io/node");
  const name = text(status.serviceName, "metallb.io/service-name");
  const namespace = text(status.serviceNamespace, "metallb.io/service-namespace");
  if (!node || !name || !namespace) return fail("status.node, serviceName or serviceNamespace is missing");
  let interfaces: readonly string[] | "all" = "all";
  if (status.interfaces !== undefined) {
    if (!Array.isArray(status.interfaces)) return fail("status.interfaces is not a list");
    const names = status.interfaces.map((i) => (isRecord(i) && typeof i.name === "string" ? i.name : undefined));
    if (names.some((n) => n === undefined)) return fail("status.interfaces has an entry without a name");
    if (names.length > 0) interfaces = (names as string[]).sort();
  }
  let peers: string[] = [];
  if (status.peers !== undefined) {
    if (!Array.isArray(status.peers) || !status.peers.every((p) => typeof p === "string")) {
      return fail("status.peers is not a list of texts");
    }
    peers = [...status.peers as string[]].sort();
  }
  return { ok: true, value: { name: meta.name, node, service: `${namespace}/${name}`, interfaces, peers } };
}

/** A ConfigurationState's name, result and summary. */
export function checkConfigurationState(
  raw: unknown,
): Checked<{ name: string; result: string; errorSummary: string }> {
  const bad = checkMeta(raw, false);
  if (bad) return fail(bad);
  const obj = raw as Record<string, unknown>;
  const status = isRecord(obj.status) ? obj.status : {};
  if (!optionalText(status.result) || !optionalText(status.errorSummary)) {
    return fail("status.result or status.errorSummary is not a text");
  }
  return {
    ok: true,
    value: {
      name: (obj.metadata as { name: string }).name,
      result: (status.result as string | undefined) || "Unknown",
      errorSummary: (status.errorSummary as string | undefined) ?? "",
    },
  };
}

/** Any object with a name and text labels (Namespaces). */
export function checkNamed(raw: unknown): Checked<{ metadata: { name: string; labels?: Record<string, string> } }> {
  const bad = checkMeta(raw, false);
  if (bad) return fail(bad);
  return { ok: true, value: raw as { metadata: { name: string; labels?: Record<string, string> } } };
}
