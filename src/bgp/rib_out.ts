/**
 * Adj-RIB-Out: what we announce to one peer, the difference from what it already has, and UPDATEs that pack many
 * prefixes with the same attributes into one message of at most 4096 octets (RFC 4271 §4.1). Pure: no sockets.
 */
import { formatIp, type IpAddress, type IpCidr, parseIp, tryParseIp } from "../ip/mod.ts";
import { Afi, AsPathSegmentType, HEADER_LENGTH, MAX_MESSAGE_LENGTH, Origin, SAFI_UNICAST } from "./constants.ts";
import type { LargeCommunity, PathAttributes } from "./attributes.ts";
import type { AfiSafi } from "./open.ts";
import { parsePrefix, prefixKey, prefixWireLength } from "./prefix.ts";
import type { UpdateMessage } from "./update.ts";

/** A route to announce: a prefix and the attributes MetalLB lets users set. */
export interface Route {
  /** "203.0.113.10/32", "2001:db8::10/128", an aggregate such as "203.0.113.0/24", or a bare address (host route). */
  readonly prefix: string;
  /** Next hop; default: our address on the session (or the peer's configured next hop for the other family). */
  readonly nextHop?: string;
  /** LOCAL_PREF, sent to iBGP peers only (RFC 4271 §5.1.5); default 100 there. */
  readonly localPref?: number;
  /** MULTI_EXIT_DISC. */
  readonly med?: number;
  /** Communities as "65000:100" or a well-known name ("no-export", "no-advertise", ...). */
  readonly communities?: readonly string[];
  /** Large communities as "65000:1:2" (MetalLB's "large:65000:1:2" is accepted too). */
  readonly largeCommunities?: readonly string[];
}

/** What the session negotiated and where we sit on it: everything attributes depend on. */
export interface SessionContext {
  /** Our AS number on this session. */
  readonly localAsn: number;
  /** The peer's AS number. */
  readonly peerAsn: number;
  /** Our address on the session. */
  readonly localAddress: string;
  /** IPv4 next hop for IPv4 routes on an IPv6 session. */
  readonly nextHopV4?: string;
  /** IPv6 next hop for IPv6 routes on an IPv4 session (else the IPv4-mapped local address). */
  readonly nextHopV6?: string;
  /** IPv6 link-local next hop to add in MP_REACH_NLRI (RFC 2545 §3). */
  readonly linkLocalNextHop?: string;
  /** Families both sides agreed on. */
  readonly families: readonly AfiSafi[];
}

/**
 * Checks routes the way {@link planRoutes} reads them, so a malformed one is refused when it is handed over
 * rather than when a session comes up. Throws `SyntaxError` or `RangeError` naming the route.
 */
export function validateRoutes(routes: readonly Route[]): void {
  for (const route of routes) {
    parsePrefix(route.prefix);
    checkU32("MED", route.med, route.prefix);
    checkU32("local preference", route.localPref, route.prefix);
    for (const c of route.communities ?? []) parseCommunity(c);
    for (const c of route.largeCommunities ?? []) parseLargeCommunity(c);
    if (route.nextHop !== undefined) parseIp(route.nextHop);
  }
}

/** A route ready for one session: parsed prefix and the exact attributes to send. */
export interface PlannedRoute {
  /** The prefix. */
  readonly prefix: IpCidr;
  /** Attributes without NLRI (for IPv6 the next hop travels separately, in MP_REACH_NLRI). */
  readonly attributes: PathAttributes;
  /** IPv6 next hop (global). */
  readonly nextHopV6?: IpAddress;
  /** IPv6 link-local next hop. */
  readonly linkLocalV6?: IpAddress;
  /** Routes with equal keys share attributes and can share an UPDATE. */
  readonly attributesKey: string;
}

/** A route that cannot be sent on a session, and why. */
export interface SkippedRoute {
  /** The prefix as given. */
  readonly prefix: string;
  /** Why. */
  readonly reason: string;
}

