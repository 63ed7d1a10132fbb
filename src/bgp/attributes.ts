/**
 * Path attributes (RFC 4271 §4.3 and §5) with RFC 7606's revised error handling: each malformed attribute is
 * classified as "treat-as-withdraw", "attribute discard" or "session reset", and only the last ends the session.
 */
import { type IpAddress, type IpCidr, ipFromBytes, ipToBytes } from "../ip/mod.ts";
import { ByteWriter, viewOf } from "./_bytes.ts";
import {
  Afi,
  AS_TRANS,
  AsPathSegmentType,
  AttributeFlag,
  AttributeType,
  ErrorCode,
  SAFI_UNICAST,
  UpdateSubcode,
} from "./constants.ts";
import { type BgpError, bgpError } from "./errors.ts";
import { readPrefixes, writePrefix } from "./prefix.ts";

/** One AS_PATH segment. */
export interface AsPathSegment {
  /** {@link AsPathSegmentType}: 1 AS_SET, 2 AS_SEQUENCE, 3/4 confederation. */
  readonly type: number;
  /** AS numbers in order. */
  readonly asns: readonly number[];
}

/** A large community (RFC 8092): three 32-bit numbers, written "global:local1:local2". */
export interface LargeCommunity {
  /** Global administrator (an AS number). */
  readonly globalAdmin: number;
  /** First local data part. */
  readonly localData1: number;
  /** Second local data part. */
  readonly localData2: number;
}

/** MP_REACH_NLRI (RFC 4760 §3). */
export interface MpReach {
  /** Address family. */
  readonly afi: number;
  /** Subsequent address family. */
  readonly safi: number;
  /** The global next hop. */
  readonly nextHop: IpAddress;
  /** The optional IPv6 link-local next hop (RFC 2545 §3: next hop length 32). */
  readonly linkLocalNextHop?: IpAddress;
  /** Announced prefixes (empty when the family is not one we parse). */
  readonly nlri: readonly IpCidr[];
}

/** MP_UNREACH_NLRI (RFC 4760 §4). */
export interface MpUnreach {
  /** Address family. */
  readonly afi: number;
  /** Subsequent address family. */
  readonly safi: number;
  /** Withdrawn prefixes. */
  readonly withdrawn: readonly IpCidr[];
}

/** An attribute kept as raw bytes: unrecognised optional ones, and AS4_PATH/AS4_AGGREGATOR. */
export interface RawAttribute {
  /** Attribute flags as received. */
  readonly flags: number;
  /** Attribute type code. */
  readonly code: number;
  /** Value. */
  readonly value: Uint8Array;
}

/** The path attributes of an UPDATE; absent fields were not present. */
export interface PathAttributes {
  /** ORIGIN: 0 IGP, 1 EGP, 2 INCOMPLETE. */
  readonly origin?: number;
  /** AS_PATH (with 4-octet AS numbers once merged with AS4_PATH). */
  readonly asPath?: readonly AsPathSegment[];
  /** NEXT_HOP for IPv4 NLRI in the UPDATE's own NLRI field. */
  readonly nextHop?: IpAddress;
  /** MULTI_EXIT_DISC. */
  readonly med?: number;
  /** LOCAL_PREF (iBGP only). */
  readonly localPref?: number;
  /** ATOMIC_AGGREGATE. */
  readonly atomicAggregate?: boolean;
  /** AGGREGATOR. */
  readonly aggregator?: { readonly asn: number; readonly address: IpAddress };
  /** COMMUNITIES (RFC 1997) as 32-bit numbers (asn << 16 | value). */
  readonly communities?: readonly number[];
  /** LARGE_COMMUNITY (RFC 8092). */
  readonly largeCommunities?: readonly LargeCommunity[];
  /** MP_REACH_NLRI. */
  readonly mpReach?: MpReach;
  /** MP_UNREACH_NLRI. */
  readonly mpUnreach?: MpUnreach;
  /** Other attributes, kept raw (optional transitive ones would be passed on by a router; we never re-send). */
  readonly other?: readonly RawAttribute[];
}

/** How RFC 7606 says to handle a malformed attribute that does not end the session. */
export type AttributeAction = "treat-as-withdraw" | "attribute-discard";

/** A malformed attribute the session survives. */
export interface AttributeProblem {
  /** What RFC 7606 prescribes. */
  readonly action: AttributeAction;
  /** The UPDATE Message Error subcode RFC 4271 would have sent, for counting. */
  readonly subcode: number;
  /** What was wrong. */
  readonly reason: string;
}

