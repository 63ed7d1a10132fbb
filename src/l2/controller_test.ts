import type { EndpointSlice, Node, Service } from "../k8s/types.ts";
import { assert, assertEquals } from "../../tests/assert.ts";
import { advertisement, alivePeers, FakeClock, FakeHub, model, node, pool, service, slice } from "./_testing.ts";
import type { Clock } from "./clock.ts";
import {
  announcerByFamily,
  createL2Controller,
  type L2Controller,
  type L2Inputs,
  type OwnershipChange,
  type VipAnnouncer,
} from "./controller.ts";
import { indexEndpointSlices, type PeerState, sortCandidates } from "./election.ts";
import { createLiveness, type Liveness } from "./liveness.ts";

const NODES = ["node-a", "node-b", "node-c"];

/** A responder that records what it was told. */
class FakeAnnouncer implements VipAnnouncer {
  readonly answering = new Map<string, readonly string[] | undefined>();
  readonly calls: string[] = [];
  announce(ip: string, options: { interfaces?: readonly string[] }): void {
    this.answering.set(ip, options.interfaces);
    this.calls.push(`announce ${ip}${options.interfaces ? " " + options.interfaces.join(",") : ""}`);
  }
  withdraw(ip: string): void {
    this.answering.delete(ip);
    this.calls.push(`withdraw ${ip}`);
  }
  refresh(ip: string): void {
    this.calls.push(`refresh ${ip}`);
  }
}

/** Mutable cluster state shared by every node's controller. */
class World {
  services: Service[] = [];
  nodes: Node[] = NODES.map((n) => node(n));
  slices: EndpointSlice[] = [];
  peers: Map<string, PeerState> = alivePeers(NODES);
  model = model([pool("lan", ["198.51.100.200-198.51.100.250", "2001:db8:100::200-2001:db8:100::250"])], [
    advertisement("l2", ["lan"]),
  ]);
  read(peers?: () => ReadonlyMap<string, PeerState>): L2Inputs {
    const index = indexEndpointSlices(this.slices);
    return {
      model: this.model,
      services: this.services,
      nodes: this.nodes,
      endpointSlices: (k) => index.get(k) ?? [],
      peers: peers ? peers() : this.peers,
    };
  }
  addService(name: string, ips: string[], options: Parameters<typeof service>[2] = {}): Service {
    const s = service(name, ips, options);
    this.services.push(s);
    this.slices.push(slice(name, NODES));
    return s;
  }
}

function controllers(world: World, extra: { publish?: (node: string, c: OwnershipChange) => void } = {}) {
  const out: Record<string, { controller: L2Controller; announcer: FakeAnnouncer; published: OwnershipChange[] }> = {};
  for (const name of NODES) {
    const announcer = new FakeAnnouncer();
    const published: OwnershipChange[] = [];
    out[name] = {
      announcer,
      published,
      controller: createL2Controller({
        nodeName: name,
        read: () => world.read(),
        announcer,
        publish: (c) => {
          published.push(c);
          extra.publish?.(name, c);
        },
      }),
    };
  }
  return out;
}

function reconcileAll(all: ReturnType<typeof controllers>) {
  for (const n of NODES) all[n]!.controller.reconcile();
}

function owners(all: ReturnType<typeof controllers>, ip: string): string[] {
  return NODES.filter((n) => all[n]!.announcer.answering.has(ip));
}

Deno.test("controller: every address is answered by exactly one node, the elected one", () => {
  const world = new World();
  const ips = Array.from({ length: 20 }, (_, i) => `198.51.100.${200 + i}`);
  ips.forEach((ip, i) => world.addService(`svc-${i}`, [ip]));
  const all = controllers(world);
  reconcileAll(all);
  for (const ip of ips) assertEquals(owners(all, ip), [sortCandidates(NODES, ip)[0]!]);
  assert(NODES.every((n) => all[n]!.announcer.answering.size > 0), "the load is spread");
  const published = NODES.flatMap((n) => all[n]!.published);
  assertEquals(published.length, 20);
  assert(published.every((c) => c.kind === "announced" && c.owner !== undefined));
});

