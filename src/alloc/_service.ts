/**
 * Reads what allocation needs from an untyped Service: family, policy, requested IPs and pool, sharing key,
 * ports, and the addresses already in its status. Nothing here trusts the input's types.
 * @module
 */
import { formatIp, type IpAddress, type IpFamily, tryParseIp } from "../ip/mod.ts";
import { ANNOTATIONS } from "./annotations.ts";
import type { IgnoredCode, ServiceLike } from "./types.ts";

/** A LoadBalancer Service of our class, read and checked. */
export interface ServiceRequest {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** creationTimestamp, for the deterministic order ("" sorts first). */
  readonly createdAt: string;
  readonly labels: Readonly<Record<string, string>>;
  /** "TCP/80" style port keys. */
  readonly ports: readonly string[];
  /** allow-shared-ip value; "" when sharing is not allowed. */
  readonly sharingKey: string;
  /** Services sharing an IP must agree on this: traffic policy, and for Local the selector. */
  readonly backendKey: string;
  /** Families the Service needs: [4], [6] or [4, 6]. */
  readonly families: readonly IpFamily[];
  /** Preferred family when only one of two can be had (ipFamilies[0]). */
  readonly primary: IpFamily;
  /** PreferDualStack on a dual-stack Service: two addresses if possible, else one. */
  readonly preferDual: boolean;
  /** Set when RequireDualStack is asked of a single-stack Service. */
  readonly notDualStack?: string;
  /** Requested addresses (loadBalancerIPs annotation or spec.loadBalancerIP). */
  readonly requested?: readonly IpAddress[];
  /** Set when the request cannot be read. */
  readonly requestError?: string;
  /** Requested pool (address-pool annotation). */
  readonly requestedPool?: string;
  /** Addresses in status.loadBalancer.ingress that parse. */
  readonly current: readonly IpAddress[];
  /** status.loadBalancer.ingress[].ip as written, to tell whether a write is needed. */
  readonly currentTexts: readonly string[];
}

/** A Service that is not ours. */
export interface IgnoredService {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly code: IgnoredCode;
  readonly message: string;
}

type Json = Record<string, unknown>;

function record(value: unknown): Json {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Json : {};
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(value))) if (typeof v === "string") out[k] = v;
  return out;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function annotation(annotations: Record<string, string>, names: readonly string[]): string | undefined {
  // As MetalLB's valueForAnnotation: the first spelling present wins, even when empty.
  for (const name of names) if (Object.hasOwn(annotations, name)) return annotations[name];
  return undefined;
}

function readPorts(spec: Json): string[] {
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  const out: string[] = [];
  for (const p of ports) {
    const port = record(p).port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    out.push(`${str(record(p).protocol) ?? "TCP"}/${port}`);
  }
  return out;
}

function backendKey(spec: Json): string {
  if (spec.externalTrafficPolicy !== "Local") return "Cluster";
  // MetalLB's k8salloc.BackendKey: Local Services may share only with the same selector (same endpoints).
  const selector = Object.entries(stringMap(spec.selector)).map(([k, v]) => `${k}=${v}`).sort();
  return `Local:${selector.join(",")}`;
}

function familyOf(text: string): IpFamily | undefined {
  return tryParseIp(text.trim())?.family;
}

function readFamilies(spec: Json): Pick<ServiceRequest, "families" | "primary" | "preferDual" | "notDualStack"> {
  const policy = str(spec.ipFamilyPolicy) ?? "SingleStack";
  const clusterIPs = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec.clusterIP];
  const fromCluster = new Set(clusterIPs.map((t) => (typeof t === "string" ? familyOf(t) : undefined)));
  fromCluster.delete(undefined);
  const ipFamilies = (Array.isArray(spec.ipFamilies) ? spec.ipFamilies : [])
    .map((f) => (f === "IPv4" ? 4 : f === "IPv6" ? 6 : undefined)).filter((f) => f !== undefined) as IpFamily[];
  const primary: IpFamily = ipFamilies[0] ?? ([...fromCluster][0] as IpFamily | undefined) ?? 4;
  // MetalLB takes the family from clusterIPs; without them (a fake or young cluster) ipFamilies, then the policy.
  let families: IpFamily[];
  if (fromCluster.size > 0) families = [...fromCluster] as IpFamily[];
  else if (ipFamilies.length > 0) families = policy === "SingleStack" ? [ipFamilies[0]!] : ipFamilies;
  else families = policy === "SingleStack" ? [4] : [4, 6];
  families = [...new Set(families)].sort();
  const dual = families.length === 2;
  const notDualStack = policy === "RequireDualStack" && !dual
    ? `ipFamilyPolicy is RequireDualStack but the Service's clusterIPs are IPv${families[0]} only`
    : undefined;
  return {
    families,
    primary,
    preferDual: dual && policy === "PreferDualStack",
    ...(notDualStack ? { notDualStack } : {}),
  };
}

