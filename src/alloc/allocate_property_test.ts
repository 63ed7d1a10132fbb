// deno-lint-ignore-file no-console
import { assert, assertEquals } from "../../tests/assert.ts";
import type { Model, Pool } from "../config/model.ts";
import { canonicalIp, isBuggyIp, tryParseIp } from "../ip/mod.ts";
import { allocateAll } from "./allocate.ts";
import { poolsOf, short, svc, type SvcOptions } from "./_test_util.ts";
import type { AllocationResult, ServiceLike } from "./types.ts";

/** Mulberry32: a small seeded generator, so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function shuffle<T>(r: () => number, list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Random non-overlapping pools inside the documentation ranges. */
function randomPools(r: () => number): Model {
  const specs: Record<string, { addresses: string[]; [k: string]: unknown }> = {};
  const count = 1 + Math.floor(r() * 4);
  for (let i = 0; i < count; i++) {
    const addresses: string[] = [];
    if (r() < 0.8) {
      addresses.push(`${pick(r, ["192.0.2", "198.51.100", "203.0.113"])}.${i * 64}/${pick(r, [27, 28, 29, 30])}`);
    }
    if (r() < 0.5 || addresses.length === 0) addresses.push(`2001:db8:${i}::/${pick(r, [124, 126, 64])}`);
    // The same /24 can be picked twice for different i: offsets by i*64 keep them apart.
    specs[`pool-${i}`] = {
      addresses,
      ...(r() < 0.2 ? { autoAssign: false } : {}),
      ...(r() < 0.3 ? { avoidBuggyIPs: true } : {}),
      ...(r() < 0.3
        ? { serviceAllocation: { priority: Math.floor(r() * 3), ...(r() < 0.5 ? { namespaces: ["ns-a"] } : {}) } }
        : {}),
    };
  }
  return poolsOf(specs);
}

function randomIp(r: () => number, pools: readonly Pool[]): string {
  const pool = pick(r, pools);
  const ranges = [...pool.ranges[4], ...pool.ranges[6]];
  const range = pick(r, ranges);
  const span = range.last - range.first;
  const offset = span > 1000n ? BigInt(Math.floor(r() * 1000)) : BigInt(Math.floor(r() * Number(span + 1n)));
  const value = range.first + offset;
  if (range.family === 4) return [24, 16, 8, 0].map((s) => Number((value >> BigInt(s)) & 255n)).join(".");
  const groups = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":");
}

function randomServices(r: () => number, model: Model, n: number): ServiceLike[] {
  const out: ServiceLike[] = [];
  for (let i = 0; i < n; i++) {
    const family = pick(r, ["4", "4", "6", "46", "64"] as const);
    const o: SvcOptions = {
      ns: pick(r, ["ns-a", "ns-b"]),
      t: Math.floor(r() * 50),
      family,
      ports: [pick(r, [80, 443, 53, "UDP/53"])],
    };
    if (family.length === 2) o.policy = pick(r, ["RequireDualStack", "PreferDualStack"]);
    const ann: Record<string, string> = {};
    if (r() < 0.4) {
      ann[pick(r, ["metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"])] = pick(r, ["k1", "k2"]);
    }
    if (r() < 0.15) ann["metallb.io/address-pool"] = pick(r, model.pools).name;
    if (r() < 0.15) ann["metallb.io/loadBalancerIPs"] = randomIp(r, model.pools);
    if (Object.keys(ann).length) o.ann = ann;
    if (r() < 0.2) o.local = { app: pick(r, ["x", "y"]) };
    if (r() < 0.25) o.status = [randomIp(r, model.pools)];
    out.push(svc(`s${i}`, o));
  }
  return out;
}

function keyOf(s: ServiceLike): string {
  return `${s.metadata.namespace}/${s.metadata.name}`;
}

