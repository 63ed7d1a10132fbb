/**
 * One MetalLB object at a time: untyped JSON → a validated candidate, or an Invalid error. Checks that need other
 * objects (overlaps, references, duplicates) happen later in build.ts.
 * @module
 */
import { formatIp, rangeSize, tryParseIp } from "../ip/mod.ts";
import { parseGoDuration } from "./_duration.ts";
import {
  booleanField,
  integerField,
  invalid,
  isObject,
  isObjectName,
  type Json,
  listField,
  objectField,
  show,
  stringField,
  stringListField,
  stringMapField,
} from "./_fields.ts";
import { groupRanges, readPoolRange } from "./_pool_ranges.ts";
import { readSelectorList, readWeightedSelectors } from "./_read_selector.ts";
import { parseCommunity } from "./community.ts";
import type {
  BfdProfile,
  BgpAdvertisement,
  BgpCommunity,
  BgpPeer,
  ConfigSource,
  L2Advertisement,
  ObjectRef,
  Pool,
  ServiceAllocation,
} from "./model.ts";

/** Where a candidate came from, for rejections and for deterministic precedence. */
export interface Origin {
  /** flag, file or cluster. */
  readonly source: ConfigSource;
  /** File path for source "file". */
  readonly file?: string;
  /** Position among the inputs of its source (flag order, or file then document order). */
  readonly index: number;
}

/** A Community object before aliases are merged. */
export interface CommunityObject {
  /** Its aliases, in order. */
  readonly aliases: readonly { readonly name: string; readonly value: BgpCommunity }[];
}

/** A BGPAdvertisement before communities and pools are resolved. */
export type BgpAdvertisementDraft = Omit<BgpAdvertisement, "communities" | "pools"> & {
  /** spec.communities as written (values or alias names). */
  readonly communityTexts: readonly string[];
  /** Whether spec.serviceSelectors is set (exempts it from the localPref clash check, as in MetalLB). */
  readonly hasServiceSelectors: boolean;
};

/** One validated object of a MetalLB kind, before cross-object checks. */
export type Candidate =
  & { readonly ref: ObjectRef; readonly origin: Origin }
  & (
    | { readonly kind: "IPAddressPool"; readonly value: Pool }
    | { readonly kind: "L2Advertisement"; readonly value: Omit<L2Advertisement, "pools"> }
    | { readonly kind: "BGPAdvertisement"; readonly value: BgpAdvertisementDraft }
    | { readonly kind: "BGPPeer"; readonly value: BgpPeer }
    | { readonly kind: "Community"; readonly value: CommunityObject }
    | { readonly kind: "BFDProfile"; readonly value: BfdProfile }
  );

/** The kinds and the versions of them metallite reads, as MetalLB serves them. */
export const KIND_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  IPAddressPool: ["metallb.io/v1beta1"],
  L2Advertisement: ["metallb.io/v1beta1"],
  BGPAdvertisement: ["metallb.io/v1beta1"],
  Community: ["metallb.io/v1beta1"],
  BFDProfile: ["metallb.io/v1beta1"],
  BGPPeer: ["metallb.io/v1beta1", "metallb.io/v1beta2"],
};

/** metallb.io kinds that MetalLB itself writes (status objects); skipped without complaint. */
export const STATUS_KINDS: ReadonlySet<string> = new Set(["ServiceL2Status", "ServiceBGPStatus", "ConfigurationState"]);

const INTERFACE_NAME = /^[^\s/:]{1,15}$/;
const MAX_U32 = 4294967295;

interface Context {
  readonly ref: ObjectRef;
  readonly source: ConfigSource;
  readonly labels: Record<string, string>;
  readonly spec: Json;
  readonly namespace: string;
}

