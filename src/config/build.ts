import { formatRange, type IpFamily, type IpRange } from "../ip/mod.ts";
import { Invalid, isObject } from "./_fields.ts";
import { type BgpAdvertisementDraft, type Candidate, objectRef, type Origin, readObject } from "./_objects.ts";
import { readPoolRange, shortestCoveringPrefix } from "./_pool_ranges.ts";
import { parseCommunity } from "./community.ts";
import type { FlagBgpPeer, FlagPool } from "./flags.ts";
import type {
  BfdProfile,
  BgpAdvertisement,
  BgpCommunity,
  BgpPeer,
  CommunityAlias,
  ConfigSource,
  L2Advertisement,
  LabelSelector,
  MetalLbKind,
  Model,
  ObjectRef,
  Pool,
  Rejection,
  RejectionCode,
} from "./model.ts";
import { matchesLabels } from "./selector.ts";

/** One object read from a `--config` file, with the file it came from. */
export interface FileObject {
  /** Path of the file. */
  readonly file: string;
  /** The parsed YAML document (untyped). */
  readonly object: unknown;
}

/** Inputs of {@link buildModel}. */
export interface BuildModelOptions {
  /** Pools from `--pool`, in flag order; each becomes "cli-pool-N", announced over Layer 2. */
  readonly flagPools?: readonly FlagPool[];
  /** `--interface` values: the interfaces the flags' L2 advertisement uses (empty: all). */
  readonly flagInterfaces?: readonly string[];
  /** Peers from `--bgp-peer`; each becomes "cli-peer-N", and the flag pools are announced to them. */
  readonly flagBgpPeers?: readonly FlagBgpPeer[];
  /** `--asn`, our AS number for the flag peers. */
  readonly myAsn?: number;
  /** Objects from `--config` files, in file then document order (see `parseConfigFile`). */
  readonly files?: readonly FileObject[];
  /** metallb.io objects listed from the cluster; each must carry apiVersion and kind. */
  readonly cluster?: readonly unknown[];
  /**
   * The same, grouped per informer: objects without apiVersion/kind (as some list responses serve them) get the
   * group's kind and its served version (BGPPeer v1beta2, the others v1beta1).
   */
  readonly clusterByKind?: Readonly<Partial<Record<MetalLbKind, readonly unknown[]>>>;
  /** `--namespace`: cluster objects must be in it, and password Secrets are read from it. */
  readonly namespace: string;
}

/** Name of the L2Advertisement made for `--pool` flags. */
export const FLAG_L2_ADVERTISEMENT = "cli-l2";
/** Name of the BGPAdvertisement made for `--pool` flags when `--bgp-peer` is given. */
export const FLAG_BGP_ADVERTISEMENT = "cli-bgp";

const SOURCE_RANK: Readonly<Record<ConfigSource, number>> = { flag: 0, file: 1, cluster: 2 };

class Rejections {
  readonly list: Rejection[] = [];
  add(ref: ObjectRef, origin: Origin, code: RejectionCode, reason: string): void {
    this.list.push({
      ref,
      source: origin.source,
      ...(origin.file === undefined ? {} : { file: origin.file }),
      code,
      reason,
    });
  }
}

function readAll(
  inputs: readonly { object: unknown; origin: Origin }[],
  namespace: string,
  rejections: Rejections,
): Candidate[] {
  const out: Candidate[] = [];
  for (const { object, origin } of inputs) {
    try {
      const candidate = readObject(object, origin, namespace);
      if (candidate) out.push(candidate);
    } catch (error) {
      // Invalid is the expected path; anything else is a bug, still confined to this one object.
      const code = error instanceof Invalid ? error.code : "InvalidDocument";
      const message = error instanceof Error ? error.message : String(error);
      rejections.add(objectRef(object), origin, code, message);
    }
  }
  return out;
}

function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.ref.name !== b.ref.name) return a.ref.name < b.ref.name ? -1 : 1;
  const rank = SOURCE_RANK[a.origin.source] - SOURCE_RANK[b.origin.source];
  return rank !== 0 ? rank : a.origin.index - b.origin.index;
}