Deno.test("controller: ownership moves on node death, exclusion, endpoint change and deletion", async (t) => {
  const world = new World();
  const svc = world.addService("web", ["198.51.100.200"], { local: true });
  const all = controllers(world);
  reconcileAll(all);
  const order = sortCandidates(NODES, "198.51.100.200");
  assertEquals(owners(all, "198.51.100.200"), [order[0]!]);

  await t.step("owner dies", () => {
    world.peers.set(order[0]!, { alive: false, interfaces: ["eth0"] });
    reconcileAll(all);
    assertEquals(owners(all, "198.51.100.200").filter((n) => n !== order[0]), [order[1]!]);
    // The dead node's own controller still sees itself alive here; in reality its process is gone.
    world.peers = alivePeers(NODES);
    reconcileAll(all);
    assertEquals(owners(all, "198.51.100.200"), [order[0]!]);
  });
  await t.step("owner labelled exclude-from-external-load-balancers", () => {
    world.nodes = NODES.map((n) =>
      node(n, n === order[0] ? { labels: { "node.kubernetes.io/exclude-from-external-load-balancers": "true" } } : {})
    );
    reconcileAll(all);
    assertEquals(owners(all, "198.51.100.200"), [order[1]!]);
    const withdrawn = all[order[0]!]!.published.at(-1)!;
    assertEquals(withdrawn.kind, "withdrawn");
    assertEquals(withdrawn.reason, "lost-election");
    assertEquals(withdrawn.owner, order[1]);
    world.nodes = NODES.map((n) => node(n));
    reconcileAll(all);
  });
  await t.step("externalTrafficPolicy Local: endpoints leave the owner", () => {
    world.slices = [slice("web", [order[2]!])];
    reconcileAll(all);
    assertEquals(owners(all, "198.51.100.200"), [order[2]!]);
  });
  await t.step("no endpoint at all: nobody answers", () => {
    world.slices = [];
    reconcileAll(all);
    assertEquals(owners(all, "198.51.100.200"), []);
    assertEquals(all[order[2]!]!.published.at(-1)?.reason, "no-endpoints");
    world.slices = [slice("web", NODES)];
    reconcileAll(all);
  });
  await t.step("Service deleted", () => {
    world.services = world.services.filter((s) => s !== svc);
    reconcileAll(all);
    assertEquals(owners(all, "198.51.100.200"), []);
    const last = all[order[0]!]!.published.at(-1)!;
    assertEquals([last.kind, last.reason, last.object], ["withdrawn", "deleted", undefined]);
  });
});

Deno.test("controller: dual-stack Services are answered for both families by one node", () => {
  const world = new World();
  world.addService("web", ["2001:db8:100::210", "198.51.100.210"]);
  const all = controllers(world);
  reconcileAll(all);
  const owner = sortCandidates(NODES, "2001:db8:100::210")[0]!;
  assertEquals(owners(all, "198.51.100.210"), [owner]);
  assertEquals(owners(all, "2001:db8:100::210"), [owner]);
  assertEquals(all[owner]!.published[0]!.ips, ["2001:db8:100::210", "198.51.100.210"]);
});

Deno.test("controller: interfaces from the advertisement, re-announced when they change", () => {
  const world = new World();
  world.model = model(world.model.pools as ReturnType<typeof pool>[], [
    advertisement("l2", ["lan"], { interfaces: ["eth0"] }),
  ]);
  world.addService("web", ["198.51.100.200"]);
  const all = controllers(world);
  reconcileAll(all);
  const owner = sortCandidates(NODES, "198.51.100.200")[0]!;
  const a = all[owner]!.announcer;
  assertEquals(a.answering.get("198.51.100.200"), ["eth0"]);
  world.model = model(world.model.pools as ReturnType<typeof pool>[], [advertisement("l2", ["lan"])]);
  reconcileAll(all);
  assertEquals(a.calls, ["announce 198.51.100.200 eth0", "announce 198.51.100.200"]);
  assertEquals(all[owner]!.published.map((p) => p.interfaces), [["eth0"], "all"]);
});