function readPool(ctx: Context): Pool {
  const { spec } = ctx;
  const texts = stringListField(spec, "addresses", "spec.");
  if (texts.length === 0) invalid("spec.addresses is empty: a pool needs at least one CIDR or range", "InvalidAddress");
  const ranges = groupRanges(texts.map((t, i) => readPoolRange(t, `spec.addresses[${i}]`)), texts);
  const sum = (list: typeof ranges[4]) => list.reduce((n, r) => n + rangeSize(r), 0n);
  const allocation = spec.serviceAllocation;
  return {
    name: ctx.ref.name,
    source: ctx.source,
    ref: ctx.ref,
    labels: ctx.labels,
    ranges,
    addresses: texts,
    size: { 4: sum(ranges[4]), 6: sum(ranges[6]) },
    autoAssign: booleanField(spec, "autoAssign", "spec.") ?? true,
    avoidBuggyIPs: booleanField(spec, "avoidBuggyIPs", "spec.") ?? false,
    ...(allocation === undefined || allocation === null ? {} : { serviceAllocation: readServiceAllocation(spec) }),
  };
}

function readServiceAllocation(spec: Json): ServiceAllocation {
  const sa = objectField(spec, "serviceAllocation", "spec.");
  const path = "spec.serviceAllocation.";
  const namespaces = stringListField(sa, "namespaces", path);
  for (const ns of namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) {
      invalid(`${path}namespaces: ${show(ns)} is not a namespace name`);
    }
  }
  return {
    // MetalLB: a lower positive number is tried first, 0 means "no priority"; negatives have no meaning.
    priority: integerField(sa, "priority", path, 0, 2147483647) ?? 0,
    namespaces,
    namespaceSelectors: readSelectorList(sa, "namespaceSelectors", path),
    serviceSelectors: readSelectorList(sa, "serviceSelectors", path),
  };
}

function readL2Advertisement(ctx: Context): Omit<L2Advertisement, "pools"> {
  const { spec } = ctx;
  const interfaces = stringListField(spec, "interfaces", "spec.");
  for (const name of interfaces) {
    if (!INTERFACE_NAME.test(name)) invalid(`spec.interfaces: ${show(name)} is not an interface name`);
  }
  return {
    name: ctx.ref.name,
    source: ctx.source,
    ref: ctx.ref,
    ipAddressPools: stringListField(spec, "ipAddressPools", "spec."),
    ipAddressPoolSelectors: readSelectorList(spec, "ipAddressPoolSelectors", "spec."),
    nodeSelectors: readSelectorList(spec, "nodeSelectors", "spec."),
    serviceSelectors: readSelectorList(spec, "serviceSelectors", "spec."),
    interfaces,
    preferredNodeSelectors: readWeightedSelectors(spec, "preferredNodeSelectors", "spec."),
  };
}

function readBgpAdvertisement(ctx: Context): BgpAdvertisementDraft {
  const { spec } = ctx;
  const serviceSelectors = readSelectorList(spec, "serviceSelectors", "spec.");
  // The CRD's minimum for aggregationLength is 1; IPv6 has no minimum there, so 0 is taken as written.
  const aggregationLength = integerField(spec, "aggregationLength", "spec.", 1, 32) ?? 32;
  const aggregationLengthV6 = integerField(spec, "aggregationLengthV6", "spec.", 0, 128) ?? 128;
  if (serviceSelectors.length > 0 && (aggregationLength !== 32 || aggregationLengthV6 !== 128)) {
    invalid("spec.serviceSelectors and a shorter aggregationLength/aggregationLengthV6 cannot be combined");
  }
  const communityTexts = stringListField(spec, "communities", "spec.");
  const localPref = integerField(spec, "localPref", "spec.", 0, MAX_U32);
  return {
    name: ctx.ref.name,
    source: ctx.source,
    ref: ctx.ref,
    aggregationLength,
    aggregationLengthV6,
    ...(localPref === undefined ? {} : { localPref }),
    communityTexts,
    ipAddressPools: stringListField(spec, "ipAddressPools", "spec."),
    ipAddressPoolSelectors: readSelectorList(spec, "ipAddressPoolSelectors", "spec."),
    nodeSelectors: readSelectorList(spec, "nodeSelectors", "spec."),
    serviceSelectors,
    hasServiceSelectors: serviceSelectors.length > 0,
    peers: stringListField(spec, "peers", "spec."),
  };
}

