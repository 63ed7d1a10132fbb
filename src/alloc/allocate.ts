import type { Pool } from "../config/model.ts";
import { formatIp, type IpAddress, type IpFamily } from "../ip/mod.ts";
import { AddressBook, type Refusal } from "./_book.ts";
import { PoolIndex, usableSize } from "./_pools.ts";
import { formatIps, type IgnoredService, readService, type ServiceRequest } from "./_service.ts";
import type {
  AllocateOptions,
  AllocationNote,
  AllocationResult,
  AssignedCode,
  PendingCode,
  PoolStatus,
  ServiceOutcome,
} from "./types.ts";

interface Assignment {
  readonly ips: IpAddress[];
  readonly pool: Pool;
  readonly code: AssignedCode;
}

type Attempt = Assignment | Refusal;

interface Run {
  readonly pools: PoolIndex;
  readonly book: AddressBook;
}

const FAMILY_NAME: Readonly<Record<IpFamily, string>> = { 4: "IPv4", 6: "IPv6" };

function compareRequests(a: ServiceRequest, b: ServiceRequest): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function sameFamilies(ips: readonly IpAddress[], families: readonly IpFamily[]): boolean {
  const got = ips.map((ip) => ip.family).sort();
  return got.length === families.length && got.every((f, i) => f === families[i]);
}

function sameSet(a: readonly IpAddress[], b: readonly IpAddress[]): boolean {
  return a.length === b.length && a.every((x) => b.some((y) => y.family === x.family && y.value === x.value));
}

/** The one pool holding every address, honouring avoidBuggyIPs, or why there is none. */
function poolOf(run: Run, ips: readonly IpAddress[]): Pool | Refusal {
  let found: Pool | undefined;
  for (const ip of ips) {
    const pool = run.pools.containing(ip);
    if (!pool) return { code: "IpNotInPool", message: `IP ${formatIp(ip)} is not in any pool` };
    if (!PoolIndex.offers(pool, ip)) {
      return {
        code: "IpNotInPool",
        message: `IP ${formatIp(ip)} ends in .0 or .255, which pool "${pool.name}" avoids (avoidBuggyIPs)`,
      };
    }
    if (found && found !== pool) {
      return { code: "IpNotInPool", message: `IPs ${formatIps(ips)} are in different pools` };
    }
    found = pool;
  }
  return found ?? { code: "IpNotInPool", message: "no IP given" };
}

function isRefusal(x: Attempt | Pool): x is Refusal {
  return "message" in x;
}

function notAllowed(pool: Pool, req: ServiceRequest): Refusal {
  return {
    code: "PoolNotAllowed",
    message: `pool "${pool.name}" does not allow Services of namespace ${req.namespace} with these labels ` +
      `(serviceAllocation)`,
  };
}

/**
 * Whether the Service keeps the addresses in its status: MetalLB's convergeBalancer checks, in its order.
 * Returns the assignment, or a note saying why the addresses are dropped.
 */
function tryAdopt(run: Run, req: ServiceRequest): Assignment | AllocationNote {
  const ips = req.current;
  const list = formatIps(ips);
  if (req.notDualStack) return { code: "NotDualStack", message: `${req.notDualStack}; dropping ${list}` };
  const familiesOk = ips.length <= 2 && new Set(ips.map((i) => i.family)).size === ips.length &&
    (sameFamilies(ips, req.families) || (req.preferDual && ips.length === 1));
  if (!familiesOk) {
    return { code: "FamilyChanged", message: `IPs ${list} do not match the Service's families; allocating again` };
  }
  if (req.requested && !sameSet(req.requested, ips)) {
    return { code: "RequestChanged", message: `requested IPs ${formatIps(req.requested)} differ from ${list}` };
  }
  const pool = poolOf(run, ips);
  if (isRefusal(pool)) return { code: pool.code, message: `${pool.message}; allocating again` };
  if (req.requestedPool !== undefined && req.requestedPool !== pool.name) {
    return {
      code: "PoolChanged",
      message: `IPs ${list} are in pool "${pool.name}", not the requested "${req.requestedPool}"`,
    };
  }
  if (!run.pools.allows(pool, req)) return { code: "PoolNotAllowed", message: notAllowed(pool, req).message };
  for (const ip of ips) {
    const refusal = run.book.refusal(ip, req);
    if (refusal) return { code: refusal.code, message: `${refusal.message}; allocating again` };
  }
  return { ips: [...ips], pool, code: "Adopted" };
}