/** Keeps the first object of each kind and name (flag, then file, then cluster; then input order). */
function dedupe<K extends Candidate["kind"]>(
  all: readonly Candidate[],
  kind: K,
  rejections: Rejections,
): Extract<Candidate, { kind: K }>[] {
  const list = all.filter((c): c is Extract<Candidate, { kind: K }> => c.kind === kind).sort(compareCandidates);
  const out: Extract<Candidate, { kind: K }>[] = [];
  for (const c of list) {
    const first = out.at(-1);
    if (first && first.ref.name === c.ref.name) {
      const where = first.origin.file ?? first.origin.source;
      rejections.add(c.ref, c.origin, "DuplicateName", `a ${kind} named "${c.ref.name}" is already defined (${where})`);
      continue;
    }
    out.push(c);
  }
  return out;
}

function flagCandidates(options: BuildModelOptions, rejections: Rejections): Candidate[] {
  const out: Candidate[] = [];
  (options.flagPools ?? []).forEach((flag, i) => {
    const ref = { kind: "IPAddressPool", namespace: "", name: `cli-pool-${i + 1}` };
    const origin: Origin = { source: "flag", index: i };
    try {
      const range = readPoolRange(flag.text, "--pool");
      const ranges = { 4: range.family === 4 ? [range] : [], 6: range.family === 6 ? [range] : [] };
      const size = { 4: 0n, 6: 0n };
      size[range.family] = range.last - range.first + 1n;
      const pool: Pool = {
        name: ref.name,
        source: "flag",
        ref,
        labels: {},
        ranges,
        addresses: [flag.text],
        size,
        autoAssign: true,
        avoidBuggyIPs: false,
      };
      out.push({ kind: "IPAddressPool", ref, origin, value: pool });
    } catch (error) {
      rejections.add(ref, origin, error instanceof Invalid ? error.code : "InvalidAddress", (error as Error).message);
    }
  });
  (options.flagBgpPeers ?? []).forEach((flag, i) => {
    const ref = { kind: "BGPPeer", namespace: "", name: `cli-peer-${i + 1}` };
    const origin: Origin = { source: "flag", index: i };
    if (options.myAsn === undefined) {
      rejections.add(ref, origin, "MissingAsn", `--bgp-peer ${flag.address} needs --asn (our AS number)`);
      return;
    }
    out.push({ kind: "BGPPeer", ref, origin, value: flagPeer(flag, ref, options.myAsn) });
  });
  return out;
}

function flagPeer(flag: FlagBgpPeer, ref: ObjectRef, myAsn: number): BgpPeer {
  return {
    name: ref.name,
    source: "flag",
    ref,
    myAsn,
    peerAsn: flag.asn,
    peerAddress: flag.address,
    peerFamily: flag.address.includes(":") ? 6 : 4,
    ...(flag.sourceAddress === undefined ? {} : { sourceAddress: flag.sourceAddress }),
    peerPort: flag.port,
    holdTime: flag.holdTime,
    keepaliveTime: Math.floor(flag.holdTime / 3),
    nodeSelectors: [],
    ...(flag.password === undefined ? {} : { password: flag.password }),
    ebgpMultiHop: flag.ebgpMultihop !== undefined,
    ...(flag.ebgpMultihop === undefined ? {} : { ebgpMultiHopTtl: flag.ebgpMultihop }),
    enableGracefulRestart: false,
    disableMp: false,
    dualStackAddressFamily: false,
  };
}

interface PlacedRange {
  readonly range: IpRange;
  readonly pool: string;
}