function readCommunity(ctx: Context): CommunityObject {
  const seen = new Set<string>();
  const aliases = listField(ctx.spec, "communities", "spec.").map((item, i) => {
    const path = `spec.communities[${i}].`;
    if (!isObject(item)) invalid(`spec.communities[${i}] must be an object with name and value`);
    const name = stringField(item, "name", path);
    const value = stringField(item, "value", path);
    if (!name) invalid(`${path}name is missing`, "InvalidCommunity");
    if (value === undefined) invalid(`${path}value is missing`, "InvalidCommunity");
    if (seen.has(name)) invalid(`spec.communities defines "${name}" twice`, "DuplicateCommunity");
    seen.add(name);
    const parsed = parseCommunity(value);
    if (!parsed.ok) invalid(`${path}value: ${parsed.error}`, "InvalidCommunity");
    return { name, value: parsed.value };
  });
  return { aliases };
}

function readSeconds(spec: Json, key: string): number | undefined {
  const text = stringField(spec, key, "spec.");
  if (text === undefined) return undefined;
  const seconds = parseGoDuration(text);
  if (seconds === undefined) invalid(`spec.${key} ${show(text)} is not a duration (like 90s, 3m or 1h30m)`);
  // MetalLB rounds timers down to whole seconds; BGP carries seconds.
  return Math.floor(seconds);
}

function readTimers(spec: Json): { holdTime: number; keepaliveTime: number } {
  const hold = readSeconds(spec, "holdTime");
  const keepalive = readSeconds(spec, "keepaliveTime");
  // As MetalLB's parseTimers: either one implies the other (keepalive = hold / 3), default 90 s / 30 s.
  const holdTime = hold ?? (keepalive === undefined ? 90 : keepalive * 3);
  const keepaliveTime = keepalive ?? Math.floor(holdTime / 3);
  // RFC 4271 §4.2: a hold time is 0 or at least 3 seconds, and fits 16 bits.
  if ((holdTime !== 0 && holdTime < 3) || holdTime > 65535) {
    invalid(`spec.holdTime ${holdTime}s is not valid: it must be 0 or 3 to 65535 seconds`);
  }
  if (keepaliveTime > holdTime) invalid(`spec.keepaliveTime ${keepaliveTime}s must not exceed holdTime ${holdTime}s`);
  return { holdTime, keepaliveTime };
}

function readAddress(spec: Json, key: string): ReturnType<typeof tryParseIp> {
  const text = stringField(spec, key, "spec.");
  if (text === undefined || text === "") return undefined;
  const ip = tryParseIp(text.trim());
  if (!ip) invalid(`spec.${key} ${show(text)} is not an IP address`, "InvalidAddress");
  return ip;
}

function readAsns(spec: Json): { myAsn: number; peerAsn?: number; dynamicAsn?: "internal" | "external" } {
  const myAsn = integerField(spec, "myASN", "spec.", 0, MAX_U32) ?? 0;
  const peerAsn = integerField(spec, "peerASN", "spec.", 0, MAX_U32) ?? 0;
  const dynamic = stringField(spec, "dynamicASN", "spec.");
  if (myAsn === 0) invalid("spec.myASN is missing (our AS number)");
  if (peerAsn === 0 && !dynamic) invalid("spec.peerASN is missing, and dynamicASN is not set");
  if (peerAsn !== 0 && dynamic) invalid("spec.peerASN and spec.dynamicASN cannot both be set");
  if (dynamic && dynamic !== "internal" && dynamic !== "external") {
    invalid(`spec.dynamicASN ${show(dynamic)} must be internal or external`);
  }
  if (dynamic) return { myAsn, dynamicAsn: dynamic as "internal" | "external" };
  return { myAsn, peerAsn };
}