function assignAll(run: Run, req: ServiceRequest, a: Assignment): void {
  for (const ip of a.ips) run.book.assign(ip, a.pool.name, req);
}

function tryRequested(run: Run, req: ServiceRequest, requested: readonly IpAddress[]): Attempt {
  if (!sameFamilies(requested, req.families)) {
    return {
      code: "FamilyMismatch",
      message: `requested IPs ${formatIps(requested)} do not match the Service's families ` +
        `(${req.families.map((f) => FAMILY_NAME[f]).join(", ")})`,
    };
  }
  const pool = poolOf(run, requested);
  if (isRefusal(pool)) return pool;
  if (req.requestedPool !== undefined && req.requestedPool !== pool.name) {
    return {
      code: "PoolMismatch",
      message: `requested IPs ${
        formatIps(requested)
      } are in pool "${pool.name}", not the requested "${req.requestedPool}"`,
    };
  }
  if (!run.pools.allows(pool, req)) return notAllowed(pool, req);
  for (const ip of requested) {
    const refusal = run.book.refusal(ip, req);
    if (refusal) return refusal;
  }
  for (const ip of requested) {
    if (run.book.use(ip)) continue; // joining a shared address: it is ours already
    const verdict = run.book.usable(ip, pool.name);
    if (!verdict.usable) return { code: "AddressConflict", message: `IP ${formatIp(ip)}: ${verdict.reason}` };
  }
  return { ips: [...requested], pool, code: "Requested" };
}

type Candidate = Partial<Record<IpFamily, IpAddress>>;

function candidates(run: Run, pool: Pool, req: ServiceRequest): Candidate {
  const out: Candidate = {};
  for (const family of req.families) {
    const ip = run.book.lowestFor(pool, family, req);
    if (ip) out[family] = ip;
  }
  return out;
}

/** MetalLB's findBestPoolForService over pools in order; for PreferDualStack, a one-family pool is the fallback. */
function bestInPools(run: Run, pools: readonly Pool[], req: ServiceRequest): Assignment | undefined {
  let fallback: Assignment | undefined;
  let secondFallback: Assignment | undefined;
  const secondary: IpFamily = req.primary === 4 ? 6 : 4;
  for (const pool of pools) {
    const found = candidates(run, pool, req);
    const ips = req.families.map((f) => found[f]).filter((ip) => ip !== undefined) as IpAddress[];
    if (ips.length === req.families.length) return { ips, pool, code: "Allocated" };
    if (!req.preferDual) continue;
    const primaryIp = found[req.primary];
    const secondaryIp = found[secondary];
    if (primaryIp && !fallback) fallback = { ips: [primaryIp], pool, code: "Allocated" };
    if (secondaryIp && !secondFallback) secondFallback = { ips: [secondaryIp], pool, code: "Allocated" };
  }
  return fallback ?? secondFallback;
}

function exhausted(run: Run, pools: readonly Pool[], req: ServiceRequest): Refusal {
  const families = req.families.map((f) => FAMILY_NAME[f]).join(" and ");
  const withFamily = pools.filter((p) => req.families.some((f) => p.ranges[f].length > 0));
  if (withFamily.length === 0) {
    const names = pools.map((p) => `"${p.name}"`).join(", ");
    return { code: "NoPoolForFamily", message: `no pool for ${families} (tried ${names})` };
  }
  if (req.families.length === 2 && !req.preferDual && !pools.some((p) => p.ranges[4].length && p.ranges[6].length)) {
    return {
      code: "NoPoolForFamily",
      message: "no pool has both IPv4 and IPv6 (RequireDualStack takes both from one pool)",
    };
  }
  const conflicts = withFamily.flatMap((p) => run.book.conflictsIn(p.name));
  const skipped = conflicts.length === 0
    ? ""
    : `; skipped for conflicts: ${conflicts.slice(0, 3).map((c) => `${c.ip} (${c.reason})`).join(", ")}${
      conflicts.length > 3 ? ` and ${conflicts.length - 3} more` : ""
    }`;
  const names = withFamily.map((p) => `"${p.name}"`).join(", ");
  const what = withFamily.length === 1 ? `pool ${names} is` : `pools ${names} are`;
  return { code: "PoolExhausted", message: `${what} exhausted for ${families}${skipped}` };
}