/** Index of the first placed range whose end is at or above `value` (ranges sorted, disjoint). */
function lowerBound(placed: readonly PlacedRange[], value: bigint): number {
  let lo = 0;
  let hi = placed.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (placed[mid]!.range.last < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Accepts pools in name order; a pool overlapping an earlier one is rejected (MetalLB rejects the whole config). */
function acceptPools(candidates: readonly Extract<Candidate, { kind: "IPAddressPool" }>[], rejections: Rejections) {
  const placed: Record<IpFamily, PlacedRange[]> = { 4: [], 6: [] };
  const accepted: Pool[] = [];
  for (const c of candidates) {
    const pool = c.value;
    const clash = [...pool.ranges[4], ...pool.ranges[6]].map((range) => {
      const list = placed[range.family];
      const next = list[lowerBound(list, range.first)];
      return next && next.range.first <= range.last ? { range, other: next } : undefined;
    }).find((x) => x !== undefined);
    if (clash) {
      rejections.add(
        c.ref,
        c.origin,
        "PoolOverlap",
        `range ${formatRange(clash.range)} overlaps ${formatRange(clash.other.range)} of pool "${clash.other.pool}"`,
      );
      continue;
    }
    for (const range of [...pool.ranges[4], ...pool.ranges[6]]) {
      const list = placed[range.family];
      list.splice(lowerBound(list, range.first), 0, { range, pool: pool.name });
    }
    accepted.push(pool);
  }
  return accepted;
}

function acceptCommunities(
  candidates: readonly Extract<Candidate, { kind: "Community" }>[],
  rejections: Rejections,
): CommunityAlias[] {
  const byName = new Map<string, CommunityAlias>();
  for (const c of candidates) {
    const taken = c.value.aliases.find((a) => byName.has(a.name));
    if (taken) {
      const other = byName.get(taken.name)!.ref.name;
      rejections.add(
        c.ref,
        c.origin,
        "DuplicateCommunity",
        `community "${taken.name}" is already defined by "${other}"`,
      );
      continue;
    }
    for (const a of c.value.aliases) {
      byName.set(a.name, { name: a.name, value: a.value, ref: c.ref, source: c.origin.source });
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function peerIdentity(p: BgpPeer): string {
  const { name: _n, ref: _r, source: _s, ...rest } = p;
  return JSON.stringify(rest);
}

function acceptPeers(
  candidates: readonly Extract<Candidate, { kind: "BGPPeer" }>[],
  bfdNames: ReadonlySet<string>,
  rejections: Rejections,
): BgpPeer[] {
  const seen = new Map<string, string>();
  const out: BgpPeer[] = [];
  for (const c of candidates) {
    const peer = c.value;
    if (peer.bfdProfile !== undefined && !bfdNames.has(peer.bfdProfile)) {
      rejections.add(c.ref, c.origin, "UnknownBfdProfile", `spec.bfdProfile "${peer.bfdProfile}" does not exist`);
      continue;
    }
    const identity = peerIdentity(peer);
    const twin = seen.get(identity);
    if (twin !== undefined) {
      rejections.add(c.ref, c.origin, "DuplicatePeer", `it is identical to BGPPeer "${twin}"`);
      continue;
    }
    seen.set(identity, peer.name);
    out.push(peer);
  }
  return out;
}

/** Pool names an advertisement applies to: listed ∪ selected, or every pool when it names none. */
function resolvePools(
  names: readonly string[],
  selectors: readonly LabelSelector[],
  pools: readonly Pool[],
): string[] {
  if (names.length === 0 && selectors.length === 0) return pools.map((p) => p.name);
  const set = new Set(names);
  for (const p of pools) if (selectors.some((s) => matchesLabels(s, p.labels))) set.add(p.name);
  return [...set].sort();
}

function missingPool(names: readonly string[], poolsByName: ReadonlyMap<string, Pool>): string | undefined {
  return names.find((n) => !poolsByName.has(n));
}

function acceptL2(
  candidates: readonly Extract<Candidate, { kind: "L2Advertisement" }>[],
  pools: readonly Pool[],
  poolsByName: ReadonlyMap<string, Pool>,
  rejections: Rejections,
): L2Advertisement[] {
  const out: L2Advertisement[] = [];
  for (const c of candidates) {
    const missing = missingPool(c.value.ipAddressPools, poolsByName);
    if (missing !== undefined) {
      rejections.add(
        c.ref,
        c.origin,
        "UnknownPool",
        `spec.ipAddressPools names pool "${missing}", which does not exist`,
      );
      continue;
    }
    out.push({ ...c.value, pools: resolvePools(c.value.ipAddressPools, c.value.ipAddressPoolSelectors, pools) });
  }
  return out;
}

type CommunityResult = { ok: true; list: BgpCommunity[] } | { ok: false; code: RejectionCode; reason: string };

function resolveCommunities(texts: readonly string[], aliases: ReadonlyMap<string, BgpCommunity>): CommunityResult {
  const list: BgpCommunity[] = [];
  const seen = new Set<string>();
  for (const text of texts) {
    let value = aliases.get(text);
    if (value === undefined) {
      const parsed = parseCommunity(text);
      if (!parsed.ok) {
        const code = parsed.malformed ? "UnknownCommunity" : "InvalidCommunity";
        return { ok: false, code, reason: `spec.communities: ${parsed.error}` };
      }
      value = parsed.value;
    }
    const key = JSON.stringify(value);
    if (!seen.has(key)) list.push(value);
    seen.add(key);
  }
  return { ok: true, list };
}

/** MetalLB's validateBGPAdvPerPool: the aggregation prefix may not be shorter than any of the pool's prefixes. */
function aggregationProblem(draft: BgpAdvertisementDraft, pool: Pool): string | undefined {
  for (const family of [4, 6] as const) {
    const length = family === 4 ? draft.aggregationLength : draft.aggregationLengthV6;
    for (const range of pool.ranges[family]) {
      const prefix = shortestCoveringPrefix(range);
      if (length < prefix) {
        const field = family === 4 ? "aggregationLength" : "aggregationLengthV6";
        return `spec.${field} ${length} is shorter than the /${prefix} of ${formatRange(range)} in pool "${pool.name}"`;
      }
    }
  }
  return undefined;
}

function selectorsOverlap(a: readonly LabelSelector[], b: readonly LabelSelector[]): boolean {
  // Without the node list, only "both select every node" or identical selectors are known to overlap.
  if (a.length === 0 || b.length === 0) return true;
  return a.some((x) => b.some((y) => JSON.stringify(x) === JSON.stringify(y)));
}

/** MetalLB's BGPAdvertisementsHaveCompatibleLocalPref, with node overlap judged from the selectors. */
function localPrefClash(a: BgpAdvertisementDraft, b: BgpAdvertisementDraft, pool: Pool): boolean {
  if (a.hasServiceSelectors || b.hasServiceSelectors) return false;
  if ((a.localPref ?? 0) === (b.localPref ?? 0)) return false;
  const v4 = pool.ranges[4].length > 0;
  const v6 = pool.ranges[6].length > 0;
  const diff4 = a.aggregationLength !== b.aggregationLength;
  const diff6 = a.aggregationLengthV6 !== b.aggregationLengthV6;
  if ((v4 && !v6 && diff4) || (v6 && !v4 && diff6) || (diff4 && diff6)) return false;
  if (a.peers.length > 0 && b.peers.length > 0 && !a.peers.some((p) => b.peers.includes(p))) return false;
  return selectorsOverlap(a.nodeSelectors, b.nodeSelectors);
}

function specKey(d: BgpAdvertisementDraft): string {
  const { name: _n, ref: _r, source: _s, ...rest } = d;
  return JSON.stringify(rest);
}

interface BgpContext {
  readonly pools: readonly Pool[];
  readonly poolsByName: ReadonlyMap<string, Pool>;
  readonly peerNames: ReadonlySet<string>;
  readonly aliases: ReadonlyMap<string, BgpCommunity>;
}

function checkBgpAdvertisement(
  draft: BgpAdvertisementDraft,
  ctx: BgpContext,
  accepted: readonly { draft: BgpAdvertisementDraft; pools: readonly string[] }[],
): { code: RejectionCode; reason: string } | { pools: string[]; communities: BgpCommunity[] } {
  const missing = missingPool(draft.ipAddressPools, ctx.poolsByName);
  if (missing !== undefined) {
    return { code: "UnknownPool", reason: `spec.ipAddressPools names pool "${missing}", which does not exist` };
  }
  const peer = draft.peers.find((p) => !ctx.peerNames.has(p));
  if (peer !== undefined) {
    return { code: "UnknownPeer", reason: `spec.peers names BGPPeer "${peer}", which does not exist` };
  }
  const communities = resolveCommunities(draft.communityTexts, ctx.aliases);
  if (!communities.ok) return communities;
  const twin = accepted.find((a) => specKey(a.draft) === specKey(draft));
  if (twin) return { code: "DuplicateAdvertisement", reason: `it has the same spec as "${twin.draft.name}"` };
  const pools = resolvePools(draft.ipAddressPools, draft.ipAddressPoolSelectors, ctx.pools);
  for (const name of pools) {
    const pool = ctx.poolsByName.get(name)!;
    const problem = aggregationProblem(draft, pool);
    if (problem) return { code: "AggregationTooShort", reason: problem };
    const clash = accepted.find((a) => a.pools.includes(name) && localPrefClash(draft, a.draft, pool));
    if (clash) {
      return {
        code: "LocalPrefConflict",
        reason: `localPref ${draft.localPref ?? 0} differs from ${
          clash.draft.localPref ?? 0
        } set by "${clash.draft.name}" for pool "${name}" and the same peers and nodes`,
      };
    }
  }
  return { pools, communities: communities.list };
}

function acceptBgp(
  candidates: readonly Extract<Candidate, { kind: "BGPAdvertisement" }>[],
  ctx: BgpContext,
  rejections: Rejections,
): BgpAdvertisement[] {
  const accepted: { draft: BgpAdvertisementDraft; pools: string[]; communities: BgpCommunity[] }[] = [];
  for (const c of candidates) {
    const result = checkBgpAdvertisement(c.value, ctx, accepted);
    if ("code" in result) {
      rejections.add(c.ref, c.origin, result.code, result.reason);
      continue;
    }
    accepted.push({ draft: c.value, ...result });
  }
  return accepted.map(({ draft, pools, communities }) => {
    const { communityTexts: _c, hasServiceSelectors: _h, ...rest } = draft;
    return { ...rest, communities, pools };
  });
}

function flagAdvertisements(options: BuildModelOptions, pools: readonly Pool[], peers: readonly BgpPeer[]) {
  const flagPools = pools.filter((p) => p.source === "flag").map((p) => p.name);
  const l2: L2Advertisement[] = [];
  const bgp: BgpAdvertisement[] = [];
  if (flagPools.length === 0) return { l2, bgp };
  const l2Ref = { kind: "L2Advertisement", namespace: "", name: FLAG_L2_ADVERTISEMENT };
  l2.push({
    name: l2Ref.name,
    source: "flag",
    ref: l2Ref,
    ipAddressPools: flagPools,
    ipAddressPoolSelectors: [],
    pools: flagPools,
    nodeSelectors: [],
    serviceSelectors: [],
    interfaces: [...(options.flagInterfaces ?? [])],
    preferredNodeSelectors: [],
  });
  const flagPeers = peers.filter((p) => p.source === "flag").map((p) => p.name);
  if (flagPeers.length > 0) {
    const bgpRef = { kind: "BGPAdvertisement", namespace: "", name: FLAG_BGP_ADVERTISEMENT };
    bgp.push({
      name: bgpRef.name,
      source: "flag",
      ref: bgpRef,
      aggregationLength: 32,
      aggregationLengthV6: 128,
      communities: [],
      ipAddressPools: flagPools,
      ipAddressPoolSelectors: [],
      pools: flagPools,
      nodeSelectors: [],
      serviceSelectors: [],
      peers: flagPeers,
    });
  }
  return { l2, bgp };
}

/** The flags' own advertisements take their names; an object using one of those names is rejected. */
function withoutFlagNames<T extends L2Advertisement | BgpAdvertisement>(
  list: readonly T[],
  flagList: readonly T[],
  rejections: Rejections,
): T[] {
  const taken = new Set(flagList.map((a) => a.name));
  return list.filter((a) => {
    if (!taken.has(a.name)) return true;
    const origin: Origin = { source: a.source, index: 0 };
    rejections.add(a.ref, origin, "DuplicateName", `the name "${a.name}" is reserved for the --pool flags`);
    return false;
  });
}

function byName<T extends { name: string }>(list: T[]): T[] {
  return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function compareRejections(a: Rejection, b: Rejection): number {
  const ka = [a.ref.kind, a.ref.name, SOURCE_RANK[a.source], a.ref.namespace, a.file ?? "", a.reason];
  const kb = [b.ref.kind, b.ref.name, SOURCE_RANK[b.source], b.ref.namespace, b.file ?? "", b.reason];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
  return 0;
}

function withKinds(groups: Readonly<Partial<Record<MetalLbKind, readonly unknown[]>>>): unknown[] {
  const out: unknown[] = [];
  for (const [kind, list] of Object.entries(groups) as [MetalLbKind, readonly unknown[] | undefined][]) {
    const apiVersion = kind === "BGPPeer" ? "metallb.io/v1beta2" : "metallb.io/v1beta1";
    for (const object of list ?? []) {
      const o = isObject(object) ? object : undefined;
      out.push(o ? { ...o, apiVersion: o.apiVersion ?? apiVersion, kind: o.kind ?? kind } : object);
    }
  }
  return out;
}

/**
 * Merges flags, `--config` objects and cluster objects into one validated {@link Model}. Never throws: every bad
 * object lands in `rejected` with a reason, and the others apply. The result depends only on the inputs' content
 * (not on the order cluster objects arrive in), so every instance builds the same model.
 *
 * @example
 * ```ts
 * const model = buildModel({ flagPools: [{ text: "192.0.2.10-20", range }], namespace: "metallb-system" });
 * model.pools[0]!.name; // "cli-pool-1"
 * ```
 */
export function buildModel(options: BuildModelOptions): Model {
  const rejections = new Rejections();
  const inputs = [
    ...(options.files ?? []).map((f, index) => ({ object: f.object, origin: { source: "file", file: f.file, index } })),
    ...[...(options.cluster ?? []), ...withKinds(options.clusterByKind ?? {})].map((object, index) => ({
      object,
      origin: { source: "cluster", index },
    })),
  ] as { object: unknown; origin: Origin }[];
  const all = [...flagCandidates(options, rejections), ...readAll(inputs, options.namespace, rejections)];
  const bfdProfiles: BfdProfile[] = dedupe(all, "BFDProfile", rejections).map((c) => c.value);
  const pools = acceptPools(dedupe(all, "IPAddressPool", rejections), rejections);
  const poolsByName = new Map(pools.map((p) => [p.name, p]));
  const communities = acceptCommunities(dedupe(all, "Community", rejections), rejections);
  const peers = acceptPeers(dedupe(all, "BGPPeer", rejections), new Set(bfdProfiles.map((b) => b.name)), rejections);
  const l2 = acceptL2(dedupe(all, "L2Advertisement", rejections), pools, poolsByName, rejections);
  const bgp = acceptBgp(dedupe(all, "BGPAdvertisement", rejections), {
    pools,
    poolsByName,
    peerNames: new Set(peers.map((p) => p.name)),
    aliases: new Map(communities.map((c) => [c.name, c.value])),
  }, rejections);
  const flags = flagAdvertisements(options, pools, peers);
  return {
    pools: byName(pools),
    l2Advertisements: byName([...withoutFlagNames(l2, flags.l2, rejections), ...flags.l2]),
    bgpPeers: byName(peers),
    bgpAdvertisements: byName([...withoutFlagNames(bgp, flags.bgp, rejections), ...flags.bgp]),
    communities,
    bfdProfiles: byName(bfdProfiles),
    rejected: rejections.list.sort(compareRejections),
  };
}
