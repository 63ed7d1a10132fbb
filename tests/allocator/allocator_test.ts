/**
 * The allocator (src/daemon/allocator.ts → src/alloc/controller.ts) against the fake API server: real HTTPS,
 * real watches, injected faults, and objects created with the real kubectl.
 */
// deno-lint-ignore-file no-console
import { assert, assertEquals, assertStringIncludes, waitFor } from "../assert.ts";
import { ADDRESS_CONDITION_TYPE, EVENT_REASONS } from "../../src/alloc/controller.ts";
import { ALLOCATED_FROM_POOL_ANNOTATION } from "../../src/alloc/annotations.ts";
import { ALLOCATOR_LEASE_NAME, CONFIGURATION_STATE_NAME } from "../../src/daemon/allocator.ts";
import type { Loose } from "../fake_apiserver/mod.ts";
import { KUBECTL_MISSING, kubectlOk } from "../fake_apiserver/_testing.ts";
import { allWrites, ipsOf, lbService, NAMESPACE, pool, serviceWrites, withCluster } from "./_harness.ts";

if (KUBECTL_MISSING) console.log(`tests/allocator: kubectl tests skipped: ${KUBECTL_MISSING}`);

function conditionOf(svc: Loose): Loose {
  return (svc?.status?.conditions ?? []).find((c: Loose) => c.type === ADDRESS_CONDITION_TYPE);
}

function eventsFor(server: { list(resource: string, namespace?: string): Loose[] }, name: string): Loose[] {
  return server.list("events").filter((e) => e.involvedObject?.name === name);
}

const POOL_AND_SERVICE = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lan
  namespace: metallb-system
spec:
  addresses:
  - 192.0.2.10-192.0.2.20
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - port: 80
    protocol: TCP