/** Options that change how attributes are read and written. */
export interface AttributeCodecOptions {
  /** Both sides advertised the 4-octet AS capability: AS_PATH carries 4-octet AS numbers (RFC 6793). Default true. */
  readonly fourOctetAs?: boolean;
}

/** The result of reading the path attributes field. */
export interface AttributesResult {
  /** Attributes that were well formed. */
  readonly attributes: PathAttributes;
  /** Non-fatal problems found. */
  readonly problems: readonly AttributeProblem[];
}

type MutableAttributes = { -readonly [K in keyof PathAttributes]: PathAttributes[K] };

// RFC 4271 §5 and the attribute RFCs: the Optional and Transitive bits each known attribute must carry.
const WELL_KNOWN = AttributeFlag.TRANSITIVE;
const OPTIONAL_TRANSITIVE = AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE;
const OPTIONAL_NON_TRANSITIVE = AttributeFlag.OPTIONAL;
const EXPECTED_FLAGS: Record<number, number> = {
  [AttributeType.ORIGIN]: WELL_KNOWN,
  [AttributeType.AS_PATH]: WELL_KNOWN,
  [AttributeType.NEXT_HOP]: WELL_KNOWN,
  [AttributeType.MULTI_EXIT_DISC]: OPTIONAL_NON_TRANSITIVE,
  [AttributeType.LOCAL_PREF]: WELL_KNOWN,
  [AttributeType.ATOMIC_AGGREGATE]: WELL_KNOWN,
  [AttributeType.AGGREGATOR]: OPTIONAL_TRANSITIVE,
  [AttributeType.COMMUNITIES]: OPTIONAL_TRANSITIVE,
  [AttributeType.MP_REACH_NLRI]: OPTIONAL_NON_TRANSITIVE,
  [AttributeType.MP_UNREACH_NLRI]: OPTIONAL_NON_TRANSITIVE,
  [AttributeType.AS4_PATH]: OPTIONAL_TRANSITIVE,
  [AttributeType.AS4_AGGREGATOR]: OPTIONAL_TRANSITIVE,
  [AttributeType.LARGE_COMMUNITY]: OPTIONAL_TRANSITIVE,
};
const FLAG_MASK = AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE;

function familyOf(afi: number): 4 | 6 | undefined {
  return afi === Afi.IPV4 ? 4 : afi === Afi.IPV6 ? 6 : undefined;
}

function readAsPath(value: Uint8Array, asnSize: 2 | 4): AsPathSegment[] | string {
  const v = viewOf(value);
  const segments: AsPathSegment[] = [];
  let i = 0;
  while (i < value.length) {
    if (i + 2 > value.length) return `AS_PATH segment header at offset ${i} is truncated`;
    const type = value[i]!;
    const count = value[i + 1]!;
    if (type < AsPathSegmentType.AS_SET || type > AsPathSegmentType.AS_CONFED_SET) {
      return `AS_PATH segment type ${type} is undefined`;
    }
    // RFC 7606 §7.2: a segment of zero AS numbers is malformed.
    if (count === 0) return "AS_PATH segment has no AS numbers";
    const end = i + 2 + count * asnSize;
    if (end > value.length) return `AS_PATH segment of ${count} AS numbers overruns the attribute`;
    const asns: number[] = [];
    for (let k = i + 2; k < end; k += asnSize) asns.push(asnSize === 4 ? v.getUint32(k) : v.getUint16(k));
    segments.push({ type, asns });
    i = end;
  }
  return segments;
}

function pathLength(path: readonly AsPathSegment[]): number {
  // RFC 4271 §9.1.2.2: an AS_SET counts as one; confederation segments do not count (RFC 5065 §5.3).
  let n = 0;
  for (const s of path) {
    if (s.type === AsPathSegmentType.AS_SEQUENCE) n += s.asns.length;
    else if (s.type === AsPathSegmentType.AS_SET) n += 1;
  }
  return n;
}

/**
 * RFC 6793 §4.2.3: on a session without 4-octet AS numbers, rebuild the true path from AS_PATH and AS4_PATH by
 * keeping the leading AS numbers AS4_PATH lacks and appending AS4_PATH.
 */
