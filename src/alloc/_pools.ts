/**
 * Pools as the allocator sees them: which pool holds an address, which pools a Service may use and in what order,
 * and how many addresses each really offers.
 * @module
 */
import type { Pool } from "../config/model.ts";
import { matchesLabels } from "../config/selector.ts";
import { type IpAddress, type IpFamily, type IpRange, isBuggyIp } from "../ip/mod.ts";
import type { ServiceRequest } from "./_service.ts";
import type { NamespaceLike } from "./types.ts";

interface PlacedRange {
  readonly range: IpRange;
  readonly pool: Pool;
}

/** Sorts pools as they are tried: priority 1, 2, ... first, then priority 0 (none), then by name. */
export function comparePools(a: Pool, b: Pool): number {
  const pa = a.serviceAllocation?.priority ?? 0;
  const pb = b.serviceAllocation?.priority ?? 0;
  // MetalLB: a lower positive priority is tried first; 0 means none and comes last. MetalLB leaves ties in map
  // order (random); metallite breaks them by name so every instance agrees.
  if (pa !== pb) return pa === 0 ? 1 : pb === 0 ? -1 : pa - pb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Number of values v in [first, last] with v mod 256 = r. */
function countCongruent(first: bigint, last: bigint, r: bigint): bigint {
  const upTo = (x: bigint) => (x < r ? 0n : (x - r) / 256n + 1n);
  return upTo(last) - (first === 0n ? 0n : upTo(first - 1n));
}

/** Addresses a pool can hand out in one family: its size less the .0/.255 ones when it avoids buggy IPs. */
export function usableSize(pool: Pool, family: IpFamily): bigint {
  let size = pool.size[family];
  if (pool.avoidBuggyIPs && family === 4) {
    for (const r of pool.ranges[4]) size -= countCongruent(r.first, r.last, 0n) + countCongruent(r.first, r.last, 255n);
  }
  return size;
}

/** Read-only index over the model's pools. */
export class PoolIndex {
  readonly #byName: Map<string, Pool>;
  readonly #placed: Record<IpFamily, PlacedRange[]> = { 4: [], 6: [] };
  readonly #nsLabels: Map<string, Readonly<Record<string, string>>>;
  readonly pools: readonly Pool[];

  constructor(pools: readonly Pool[], namespaces: readonly NamespaceLike[]) {
    this.pools = [...pools].sort(comparePools);
    this.#byName = new Map(pools.map((p) => [p.name, p]));
    for (const pool of pools) {
      for (const family of [4, 6] as const) {
        for (const range of pool.ranges[family]) this.#placed[family].push({ range, pool });
      }
    }
    for (const family of [4, 6] as const) this.#placed[family].sort((a, b) => (a.range.first < b.range.first ? -1 : 1));
    this.#nsLabels = new Map();
    for (const ns of namespaces) {
      const name = ns?.metadata?.name;
      if (typeof name === "string") this.#nsLabels.set(name, ns.metadata.labels ?? {});
    }
  }

  /** The pool with this name. */
  get(name: string): Pool | undefined {
    return this.#byName.get(name);
  }

  /** The pool whose ranges hold the address (pools never overlap), ignoring avoidBuggyIPs. */
  containing(ip: IpAddress): Pool | undefined {
    const list = this.#placed[ip.family];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.range.last < ip.value) lo = mid + 1;
      else hi = mid;
    }
    const hit = list[lo];
    return hit && hit.range.first <= ip.value ? hit.pool : undefined;
  }

  /** True when the address may be handed out from its pool: not a .0/.255 in a pool that avoids those. */
  static offers(pool: Pool, ip: IpAddress): boolean {
    return !(pool.avoidBuggyIPs && isBuggyIp(ip));
  }

  /** True when the pool's serviceAllocation lets this Service use it. */
  allows(pool: Pool, req: ServiceRequest): boolean {
    const sa = pool.serviceAllocation;
    if (!sa) return true;
    if (sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0) {
      const labels = this.#nsLabels.get(req.namespace) ?? {};
      const inList = sa.namespaces.includes(req.namespace);
      if (!inList && !sa.namespaceSelectors.some((s) => matchesLabels(s, labels))) return false;
    }
    return sa.serviceSelectors.length === 0 || sa.serviceSelectors.some((s) => matchesLabels(s, req.labels));
  }

  /**
   * Pools tried for a Service without a requested pool, in two rounds as MetalLB does: first the pools with a
   * serviceAllocation that admits it (by priority), then the unrestricted pools; only autoAssign pools.
   */
  autoRounds(req: ServiceRequest): [Pool[], Pool[]] {
    const auto = this.pools.filter((p) => p.autoAssign);
    return [
      auto.filter((p) => p.serviceAllocation !== undefined && this.allows(p, req)),
      auto.filter((p) => p.serviceAllocation === undefined),
    ];
  }
}
