import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { memoryApi, service, status } from "./_testing.ts";
import { createKubeApi } from "./api.ts";
import { FakeClock } from "./clock.ts";
import { KubeApiError } from "./errors.ts";
import { EventRecorder } from "./events.ts";
import { LeaderElector, LeaseLock, microTime } from "./lease.ts";
import { updateServiceStatus } from "./status.ts";
import type { Lease, Service } from "./types.ts";

const config = { server: "https://192.0.2.1:6443", token: "t", source: "test" };
const SVC_PATH = "/api/v1/namespaces/default/services/web";
const ingress = (ip: string): Service["status"] => ({ loadBalancer: { ingress: [{ ip }] } });

Deno.test("updateServiceStatus() writes the status subresource with the resourceVersion it read", async () => {
  const mem = memoryApi();
  mem.objects.set(SVC_PATH, service("web", "5"));
  const api = createKubeApi({ config, fetch: mem.fetch });
  const written = await updateServiceStatus({
    services: api.services,
    namespace: "default",
    name: "web",
    update: () => ingress("192.0.2.10"),
  });
  assertEquals(written?.status?.loadBalancer?.ingress, [{ ip: "192.0.2.10" }]);
  const put = mem.requests.find((r) => r.method === "PUT")!;
  assertEquals(put.path, `${SVC_PATH}/status`);
  assertEquals(JSON.parse(put.body!).metadata.resourceVersion, "5");
});

Deno.test("updateServiceStatus() re-reads and retries on 409, and gives up after maxAttempts", async () => {
  let conflicts = 2;
  const mem = memoryApi((
    r,
  ) => (r.method === "PUT" && conflicts-- > 0 ? status(409, "Conflict", "modified") : undefined));
  mem.objects.set(SVC_PATH, service("web", "5"));
  const api = createKubeApi({ config, fetch: mem.fetch });
  let calls = 0;
  const written = await updateServiceStatus({
    services: api.services,
    namespace: "default",
    name: "web",
    current: service("web", "4") as unknown as Service, // a stale cached copy
    update: () => (calls++, ingress("192.0.2.11")),
  });
  assertEquals(written?.status?.loadBalancer?.ingress?.[0]?.ip, "192.0.2.11");
  assertEquals(calls, 3);
  assertEquals(mem.requests.map((r) => r.method), ["PUT", "GET", "PUT", "GET", "PUT"]);

  conflicts = 100;
  const error = await assertRejects(
    () =>
      updateServiceStatus({
        services: api.services,
        namespace: "default",
        name: "web",
        maxAttempts: 3,
        update: () => ingress("192.0.2.12"),
      }),
    KubeApiError,
  );
  assertEquals((error as KubeApiError).status, 409);
});

Deno.test("updateServiceStatus() writes nothing when update() finds nothing to change", async () => {
  const mem = memoryApi();
  mem.objects.set(SVC_PATH, service("web", "5"));
  const api = createKubeApi({ config, fetch: mem.fetch });
  const result = await updateServiceStatus({
    services: api.services,
    namespace: "default",
    name: "web",
    update: () => undefined,
  });
  assertEquals(result, undefined);
  assertEquals(mem.requests.map((r) => r.method), ["GET"]);
});

Deno.test("updateServiceStatus() can PATCH the status with a resourceVersion guard", async () => {
  const mem = memoryApi();
  mem.objects.set(SVC_PATH, service("web", "5"));
  const api = createKubeApi({ config, fetch: mem.fetch });
  await updateServiceStatus({
    services: api.services,
    namespace: "default",
    name: "web",
    method: "patch",
    update: () => ingress("192.0.2.13"),
  });
  const patch = mem.requests.find((r) => r.method === "PATCH")!;
  assertEquals(patch.headers.get("content-type"), "application/merge-patch+json");
  assertEquals(JSON.parse(patch.body!), { metadata: { resourceVersion: "5" }, status: ingress("192.0.2.13") });
});

const svcRef = { kind: "Service", apiVersion: "v1", namespace: "default", name: "web", uid: "u1" };