function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  const extra = pathLength(asPath) - pathLength(as4Path);
  if (extra < 0) return [...asPath];
  const out: AsPathSegment[] = [];
  let left = extra;
  for (const s of asPath) {
    if (left <= 0) break;
    if (s.type === AsPathSegmentType.AS_SEQUENCE) {
      const take = Math.min(left, s.asns.length);
      out.push({ type: s.type, asns: s.asns.slice(0, take) });
      left -= take;
    } else if (s.type === AsPathSegmentType.AS_SET) {
      out.push(s);
      left -= 1;
    } else {
      out.push(s);
    }
  }
  return [...out, ...as4Path];
}

function readNextHops(afi: number, value: Uint8Array): { nextHop: IpAddress; linkLocal?: IpAddress } | string {
  // RFC 4760 §3 with RFC 2545 §3 (IPv6: 16 octets global, or 32 with a link-local) and RFC 8950 (IPv6 next hop
  // for IPv4 NLRI).
  if (value.length === 4 && afi === Afi.IPV4) return { nextHop: ipFromBytes(value) };
  if (value.length === 16) return { nextHop: ipFromBytes(value) };
  if (value.length === 32) {
    return { nextHop: ipFromBytes(value.subarray(0, 16)), linkLocal: ipFromBytes(value.subarray(16, 32)) };
  }
  return `next hop length ${value.length} is invalid for AFI ${afi}`;
}

function readMpReach(value: Uint8Array): MpReach | string {
  if (value.length < 5) return `MP_REACH_NLRI of ${value.length} octets is shorter than its fixed part`;
  const v = viewOf(value);
  const afi = v.getUint16(0);
  const safi = value[2]!;
  const nhLength = value[3]!;
  if (4 + nhLength + 1 > value.length) return `MP_REACH_NLRI next hop length ${nhLength} overruns the attribute`;
  const nlriBytes = value.subarray(5 + nhLength);
  const family = familyOf(afi);
  if (family === undefined || safi !== SAFI_UNICAST) {
    // Not a family we negotiate; a compliant peer never sends it, and we keep nothing from it.
    return { afi, safi, nextHop: { family: 4, value: 0n }, nlri: [] };
  }
  const hops = readNextHops(afi, value.subarray(4, 4 + nhLength));
  if (typeof hops === "string") return hops;
  const nlri = readPrefixes(nlriBytes, family);
  if (typeof nlri === "string") return `MP_REACH_NLRI: ${nlri}`;
  return hops.linkLocal
    ? { afi, safi, nextHop: hops.nextHop, linkLocalNextHop: hops.linkLocal, nlri }
    : { afi, safi, nextHop: hops.nextHop, nlri };
}

function readMpUnreach(value: Uint8Array): MpUnreach | string {
  if (value.length < 3) return `MP_UNREACH_NLRI of ${value.length} octets is shorter than its fixed part`;
  const afi = viewOf(value).getUint16(0);
  const safi = value[2]!;
  const family = familyOf(afi);
  if (family === undefined || safi !== SAFI_UNICAST) return { afi, safi, withdrawn: [] };
  const withdrawn = readPrefixes(value.subarray(3), family);
  if (typeof withdrawn === "string") return `MP_UNREACH_NLRI: ${withdrawn}`;
  return { afi, safi, withdrawn };
}

/** Returns the attribute's whole encoding (flags, type, length, value): the data RFC 4271 §6.3 asks for. */
function attributeData(raw: Uint8Array, start: number, end: number): Uint8Array {
  return raw.slice(start, end);
}

/**
 * Reads the path attributes field of an UPDATE. Returns a {@link BgpError} only for what RFC 7606 still answers
 * with a session reset: an unrecognised well-known attribute, a repeated or malformed MP_REACH/MP_UNREACH_NLRI.
 * `hasNlri` says whether the UPDATE's own NLRI field is non-empty, which makes NEXT_HOP mandatory.
 */
