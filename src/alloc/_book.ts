/**
 * The table of addresses in use during one allocation run: who uses each address with which sharing key and
 * ports, a cursor per pool and family for the lowest free address, and the conflict verdicts. Addresses are only
 * ever added during a run, so "lowest free" only moves up: the cursor never rescans, and a huge IPv6 range costs
 * no more than a small one.
 * @module
 */
import type { Pool } from "../config/model.ts";
import { formatIp, type IpAddress, type IpFamily, isBuggyIp } from "../ip/mod.ts";
import type { ServiceRequest } from "./_service.ts";
import type { AddressConflict, AddressVerdict, PendingCode } from "./types.ts";

/** One address in use. */
export interface IpUse {
  readonly pool: string;
  readonly ip: IpAddress;
  readonly text: string;
  readonly sharingKey: string;
  readonly backendKey: string;
  /** Port key ("TCP/80") → Service key. */
  readonly ports: Map<string, string>;
  /** Service keys using it. */
  readonly services: string[];
}

/** Why an address cannot go to a Service. */
export interface Refusal {
  readonly code: PendingCode;
  readonly message: string;
}

interface Cursor {
  rangeIndex: number;
  value: bigint;
}

/** The in-use table; one per run. */
export class AddressBook {
  readonly #used: Record<IpFamily, Map<bigint, IpUse>> = { 4: new Map(), 6: new Map() };
  readonly #blocked: Record<IpFamily, Set<bigint>> = { 4: new Set(), 6: new Set() };
  readonly #probed: Record<IpFamily, Set<bigint>> = { 4: new Set(), 6: new Set() };
  readonly #cursors = new Map<string, Cursor>();
  readonly #groups = new Map<string, IpUse[]>();
  readonly #assigned = new Map<string, number>();
  readonly #check: ((ip: string, pool: string) => AddressVerdict) | undefined;
  readonly conflicts: AddressConflict[] = [];

  constructor(check?: (ip: string, pool: string) => AddressVerdict) {
    this.#check = check;
  }

  /** The use of an address, if any. */
  use(ip: IpAddress): IpUse | undefined {
    return this.#used[ip.family].get(ip.value);
  }

  /** Distinct addresses in use in a pool and family. */
  assigned(pool: string, family: IpFamily): number {
    return this.#assigned.get(`${pool}|${family}`) ?? 0;
  }

  /** Whether `req` may use `ip` alongside its current users (MetalLB's checkSharing), or why not. */
  refusal(ip: IpAddress, req: ServiceRequest): Refusal | undefined {
    const use = this.use(ip);
    if (!use) return undefined;
    const text = use.text;
    const other = use.services[0] ?? "another Service";
    if (use.sharingKey === "" || req.sharingKey === "") {
      const why = use.sharingKey === "" ? "" : ` (with allow-shared-ip "${use.sharingKey}"; this Service has none)`;
      return { code: "IpInUse", message: `IP ${text} is in use by ${use.services.join(", ")}${why}` };
    }
    if (use.sharingKey !== req.sharingKey) {
      return {
        code: "SharingKeyMismatch",
        message: `IP ${text}: sharing key "${req.sharingKey}" does not match "${use.sharingKey}" of ${other}`,
      };
    }
    if (use.backendKey !== req.backendKey) {
      return {
        code: "BackendMismatch",
        message:
          `IP ${text}: externalTrafficPolicy or (for Local) selector differs from ${other}, so it cannot be shared`,
      };
    }
    const clash = req.ports.find((p) => use.ports.has(p));
    if (clash !== undefined) {
      return { code: "PortConflict", message: `IP ${text}: port ${clash} is already used by ${use.ports.get(clash)}` };
    }
    return undefined;
  }

