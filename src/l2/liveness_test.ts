import { Registry } from "../metrics/mod.ts";
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { FakeClock, FakeHub } from "./_testing.ts";
import { clusterHash, decodeHeartbeat, encodeHeartbeat } from "./heartbeat.ts";
import { createLiveness, type Liveness, type LivenessOptions } from "./liveness.ts";

const ADDRESSES: Record<string, string> = {
  "node-a": "198.51.100.1",
  "node-b": "198.51.100.2",
  "node-c": "198.51.100.3",
};
const PEERS = Object.entries(ADDRESSES).map(([name, address]) => ({ name, address }));

interface Instance {
  liveness: Liveness;
  changes: number;
  metrics: Registry;
  transport: ReturnType<FakeHub["transport"]>;
}

function instance(
  hub: FakeHub,
  clock: FakeClock,
  name: string,
  extra: Partial<LivenessOptions> = {},
): Instance {
  const metrics = new Registry();
  const transport = hub.transport(ADDRESSES[name]!);
  const inst: Instance = { liveness: undefined as unknown as Liveness, changes: 0, metrics, transport };
  inst.liveness = createLiveness({
    nodeName: name,
    namespace: "metallb-system",
    transport,
    clock,
    wallClock: () => clock.now(),
    localInterfaces: () => ["eth0"],
    onChange: () => inst.changes++,
    metrics,
    ...extra,
  });
  inst.liveness.setPeers(PEERS);
  return inst;
}

function phase(inst: Instance, peer: string): string | undefined {
  return inst.liveness.report().find((p) => p.name === peer)?.phase;
}

function dropped(inst: Instance, reason: string): number {
  return inst.metrics.find("metallite_heartbeats_dropped_total")?.get({ reason }) ?? 0;
}

async function cluster(names = ["node-a", "node-b", "node-c"], extra: Partial<LivenessOptions> = {}) {
  const clock = new FakeClock();
  const hub = new FakeHub(clock);
  const all = Object.fromEntries(names.map((n) => [n, instance(hub, clock, n, extra)]));
  for (const i of Object.values(all)) {
    i.liveness.start();
    i.liveness.setReady();
  }
  await clock.advance(700);
  return { clock, hub, all };
}

async function stopAll(instances: Record<string, Instance>) {
  for (const i of Object.values(instances)) await i.liveness.stop();
}

Deno.test("liveness: instances hear each other and become ready after the start-up window", async () => {
  const clock = new FakeClock();
  const hub = new FakeHub(clock);
  const a = instance(hub, clock, "node-a");
  const b = instance(hub, clock, "node-b");
  a.liveness.start();
  b.liveness.start();
  await clock.advance(300);
  assertEquals(phase(a, "node-b"), "starting");
  assertEquals(a.liveness.view().get("node-b"), { alive: false, interfaces: ["eth0"], resumptions: 0 });
  assertEquals(a.liveness.ready, false);
  a.liveness.setReady();
  assertEquals(a.liveness.ready, false, "not before the window has passed");
  await clock.advance(302);
  assertEquals(a.liveness.ready, true);
  assertEquals(a.liveness.view().get("node-a"), { alive: true, interfaces: ["eth0"] });
  assertEquals(phase(b, "node-a"), "alive", "the ready heartbeat reaches the peer at once");
  assertEquals(b.liveness.ready, false, "no setReady(), no candidacy");
  assertEquals(phase(a, "node-c"), "unknown");
  assertEquals(a.liveness.view().has("node-c"), false);
  await a.liveness.stop();
  await b.liveness.stop();
  await clock.advance(5); // the fake network delivers the goodbyes
  assertEquals(clock.pending, 0, "every timer is cleared");
});