export function readAttributes(
  bytes: Uint8Array,
  hasNlri: boolean,
  options: AttributeCodecOptions = {},
): AttributesResult | BgpError {
  const fourOctetAs = options.fourOctetAs ?? true;
  const v = viewOf(bytes);
  const attrs: MutableAttributes = {};
  const problems: AttributeProblem[] = [];
  const seen = new Set<number>();
  let as4Path: AsPathSegment[] | undefined;
  const problem = (action: AttributeAction, subcode: number, reason: string) => {
    problems.push({ action, subcode, reason });
  };
  let i = 0;
  while (i < bytes.length) {
    const flags = bytes[i]!;
    const extended = (flags & AttributeFlag.EXTENDED_LENGTH) !== 0;
    const headLength = extended ? 4 : 3;
    if (i + headLength > bytes.length) {
      // RFC 7606 §4: too few octets left for an attribute header.
      problem(
        "treat-as-withdraw",
        UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
        `attribute header at offset ${i} is truncated`,
      );
      break;
    }
    const code = bytes[i + 1]!;
    const length = extended ? v.getUint16(i + 2) : bytes[i + 2]!;
    const at = i + headLength;
    const end = at + length;
    if (end > bytes.length) {
      // RFC 7606 §4: the last attribute overruns the total path attribute length.
      if (code === AttributeType.MP_REACH_NLRI || code === AttributeType.MP_UNREACH_NLRI) {
        return bgpError(
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
          `attribute ${code} of ${length} octets overruns the path attributes`,
          attributeData(bytes, i, bytes.length),
        );
      }
      problem(
        "treat-as-withdraw",
        UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
        `attribute ${code} of ${length} octets overruns the path attributes`,
      );
      break;
    }
    const value = bytes.subarray(at, end);
    i = end;
    if (seen.has(code)) {
      // RFC 7606 §3.g: a repeated MP attribute resets the session; any other repeat is discarded.
      if (code === AttributeType.MP_REACH_NLRI || code === AttributeType.MP_UNREACH_NLRI) {
        return bgpError(
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
          `attribute ${code} appears twice`,
        );
      }
      problem("attribute-discard", UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `attribute ${code} appears twice`);
      continue;
    }
    seen.add(code);
    const expected = EXPECTED_FLAGS[code];
    if (expected === undefined) {
      if ((flags & AttributeFlag.OPTIONAL) === 0) {
        // RFC 4271 §6.3, kept by RFC 7606: a well-known attribute we do not know ends the session.
        return bgpError(
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
          `unrecognised well-known attribute ${code}`,
          attributeData(bytes, at - headLength, end),
        );
      }
      attrs.other ??= [] as RawAttribute[];
      (attrs.other as RawAttribute[]).push({ flags, code, value: value.slice() });
      continue;
    }
    const data = () => attributeData(bytes, at - headLength, end);
    if ((flags & FLAG_MASK) !== expected) {
      const reason = `attribute ${code} has flags 0x${flags.toString(16)}, expected 0x${expected.toString(16)}`;
      if (code === AttributeType.MP_REACH_NLRI || code === AttributeType.MP_UNREACH_NLRI) {
        return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, reason, data());
      }
      // RFC 7606 §3.c: conflicting Optional/Transitive bits make the attribute malformed: treat-as-withdraw.
      problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, reason);
      continue;
    }
    switch (code) {
      case AttributeType.ORIGIN:
        // RFC 7606 §7.1
        if (length !== 1) {
          problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `ORIGIN has length ${length}`);
        } else if (value[0]! > 2) {
          problem("treat-as-withdraw", UpdateSubcode.INVALID_ORIGIN, `ORIGIN value ${value[0]} is undefined`);
        } else attrs.origin = value[0]!;
        break;
      case AttributeType.AS_PATH: {
        // RFC 7606 §7.2
        const path = readAsPath(value, fourOctetAs ? 4 : 2);
        if (typeof path === "string") problem("treat-as-withdraw", UpdateSubcode.MALFORMED_AS_PATH, path);
        else attrs.asPath = path;
        break;
      }
      case AttributeType.NEXT_HOP:
        // RFC 7606 §7.3
        if (length !== 4) {
          problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `NEXT_HOP has length ${length}`);
        } else attrs.nextHop = ipFromBytes(value);
        break;
      case AttributeType.MULTI_EXIT_DISC:
        // RFC 7606 §7.4
        if (length !== 4) {
          problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `MULTI_EXIT_DISC has length ${length}`);
        } else attrs.med = viewOf(value).getUint32(0);
        break;
      case AttributeType.LOCAL_PREF:
        // RFC 7606 §7.5
        if (length !== 4) {
          problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `LOCAL_PREF has length ${length}`);
        } else attrs.localPref = viewOf(value).getUint32(0);
        break;
      case AttributeType.ATOMIC_AGGREGATE:
        // RFC 7606 §7.6
        if (length !== 0) {
          problem("attribute-discard", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `ATOMIC_AGGREGATE has length ${length}`);
        } else attrs.atomicAggregate = true;
        break;
      case AttributeType.AGGREGATOR: {
        // RFC 7606 §7.7
        const want = fourOctetAs ? 8 : 6;
        if (length !== want) {
          problem(
            "attribute-discard",
            UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
            `AGGREGATOR has length ${length}, expected ${want}`,
          );
        } else {
          const av = viewOf(value);
          attrs.aggregator = {
            asn: fourOctetAs ? av.getUint32(0) : av.getUint16(0),
            address: ipFromBytes(value.subarray(want - 4)),
          };
        }
        break;
      }
      case AttributeType.COMMUNITIES: {
        // RFC 7606 §7.8
        if (length === 0 || length % 4 !== 0) {
          problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `COMMUNITIES has length ${length}`);
          break;
        }
        const cv = viewOf(value);
        const list: number[] = [];
        for (let k = 0; k < length; k += 4) list.push(cv.getUint32(k));
        attrs.communities = list;
        break;
      }
      case AttributeType.LARGE_COMMUNITY: {
        // RFC 8092 §5
        if (length === 0 || length % 12 !== 0) {
          problem("treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `LARGE_COMMUNITY has length ${length}`);
          break;
        }
        const lv = viewOf(value);
        const list: LargeCommunity[] = [];
        for (let k = 0; k < length; k += 12) {
          list.push({ globalAdmin: lv.getUint32(k), localData1: lv.getUint32(k + 4), localData2: lv.getUint32(k + 8) });
        }
        attrs.largeCommunities = list;
        break;
      }
      case AttributeType.MP_REACH_NLRI: {
        // RFC 7606 §7.11 and §5.3: a malformed MP_REACH_NLRI resets the session.
        const r = readMpReach(value);
        if (typeof r === "string") {
          return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, r, data());
        }
        attrs.mpReach = r;
        break;
      }
      case AttributeType.MP_UNREACH_NLRI: {
        const r = readMpUnreach(value);
        if (typeof r === "string") {
          return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, r, data());
        }
        attrs.mpUnreach = r;
        break;
      }
      case AttributeType.AS4_PATH: {
        // RFC 6793 §6: a malformed AS4_PATH is discarded; on a 4-octet session AS4_PATH is ignored altogether.
        const path = readAsPath(value, 4);
        if (typeof path === "string") {
          problem("attribute-discard", UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `AS4_PATH: ${path}`);
        } else if (!fourOctetAs) as4Path = path;
        break;
      }
      default:
        // AS4_AGGREGATOR: carries nothing we use.
        break;
    }
  }
  if (as4Path && attrs.asPath) attrs.asPath = mergeAs4Path(attrs.asPath, as4Path);
  // RFC 7606 §3.d: a missing well-known mandatory attribute means treat-as-withdraw. NEXT_HOP is mandatory only
  // with NLRI in the UPDATE's own field (RFC 4760 §3).
  const announces = hasNlri || (attrs.mpReach !== undefined && attrs.mpReach.nlri.length > 0);
  const withdrawing = problems.some((p) => p.action === "treat-as-withdraw");
  if (announces && !withdrawing) {
    const missing: string[] = [];
    if (attrs.origin === undefined) missing.push("ORIGIN");
    if (attrs.asPath === undefined) missing.push("AS_PATH");
    if (hasNlri && attrs.nextHop === undefined) missing.push("NEXT_HOP");
    if (missing.length > 0) {
      problem("treat-as-withdraw", UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, `missing ${missing.join(", ")}`);
    }
  }
  return { attributes: attrs, problems };
}