function readRequest(spec: Json, annotations: Record<string, string>): { requested?: IpAddress[]; error?: string } {
  const fromAnnotation = annotation(annotations, ANNOTATIONS.loadBalancerIPs) ?? "";
  const fromSpec = str(spec.loadBalancerIP) ?? "";
  if (fromAnnotation === "" && fromSpec === "") return {};
  if (fromAnnotation !== "" && fromSpec !== "") {
    return { error: "the Service sets both metallb.io/loadBalancerIPs and spec.loadBalancerIP; use one" };
  }
  const texts = fromAnnotation !== "" ? fromAnnotation.split(",").map((t) => t.trim()) : [fromSpec.trim()];
  const what = fromAnnotation !== "" ? "metallb.io/loadBalancerIPs" : "spec.loadBalancerIP";
  const ips: IpAddress[] = [];
  for (const text of texts) {
    const ip = tryParseIp(text);
    if (!ip) return { error: `${what} "${fromAnnotation || fromSpec}": "${text}" is not an IP address` };
    ips.push(ip);
  }
  if (ips.length > 2 || (ips.length === 2 && ips[0]!.family === ips[1]!.family)) {
    return { error: `${what} "${fromAnnotation}" must list at most one IPv4 and one IPv6 address` };
  }
  return { requested: ips.sort((a, b) => a.family - b.family) };
}

/**
 * Reads one Service. Returns undefined for input too broken to name (no metadata.name); an IgnoredService for
 * Services that are not LoadBalancers of our class.
 */
export function readService(
  raw: ServiceLike,
  lbClass: string | undefined,
): ServiceRequest | IgnoredService | undefined {
  const meta = record((raw as unknown as Json)?.metadata);
  const name = str(meta.name);
  if (!name) return undefined;
  const namespace = str(meta.namespace) || "default";
  const key = `${namespace}/${name}`;
  const spec = record((raw as unknown as Json).spec);
  if (spec.type !== "LoadBalancer") {
    return { key, namespace, name, code: "NotLoadBalancer", message: `type is ${str(spec.type) ?? "ClusterIP"}` };
  }
  const cls = str(spec.loadBalancerClass);
  if (cls !== lbClass) {
    const message = cls === undefined
      ? `it has no loadBalancerClass, we serve "${lbClass}"`
      : `its loadBalancerClass is "${cls}"`;
    return { key, namespace, name, code: "OtherClass", message };
  }
  const annotations = stringMap(meta.annotations);
  const ingress = record(record((raw as unknown as Json).status).loadBalancer).ingress;
  const currentTexts = (Array.isArray(ingress) ? ingress : []).map((i) => str(record(i).ip)).filter((t) =>
    t !== undefined && t !== ""
  ) as string[];
  const current = currentTexts.map((t) => tryParseIp(t.trim())).filter((ip) => ip !== undefined) as IpAddress[];
  const request = readRequest(spec, annotations);
  const pool = annotation(annotations, ANNOTATIONS.addressPool);
  return {
    key,
    namespace,
    name,
    createdAt: str(meta.creationTimestamp) ?? "",
    labels: stringMap(meta.labels),
    ports: readPorts(spec),
    sharingKey: annotation(annotations, ANNOTATIONS.allowSharedIp) ?? "",
    backendKey: backendKey(spec),
    ...readFamilies(spec),
    ...(request.requested ? { requested: request.requested } : {}),
    ...(request.error ? { requestError: request.error } : {}),
    ...(pool ? { requestedPool: pool } : {}),
    current,
    currentTexts,
  };
}

/** Formats addresses for messages. */
export function formatIps(ips: readonly IpAddress[]): string {
  return ips.map(formatIp).join(", ");
}