`;

Deno.test({
  name: "allocator gives a Service made with kubectl apply an IP from a pool made with kubectl apply",
  ignore: KUBECTL_MISSING !== undefined,
  fn: async () => {
    await withCluster(async (cluster) => {
      const { server } = cluster;
      const a = await cluster.start("node-a");
      await waitFor("the allocator to lead and sync", () => a.allocator.ready() && a.allocator.isLeader());
      await kubectlOk(server, ["apply", "-f", "-"], { stdin: POOL_AND_SERVICE });
      await waitFor("web to get an IP", () => ipsOf(server, "web").length > 0);
      assertEquals(ipsOf(server, "web"), ["192.0.2.10"]);
      const ip = await kubectlOk(server, ["get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"]);
      assertEquals(ip, "192.0.2.10");
      const web = server.get("services", "default", "web");
      assertEquals(web.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION], "lan");
      assertEquals(conditionOf(web)?.status, "True");
      await waitFor("the IPAllocated Event", () => eventsFor(server, "web").length > 0);
      const [event] = eventsFor(server, "web");
      assertEquals([event.type, event.reason], ["Normal", EVENT_REASONS.allocated]);
      assertEquals(event.message, 'Assigned IP ["192.0.2.10"] from pool "lan"');
      await waitFor("the pool status counters", () => server.get("ipaddresspools", NAMESPACE, "lan")?.status);
      assertEquals(server.get("ipaddresspools", NAMESPACE, "lan").status, {
        assignedIPv4: 1,
        assignedIPv6: 0,
        availableIPv4: 10,
        availableIPv6: 0,
      });
      await waitFor(
        "the ConfigurationState",
        () => server.get("configurationstates", NAMESPACE, CONFIGURATION_STATE_NAME)?.status,
      );
      const state = server.get("configurationstates", NAMESPACE, CONFIGURATION_STATE_NAME);
      assertEquals([state.status.result, state.metadata.labels?.["metallb.io/component-type"]], [
        "Valid",
        "controller",
      ]);
      const described = await kubectlOk(server, ["get", "svc", "web", "-o", "yaml"]);
      assertStringIncludes(described, "metallite.io/AddressAssigned");
    });
  },
});

Deno.test("allocator honours spec.loadBalancerIP and the metallb.io/loadBalancerIPs annotation", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("lan", ["192.0.2.10-192.0.2.20"]));
    server.create("services", lbService("by-spec", { loadBalancerIP: "192.0.2.15" }));
    server.create(
      "services",
      lbService("by-annotation", { annotations: { "metallb.io/loadBalancerIPs": "192.0.2.17" } }),
    );
    server.create("services", lbService("any"));
    await cluster.start("node-a");
    await waitFor("three IPs", () => ["by-spec", "by-annotation", "any"].every((n) => ipsOf(server, n).length > 0));
    assertEquals(ipsOf(server, "by-spec"), ["192.0.2.15"]);
    assertEquals(ipsOf(server, "by-annotation"), ["192.0.2.17"]);
    assertEquals(ipsOf(server, "any"), ["192.0.2.10"]);
  });
});

Deno.test("allocator leaves a Service pending with a Warning Event and a condition saying why", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("tiny", ["192.0.2.10/32"]));
    server.create("services", lbService("first"));
    await cluster.start("node-a");
    await waitFor("first to get the only IP", () => ipsOf(server, "first").length > 0);
    server.create("services", lbService("second"));
    server.create("services", lbService("wants-taken", { loadBalancerIP: "192.0.2.10" }));
    server.create("services", lbService("outside", { loadBalancerIP: "198.51.100.7" }));
    const reasons = {
      second: ["PoolExhausted", 'pool "tiny" is exhausted for IPv4'],
      "wants-taken": ["IpInUse", "IP 192.0.2.10 is in use by default/first"],
      outside: ["IpNotInPool", "IP 198.51.100.7 is not in any pool"],
    };
    for (const [name, [code, message]] of Object.entries(reasons)) {
      const condition = await waitFor(
        `the condition of ${name}`,
        () => conditionOf(server.get("services", "default", name)),
      );
      assertEquals([condition.status, condition.reason, condition.message], ["False", code, message]);
      const events = await waitFor(`the Warning of ${name}`, () => {
        const found = eventsFor(server, name).filter((e) => e.type === "Warning");
        return found.length > 0 ? found : undefined;
      });
      assertEquals(events.length, 1);
      assertEquals(events[0].reason, EVENT_REASONS.failed);
      assertEquals(events[0].message, `Failed to allocate IP for "default/${name}": ${message}`);
      assertEquals(ipsOf(server, name), []);
    }
  });
});

Deno.test("allocator converges through dropped watches, forced 410s and 500s", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("lan", ["192.0.2.0/24"]));
    const a = await cluster.start("node-a");
    await waitFor("ready", () => a.allocator.ready() && a.allocator.isLeader());
    server.create("services", lbService("s0"));
    await waitFor("s0", () => ipsOf(server, "s0").length > 0);
    server.faults.dropWatches("services", { abort: true });
    server.create("services", lbService("s1"));
    await waitFor("s1 after a dropped watch", () => ipsOf(server, "s1").length > 0);
    server.faults.expireHistory("services");
    server.faults.dropWatches("services");
    server.create("services", lbService("s2"));
    await waitFor("s2 after a 410 and relist", () => ipsOf(server, "s2").length > 0, { timeoutMs: 15_000 });
    assert(server.requests.filter((r) => r.resource === "services" && r.verb === "list").length >= 2, "relisted");
    server.faults.failNext(3, { resource: "services", subresource: "status", status: 500 });
    server.create("services", lbService("s3"));
    await waitFor("s3 through three 500s", () => ipsOf(server, "s3").length > 0, { timeoutMs: 15_000 });
    assertEquals(
      server.requests.filter((r) => r.subresource === "status" && r.resource === "services" && r.status === 500).length,
      3,
    );
    assertEquals(["s0", "s1", "s2", "s3"].map((n) => ipsOf(server, n)[0]), [
      "192.0.2.0",
      "192.0.2.1",
      "192.0.2.2",
      "192.0.2.3",
    ]);
  });
});

Deno.test("allocator converges through 409 conflicts on status writes", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("lan", ["192.0.2.10-192.0.2.20"]));
    const a = await cluster.start("node-a");
    await waitFor("ready", () => a.allocator.ready() && a.allocator.isLeader());
    // A third party keeps changing the Service while we write: our writes carry a stale resourceVersion.
    server.faults.failNext(4, { resource: "services", subresource: "status", status: 409 });
    server.create("services", lbService("web"));
    await waitFor("web despite conflicts", () => ipsOf(server, "web").length > 0, { timeoutMs: 15_000 });
    assertEquals(ipsOf(server, "web"), ["192.0.2.10"]);
    // A real conflict: someone else updates the Service between our read and our write.
    server.create("services", lbService("busy"));
    const svc = server.get("services", "default", "busy");
    svc.metadata.labels = { touched: "yes" };
    server.update("services", svc);
    await waitFor("busy", () => ipsOf(server, "busy").length > 0);
    assertEquals(server.get("services", "default", "busy").metadata.labels, { touched: "yes" });
    assert(server.requests.some((r) => r.subresource === "status" && r.status === 409), "conflicts happened");
  });
});

Deno.test("allocator lease: a second instance takes over when the leader stops and changes no IP", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("lan", ["192.0.2.10-192.0.2.40"]));
    for (let i = 0; i < 8; i++) server.create("services", lbService(`s${i}`));
    const a = await cluster.start("node-a");
    await waitFor("a to lead", () => a.allocator.isLeader());
    const b = await cluster.start("node-b");
    await waitFor("every IP", () => [...Array(8).keys()].every((i) => ipsOf(server, `s${i}`).length > 0));
    await waitFor("b to sync", () => b.allocator.ready());
    assert(!b.allocator.isLeader(), "one leader at a time");
    await waitFor("a to be idle", () => a.allocator.controller.idle);
    const before = [...Array(8).keys()].map((i) => ipsOf(server, `s${i}`));
    const mark = server.requests.length;
    await a.stop();
    await waitFor("b to take over", () => b.allocator.isLeader());
    const lease = server.get("leases", NAMESPACE, ALLOCATOR_LEASE_NAME);
    assertEquals(lease.spec.holderIdentity, "node-b");
    await waitFor("b's first passes", () => b.allocator.controller.stats.passes > 0 && b.allocator.controller.idle);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assertEquals(serviceWrites(server, mark), [], "the new leader rewrites nothing");
    assertEquals([...Array(8).keys()].map((i) => ipsOf(server, `s${i}`)), before);
    // And the new leader allocates.
    server.create("services", lbService("late"));
    await waitFor("late", () => ipsOf(server, "late").length > 0);
    assertEquals(ipsOf(server, "late"), ["192.0.2.18"]);
  });
});

Deno.test("allocator restart keeps every IP, including those MetalLB wrote, and then writes nothing", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("lan", ["192.0.2.10-192.0.2.40"]));
    // Written by "MetalLB" beforehand, in its random order.
    const metallb = { m0: "192.0.2.33", m1: "192.0.2.10", m2: "192.0.2.21" };
    for (const [name, ip] of Object.entries(metallb)) {
      server.create("services", lbService(name, { annotations: { [ALLOCATED_FROM_POOL_ANNOTATION]: "lan" } }));
      server.patchStatus("services", "default", name, { loadBalancer: { ingress: [{ ip }] } });
    }
    for (let i = 0; i < 5; i++) server.create("services", lbService(`n${i}`));
    const first = await cluster.start("node-a");
    const names = [...Object.keys(metallb), ...[...Array(5).keys()].map((i) => `n${i}`)];
    await waitFor("every Service to have an IP", () => names.every((n) => ipsOf(server, n).length > 0));
    for (const [name, ip] of Object.entries(metallb)) assertEquals(ipsOf(server, name), [ip], `${name} kept its IP`);
    assertEquals(names.slice(3).map((n) => ipsOf(server, n)[0]), [
      "192.0.2.11",
      "192.0.2.12",
      "192.0.2.13",
      "192.0.2.14",
      "192.0.2.15",
    ]);
    await waitFor(
      "idle",
      () => first.allocator.controller.idle && conditionOf(server.get("services", "default", "m0")),
    );
    const before = names.map((n) => ipsOf(server, n));
    await first.stop();
    const mark = server.requests.length;
    const second = await cluster.start("node-a");
    await waitFor("the restarted allocator to lead", () => second.allocator.isLeader() && second.allocator.ready());
    await waitFor(
      "its first pass",
      () => second.allocator.controller.stats.passes > 0 && second.allocator.controller.idle,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assertEquals(names.map((n) => ipsOf(server, n)), before);
    assertEquals(serviceWrites(server, mark), [], "a restart rewrites nothing");
  });
});

Deno.test("allocator releases a deleted Service's IP for reuse, and a type change clears the status", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("pair", ["192.0.2.10-192.0.2.11"]));
    server.create("services", lbService("a"));
    server.create("services", lbService("b"));
    await cluster.start("node-a");
    await waitFor("a and b", () => ipsOf(server, "a").length > 0 && ipsOf(server, "b").length > 0);
    server.create("services", lbService("c"));
    await waitFor("c pending", () => conditionOf(server.get("services", "default", "c"))?.status === "False");
    server.delete("services", "default", "a");
    await waitFor("c to get a's IP", () => ipsOf(server, "c").length > 0);
    assertEquals(ipsOf(server, "c"), ["192.0.2.10"]);
    const b = server.get("services", "default", "b");
    b.spec.type = "ClusterIP";
    delete b.spec.ports[0].nodePort;
    server.update("services", b);
    await waitFor("b released", () => {
      const svc = server.get("services", "default", "b");
      return ipsOf(server, "b").length === 0 &&
        svc.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION] === undefined;
    });
    const after = server.get("services", "default", "b");
    assertEquals(after.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION], undefined);
    assertEquals(conditionOf(after), undefined);
  });
});

Deno.test("allocator makes zero writes in steady state", async () => {
  await withCluster(async (cluster) => {
    const { server } = cluster;
    server.create("ipaddresspools", pool("lan", ["192.0.2.0/24"]));
    for (let i = 0; i < 30; i++) server.create("services", lbService(`s${i}`));
    const a = await cluster.start("node-a");
    await waitFor("every IP", () => [...Array(30).keys()].every((i) => ipsOf(server, `s${i}`).length > 0));
    await waitFor("idle", () => a.allocator.controller.idle);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const mark = server.requests.length;
    // Things that make passes but change nothing: pokes, a dropped watch, a relist, an unrelated Service.
    for (let i = 0; i < 5; i++) a.allocator.poke();
    server.faults.dropWatches("services");
    server.faults.expireHistory("services");
    server.create("services", { metadata: { name: "plain", namespace: "default" }, spec: { ports: [{ port: 80 }] } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await waitFor("idle", () => a.allocator.controller.idle);
    const writes = allWrites(server, mark).filter((r) => r.resource !== "leases");
    assertEquals(writes.map((r) => `${r.verb} ${r.resource}/${r.subresource ?? ""} ${r.name ?? ""}`), []);
    assert(a.allocator.controller.stats.passes > 1, "passes ran meanwhile");
  });
});