// RFC 1997, RFC 3765, RFC 7999, RFC 8326: well-known communities.
const WELL_KNOWN_COMMUNITIES: Record<string, number> = {
  "graceful-shutdown": 0xffff0000,
  "blackhole": 0xffff029a,
  "no-export": 0xffffff01,
  "no-advertise": 0xffffff02,
  "no-export-subconfed": 0xffffff03,
  "no-peer": 0xffffff04,
};

const U16 = /^(\d{1,5})$/;
const U32 = /^(\d{1,10})$/;

/** Parses a community "65000:100" or a well-known name into its 32-bit value. */
export function parseCommunity(text: string): number {
  const t = text.trim().toLowerCase();
  const known = WELL_KNOWN_COMMUNITIES[t];
  if (known !== undefined) return known;
  const parts = t.split(":");
  if (parts.length === 2 && U16.test(parts[0]!) && U16.test(parts[1]!)) {
    const hi = Number(parts[0]);
    const lo = Number(parts[1]);
    if (hi <= 0xffff && lo <= 0xffff) return hi * 0x10000 + lo;
  }
  throw new SyntaxError(
    `Cannot parse community "${text}": expected two numbers 0-65535 as "65000:100", or a well-known name`,
  );
}

/** Formats a community value as "65000:100". */
export function formatCommunity(value: number): string {
  return `${Math.floor(value / 0x10000)}:${value % 0x10000}`;
}

/** Parses a large community "65000:1:2" (or "large:65000:1:2"). */
export function parseLargeCommunity(text: string): LargeCommunity {
  const t = text.trim().toLowerCase().replace(/^large:/, "");
  const parts = t.split(":");
  if (parts.length === 3 && parts.every((p) => U32.test(p) && Number(p) <= 0xffffffff)) {
    return { globalAdmin: Number(parts[0]), localData1: Number(parts[1]), localData2: Number(parts[2]) };
  }
  throw new SyntaxError(`Cannot parse large community "${text}": expected three numbers 0-4294967295 as "65000:1:2"`);
}

function hasFamily(ctx: SessionContext, afi: number): boolean {
  return ctx.families.some((f) => f.afi === afi && f.safi === SAFI_UNICAST);
}

function ipv4Mapped(ip: IpAddress): IpAddress {
  return { family: 6, value: 0xffff00000000n | ip.value };
}

function checkU32(name: string, v: number | undefined, prefix: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
    throw new RangeError(`Route ${prefix}: ${name} ${v} is outside 0-4294967295`);
  }
}

/**
 * Turns routes into what one session sends: parses and validates them (throwing `SyntaxError`/`RangeError` for a
 * malformed route, which is a caller bug), picks next hops, and sets AS_PATH (our AS for eBGP, empty for iBGP)
 * and LOCAL_PREF (iBGP only). Routes of a family the session did not negotiate, or without a usable next hop, are
 * returned in `skipped`.
 */