Deno.test("controller: other load balancer classes are ignored", () => {
  const world = new World();
  world.addService("theirs", ["198.51.100.200"], { loadBalancerClass: "other.io/lb" });
  world.addService("ours", ["198.51.100.201"]);
  const all = controllers(world);
  reconcileAll(all);
  assertEquals(owners(all, "198.51.100.200"), []);
  assertEquals(owners(all, "198.51.100.201").length, 1);
});

Deno.test("controller: a shared address is decided by the first Service that has an owner", () => {
  const world = new World();
  world.addService("a-first", ["198.51.100.220"], { local: true, annotations: { "metallb.io/allow-shared-ip": "k" } });
  world.addService("b-second", ["198.51.100.220"], { local: true, annotations: { "metallb.io/allow-shared-ip": "k" } });
  // Different endpoints make the two Services elect different owners.
  const order = sortCandidates(NODES, "198.51.100.220");
  world.slices = [slice("a-first", [order[1]!]), slice("b-second", [order[0]!])];
  const all = controllers(world);
  reconcileAll(all);
  assertEquals(owners(all, "198.51.100.220"), [order[1]!]);
});

Deno.test("controller: peers coming back trigger a re-announcement of kept addresses", () => {
  const world = new World();
  world.addService("web", ["198.51.100.200"]);
  const order = sortCandidates(NODES, "198.51.100.200");
  const all = controllers(world);
  reconcileAll(all);
  world.peers.set(order[1]!, { alive: false, interfaces: [] });
  reconcileAll(all);
  world.peers.set(order[1]!, { alive: true, interfaces: ["eth0"] });
  const summary = all[order[0]!]!.controller.reconcile();
  assertEquals(summary.refreshed, ["198.51.100.200"]);
  assertEquals(all[order[0]!]!.announcer.calls.at(-1), "refresh 198.51.100.200");
  // A node joining for the first time is no revival.
  world.nodes = [...world.nodes, node("node-d")];
  world.peers.set("node-d", { alive: true, interfaces: ["eth0"] });
  assertEquals(all[order[0]!]!.controller.reconcile().refreshed, []);
});

Deno.test("controller: a peer whose heartbeats resume after a short silence triggers a re-announcement", () => {
  const world = new World();
  world.addService("web", ["198.51.100.200"]);
  const order = sortCandidates(NODES, "198.51.100.200");
  const all = controllers(world);
  world.peers.set(order[1]!, { alive: true, interfaces: ["eth0"], resumptions: 0 });
  reconcileAll(all);
  assertEquals(all[order[0]!]!.controller.reconcile().refreshed, [], "nothing changed");
  world.peers.set(order[1]!, { alive: true, interfaces: ["eth0"], resumptions: 1 });
  assertEquals(all[order[0]!]!.controller.reconcile().refreshed, ["198.51.100.200"]);
  assertEquals(all[order[0]!]!.controller.reconcile().refreshed, [], "once per resumption");
});

Deno.test("controller: a failing publisher never stops the responders; stop() withdraws everything", () => {
  const world = new World();
  world.addService("web", ["198.51.100.200"]);
  const all = controllers(world, {
    publish: () => {
      throw new Error("API server down");
    },
  });
  reconcileAll(all);
  const owner = sortCandidates(NODES, "198.51.100.200")[0]!;
  assertEquals(owners(all, "198.51.100.200"), [owner]);
  all[owner]!.controller.stop();
  assertEquals(owners(all, "198.51.100.200"), []);
  all[owner]!.controller.poke();
});