function tryPool(run: Run, req: ServiceRequest, name: string): Attempt {
  const pool = run.pools.get(name);
  if (!pool) return { code: "UnknownPool", message: `requested pool "${name}" does not exist` };
  if (!run.pools.allows(pool, req)) return notAllowed(pool, req);
  // An explicitly requested pool is used even with autoAssign: false, as in MetalLB.
  return bestInPools(run, [pool], req) ?? exhausted(run, [pool], req);
}

function tryAuto(run: Run, req: ServiceRequest): Attempt {
  if (run.pools.pools.length === 0) return { code: "NoPools", message: "no address pool is configured" };
  const [pinned, open] = run.pools.autoRounds(req);
  const found = bestInPools(run, pinned, req) ?? bestInPools(run, open, req);
  if (found) return found;
  const tried = [...pinned, ...open];
  if (tried.length === 0) {
    return {
      code: "NoSuitablePool",
      message: "no pool with autoAssign admits this Service (ask for one with metallb.io/address-pool)",
    };
  }
  return exhausted(run, tried, req);
}

/** Allocates for a Service that kept nothing: requested IPs, else requested pool, else any pool. */
function allocate(run: Run, req: ServiceRequest): Attempt {
  if (req.notDualStack) return { code: "NotDualStack", message: req.notDualStack };
  if (req.requestError) return { code: "InvalidRequest", message: req.requestError };
  if (req.requested) return tryRequested(run, req, req.requested);
  if (req.requestedPool !== undefined) return tryPool(run, req, req.requestedPool);
  return tryAuto(run, req);
}

/** PreferDualStack with one address: add the other family from the same pool when one is free (MetalLB does). */
function addFamily(run: Run, req: ServiceRequest, kept: Assignment): Assignment | AllocationNote {
  const have = kept.ips[0]!.family;
  const want: IpFamily = have === 4 ? 6 : 4;
  const ip = run.book.lowestFor(kept.pool, want, req);
  if (!ip) {
    return { code: "NoAdditionalFamily", message: `no ${FAMILY_NAME[want]} address free in pool "${kept.pool.name}"` };
  }
  return { ips: [...kept.ips, ip], pool: kept.pool, code: "AdditionalFamily" };
}

interface Pending {
  readonly req: ServiceRequest;
  readonly notes: AllocationNote[];
  kept?: Assignment;
}

function outcomeOf(p: Pending, final: Attempt | undefined): ServiceOutcome {
  const { req } = p;
  const base = { key: req.key, namespace: req.namespace, name: req.name, notes: p.notes };
  const result = final ?? p.kept;
  if (!result || isRefusal(result)) {
    const refusal = (result as Refusal | undefined) ?? { code: "PoolExhausted" as PendingCode, message: "no address" };
    return {
      ...base,
      state: "pending",
      code: refusal.code,
      message: refusal.message,
      changed: req.currentTexts.length > 0,
    };
  }
  const ips = [...result.ips].sort((a, b) => a.family - b.family).map(formatIp);
  const changed = ips.length !== req.currentTexts.length || ips.some((ip, i) => ip !== req.currentTexts[i]);
  const verb = result.code === "Adopted" ? "kept" : "assigned";
  return {
    ...base,
    state: "assigned",
    code: result.code,
    ips,
    pool: result.pool.name,
    changed,
    message: `${verb} ${ips.join(", ")} from pool "${result.pool.name}"`,
  };
}

function poolStatus(run: Run): PoolStatus[] {
  const cap = (n: bigint) => Number(n > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : n);
  return [...run.pools.pools].sort((a, b) => (a.name < b.name ? -1 : 1)).map((pool) => {
    const a4 = run.book.assigned(pool.name, 4);
    const a6 = run.book.assigned(pool.name, 6);
    return {
      name: pool.name,
      assignedIPv4: a4,
      assignedIPv6: a6,
      availableIPv4: cap(usableSize(pool, 4) - BigInt(a4)),
      availableIPv6: cap(usableSize(pool, 6) - BigInt(a6)),
    };
  });
}