export function planRoutes(
  routes: readonly Route[],
  ctx: SessionContext,
): { planned: Map<string, PlannedRoute>; skipped: SkippedRoute[] } {
  const planned = new Map<string, PlannedRoute>();
  const skipped: SkippedRoute[] = [];
  const sharedAttributes = new Map<string, Omit<PlannedRoute, "prefix">>();
  const ibgp = ctx.localAsn === ctx.peerAsn;
  const local = tryParseIp(ctx.localAddress);
  const asPath = ibgp ? [] : [{ type: AsPathSegmentType.AS_SEQUENCE, asns: [ctx.localAsn] }];
  for (const route of routes) {
    const prefix = parsePrefix(route.prefix);
    checkU32("MED", route.med, route.prefix);
    checkU32("local preference", route.localPref, route.prefix);
    const communities = [...new Set((route.communities ?? []).map(parseCommunity))];
    const large = (route.largeCommunities ?? []).map(parseLargeCommunity);
    const family = prefix.address.family;
    if (!hasFamily(ctx, family === 4 ? Afi.IPV4 : Afi.IPV6)) {
      skipped.push({ prefix: route.prefix, reason: `the session did not negotiate IPv${family} unicast` });
      continue;
    }
    const override = route.nextHop === undefined ? undefined : parseIp(route.nextHop);
    let nextHop: IpAddress | undefined;
    if (family === 4) {
      nextHop = override ?? (ctx.nextHopV4 ? parseIp(ctx.nextHopV4) : local?.family === 4 ? local : undefined);
      if (nextHop?.family !== 4) {
        skipped.push({ prefix: route.prefix, reason: "no IPv4 next hop on this session (set nextHopV4)" });
        continue;
      }
    } else {
      nextHop = override ??
        (ctx.nextHopV6 ? parseIp(ctx.nextHopV6) : local?.family === 6 ? local : local && ipv4Mapped(local));
      if (nextHop === undefined) {
        skipped.push({ prefix: route.prefix, reason: "no IPv6 next hop on this session" });
        continue;
      }
      if (nextHop.family === 4) nextHop = ipv4Mapped(nextHop);
    }
    const localPref = ibgp ? route.localPref ?? 100 : undefined;
    const linkLocal = family === 6 && ctx.linkLocalNextHop ? parseIp(ctx.linkLocalNextHop) : undefined;
    const attributesKey = [
      family,
      formatIp(nextHop),
      linkLocal ? formatIp(linkLocal) : "",
      route.med ?? "",
      localPref ?? "",
      communities.join(","),
      large.map((l) => `${l.globalAdmin}:${l.localData1}:${l.localData2}`).join(","),
    ].join("|");
    // Routes with equal attributes share one attributes object: thousands of VIPs usually have a handful of
    // distinct attribute sets, so this keeps the memory held per route small.
    let shared = sharedAttributes.get(attributesKey);
    if (!shared) {
      const attributes: PathAttributes = {
        origin: Origin.IGP,
        asPath,
        ...(family === 4 ? { nextHop } : {}),
        ...(route.med !== undefined ? { med: route.med } : {}),
        ...(localPref !== undefined ? { localPref } : {}),
        ...(communities.length > 0 ? { communities } : {}),
        ...(large.length > 0 ? { largeCommunities: large } : {}),
      };
      shared = family === 4
        ? { attributes, attributesKey }
        : linkLocal
        ? { attributes, attributesKey, nextHopV6: nextHop, linkLocalV6: linkLocal }
        : { attributes, attributesKey, nextHopV6: nextHop };
      sharedAttributes.set(attributesKey, shared);
    }
    const entry: PlannedRoute = { ...shared, prefix };
    planned.set(prefixKey(prefix), entry);
  }
  return { planned, skipped };
}

// Octets an UPDATE spends before its variable parts (header, withdrawn length, attributes length), plus room for
// the AS4_PATH a 2-octet session adds when our AS needs 4 octets (RFC 6793 §4.2.2), so re-encoding never overflows.
const UPDATE_FIXED = HEADER_LENGTH + 4 + 16;

function attributesLength(attrs: PathAttributes): number {
  // Exact lengths, so packing can fill messages to the limit without encoding twice.
  let n = 0;
  const attr = (len: number) => (n += (len > 255 ? 4 : 3) + len);
  if (attrs.origin !== undefined) attr(1);
  if (attrs.asPath !== undefined) attr(attrs.asPath.reduce((s, seg) => s + 2 + 4 * seg.asns.length, 0));
  if (attrs.nextHop !== undefined) attr(4);
  if (attrs.med !== undefined) attr(4);
  if (attrs.localPref !== undefined) attr(4);
  if (attrs.communities !== undefined) attr(4 * attrs.communities.length);
  if (attrs.largeCommunities !== undefined) attr(12 * attrs.largeCommunities.length);
  return n;
}