function checkInvariants(model: Model, services: readonly ServiceLike[], result: AllocationResult): void {
  const byKey = new Map(services.map((s) => [keyOf(s), s]));
  const users = new Map<string, string[]>();
  for (const o of result.services) {
    if (o.state !== "assigned") continue;
    const s = byKey.get(o.key)!;
    const pool = model.pools.find((p) => p.name === o.pool)!;
    const ann = s.metadata.annotations ?? {};
    for (const text of o.ips) {
      const ip = tryParseIp(text)!;
      assert(pool.ranges[ip.family].some((r) => ip.value >= r.first && ip.value <= r.last), `${text} in ${o.pool}`);
      assert(!(pool.avoidBuggyIPs && isBuggyIp(ip)), `${text} is buggy in ${o.pool}`);
      users.set(text, [...(users.get(text) ?? []), o.key]);
    }
    const families = o.ips.map((t) => tryParseIp(t)!.family).sort().join("");
    const wanted = (s.spec!.ipFamilies ?? []).map((f) => (f === "IPv4" ? "4" : "6")).sort().join("");
    if (s.spec!.ipFamilyPolicy === "PreferDualStack") assert(wanted.includes(families), `${o.key} families`);
    else assertEquals(families, wanted, `${o.key} families`);
    const requestedPool = ann["metallb.io/address-pool"];
    if (requestedPool) assertEquals(o.pool, requestedPool, `${o.key} pool`);
    const requested = ann["metallb.io/loadBalancerIPs"];
    if (requested) assertEquals(o.ips.join(), canonicalIp(requested), `${o.key} requested IP`);
    if (!pool.autoAssign && !requestedPool && !ann["metallb.io/loadBalancerIPs"]) {
      assert((s.status?.loadBalancer?.ingress ?? []).length > 0, `${o.key} got autoAssign:false pool ${o.pool}`);
    }
  }
  for (const [ip, keys] of users) {
    if (keys.length < 2) continue;
    const svcs = keys.map((k) => byKey.get(k)!);
    const sharing = svcs.map((s) =>
      s.metadata.annotations?.["metallb.io/allow-shared-ip"] ??
        s.metadata.annotations?.["metallb.universe.tf/allow-shared-ip"]
    );
    assert(sharing.every((k) => k !== undefined && k === sharing[0]), `${ip} shared by ${keys} without one key`);
    const policies = svcs.map((s) => JSON.stringify([s.spec!.externalTrafficPolicy, s.spec!.selector]));
    assert(policies.every((p) => p === policies[0]), `${ip} shared across traffic policies`);
    const ports = svcs.flatMap((s) => (s.spec!.ports ?? []).map((p) => `${p.protocol}/${p.port}`));
    assertEquals(new Set(ports).size, ports.length, `${ip} shared with clashing ports`);
  }
  for (const p of result.pools) {
    const inPool = [...users.keys()].filter((ip) =>
      result.services.some((o) => o.state === "assigned" && o.pool === p.name && o.ips.includes(ip))
    );
    assertEquals(p.assignedIPv4 + p.assignedIPv6, inPool.length, `counters of ${p.name}`);
  }
}

/** The Services as the allocator would leave them: its addresses written to status. */
function applied(services: readonly ServiceLike[], result: AllocationResult): ServiceLike[] {
  const outcomes = new Map(result.services.map((o) => [o.key, o]));
  return services.map((s) => {
    const o = outcomes.get(keyOf(s))!;
    const ingress = o.state === "assigned" ? o.ips.map((ip) => ({ ip })) : [];
    return { ...s, status: { loadBalancer: { ingress } } };
  });
}

function summary(result: AllocationResult): string {
  return JSON.stringify(result.services.map((o) => [o.key, short(o)]));
}

