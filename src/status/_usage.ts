/**
 * Pool usage as it is now: the distinct addresses Services hold in their status, per pool and family. Counted here
 * rather than by running the allocator, which would also hand out addresses to pending Services.
 * @module
 */
import type { Pool } from "../config/model.ts";
import { formatIp, type IpAddress, type IpFamily, isBuggyIp, rangeContains } from "../ip/mod.ts";
import type { FamilyUsage } from "./report.ts";

// Addresses x in [first, last] with x ≡ k (mod 256).
function countCongruent(first: bigint, last: bigint, k: bigint): bigint {
  const upTo = (n: bigint) => (n < k ? 0n : (n - k) / 256n + 1n);
  return upTo(last) - (first === 0n ? 0n : upTo(first - 1n));
}

function usable(pool: Pool, family: IpFamily): bigint {
  let size = pool.size[family];
  if (pool.avoidBuggyIPs && family === 4) {
    for (const r of pool.ranges[4]) size -= countCongruent(r.first, r.last, 0n) + countCongruent(r.first, r.last, 255n);
  }
  return size;
}

/** The pool holding every address, or undefined. */
export function poolContaining(pools: readonly Pool[], ips: readonly IpAddress[]): Pool | undefined {
  if (ips.length === 0) return undefined;
  return pools.find((p) => ips.every((ip) => p.ranges[ip.family].some((r) => rangeContains(r, ip))));
}

/** Usage per pool name, from every address in use (each counted once, shared or not). */
export function poolUsage(
  pools: readonly Pool[],
  inUse: readonly IpAddress[],
): Map<string, { ipv4: FamilyUsage; ipv6: FamilyUsage }> {
  const assigned = new Map<string, { 4: Set<string>; 6: Set<string> }>();
  for (const pool of pools) assigned.set(pool.name, { 4: new Set(), 6: new Set() });
  for (const ip of inUse) {
    const pool = pools.find((p) => p.ranges[ip.family].some((r) => rangeContains(r, ip)));
    if (!pool || (pool.avoidBuggyIPs && isBuggyIp(ip))) continue;
    assigned.get(pool.name)![ip.family].add(formatIp(ip));
  }
  const out = new Map<string, { ipv4: FamilyUsage; ipv6: FamilyUsage }>();
  for (const pool of pools) {
    const used = assigned.get(pool.name)!;
    const family = (f: IpFamily): FamilyUsage => {
      const free = usable(pool, f) - BigInt(used[f].size);
      const cap = BigInt(Number.MAX_SAFE_INTEGER);
      return { size: pool.size[f].toString(), assigned: used[f].size, available: Number(free > cap ? cap : free) };
    };
    out.set(pool.name, { ipv4: family(4), ipv6: family(6) });
  }
  return out;
}