function writeAttribute(w: ByteWriter, flags: number, code: number, value: Uint8Array): void {
  if (value.length > 255) {
    w.u8(flags | AttributeFlag.EXTENDED_LENGTH).u8(code).u16(value.length);
  } else {
    w.u8(flags).u8(code).u8(value.length);
  }
  w.bytes(value);
}

function asPathBytes(path: readonly AsPathSegment[], asnSize: 2 | 4, trans: boolean): Uint8Array {
  const w = new ByteWriter(16);
  for (const s of path) {
    // A segment holds at most 255 AS numbers; longer runs continue in another segment of the same type.
    for (let k = 0; k < s.asns.length; k += 255) {
      const chunk = s.asns.slice(k, k + 255);
      w.u8(s.type).u8(chunk.length);
      for (const asn of chunk) {
        if (asnSize === 4) w.u32(asn);
        else w.u16(trans && asn > 0xffff ? AS_TRANS : asn);
      }
    }
  }
  return w.finish();
}

function needsFourOctets(path: readonly AsPathSegment[]): boolean {
  return path.some((s) => s.asns.some((a) => a > 0xffff));
}

function nextHopBytes(reach: MpReach): Uint8Array {
  const global = ipToBytes(reach.nextHop);
  if (!reach.linkLocalNextHop) return global;
  const both = new Uint8Array(global.length + 16);
  both.set(global);
  both.set(ipToBytes(reach.linkLocalNextHop), global.length);
  return both;
}