Deno.test("allocateAll() property: no address twice but valid sharing, all inside their pool, deterministic", async (t) => {
  const seen = { shared: 0, adopted: 0, pending: 0, requested: 0, dual: 0 };
  for (let seed = 1; seed <= 60; seed++) {
    await t.step(`seed ${seed}`, () => {
      const r = rng(seed);
      const model = randomPools(r);
      const services = randomServices(r, model, 5 + Math.floor(r() * 40));
      const result = allocateAll({ model, services });
      checkInvariants(model, services, result);
      for (let i = 0; i < 3; i++) {
        assertEquals(summary(allocateAll({ model, services: shuffle(r, services) })), summary(result), "shuffled");
      }
      // A restart (or a takeover) reads back what was written: nothing moves, nothing needs writing.
      const restarted = allocateAll({ model, services: shuffle(r, applied(services, result)) });
      assertEquals(summary(restarted), summary(result), "restart");
      for (const o of restarted.services) {
        if (o.state === "assigned") assert(!o.changed, `${o.key} changed after restart`);
      }
      checkInvariants(model, services, restarted);
      const ips = result.services.flatMap((o) => (o.state === "assigned" ? o.ips : []));
      seen.shared += ips.length - new Set(ips).size;
      for (const o of result.services) {
        if (o.state === "pending") seen.pending++;
        if (o.state !== "assigned") continue;
        if (o.code === "Adopted") seen.adopted++;
        if (o.code === "Requested") seen.requested++;
        if (o.ips.length === 2) seen.dual++;
      }
    });
  }
  // The random inputs must reach every path the invariants are about.
  for (const [what, n] of Object.entries(seen)) assert(n >= 5, `only ${n} ${what} outcomes: ${JSON.stringify(seen)}`);
});

Deno.test("allocateAll() keeps every address MetalLB handed out when switching", () => {
  const r = rng(7);
  const model = poolsOf({ lan: { addresses: ["192.0.2.0/24", "2001:db8::/64"] } });
  // MetalLB's order among pools is random and its controller's history unknown: scattered, non-lowest addresses.
  const taken = shuffle(r, Array.from({ length: 200 }, (_, i) => `192.0.2.${i + 20}`)).slice(0, 120);
  const services = taken.map((ip, i) =>
    svc(`m${i}`, { t: i, status: [ip], ann: { "metallb.universe.tf/ip-allocated-from-pool": "lan" } })
  );
  const result = allocateAll({ model, services: [...services, svc("new", { t: 999 })] });
  for (const [i, ip] of taken.entries()) {
    const o = result.services.find((s) => s.name === `m${i}`)!;
    assert(o.state === "assigned" && o.ips[0] === ip && o.code === "Adopted" && !o.changed, `m${i} kept ${ip}`);
  }
  assertEquals(short(result.services.find((s) => s.name === "new")!), "192.0.2.0@lan");
});

function timeIt(run: () => unknown): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

Deno.test("allocateAll() handles 10,000 Services in well under a second, cold and on restart", () => {
  const model = poolsOf({
    big: { addresses: ["10.0.0.0/18", "2001:db8::/64"], avoidBuggyIPs: true },
    small: { addresses: ["192.0.2.0/24"], serviceAllocation: { priority: 1, namespaces: ["ns-3"] } },
  });
  const services: ServiceLike[] = [];
  for (let i = 0; i < 10_000; i++) {
    const family = i % 10 === 0 ? "46" : i % 7 === 0 ? "6" : "4";
    const ann: Record<string, string> = i % 13 === 0 ? { "metallb.io/allow-shared-ip": `k${i % 5}` } : {};
    services.push(svc(`s${i}`, { ns: `ns-${i % 50}`, t: i % 3600, family, ports: [80 + (i % 3)], ann }));
  }
  allocateAll({ model, services: services.slice(0, 200) }); // warm the JIT
  let cold: AllocationResult | undefined;
  const coldMs = timeIt(() => cold = allocateAll({ model, services }));
  const assigned = cold!.services.filter((o) => o.state === "assigned").length;
  assertEquals(assigned, 10_000);
  const again = applied(services, cold!);
  const restartMs = timeIt(() => allocateAll({ model, services: again }));
  console.log(`10,000 Services: cold ${coldMs.toFixed(0)} ms, restart (all adopted) ${restartMs.toFixed(0)} ms`);
  // Goal is "well under a second" of CPU; the bound leaves room for a busy shared CI machine.
  assert(coldMs < 2000 && restartMs < 2000, `too slow: ${coldMs} ms / ${restartMs} ms`);
});
