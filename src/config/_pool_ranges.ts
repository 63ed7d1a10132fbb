/**
 * Pool address rules: parsing spec.addresses, the size limit, reserved addresses, and the prefix arithmetic the
 * BGP aggregation check needs.
 * @module
 */
import {
  FAMILY_BITS,
  formatRange,
  type IpFamily,
  type IpRange,
  parseRange,
  rangeSize,
  rangesOverlap,
} from "../ip/mod.ts";
import { invalid } from "./_fields.ts";
import type { PoolRanges } from "./model.ts";

/**
 * The largest range a pool may hold, per family. MetalLB takes any size, but a pool larger than a site can own
 * is a typing mistake (a /0, or 10^38 addresses): IPv4 up to a /8 (2^24 addresses, the size of 10.0.0.0/8), IPv6
 * up to a /48 (2^80, the largest site assignment in RFC 6177). Allocation never iterates a range, so the limit is
 * about catching mistakes, not about cost.
 */
export const MAX_RANGE_SIZE: Readonly<Record<IpFamily, bigint>> = { 4: 1n << 24n, 6: 1n << 80n };

// Addresses that can never be a LoadBalancer IP: "this network", loopback, multicast, reserved and broadcast
// (RFC 6890), and IPv6 unspecified, loopback and multicast (RFC 4291).
const RESERVED: readonly (IpRange & { what: string })[] = [
  { family: 4, first: 0x00000000n, last: 0x00ffffffn, what: "0.0.0.0/8 (this network)" },
  { family: 4, first: 0x7f000000n, last: 0x7fffffffn, what: "127.0.0.0/8 (loopback)" },
  { family: 4, first: 0xe0000000n, last: 0xffffffffn, what: "224.0.0.0/3 (multicast, reserved, broadcast)" },
  { family: 6, first: 0n, last: 1n, what: ":: and ::1 (unspecified, loopback)" },
  { family: 6, first: 0xffn << 120n, last: (1n << 128n) - 1n, what: "ff00::/8 (multicast)" },
];

/** Parses one spec.addresses entry: a CIDR, a first-last range, or one address; throws Invalid on a bad one. */
export function readPoolRange(text: string, path: string): IpRange {
  let range: IpRange;
  try {
    range = parseRange(text);
  } catch (error) {
    invalid(`${path} ${(error as Error).message}`, "InvalidAddress");
  }
  if (rangeSize(range) > MAX_RANGE_SIZE[range.family]) {
    const limit = range.family === 4 ? "/8 (16777216 addresses)" : "/48 (2^80 addresses)";
    invalid(
      `${path} "${text}" holds ${rangeSize(range)} addresses; a pool range may hold at most a ${limit}`,
      "PoolTooLarge",
    );
  }
  for (const r of RESERVED) {
    if (rangesOverlap(r, range)) invalid(`${path} "${text}" includes reserved addresses ${r.what}`, "InvalidAddress");
  }
  return range;
}

/** Sorts a pool's ranges per family, refusing two entries that overlap each other. */
export function groupRanges(ranges: readonly IpRange[], texts: readonly string[]): PoolRanges {
  const byFamily = (family: IpFamily) =>
    ranges.map((r, i) => ({ r, text: texts[i]! })).filter((x) => x.r.family === family).sort((a, b) =>
      a.r.first < b.r.first ? -1 : a.r.first > b.r.first ? 1 : 0
    );
  const out: Record<IpFamily, IpRange[]> = { 4: [], 6: [] };
  for (const family of [4, 6] as const) {
    const sorted = byFamily(family);
    for (let i = 1; i < sorted.length; i++) {
      if (rangesOverlap(sorted[i - 1]!.r, sorted[i]!.r)) {
        invalid(`spec.addresses "${sorted[i - 1]!.text}" and "${sorted[i]!.text}" overlap`, "PoolOverlap");
      }
    }
    out[family] = sorted.map((x) => x.r);
  }
  return out;
}

/**
 * The shortest prefix length among the CIDR blocks that exactly cover a range (Go's ipaddr.Summarize), which is
 * what MetalLB compares with aggregationLength: a /24 gives 24, 192.0.2.1-192.0.2.5 gives 31.
 */
export function shortestCoveringPrefix(range: IpRange): number {
  const bits = FAMILY_BITS[range.family];
  let shortest = bits;
  let first = range.first;
  while (first <= range.last) {
    // The largest aligned block starting at `first` that stays inside the range.
    let size = 1n;
    let hostBits = 0;
    while (hostBits < bits) {
      const next = size << 1n;
      if ((first & (next - 1n)) !== 0n || first + next - 1n > range.last) break;
      size = next;
      hostBits++;
    }
    shortest = Math.min(shortest, bits - hostBits);
    first += size;
  }
  return shortest;
}

/** Describes a range for messages. */
export function describeRange(range: IpRange): string {
  return formatRange(range);
}