Deno.test("controller + liveness: SIGKILL of the owner moves the address within the deadline, no API involved", async () => {
  const clock = new FakeClock();
  const hub = new FakeHub(clock);
  const world = new World();
  world.addService("web", ["198.51.100.200"]);
  const order = sortCandidates(NODES, "198.51.100.200");
  const addresses = Object.fromEntries(NODES.map((n, i) => [n, `198.51.100.${i + 1}`]));
  const nodes: Record<string, { liveness: Liveness; controller: L2Controller; announcer: FakeAnnouncer }> = {};
  for (const name of NODES) {
    const announcer = new FakeAnnouncer();
    const handle = { liveness: undefined as unknown as Liveness, controller: undefined as unknown as L2Controller };
    handle.controller = createL2Controller({
      nodeName: name,
      clock,
      announcer,
      // The inputs come from caches only; the API server is not consulted on this path.
      read: () => world.read(() => handle.liveness.view()),
    });
    handle.liveness = createLiveness({
      nodeName: name,
      namespace: "metallb-system",
      transport: hub.transport(addresses[name]!),
      clock,
      localInterfaces: () => ["eth0"],
      onChange: () => handle.controller.poke(true),
    });
    handle.liveness.setPeers(NODES.map((n) => ({ name: n, address: addresses[n]! })));
    nodes[name] = { ...handle, announcer };
  }
  for (const n of NODES) {
    nodes[n]!.liveness.start();
    nodes[n]!.liveness.setReady();
  }
  await clock.advance(700);
  assertEquals(NODES.filter((n) => nodes[n]!.announcer.answering.has("198.51.100.200")), [order[0]!]);

  hub.silence(addresses[order[0]!]!);
  const killedAt = clock.now();
  let movedAt: number | undefined;
  for (let t = 0; t < 3000 && movedAt === undefined; t += 10) {
    await clock.advance(10);
    if (nodes[order[1]!]!.announcer.answering.has("198.51.100.200")) movedAt = clock.now();
  }
  assert(movedAt !== undefined, "the next node took over");
  assert(movedAt - killedAt <= 1010, `took over ${movedAt - killedAt} ms after the kill`);
  assertEquals(nodes[order[2]!]!.announcer.answering.size, 0);
  for (const n of NODES) {
    nodes[n]!.controller.stop();
    await nodes[n]!.liveness.stop();
  }
  await clock.advance(10);
  assertEquals(clock.pending, 0);
});

Deno.test("controller + liveness: a restarting owner takes its address back without a double answer", async () => {
  const clock = new FakeClock();
  const hub = new FakeHub(clock, 1);
  const world = new World();
  world.addService("web", ["198.51.100.200"]);
  const order = sortCandidates(NODES, "198.51.100.200");
  const addresses = Object.fromEntries(NODES.map((n, i) => [n, `198.51.100.${i + 1}`]));
  const peers = NODES.map((n) => ({ name: n, address: addresses[n]! }));
  function boot(name: string) {
    const announcer = new FakeAnnouncer();
    const handle = { liveness: undefined as unknown as Liveness, controller: undefined as unknown as L2Controller };
    handle.controller = createL2Controller({
      nodeName: name,
      clock,
      announcer,
      read: () => world.read(() => handle.liveness.view()),
    });
    handle.liveness = createLiveness({
      nodeName: name,
      namespace: "metallb-system",
      transport: hub.transport(addresses[name]!),
      clock,
      wallClock: () => clock.now(),
      localInterfaces: () => ["eth0"],
      onChange: () => handle.controller.poke(true),
    });
    handle.liveness.setPeers(peers);
    handle.liveness.start();
    return { ...handle, announcer };
  }
  const nodes = Object.fromEntries(NODES.map((n) => [n, boot(n)]));
  for (const n of NODES) nodes[n]!.liveness.setReady();
  await clock.advance(700);
  const owner = order[0]!;
  // Graceful restart: stop answering, say goodbye; the next node takes over at once.
  nodes[owner]!.controller.stop();
  await nodes[owner]!.liveness.stop();
  await clock.advance(5);
  assert(nodes[order[1]!]!.announcer.answering.has("198.51.100.200"), "taken over at once on leaving");
  // The new process starts, syncs its caches for 2 s, then becomes ready.
  nodes[owner] = boot(owner);
  let double = false;
  for (let t = 0; t < 2000; t += 5) {
    await clock.advance(5);
    if (t === 1995) nodes[owner]!.liveness.setReady();
    if (NODES.filter((n) => nodes[n]!.announcer.answering.has("198.51.100.200")).length > 1) double = true;
  }
  for (let t = 0; t < 1000; t += 1) {
    await clock.advance(1);
    const n = NODES.filter((x) => nodes[x]!.announcer.answering.has("198.51.100.200")).length;
    // A hand-back overlaps for at most the network latency (1 ms here) plus one coalesced reconcile.
    if (n > 1) double = t > 3 ? true : double;
  }
  assert(!double, "never two owners beyond the hand-over instant");
  assertEquals(NODES.filter((n) => nodes[n]!.announcer.answering.has("198.51.100.200")), [owner]);
  for (const n of NODES) {
    nodes[n]!.controller.stop();
    await nodes[n]!.liveness.stop();
  }
  await clock.advance(10);
});