function readPasswordSecret(spec: Json, namespace: string): BgpPeer["passwordSecret"] {
  const ref = objectField(spec, "passwordSecret", "spec.");
  const name = stringField(ref, "name", "spec.passwordSecret.");
  if (!name) return undefined;
  const ns = stringField(ref, "namespace", "spec.passwordSecret.") || namespace;
  // MetalLB reads password Secrets from its own namespace only.
  if (ns !== namespace) invalid(`spec.passwordSecret.namespace ${show(ns)} must be ${namespace}`, "WrongNamespace");
  return { name, namespace: ns };
}

function readPeer(ctx: Context, version: string): BgpPeer {
  const { spec } = ctx;
  const beta1 = version === "metallb.io/v1beta1";
  const asns = readAsns(spec);
  const ebgpMultiHop = booleanField(spec, "ebgpMultiHop", "spec.") ?? false;
  if (ebgpMultiHop && asns.peerAsn === asns.myAsn) {
    invalid("spec.ebgpMultiHop is set for an iBGP peer (peerASN = myASN)");
  }
  const address = readAddress(spec, "peerAddress");
  const iface = beta1 ? undefined : stringField(spec, "interface", "spec.") || undefined;
  if (!address && !iface) invalid("spec.peerAddress is missing (or, in v1beta2, spec.interface)", "InvalidAddress");
  if (address && iface) invalid("spec.peerAddress and spec.interface cannot both be set");
  if (iface && !INTERFACE_NAME.test(iface)) invalid(`spec.interface ${show(iface)} is not an interface name`);
  const routerId = readAddress(spec, "routerID");
  if (routerId && routerId.family !== 4) invalid(`spec.routerID must be an IPv4 address (a 32-bit BGP identifier)`);
  const source = readAddress(spec, "sourceAddress");
  const password = stringField(spec, "password", "spec.") || undefined;
  const passwordSecret = beta1 ? undefined : readPasswordSecret(spec, ctx.namespace);
  if (password && passwordSecret) invalid("spec.password and spec.passwordSecret cannot both be set");
  const bfdProfile = stringField(spec, "bfdProfile", "spec.") || undefined;
  const vrf = beta1 ? undefined : stringField(spec, "vrf", "spec.") || undefined;
  const connectTime = beta1 ? undefined : readSeconds(spec, "connectTime");
  if (connectTime !== undefined && (connectTime < 1 || connectTime > 65535)) {
    invalid(`spec.connectTime ${connectTime}s must be 1 to 65535 seconds`);
  }
  const flag = (key: string) => (beta1 ? false : booleanField(spec, key, "spec.") ?? false);
  return {
    name: ctx.ref.name,
    source: ctx.source,
    ref: ctx.ref,
    ...asns,
    peerAddress: address ? formatIp(address) : "",
    peerFamily: address ? address.family : 6,
    ...(source ? { sourceAddress: formatIp(source) } : {}),
    ...(iface ? { interface: iface } : {}),
    // The CRD allows 0-16384 in v1beta1 and 1-16384 in v1beta2; 0 means the default, 179.
    peerPort: integerField(spec, "peerPort", "spec.", 0, 16384) || 179,
    ...readTimers(spec),
    ...(connectTime === undefined ? {} : { connectTime }),
    ...(routerId ? { routerId: formatIp(routerId) } : {}),
    nodeSelectors: readSelectorList(spec, "nodeSelectors", "spec."),
    ...(password ? { password } : {}),
    ...(passwordSecret ? { passwordSecret } : {}),
    ...(bfdProfile ? { bfdProfile } : {}),
    ebgpMultiHop,
    ...(vrf ? { vrf } : {}),
    enableGracefulRestart: flag("enableGracefulRestart"),
    disableMp: flag("disableMP"),
    dualStackAddressFamily: flag("dualStackAddressFamily"),
  };
}