Deno.test("liveness: a silent peer is dead after the dead-after time, not before", async () => {
  const { clock, hub, all } = await cluster();
  const a = all["node-a"]!;
  await clock.advance(50);
  hub.silence(ADDRESSES["node-c"]!);
  const silencedAt = clock.now();
  const last = hub.sent.filter((s) => s.from === ADDRESSES["node-c"]).at(-1)!;
  const lastDelivered = last.at + 1;
  const changesBefore = a.changes;
  let deadAt: number | undefined;
  for (let t = 0; t < 2000 && deadAt === undefined; t += 10) {
    await clock.advance(10);
    if (phase(a, "node-c") === "dead") deadAt = clock.now();
  }
  assert(deadAt !== undefined, "declared dead");
  const silence = deadAt - lastDelivered;
  assert(silence >= 1000 && silence <= 1010 + 10, `declared dead ${silence} ms after the last heartbeat`);
  assert(deadAt - silencedAt <= 1000, "within the dead-after time of the kill");
  assertEquals(a.liveness.view().get("node-c")?.alive, false);
  assert(a.changes > changesBefore, "onChange was called");
  assertEquals(phase(a, "node-b"), "alive");
  assertEquals(phase(all["node-b"]!, "node-c"), "dead");
  await stopAll(all);
});

Deno.test("liveness: a leaving peer is gone at once", async () => {
  const { clock, all } = await cluster();
  await all["node-b"]!.liveness.stop();
  await clock.advance(2);
  assertEquals(phase(all["node-a"]!, "node-b"), "left");
  assertEquals(all["node-a"]!.liveness.view().get("node-b")?.alive, false);
  await all["node-a"]!.liveness.stop();
  await all["node-c"]!.liveness.stop();
});

Deno.test("liveness: a restarted peer (new incarnation) is starting until it is ready, then alive", async () => {
  const { clock, hub, all } = await cluster();
  const a = all["node-a"]!;
  // Kill node-b without goodbye, restart it later on the same address.
  hub.silence(ADDRESSES["node-b"]!);
  await all["node-b"]!.transport.close();
  await all["node-b"]!.liveness.stop();
  await clock.advance(1500);
  assertEquals(phase(a, "node-b"), "dead");
  hub.heal();
  const b2 = instance(hub, clock, "node-b");
  b2.liveness.start();
  await clock.advance(250);
  assertEquals(phase(a, "node-b"), "starting");
  assertEquals(a.liveness.view().get("node-b")?.alive, false);
  b2.liveness.setReady();
  await clock.advance(400);
  assertEquals(phase(a, "node-b"), "alive");
  assert(b2.liveness.incarnation !== all["node-b"]!.liveness.incarnation);
  await b2.liveness.stop();
  await a.liveness.stop();
  await all["node-c"]!.liveness.stop();
});

Deno.test("liveness: bad datagrams are dropped and counted by reason", async (t) => {
  const { clock, hub, all } = await cluster(["node-a", "node-b"]);
  const a = all["node-a"]!;
  const to = ADDRESSES["node-a"]!;
  const good = hub.sent.filter((s) => s.from === ADDRESSES["node-b"]).at(-1)!.data;
  const decoded = decodeHeartbeat(good);
  assert(decoded.ok);
  const hb = decoded.heartbeat;
  const cases: [string, Uint8Array, string][] = [
    ["garbage", new Uint8Array([1, 2, 3]), "too-short"],
    ["replayed heartbeat", good, "stale"],
    [
      "another cluster",
      encodeHeartbeat({ ...hb, cluster: clusterHash("other"), sequence: hb.sequence + 100 }),
      "wrong-cluster",
    ],
    ["unknown node", encodeHeartbeat({ ...hb, node: "intruder", sequence: 1 }), "unknown-node"],
    ["our own name", encodeHeartbeat({ ...hb, node: "node-a" }), "self"],
    ["older incarnation", encodeHeartbeat({ ...hb, incarnation: hb.incarnation - 1n, sequence: 1 }), "stale"],
    [
      "signed while no key is set",
      encodeHeartbeat({ ...hb, sequence: hb.sequence + 100 }, new Uint8Array([1])),
      "unexpected-hmac",
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, () => {
      const before = dropped(a, reason);
      a.transport.closed = false;
      hub.inject(to, bytes, "203.0.113.66");
      assertEquals(dropped(a, reason), before + 1);
      assertEquals(phase(a, "node-b"), "alive");
    });
  }
  await t.step("a flood of junk neither kills nor resurrects anyone", async () => {
    for (let i = 0; i < 1000; i++) hub.inject(to, new Uint8Array(i % 900), "203.0.113.66");
    await clock.advance(10);
    assertEquals(phase(a, "node-b"), "alive");
  });
  await stopAll(all);
});