function ignoredOutcome(s: IgnoredService): ServiceOutcome {
  return {
    key: s.key,
    namespace: s.namespace,
    name: s.name,
    notes: [],
    state: "ignored",
    code: s.code,
    message: s.message,
  };
}

/**
 * Computes every LoadBalancer Service's addresses from scratch, as a pure function of its inputs.
 *
 * 1. Services are ordered by creation time, then namespace/name — never by input order — so every instance
 *    computes the same result.
 * 2. Adoption: each Service keeps the addresses in its status when they are still valid (one pool, allowed to it,
 *    still requested, not clashing with an earlier Service), whether metallite or MetalLB wrote them.
 * 3. The rest are allocated in the same order, Services that request specific IPs first: requested IPs, else
 *    the requested pool, else pools by priority then name; within a pool the lowest address that is free (or
 *    shareable under the Service's allow-shared-ip key).
 *
 * Cost is O(n log n) in the number of Services: each pool keeps a cursor at its lowest free address.
 *
 * @example
 * ```ts
 * const result = allocateAll({ model, services, namespaces });
 * for (const s of result.services) if (s.state === "assigned" && s.changed) writeStatus(s.key, s.ips, s.pool);
 * ```
 */
export function allocateAll(options: AllocateOptions): AllocationResult {
  const run: Run = {
    pools: new PoolIndex(options.model.pools ?? [], options.namespaces ?? []),
    book: new AddressBook(options.isAddressUsable),
  };
  const requests: ServiceRequest[] = [];
  const outcomes: ServiceOutcome[] = [];
  const seen = new Set<string>();
  for (const raw of options.services ?? []) {
    const read = readService(raw, options.lbClass);
    if (!read || seen.has(read.key)) continue;
    seen.add(read.key);
    if ("code" in read) outcomes.push(ignoredOutcome(read));
    else requests.push(read);
  }
  requests.sort(compareRequests);
  const pending: Pending[] = requests.map((req) => ({ req, notes: [] }));
  for (const p of pending) {
    if (p.req.current.length === 0) continue;
    const adopted = tryAdopt(run, p.req);
    if ("ips" in adopted) {
      assignAll(run, p.req, adopted);
      p.kept = adopted;
    } else {
      p.notes.push(adopted);
    }
  }
  const order = [...pending.filter((p) => p.req.requested), ...pending.filter((p) => !p.req.requested)];
  for (const p of order) {
    let final: Attempt | undefined;
    // MetalLB keeps the address when the request cannot be read; say why the request is not honoured.
    if (p.kept && p.req.requestError) p.notes.push({ code: "InvalidRequest", message: p.req.requestError });
    if (!p.kept) {
      const seenConflicts = run.book.conflicts.length;
      final = allocate(run, p.req);
      // Addresses skipped for this Service because another host answers for them: each becomes a remark (and so a
      // Warning Event). Refusals that only mean "still probing" are not conflicts and say nothing.
      for (const c of run.book.conflicts.slice(seenConflicts)) {
        if (!c.reason.startsWith("MAC ")) continue;
        p.notes.push({
          code: "AddressConflict",
          message: `Address ${c.ip} of pool "${c.pool}" is in use by another host on the LAN (${c.reason}); ` +
            "skipped, and probed again later",
        });
      }
    } else if (p.req.preferDual && p.kept.ips.length === 1) {
      const more = addFamily(run, p.req, p.kept);
      if ("ips" in more) final = more;
      else p.notes.push(more);
    }
    if (final && !isRefusal(final)) {
      // Only the addresses not already held are new; assign() is idempotent per Service only for new ones.
      const fresh = final.ips.filter((ip) => !p.kept?.ips.some((k) => k.family === ip.family && k.value === ip.value));
      assignAll(run, p.req, { ...final, ips: fresh });
    }
    outcomes.push(outcomeOf(p, final));
  }
  outcomes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const conflicts = [...run.book.conflicts].sort((a, b) => (a.pool + a.ip < b.pool + b.ip ? -1 : 1));
  return { services: outcomes, pools: poolStatus(run), conflicts };
}