Deno.test("EventRecorder aggregates identical events into one Event with a growing count", async () => {
  const clock = new FakeClock(Date.UTC(2026, 10, 21, 20, 0, 0));
  const mem = memoryApi();
  const api = createKubeApi({ config, fetch: mem.fetch });
  const recorder = new EventRecorder({ events: api.events, component: "metallite-controller", host: "node1", clock });
  const warning = { type: "Warning" as const, reason: "AllocationFailed", message: 'pool "lan" is exhausted' };
  await recorder.record(svcRef, warning);
  await clock.advance(5_000);
  await recorder.record(svcRef, warning);
  await recorder.record(svcRef, { ...warning, message: "another reason" });
  assertEquals(mem.requests.map((r) => r.method), ["POST", "PATCH", "POST"]);
  const created = JSON.parse(mem.requests[0]!.body!);
  assertEquals(created.involvedObject, {
    kind: "Service",
    name: "web",
    apiVersion: "v1",
    namespace: "default",
    uid: "u1",
  });
  assertEquals([created.count, created.type, created.source], [1, "Warning", {
    component: "metallite-controller",
    host: "node1",
  }]);
  assertEquals(mem.requests[0]!.path, "/api/v1/namespaces/default/events");
  assertEquals(JSON.parse(mem.requests[1]!.body!), { count: 2, lastTimestamp: "2026-11-21T20:00:05Z" });
});

Deno.test("EventRecorder rate-limits a flapping object and folds the dropped occurrences into the next count", async () => {
  const clock = new FakeClock();
  const mem = memoryApi();
  const api = createKubeApi({ config, fetch: mem.fetch });
  const recorder = new EventRecorder({ events: api.events, component: "c", clock, burst: 3, refillMs: 30_000 });
  const flap = { type: "Normal" as const, reason: "IPAllocated", message: "192.0.2.10" };
  for (let i = 0; i < 100; i++) await recorder.record(svcRef, flap);
  assertEquals(mem.requests.length, 3);
  assertEquals(recorder.throttled, 97);
  await clock.advance(30_000);
  await recorder.record(svcRef, flap);
  assertEquals(JSON.parse(mem.requests[3]!.body!).count, 101);
});

Deno.test("EventRecorder starts a new Event when the old one expired, and never throws", async () => {
  const clock = new FakeClock();
  let failing = false;
  const mem = memoryApi(() => (failing ? status(500, "InternalError", "down") : undefined));
  const api = createKubeApi({ config, fetch: mem.fetch });
  const recorder = new EventRecorder({ events: api.events, component: "c", clock });
  const e = { type: "Normal" as const, reason: "R", message: "m" };
  await recorder.record(svcRef, e);
  mem.objects.clear();
  await recorder.record(svcRef, e);
  assertEquals(mem.requests.map((r) => r.method), ["POST", "PATCH", "POST"]);
  failing = true;
  await recorder.record({ kind: "Node", name: "n1" }, e);
  assertEquals(recorder.failed, 1);
});

Deno.test("EventRecorder queues a burst: at most maxInFlight writes at once, repeats folded into one write", async () => {
  const mem = memoryApi();
  let inFlight = 0;
  let most = 0;
  const fetch: typeof mem.fetch = async (url, init) => {
    most = Math.max(most, ++inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return await mem.fetch(url, init);
    } finally {
      inFlight--;
    }
  };
  const api = createKubeApi({ config, fetch });
  const recorder = new EventRecorder({ events: api.events, component: "c", clock: new FakeClock(), maxInFlight: 3 });
  const e = { type: "Normal" as const, reason: "nodeAssigned", message: "announcing from node1" };
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) writes.push(recorder.record({ ...svcRef, name: `svc${i}`, uid: `u${i}` }, e));
  // The same Service twice more while its first write still waits: one Event with count 3, no PATCH.
  writes.push(recorder.record({ ...svcRef, name: "svc39", uid: "u39" }, e));
  writes.push(recorder.record({ ...svcRef, name: "svc39", uid: "u39" }, e));
  await Promise.all(writes);
  assertEquals(most, 3);
  assertEquals(mem.requests.length, 40);
  assertEquals(mem.requests.every((r) => r.method === "POST"), true);
  assertEquals(JSON.parse(mem.requests[39]!.body!).count, 3);
  assertEquals(recorder.queued, 0);
});

const LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/metallb-system/leases/alloc";

function lock(fetch: ReturnType<typeof memoryApi>["fetch"], identity: string, clock: FakeClock) {
  const api = createKubeApi({ config, fetch });
  return new LeaseLock({
    leases: api.leases,
    namespace: "metallb-system",
    name: "alloc",
    identity,
    clock,
    leaseDurationSeconds: 15,
  });
}