Deno.test("liveness: with a shared key, unsigned or wrongly signed heartbeats are refused", async () => {
  const clock = new FakeClock();
  const hub = new FakeHub(clock);
  const key = new TextEncoder().encode("cluster secret");
  const a = instance(hub, clock, "node-a", { key });
  const b = instance(hub, clock, "node-b", { key });
  const c = instance(hub, clock, "node-c", { key: new TextEncoder().encode("wrong") });
  for (const i of [a, b, c]) {
    i.liveness.start();
    i.liveness.setReady();
  }
  await clock.advance(700);
  assertEquals(phase(a, "node-b"), "alive");
  assertEquals(phase(a, "node-c"), "unknown");
  assert(dropped(a, "bad-hmac") > 0);
  for (const i of [a, b, c]) await i.liveness.stop();
});

Deno.test("liveness: a stalled process reads queued heartbeats before declaring anyone dead", async () => {
  const { clock, all } = await cluster(["node-a", "node-b"]);
  const a = all["node-a"]!;
  await clock.stall(3000);
  await clock.advance(500);
  assertEquals(phase(a, "node-b"), "alive");
  assertEquals(a.metrics.find("metallite_peer_transitions_total")?.get({ phase: "dead" }), 0);
  await stopAll(all);
});

Deno.test("liveness: a peer announcing a slower interval gets proportionally longer", async () => {
  const clock = new FakeClock();
  const hub = new FakeHub(clock);
  const a = instance(hub, clock, "node-a");
  const b = instance(hub, clock, "node-b", { intervalMs: 500, deadAfterMs: 2500 });
  a.liveness.start();
  b.liveness.start();
  a.liveness.setReady();
  b.liveness.setReady();
  await clock.advance(5000);
  assertEquals(phase(a, "node-b"), "alive", "500 ms gaps are normal for this peer");
  await a.liveness.stop();
  await b.liveness.stop();
});

Deno.test("liveness: peers removed from the list are forgotten; bad timing options are refused", async () => {
  const { clock, all } = await cluster(["node-a", "node-b"]);
  const a = all["node-a"]!;
  a.liveness.setPeers([{ name: "node-a", address: ADDRESSES["node-a"]! }]);
  assertEquals(a.liveness.view().has("node-b"), false);
  await clock.advance(400);
  assert(dropped(a, "unknown-node") > 0, "its heartbeats now count as unknown");
  await stopAll(all);
  const hub = new FakeHub(clock);
  assertThrows(() => instance(hub, clock, "node-a", { intervalMs: 200, deadAfterMs: 300 }), RangeError);
});

Deno.test("liveness: a one-way cut is seen by one side only", async () => {
  const { clock, hub, all } = await cluster(["node-a", "node-b"]);
  hub.cut(ADDRESSES["node-b"]!, ADDRESSES["node-a"]!);
  await clock.advance(1300);
  assertEquals(phase(all["node-a"]!, "node-b"), "dead");
  assertEquals(phase(all["node-b"]!, "node-a"), "alive");
  hub.heal();
  await clock.advance(250);
  assertEquals(phase(all["node-a"]!, "node-b"), "alive", "heard again within one interval after healing");
  await stopAll(all);
});

Deno.test("liveness: heartbeats resuming after a silence shorter than death count as a resumption", async () => {
  const { clock, hub, all } = await cluster(["node-a", "node-b"]);
  const a = all["node-a"]!;
  await clock.advance(1000);
  const before = a.changes;
  assertEquals(a.liveness.view().get("node-b")?.resumptions, 0);
  hub.cut(ADDRESSES["node-b"]!, ADDRESSES["node-a"]!);
  await clock.advance(700); // a link flap: silent, but not yet dead
  assertEquals(phase(a, "node-b"), "alive");
  hub.heal();
  await clock.advance(250);
  assertEquals(a.liveness.view().get("node-b")?.resumptions, 1, "the gap is noticed");
  assert(a.changes > before, "and reported, so the controller re-announces what it keeps");
  await clock.advance(1000);
  assertEquals(a.liveness.view().get("node-b")?.resumptions, 1, "steady heartbeats are no resumption");
  await stopAll(all);
});