  /** Records that `req` uses `ip` from `pool`. Callers check {@link refusal} first. */
  assign(ip: IpAddress, pool: string, req: ServiceRequest): void {
    let use = this.use(ip);
    if (!use) {
      use = {
        pool,
        ip,
        text: formatIp(ip),
        sharingKey: req.sharingKey,
        backendKey: req.backendKey,
        ports: new Map(),
        services: [],
      };
      this.#used[ip.family].set(ip.value, use);
      const counter = `${pool}|${ip.family}`;
      this.#assigned.set(counter, (this.#assigned.get(counter) ?? 0) + 1);
      if (req.sharingKey !== "") {
        const group = this.#groupKey(pool, ip.family, req);
        const list = this.#groups.get(group);
        if (list) list.push(use);
        else this.#groups.set(group, [use]);
      }
    }
    for (const p of req.ports) use.ports.set(p, req.key);
    use.services.push(req.key);
  }

  #groupKey(pool: string, family: IpFamily, req: ServiceRequest): string {
    return `${pool}|${family}|${req.sharingKey}|${req.backendKey}`;
  }

  /** Runs the conflict check once per address; a refused address is blocked for the rest of the run. */
  usable(ip: IpAddress, pool: string): AddressVerdict {
    if (this.#blocked[ip.family].has(ip.value)) return { usable: false, reason: "conflict detected" };
    if (!this.#check || this.#probed[ip.family].has(ip.value)) return { usable: true };
    const text = formatIp(ip);
    let verdict: AddressVerdict;
    try {
      verdict = this.#check(text, pool);
    } catch (error) {
      // A failing probe must not stop allocation; treat the address as unusable this time and say why.
      verdict = { usable: false, reason: `the conflict check failed: ${(error as Error)?.message ?? error}` };
    }
    if (verdict.usable) {
      this.#probed[ip.family].add(ip.value);
    } else {
      this.#blocked[ip.family].add(ip.value);
      this.conflicts.push({ ip: text, pool, reason: verdict.reason });
    }
    return verdict;
  }

  /** The lowest address of the pool and family that `req` can take: free, or shared with its sharing key. */
  lowestFor(pool: Pool, family: IpFamily, req: ServiceRequest): IpAddress | undefined {
    const shared = this.#lowestShared(pool, family, req);
    const free = this.#lowestFree(pool, family, shared);
    if (free !== undefined && (shared === undefined || free < shared)) return { family, value: free };
    return shared === undefined ? undefined : { family, value: shared };
  }

  #lowestShared(pool: Pool, family: IpFamily, req: ServiceRequest): bigint | undefined {
    if (req.sharingKey === "") return undefined;
    let best: bigint | undefined;
    for (const use of this.#groups.get(this.#groupKey(pool.name, family, req)) ?? []) {
      if (best !== undefined && use.ip.value >= best) continue;
      if (!req.ports.some((p) => use.ports.has(p))) best = use.ip.value;
    }
    return best;
  }

  /** Lowest free, offered, conflict-free address; gives up once past `limit` (a lower shared one wins anyway). */
  #lowestFree(pool: Pool, family: IpFamily, limit: bigint | undefined): bigint | undefined {
    const ranges = pool.ranges[family];
    const key = `${pool.name}|${family}`;
    let cursor = this.#cursors.get(key);
    if (!cursor) {
      cursor = { rangeIndex: 0, value: ranges[0]?.first ?? 0n };
      this.#cursors.set(key, cursor);
    }
    const used = this.#used[family];
    while (cursor.rangeIndex < ranges.length) {
      const value = cursor.value;
      if (limit !== undefined && value > limit) return undefined;
      const ip = { family, value };
      const skip = used.has(value) || (pool.avoidBuggyIPs && isBuggyIp(ip)) || !this.usable(ip, pool.name).usable;
      if (!skip) return value;
      if (value < ranges[cursor.rangeIndex]!.last) {
        cursor.value = value + 1n;
      } else {
        cursor.rangeIndex++;
        cursor.value = ranges[cursor.rangeIndex]?.first ?? 0n;
      }
    }
    return undefined;
  }

  /** Conflicts met in a pool, for pending messages. */
  conflictsIn(pool: string): AddressConflict[] {
    return this.conflicts.filter((c) => c.pool === pool);
  }
}
