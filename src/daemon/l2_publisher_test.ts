import { assertEquals } from "../../tests/assert.ts";
import type { KubeApi, MetallbObject, Service } from "../k8s/mod.ts";
import type { OwnershipChange } from "../l2/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { createL2Publisher, type L2PublisherOptions } from "./l2_publisher.ts";

function service(name: string): Service {
  return { metadata: { name, namespace: "default", uid: `uid-${name}` } } as Service;
}

function announced(name: string): OwnershipChange {
  return {
    kind: "announced",
    service: `default/${name}`,
    object: service(name),
    ips: ["192.0.2.10"],
    interfaces: "all",
  };
}

function withdrawn(name: string): OwnershipChange {
  return {
    kind: "withdrawn",
    service: `default/${name}`,
    ips: ["192.0.2.10"],
    interfaces: [],
    reason: "lost-election",
  };
}

/** Records what the publisher asks of the API and the Event recorder; the loop's turns run when the test says. */
function harness(overrides: Partial<L2PublisherOptions> = {}) {
  const calls: string[] = [];
  const events: string[] = [];
  const turns: (() => void)[] = [];
  let seq = 0;
  const statuses = {
    list: () => {
      calls.push("list");
      return Promise.resolve({ items: [{ metadata: { name: "stale-1", namespace: "metallb-system" } }] });
    },
    delete: (ref: { name: string }) => {
      calls.push(`delete ${ref.name}`);
      return Promise.resolve();
    },
    create: (object: MetallbObject) => {
      const name = `status-${++seq}`;
      calls.push(`create ${String((object.metadata as { generateName?: string }).generateName ?? "")}`);
      return Promise.resolve({ ...object, metadata: { ...object.metadata, name } });
    },
    get: (ref: { name: string }) => {
      calls.push(`get ${ref.name}`);
      return Promise.resolve({ metadata: { name: ref.name, namespace: "metallb-system" } });
    },
    updateStatus: (object: MetallbObject) => {
      calls.push(`status ${object.metadata.name}`);
      return Promise.resolve(object);
    },
  };
  const publisher = createL2Publisher({
    api: { serviceL2Statuses: statuses } as unknown as Pick<KubeApi, "serviceL2Statuses">,
    events: {
      record: (object, details) => {
        events.push(`${object.namespace}/${object.name} ${details.reason}`);
        return Promise.resolve();
      },
    },
    nodeName: "node1",
    namespace: "metallb-system",
    crds: true,
    log: silentLogger,
    nextTurn: (fn) => turns.push(fn),
    ...overrides,
  });
  return {
    publisher,
    calls,
    events,
    /** Runs the next turn of the loop (one slice); false when none was asked for. */
    turn(): boolean {
      const fn = turns.shift();
      fn?.();
      return fn !== undefined;
    },
    get turnsAsked() {
      return turns.length;
    },
  };
}

Deno.test("L2 publisher: publish() only queues, so the election's reconcile pays nothing for Events and writes", async () => {
  const h = harness();
  await h.publisher.drain(); // the stale objects of an earlier run are removed first
  h.calls.length = 0;
  for (let i = 0; i < 100; i++) h.publisher.publish(announced(`svc${i}`));
  assertEquals(h.events.length, 0, "no Event recorded during publish()");
  assertEquals(h.publisher.queued, 100);
  assertEquals(h.turnsAsked, 1, "one turn asked for, however many changes");
  while (h.turn());
  assertEquals(h.publisher.queued, 0);
  assertEquals(h.events.length, 100);
  assertEquals(h.events[0], "default/svc0 nodeAssigned");
  await h.publisher.drain();
  assertEquals(h.calls.filter((c) => c.startsWith("create")).length, 100);
});

Deno.test("L2 publisher: a slice ends when its time is spent and the rest waits for the next turn", () => {
  let now = 0;
  // Every handled change costs 1 ms on this clock.
  const h = harness({ now: () => now++, sliceMs: 3 });
  for (let i = 0; i < 10; i++) h.publisher.publish(announced(`svc${i}`));
  assertEquals(h.turn(), true);
  assertEquals(h.events.length, 3, "three changes fit in a 3 ms slice");
  assertEquals(h.publisher.queued, 7);
  assertEquals(h.turnsAsked, 1, "the slice gave the loop back and asked for another turn");
  while (h.turn());
  assertEquals(h.events.length, 10);
  assertEquals(h.turnsAsked, 0);
});

Deno.test("L2 publisher: status objects are created, their status written, and deleted when withdrawn", async () => {
  const h = harness();
  h.publisher.publish(announced("web"));
  h.publisher.publish(announced("web")); // interfaces changed: the existing object is rewritten
  h.publisher.publish(withdrawn("web"));
  h.publisher.publish(withdrawn("never-announced"));
  while (h.turn());
  await h.publisher.drain();
  assertEquals(h.calls, [
    "list",
    "delete stale-1",
    "create l2-",
    "status status-1",
    "get status-1",
    "status status-1",
    "delete status-1",
  ]);
  assertEquals(h.events, ["default/web nodeAssigned", "default/web nodeAssigned"]);
});

Deno.test("L2 publisher: drain() handles what is still queued, then waits for the writes", async () => {
  const h = harness();
  h.publisher.publish(announced("a"));
  h.publisher.publish(announced("b"));
  await h.publisher.drain();
  assertEquals(h.publisher.queued, 0);
  assertEquals(h.events.length, 2);
  assertEquals(h.calls.filter((c) => c.startsWith("status")).length, 2);
  assertEquals(h.turn(), true, "the turn asked for before drain() finds nothing left");
  assertEquals(h.events.length, 2);
});

Deno.test("L2 publisher: without the metallb.io CRDs only Events are written", async () => {
  const h = harness({ crds: false });
  h.publisher.publish(announced("a"));
  while (h.turn());
  await h.publisher.drain();
  assertEquals(h.calls, []);
  assertEquals(h.events, ["default/a nodeAssigned"]);
});
