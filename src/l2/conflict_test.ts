import { Registry } from "../metrics/mod.ts";
import { assert, assertEquals } from "../../tests/assert.ts";
import { FakeClock } from "./_testing.ts";
import { createConflictDetector, type ProbeOutcome, PROBING_REASON } from "./conflict.ts";

/** A probe whose answers the test decides: addresses in `inUse` answer with their MAC after `delayMs`. */
function fakeProbe(clock: FakeClock, inUse: Map<string, string>, delayMs = 1000) {
  const calls: string[] = [];
  const probe = (ip: string) => {
    calls.push(ip);
    return new Promise<ProbeOutcome>((resolve) => {
      clock.setTimer(delayMs, () => resolve(inUse.has(ip) ? { mac: inUse.get(ip)! } : {}));
    });
  };
  return { probe, calls };
}

Deno.test("conflict detector: unknown addresses are probed concurrently, then answered from the cache", async () => {
  const clock = new FakeClock();
  const metrics = new Registry();
  const inUse = new Map([["198.51.100.200", "02:00:00:00:00:01"]]);
  const { probe, calls } = fakeProbe(clock, inUse);
  let settled = 0;
  const detector = createConflictDetector({ probe, clock, metrics, onSettled: () => settled++ });

  // First allocation pass: the allocator walks the pool; every unknown address is refused for now and probed.
  assertEquals(detector.check("198.51.100.200", "lan"), { usable: false, reason: PROBING_REASON, probing: true });
  assertEquals(detector.check("198.51.100.201", "lan").usable, false);
  assertEquals(detector.check("198.51.100.200", "lan").usable, false, "a second ask starts no second probe");
  assertEquals(calls, ["198.51.100.200", "198.51.100.201"]);
  assertEquals(detector.probing, 2);

  await clock.advance(1000);
  assertEquals(settled, 1, "one allocation pass for the whole batch");
  assertEquals(detector.check("198.51.100.200", "lan"), {
    usable: false,
    reason: "MAC 02:00:00:00:00:01 answers for it",
    mac: "02:00:00:00:00:01",
  });
  assertEquals(detector.check("198.51.100.201", "lan"), { usable: true });
  assertEquals(detector.conflicts(), [{
    ip: "198.51.100.200",
    pool: "lan",
    mac: "02:00:00:00:00:01",
    since: clock.now(),
  }]);
  assertEquals(
    metrics.find("metallite_address_conflicts")?.get({ pool: "lan", ip: "198.51.100.200", mac: "02:00:00:00:00:01" }),
    1,
  );
  await detector.stop();
});

Deno.test("conflict detector: an address in use is probed again later and released when free", async () => {
  const clock = new FakeClock();
  const metrics = new Registry();
  const inUse = new Map([["198.51.100.200", "02:00:00:00:00:01"]]);
  const { probe, calls } = fakeProbe(clock, inUse, 500);
  let settled = 0;
  const detector = createConflictDetector({
    probe,
    clock,
    metrics,
    reprobeAfterMs: 60_000,
    onSettled: () => settled++,
  });
  detector.check("198.51.100.200", "lan");
  await clock.advance(500);
  assertEquals(detector.check("198.51.100.200", "lan").usable, false);
  await clock.advance(30_000);
  assertEquals(calls.length, 1, "no re-probe before the re-probe time");
  inUse.delete("198.51.100.200"); // the DHCP lease ended
  await clock.advance(30_000);
  assertEquals(calls.length, 2);
  assertEquals(detector.check("198.51.100.200", "lan").usable, false, "still refused while the re-probe runs");
  await clock.advance(500);
  assertEquals(detector.check("198.51.100.200", "lan"), { usable: true });
  assertEquals(detector.conflicts(), []);
  assertEquals(
    metrics.find("metallite_address_conflicts")?.get({ pool: "lan", ip: "198.51.100.200", mac: "02:00:00:00:00:01" }),
    0,
  );
  assertEquals(settled, 2, "allocation re-runs when the address becomes free");
  await detector.stop();
});

Deno.test("conflict detector: a free result expires and is probed again before use", async () => {
  const clock = new FakeClock();
  const { probe, calls } = fakeProbe(clock, new Map(), 100);
  const detector = createConflictDetector({ probe, clock, freeForMs: 10_000 });
  detector.check("198.51.100.210");
  await clock.advance(100);
  assertEquals(detector.check("198.51.100.210"), { usable: true });
  await clock.advance(10_000);
  assertEquals(detector.check("198.51.100.210").usable, false);
  assertEquals(calls.length, 2);
  await clock.advance(100);
  assertEquals(detector.check("198.51.100.210"), { usable: true });
  await detector.stop();
});

Deno.test("conflict detector: failing or hanging probes count as free, and are counted", async () => {
  const clock = new FakeClock();
  const metrics = new Registry();
  const detector = createConflictDetector({
    clock,
    metrics,
    probeTimeoutMs: 2000,
    probe: (ip) => {
      if (ip.endsWith(".1")) throw new Error("no socket");
      if (ip.endsWith(".2")) return Promise.reject(new Error("permission denied"));
      return new Promise<ProbeOutcome>((resolve) => clock.setTimer(60_000, () => resolve({})));
    },
  });
  for (const ip of ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) detector.check(ip);
  await clock.advance(2000);
  for (const ip of ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) assertEquals(detector.check(ip), { usable: true });
  assertEquals(metrics.find("metallite_address_probe_errors_total")?.get(), 3);
  await clock.advance(60_000); // let the hung probe finish so nothing is left running
  await detector.stop();
});

Deno.test("conflict detector: at most maxConcurrent probes run; the rest wait for the next pass", async () => {
  const clock = new FakeClock();
  const { probe, calls } = fakeProbe(clock, new Map(), 1000);
  let settled = 0;
  const detector = createConflictDetector({ probe, clock, maxConcurrent: 4, onSettled: () => settled++ });
  const ips = Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 1}`);
  for (const ip of ips) assertEquals(detector.check(ip).usable, false);
  assertEquals(calls.length, 4);
  await clock.advance(1000);
  assertEquals(settled, 1);
  for (const ip of ips) detector.check(ip); // the allocator's next pass
  assertEquals(calls.length, 8);
  await clock.advance(1000);
  assert(ips.slice(0, 8).every((ip) => detector.check(ip).usable));
  await clock.advance(1000);
  await detector.stop();
});

Deno.test("conflict detector: a MAC change moves the metric to the new MAC", async () => {
  const clock = new FakeClock();
  const metrics = new Registry();
  const inUse = new Map([["198.51.100.9", "02:00:00:00:00:01"]]);
  const { probe } = fakeProbe(clock, inUse, 100);
  const detector = createConflictDetector({ probe, clock, metrics, reprobeAfterMs: 1000 });
  detector.check("198.51.100.9", "lan");
  await clock.advance(100);
  inUse.set("198.51.100.9", "02:00:00:00:00:02");
  await clock.advance(1100);
  const gauge = metrics.find("metallite_address_conflicts")!;
  assertEquals(gauge.get({ pool: "lan", ip: "198.51.100.9", mac: "02:00:00:00:00:01" }), 0);
  assertEquals(gauge.get({ pool: "lan", ip: "198.51.100.9", mac: "02:00:00:00:00:02" }), 1);
  assertEquals(detector.check("198.51.100.9", "lan").usable, false);
  await detector.stop();
});