/**
 * Encodes path attributes in type-code order (RFC 4271 §5 recommends ascending order). On a session without
 * 4-octet AS numbers, AS numbers above 65535 become AS_TRANS in AS_PATH and the true path goes in AS4_PATH
 * (RFC 6793 §4.2.2).
 */
export function writeAttributes(w: ByteWriter, attrs: PathAttributes, options: AttributeCodecOptions = {}): void {
  const fourOctetAs = options.fourOctetAs ?? true;
  const u32 = (n: number) => new ByteWriter(4).u32(n).finish();
  if (attrs.origin !== undefined) writeAttribute(w, WELL_KNOWN, AttributeType.ORIGIN, new Uint8Array([attrs.origin]));
  if (attrs.asPath !== undefined) {
    writeAttribute(w, WELL_KNOWN, AttributeType.AS_PATH, asPathBytes(attrs.asPath, fourOctetAs ? 4 : 2, true));
  }
  if (attrs.nextHop !== undefined) writeAttribute(w, WELL_KNOWN, AttributeType.NEXT_HOP, ipToBytes(attrs.nextHop));
  if (attrs.med !== undefined) {
    writeAttribute(w, OPTIONAL_NON_TRANSITIVE, AttributeType.MULTI_EXIT_DISC, u32(attrs.med));
  }
  if (attrs.localPref !== undefined) writeAttribute(w, WELL_KNOWN, AttributeType.LOCAL_PREF, u32(attrs.localPref));
  if (attrs.atomicAggregate) writeAttribute(w, WELL_KNOWN, AttributeType.ATOMIC_AGGREGATE, new Uint8Array(0));
  if (attrs.aggregator !== undefined) {
    const a = new ByteWriter(8);
    if (fourOctetAs) a.u32(attrs.aggregator.asn);
    else a.u16(attrs.aggregator.asn > 0xffff ? AS_TRANS : attrs.aggregator.asn);
    writeAttribute(
      w,
      OPTIONAL_TRANSITIVE,
      AttributeType.AGGREGATOR,
      a.bytes(ipToBytes(attrs.aggregator.address)).finish(),
    );
  }
  if (attrs.communities !== undefined && attrs.communities.length > 0) {
    const c = new ByteWriter(attrs.communities.length * 4);
    for (const n of attrs.communities) c.u32(n);
    writeAttribute(w, OPTIONAL_TRANSITIVE, AttributeType.COMMUNITIES, c.finish());
  }
  if (attrs.mpReach !== undefined) {
    const r = attrs.mpReach;
    const m = new ByteWriter(64);
    const hops = nextHopBytes(r);
    m.u16(r.afi).u8(r.safi).u8(hops.length).bytes(hops).u8(0);
    for (const p of r.nlri) writePrefix(m, p);
    writeAttribute(w, OPTIONAL_NON_TRANSITIVE, AttributeType.MP_REACH_NLRI, m.finish());
  }
  if (attrs.mpUnreach !== undefined) {
    const u = attrs.mpUnreach;
    const m = new ByteWriter(64);
    m.u16(u.afi).u8(u.safi);
    for (const p of u.withdrawn) writePrefix(m, p);
    writeAttribute(w, OPTIONAL_NON_TRANSITIVE, AttributeType.MP_UNREACH_NLRI, m.finish());
  }
  if (!fourOctetAs && attrs.asPath !== undefined && needsFourOctets(attrs.asPath)) {
    writeAttribute(w, OPTIONAL_TRANSITIVE, AttributeType.AS4_PATH, asPathBytes(attrs.asPath, 4, false));
  }
  if (attrs.largeCommunities !== undefined && attrs.largeCommunities.length > 0) {
    const l = new ByteWriter(attrs.largeCommunities.length * 12);
    for (const c of attrs.largeCommunities) l.u32(c.globalAdmin).u32(c.localData1).u32(c.localData2);
    writeAttribute(w, OPTIONAL_TRANSITIVE, AttributeType.LARGE_COMMUNITY, l.finish());
  }
  for (const o of attrs.other ?? []) writeAttribute(w, o.flags & ~AttributeFlag.EXTENDED_LENGTH, o.code, o.value);
}