function readBfdProfile(ctx: Context): BfdProfile {
  const { spec } = ctx;
  const int = (key: string, min: number, max: number, fallback: number) =>
    integerField(spec, key, "spec.", min, max) ?? fallback;
  // Ranges from the BFDProfile CRD; defaults from MetalLB's documentation (FRR's defaults).
  return {
    name: ctx.ref.name,
    source: ctx.source,
    ref: ctx.ref,
    receiveInterval: int("receiveInterval", 10, 60000, 300),
    transmitInterval: int("transmitInterval", 10, 60000, 300),
    detectMultiplier: int("detectMultiplier", 2, 255, 3),
    echoInterval: int("echoInterval", 10, 60000, 50),
    echoMode: booleanField(spec, "echoMode", "spec.") ?? false,
    passiveMode: booleanField(spec, "passiveMode", "spec.") ?? false,
    minimumTtl: int("minimumTtl", 1, 254, 254),
  };
}

/** The apiVersion, kind and metadata of an untyped object, as far as they can be read. */
export function objectRef(raw: unknown): ObjectRef {
  const obj = isObject(raw) ? raw : {};
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return { kind: str(obj.kind), namespace: str(meta.namespace), name: str(meta.name) };
}

/**
 * Reads one object. Returns undefined for objects outside the metallb.io group and for MetalLB's status kinds (the
 * caller notes and skips them); throws Invalid for a metallb.io object that is not valid or not known.
 */
export function readObject(raw: unknown, origin: Origin, namespace: string): Candidate | undefined {
  if (!isObject(raw)) invalid(`the document is ${show(raw)}, not an object`, "InvalidDocument");
  const ref = objectRef(raw);
  const apiVersion = raw.apiVersion;
  if (typeof apiVersion !== "string" || !apiVersion.startsWith("metallb.io/")) return undefined;
  if (ref.kind === "AddressPool") {
    invalid("AddressPool was replaced by IPAddressPool in MetalLB 0.13: convert it", "UnsupportedVersion");
  }
  if (STATUS_KINDS.has(ref.kind)) return undefined;
  const versions = KIND_VERSIONS[ref.kind];
  if (!versions) invalid(`${apiVersion} kind ${show(ref.kind)} is not one metallite reads`, "UnsupportedVersion");
  if (!versions.includes(apiVersion)) {
    invalid(`${apiVersion} ${ref.kind} is not supported (expected ${versions.join(" or ")})`, "UnsupportedVersion");
  }
  const meta = objectField(raw, "metadata", "");
  if (!isObjectName(ref.name)) invalid(`metadata.name ${show(meta.name)} is not a valid object name`, "InvalidName");
  if (origin.source === "cluster" && ref.namespace !== namespace) {
    invalid(`the object is in namespace ${show(ref.namespace)}, not ${namespace}`, "WrongNamespace");
  }
  const ctx: Context = {
    ref,
    source: origin.source,
    labels: stringMapField(meta, "labels", "metadata."),
    spec: objectField(raw, "spec", ""),
    namespace,
  };
  const base = { ref, origin };
  switch (ref.kind) {
    case "IPAddressPool":
      return { ...base, kind: "IPAddressPool", value: readPool(ctx) };
    case "L2Advertisement":
      return { ...base, kind: "L2Advertisement", value: readL2Advertisement(ctx) };
    case "BGPAdvertisement":
      return { ...base, kind: "BGPAdvertisement", value: readBgpAdvertisement(ctx) };
    case "BGPPeer":
      return { ...base, kind: "BGPPeer", value: readPeer(ctx, apiVersion) };
    case "Community":
      return { ...base, kind: "Community", value: readCommunity(ctx) };
    default:
      return { ...base, kind: "BFDProfile", value: readBfdProfile(ctx) };
  }
}