function chunkByOctets(prefixes: readonly IpCidr[], budget: number): IpCidr[][] {
  const out: IpCidr[][] = [];
  let current: IpCidr[] = [];
  let used = 0;
  for (const p of prefixes) {
    const len = prefixWireLength(p);
    if (used + len > budget && current.length > 0) {
      out.push(current);
      current = [];
      used = 0;
    }
    current.push(p);
    used += len;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Builds UPDATEs announcing `routes`, grouped by identical attributes, each group packed into as few messages as
 * fit in 4096 octets, whichever AS number width the session encodes them with.
 */
export function announcements(routes: Iterable<PlannedRoute>): UpdateMessage[] {
  const groups = new Map<string, { sample: PlannedRoute; prefixes: IpCidr[] }>();
  for (const r of routes) {
    const g = groups.get(r.attributesKey);
    if (g) g.prefixes.push(r.prefix);
    else groups.set(r.attributesKey, { sample: r, prefixes: [r.prefix] });
  }
  const out: UpdateMessage[] = [];
  for (const { sample, prefixes } of groups.values()) {
    const base = attributesLength(sample.attributes);
    if (sample.prefix.address.family === 4) {
      for (const nlri of chunkByOctets(prefixes, MAX_MESSAGE_LENGTH - UPDATE_FIXED - base)) {
        out.push({ type: "update", withdrawn: [], attributes: sample.attributes, nlri });
      }
    } else {
      const hop = 16 + (sample.linkLocalV6 ? 16 : 0);
      const overhead = 4 + 2 + 1 + 1 + hop + 1; // extended attribute header, AFI, SAFI, next hop length, hop, reserved
      for (const nlri of chunkByOctets(prefixes, MAX_MESSAGE_LENGTH - UPDATE_FIXED - base - overhead)) {
        const mpReach = sample.linkLocalV6
          ? {
            afi: Afi.IPV6,
            safi: SAFI_UNICAST,
            nextHop: sample.nextHopV6!,
            linkLocalNextHop: sample.linkLocalV6,
            nlri,
          }
          : { afi: Afi.IPV6, safi: SAFI_UNICAST, nextHop: sample.nextHopV6!, nlri };
        out.push({ type: "update", withdrawn: [], attributes: { ...sample.attributes, mpReach }, nlri: [] });
      }
    }
  }
  return out;
}

/** Builds UPDATEs withdrawing prefixes: IPv4 in the withdrawn routes field, IPv6 in MP_UNREACH_NLRI. */
export function withdrawals(prefixes: Iterable<IpCidr>): UpdateMessage[] {
  const v4: IpCidr[] = [];
  const v6: IpCidr[] = [];
  for (const p of prefixes) (p.address.family === 4 ? v4 : v6).push(p);
  const out: UpdateMessage[] = [];
  for (const withdrawn of chunkByOctets(v4, MAX_MESSAGE_LENGTH - UPDATE_FIXED)) {
    out.push({ type: "update", withdrawn, attributes: {}, nlri: [] });
  }
  for (const withdrawn of chunkByOctets(v6, MAX_MESSAGE_LENGTH - UPDATE_FIXED - 4 - 3)) {
    out.push({
      type: "update",
      withdrawn: [],
      attributes: { mpUnreach: { afi: Afi.IPV6, safi: SAFI_UNICAST, withdrawn } },
      nlri: [],
    });
  }
  return out;
}

/**
 * The routes one peer has been sent. `sync()` computes and records the UPDATEs that take the peer from what it
 * has to what it should have; the session sends them.
 */
export class AdjRibOut {
  #sent = new Map<string, PlannedRoute>();

  /** Number of prefixes the peer holds from us. */
  get size(): number {
    return this.#sent.size;
  }

  /** The prefixes the peer holds, as text. */
  prefixes(): string[] {
    return [...this.#sent.keys()];
  }

  /** UPDATEs that bring the peer to `desired` (withdrawals first, then announcements); records the new state. */
  sync(desired: ReadonlyMap<string, PlannedRoute>): UpdateMessage[] {
    const gone: IpCidr[] = [];
    for (const [key, r] of this.#sent) if (!desired.has(key)) gone.push(r.prefix);
    const changed: PlannedRoute[] = [];
    for (const [key, r] of desired) {
      if (this.#sent.get(key)?.attributesKey !== r.attributesKey) changed.push(r);
    }
    this.#sent = new Map(desired);
    return [...withdrawals(gone), ...announcements(changed)];
  }

  /** UPDATEs announcing everything again (answering a ROUTE-REFRESH). */
  refresh(): UpdateMessage[] {
    return announcements(this.#sent.values());
  }

  /** Forgets everything (the session went down, so the peer dropped our routes). */
  clear(): void {
    this.#sent.clear();
  }
}