Deno.test("LeaseLock: one candidate acquires and renews, the other waits for expiry, then takes over", async () => {
  const clock = new FakeClock(Date.UTC(2026, 10, 21, 20, 0, 0));
  const mem = memoryApi();
  const a = lock(mem.fetch, "node-a", clock);
  const b = lock(mem.fetch, "node-b", clock);
  assert(await a.tryAcquireOrRenew());
  assert(!(await b.tryAcquireOrRenew()));
  assertEquals(b.holder, "node-a");
  await clock.advance(10_000);
  assert(await a.tryAcquireOrRenew(), "renew");
  assert(!(await b.tryAcquireOrRenew()), "renewed, so not expired for b");
  const lease = mem.objects.get(LEASE_PATH) as unknown as Lease;
  assertEquals(lease.spec?.renewTime, microTime(clock.now()));
  assertEquals(lease.spec?.renewTime, "2026-11-21T20:00:10.000000Z");
  // a dies: b must see no change for a whole lease duration before taking over.
  await clock.advance(14_000);
  assert(!(await b.tryAcquireOrRenew()));
  await clock.advance(1_000);
  assert(await b.tryAcquireOrRenew(), "takeover after expiry");
  const taken = mem.objects.get(LEASE_PATH) as unknown as Lease;
  assertEquals([taken.spec?.holderIdentity, taken.spec?.leaseTransitions], ["node-b", 1]);
  assert(!a.isHeld(), "a's own view expired too");
  assert(!(await a.tryAcquireOrRenew()), "a comes back and finds b");
});

Deno.test("LeaseLock: a valid holder renews with one PUT; a conflict, or an expired claim, reads the Lease first", async () => {
  const clock = new FakeClock(Date.UTC(2026, 10, 21, 20, 0, 0));
  const mem = memoryApi();
  const a = lock(mem.fetch, "node-a", clock);
  const methods = () => mem.requests.splice(0).map((r) => r.method).join(",");
  assert(await a.tryAcquireOrRenew());
  assertEquals(methods(), "GET,POST");
  await clock.advance(2_000);
  assert(await a.tryAcquireOrRenew());
  assertEquals(methods(), "PUT", "renewal of a valid claim: no GET");

  // Someone else writes the Lease (an annotation): the blind renewal conflicts, the Lease is read and renewed.
  const stored = mem.objects.get(LEASE_PATH)!;
  const meta = stored.metadata as Record<string, unknown>;
  mem.objects.set(LEASE_PATH, { ...stored, metadata: { ...meta, resourceVersion: "9999", annotations: { x: "y" } } });
  await clock.advance(2_000);
  assert(await a.tryAcquireOrRenew(), "still the holder after the conflict");
  assertEquals(methods(), "PUT,GET,PUT");
  assertEquals((mem.objects.get(LEASE_PATH) as unknown as Lease).metadata.annotations, { x: "y" });

  // Taken over while a's claim lapsed: a reads first, and a live holder is left alone.
  await clock.advance(15_000);
  const taken = mem.objects.get(LEASE_PATH)!;
  mem.objects.set(LEASE_PATH, {
    ...taken,
    metadata: { ...(taken.metadata as Record<string, unknown>), resourceVersion: "10000" },
    spec: { ...(taken.spec as Record<string, unknown>), holderIdentity: "node-b", renewTime: microTime(clock.now()) },
  });
  assert(!(await a.tryAcquireOrRenew()));
  assertEquals(methods(), "GET");
  assertEquals(a.holder, "node-b");
});

Deno.test("LeaseLock: two candidates racing on the same version never both win", async () => {
  const clock = new FakeClock();
  const mem = memoryApi();
  const a = lock(mem.fetch, "node-a", clock);
  const b = lock(mem.fetch, "node-b", clock);
  const results = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
  assertEquals(results.filter(Boolean).length, 1);
});

Deno.test("LeaseLock.release() frees the Lease for an immediate takeover", async () => {
  const clock = new FakeClock();
  const mem = memoryApi();
  const a = lock(mem.fetch, "node-a", clock);
  const b = lock(mem.fetch, "node-b", clock);
  assert(await a.tryAcquireOrRenew());
  assert(!(await b.tryAcquireOrRenew()));
  assert(await a.release());
  assert(await b.tryAcquireOrRenew());
  assertEquals((mem.objects.get(LEASE_PATH) as unknown as Lease).spec?.leaseTransitions, 1);
});

Deno.test("LeaderElector reports leadership changes and releases on stop", async () => {
  const clock = new FakeClock();
  const mem = memoryApi();
  const seen: string[] = [];
  const elector = new LeaderElector({
    lock: lock(mem.fetch, "node-a", clock),
    clock,
    onStartedLeading: () => seen.push("start"),
    onStoppedLeading: () => seen.push("stop"),
  });
  elector.start();
  await clock.advance(4_000);
  assert(elector.isLeader());
  await elector.stop();
  assertEquals(seen, ["start", "stop"]);
  assertEquals((mem.objects.get(LEASE_PATH) as unknown as Lease).spec?.holderIdentity, "");
  assertEquals(clock.pending, 0);
});