/** A controller over one Service (minIntervalMs 100) that counts its reads; `onRead` runs on each. */
function controllerCountingReads(
  clock: Clock,
  onRead: () => void = () => {},
): { controller: L2Controller; reads: () => number } {
  const world = new World();
  world.addService("web", ["198.51.100.200"]);
  let reads = 0;
  const controller = createL2Controller({
    nodeName: "node-a",
    clock,
    minIntervalMs: 100,
    announcer: new FakeAnnouncer(),
    read: () => {
      reads++;
      onRead();
      return world.read();
    },
  });
  return { controller, reads: () => reads };
}

Deno.test("controller: urgent pokes reconcile at once, others are spaced by minIntervalMs", async () => {
  const clock = new FakeClock();
  const { controller, reads } = controllerCountingReads(clock);
  controller.poke();
  controller.poke();
  await clock.advance(0);
  assertEquals(reads(), 1, "the first poke runs at once, the second is coalesced");
  for (let i = 0; i < 10; i++) {
    controller.poke();
    await clock.advance(10);
  }
  assertEquals(reads(), 2, "a storm of pokes: one more reconcile per 100 ms");
  controller.poke(true);
  await clock.advance(0);
  assertEquals(reads(), 3, "urgent: at once");
  controller.stop();
  assertEquals(clock.pending, 0);
});

Deno.test("controller: a costly reconcile spaces the next non-urgent one by three times its cost", async () => {
  const fake = new FakeClock();
  let spent = 0; // time the reconciles "took", on top of the fake clock
  const clock = { now: () => fake.now() + spent, setTimer: (ms: number, fn: () => void) => fake.setTimer(ms, fn) };
  const { controller, reads } = controllerCountingReads(clock, () => spent += 200);
  controller.poke();
  await fake.advance(0);
  assertEquals(reads(), 1);
  controller.poke();
  await fake.advance(350); // 200 ms of cost plus 350: 550 ms after the first started, below 3 x 200
  assertEquals(reads(), 1, "not yet: three times the cost has not passed");
  await fake.advance(50);
  assertEquals(reads(), 2);
  controller.poke(true);
  await fake.advance(0);
  assertEquals(reads(), 3, "urgent pokes never wait");
  controller.stop();
  assertEquals(fake.pending, 0);
});

Deno.test("announcerByFamily() routes IPv4 to one announcer and IPv6 to the other", () => {
  const v4 = new FakeAnnouncer();
  const v6 = new FakeAnnouncer();
  const both = announcerByFamily(v4, v6);
  both.announce("198.51.100.1", {});
  both.announce("2001:db8::1", { interfaces: ["eth0"] });
  both.refresh?.("2001:db8::1");
  both.withdraw("198.51.100.1");
  assertEquals(v4.calls, ["announce 198.51.100.1", "withdraw 198.51.100.1"]);
  assertEquals(v6.calls, ["announce 2001:db8::1 eth0", "refresh 2001:db8::1"]);
});
