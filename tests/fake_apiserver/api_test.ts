/**
 * HTTP-level tests of the fake API server's semantics: resourceVersions, optimistic concurrency, errors, watch
 * resume, 410 Gone, bookmarks, selectors, pagination, status separation, authentication.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Loose, resourcePath, startFakeApiServer } from "./mod.ts";
import { ApiClient, service } from "./_testing.ts";

const SVC = "/api/v1/namespaces/default/services";

Deno.test("resourceVersions grow across resources and a list carries the newest", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const a = await api.send("POST", SVC, service("a"));
  assertEquals(a.status, 201);
  const lease = await api.send("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: "l" },
    spec: { holderIdentity: "node-a" },
  });
  const b = await api.send("POST", SVC, service("b"));
  const rvs = [a, lease, b].map((r) => Number(r.body.metadata.resourceVersion));
  assert(rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!, `resourceVersions not increasing: ${rvs}`);
  assertMatch(a.body.metadata.uid, /^[0-9a-f-]{36}$/);
  assertMatch(a.body.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const list = await api.json(SVC);
  assertEquals(list.body.kind, "ServiceList");
  assertEquals(list.body.metadata.resourceVersion, String(rvs[2]));
  assertEquals(list.body.items.map((i: { metadata: { name: string } }) => i.metadata.name), ["a", "b"]);
  // Built-in list items carry no kind/apiVersion, as from a real server.
  assertEquals(list.body.items[0].kind, undefined);
  assertEquals(server.resourceVersion, String(rvs[2]));
});

Deno.test("errors are metav1.Status: 404, 409 AlreadyExists, 409 Conflict, 422 Invalid, 400, 405", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const missing = await api.json(`${SVC}/nope`);
  assertEquals(missing.status, 404);
  assertEquals(missing.body.kind, "Status");
  assertEquals(missing.body.reason, "NotFound");
  assertEquals(missing.body.message, 'services "nope" not found');
  assertEquals(missing.body.details, { name: "nope", kind: "services" });
  const created = await api.send("POST", SVC, service("web"));
  const dup = await api.send("POST", SVC, service("web"));
  assertEquals([dup.status, dup.body.reason], [409, "AlreadyExists"]);
  // Optimistic concurrency: an update with a stale resourceVersion is a Conflict.
  const fresh = await api.send("PUT", `${SVC}/web`, {
    ...created.body,
    metadata: { ...created.body.metadata, labels: { a: "1" } },
  });
  assertEquals(fresh.status, 200);
  const stale = await api.send("PUT", `${SVC}/web`, {
    ...created.body,
    metadata: { ...created.body.metadata, labels: { a: "2" } },
  });
  assertEquals([stale.status, stale.body.reason], [409, "Conflict"]);
  assertEquals(
    stale.body.message,
    'Operation cannot be fulfilled on services "web": the object has been modified; please apply your changes to the latest version and try again',
  );
  // A merge patch carrying a stale resourceVersion is a precondition and fails the same way.
  const stalePatch = await api.send("PATCH", `${SVC}/web`, {
    metadata: { resourceVersion: created.body.metadata.resourceVersion },
  }, "application/merge-patch+json");
  assertEquals(stalePatch.status, 409);
  const badName = await api.send("POST", SVC, service("Bad_Name"));
  assertEquals([badName.status, badName.body.reason], [422, "Invalid"]);
  assertEquals(badName.body.details.causes[0].field, "metadata.name");
  const noPorts = await api.send("POST", SVC, { metadata: { name: "np" }, spec: { type: "LoadBalancer" } });
  assertEquals(noPorts.status, 422);
  const wrongNs = await api.send("POST", SVC, { ...service("x"), metadata: { name: "x", namespace: "kube-system" } });
  assertEquals(wrongNs.status, 400);
  const garbage = await api.json(SVC, { method: "POST", body: "{not json" });
  assertEquals(garbage.status, 400);
  const badSelector = await api.json(`${SVC}?fieldSelector=spec.nope%3Dx`);
  assertEquals([badSelector.status, badSelector.body.message], [400, "field label not supported: spec.nope"]);
  const postNamed = await api.send("POST", `${SVC}/web`, service("web"));
  assertEquals([postNamed.status, postNamed.body.reason], [405, "MethodNotAllowed"]);
  const unknown = await api.json("/api/v1/namespaces/default/widgets");
  assertEquals(unknown.status, 404);
  const noNs = await api.send("POST", "/api/v1/namespaces/ghost/services", service("x", { namespace: "ghost" }));
  assertEquals([noNs.status, noNs.body.message], [404, 'namespaces "ghost" not found']);
  const customPut = await api.send("PUT", `${resourcePath("ipaddresspools", "default")}/p`, {});
  assertEquals(customPut.status, 404);
  // CRDs refuse strategic merge patch (415) and unconditional updates (422).
  server.create("ipaddresspools", {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name: "p" },
    spec: { addresses: ["203.0.113.0/28"] },
  });
  const smp = await api.send(
    "PATCH",
    `${resourcePath("ipaddresspools", "default")}/p`,
    { spec: {} },
    "application/strategic-merge-patch+json",
  );
  assertEquals(smp.status, 415);
  const uncond = await api.send("PUT", `${resourcePath("ipaddresspools", "default")}/p`, {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name: "p" },
    spec: {},
  });
  assertEquals(uncond.status, 422);
});

Deno.test("a request without the bearer token gets 401 Unauthorized", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  for (const path of [SVC, "/api", "/version", "/api/v1/namespaces/default/nothing"]) {
    const r = await api.json(path, { token: null });
    assertEquals([r.status, r.body.reason], [401, "Unauthorized"], path);
  }
  const wrong = await api.json(SVC, { token: "wrong" });
  assertEquals(wrong.status, 401);
  assertEquals(server.requests.filter((r) => r.status === 401).length, 5);
});

Deno.test("discovery lists groups, versions and resources with verbs and short names", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const core = await api.json("/api/v1");
  const svc = core.body.resources.find((r: { name: string }) => r.name === "services");
  assertEquals(svc.shortNames, ["svc"]);
  assertEquals(svc.namespaced, true);
  assert(svc.verbs.includes("watch"));
  assert(core.body.resources.some((r: { name: string }) => r.name === "services/status"));
  const groups = await api.json("/apis");
  const metallb = groups.body.groups.find((g: { name: string }) => g.name === "metallb.io");
  assertEquals(metallb.preferredVersion.version, "v1beta2");
  const v1beta2 = await api.json("/apis/metallb.io/v1beta2");
  assertEquals(v1beta2.body.resources.map((r: { name: string }) => r.name), ["bgppeers", "bgppeers/status"]);
  const version = await api.json("/version");
  assertEquals([version.body.major, version.body.minor], ["1", "32"]);
  // bgppeers are served in both versions; an object reads back in the version asked for.
  server.create("bgppeers", {
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name: "r", namespace: "metallb-system" },
    spec: { myASN: 64500, peerASN: 64501, peerAddress: "198.51.100.1" },
  });
  const old = await api.json("/apis/metallb.io/v1beta1/namespaces/metallb-system/bgppeers/r");
  assertEquals(old.body.apiVersion, "metallb.io/v1beta1");
});

Deno.test("generation moves with spec changes only; status writes go through /status only", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const path = `${resourcePath("ipaddresspools", "metallb-system")}`;
  const created = await api.send("POST", path, {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name: "p" },
    spec: { addresses: ["203.0.113.0/28"] },
    status: { assignedIPv4: 3 },
  });
  assertEquals(created.body.metadata.generation, 1);
  assertEquals(created.body.status, undefined, "status is dropped on create with a status subresource");
  const labels = await api.send(
    "PATCH",
    `${path}/p`,
    { metadata: { labels: { a: "b" } } },
    "application/merge-patch+json",
  );
  assertEquals(labels.body.metadata.generation, 1);
  const spec = await api.send(
    "PATCH",
    `${path}/p`,
    { spec: { autoAssign: false }, status: { assignedIPv4: 9 } },
    "application/merge-patch+json",
  );
  assertEquals(spec.body.metadata.generation, 2);
  assertEquals(spec.body.status, undefined);
  const partial = await api.send("PUT", `${path}/p/status`, { ...spec.body, status: { assignedIPv4: 2 } });
  assertEquals(partial.status, 422, "the CRD requires all four counters");
  const counters = { assignedIPv4: 2, assignedIPv6: 0, availableIPv4: 14, availableIPv6: 0 };
  const status = await api.send("PUT", `${path}/p/status`, { ...spec.body, spec: { addresses: [] }, status: counters });
  assertEquals(status.status, 200);
  assertEquals(status.body.status, counters);
  assertEquals(status.body.spec.addresses, ["203.0.113.0/28"]);
  assertEquals(status.body.metadata.generation, 2);
  // A no-op write stores nothing: same resourceVersion, no event.
  const again = await api.send("PUT", `${path}/p/status`, status.body);
  assertEquals(again.body.metadata.resourceVersion, status.body.metadata.resourceVersion);
  // Services: the main resource ignores status; /status ignores spec.
  const svc = await api.send("POST", SVC, {
    ...service("web"),
    status: { loadBalancer: { ingress: [{ ip: "203.0.113.1" }] } },
  });
  assertEquals(svc.body.status, { loadBalancer: {} });
  const st = await api.send("PATCH", `${SVC}/web/status`, {
    status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } },
    spec: { type: "ClusterIP" },
  }, "application/merge-patch+json");
  assertEquals(st.body.spec.type, "LoadBalancer");
  assertEquals(st.body.status.loadBalancer.ingress, [{ ip: "203.0.113.7", ipMode: "VIP" }]);
  const put = await api.send("PUT", `${SVC}/web`, { ...st.body, status: { loadBalancer: {} } });
  assertEquals(put.body.status.loadBalancer.ingress, [{ ip: "203.0.113.7", ipMode: "VIP" }]);
  const nodes = await api.send("POST", "/api/v1/nodes", {
    metadata: { name: "n1" },
    status: { addresses: [{ type: "InternalIP", address: "198.51.100.11" }] },
  });
  assertEquals(nodes.body.status.addresses[0].address, "198.51.100.11", "nodes keep status given on create");
  assertEquals(nodes.body.metadata.namespace, undefined);
});

Deno.test("label and field selectors filter lists", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.create("services", service("a", { labels: { app: "x", tier: "front" } }));
  server.create("services", service("b", { labels: { app: "y" }, type: "ClusterIP" }));
  server.create("services", service("c", { labels: { app: "z", tier: "back" }, namespace: "kube-system" }));
  server.create("events", {
    metadata: { name: "e1", namespace: "default" },
    involvedObject: { kind: "Service", namespace: "default", name: "a" },
    reason: "IPAllocated",
  });
  const names = async (query: string, path = "/api/v1/services") => {
    const r = await api.json(`${path}?${query}`);
    assertEquals(r.status, 200, JSON.stringify(r.body));
    return r.body.items.map((i: { metadata: { name: string } }) => i.metadata.name);
  };
  const q = (s: string) => encodeURIComponent(s);
  assertEquals(await names(`labelSelector=${q("app=x")}`), ["a"]);
  assertEquals(await names(`labelSelector=${q("app==y")}`), ["b"]);
  assertEquals(await names(`labelSelector=${q("app!=x")}`), ["b", "c"]);
  assertEquals(await names(`labelSelector=${q("app in (x, z)")}`), ["a", "c"]);
  assertEquals(await names(`labelSelector=${q("app notin (x,z)")}`), ["b"]);
  assertEquals(await names(`labelSelector=${q("tier")}`), ["a", "c"]);
  assertEquals(await names(`labelSelector=${q("!tier")}`), ["b"]);
  assertEquals(await names(`labelSelector=${q("tier,app in (z)")}`), ["c"]);
  assertEquals(await names(`fieldSelector=${q("metadata.name=b")}`), ["b"]);
  assertEquals(await names(`fieldSelector=${q("metadata.namespace!=default")}`), ["c"]);
  assertEquals(await names(`fieldSelector=${q("spec.type=LoadBalancer")}`), ["a", "c"]);
  assertEquals(
    await names(
      `fieldSelector=${q("involvedObject.kind=Service,involvedObject.name=a")}`,
      "/api/v1/namespaces/default/events",
    ),
    ["e1"],
  );
  assertEquals(await names(`fieldSelector=${q("involvedObject.name=b")}`, "/api/v1/events"), []);
  const bad = await api.json(`/api/v1/services?labelSelector=${q("app in x")}`);
  assertEquals(bad.status, 400);
});

Deno.test("limit and continue page through a list at one consistent resourceVersion", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  for (let i = 0; i < 5; i++) server.create("services", service(`s${i}`));
  const first = await api.json(`${SVC}?limit=2`);
  assertEquals(first.body.items.length, 2);
  assertEquals(first.body.metadata.remainingItemCount, 3);
  const rv = first.body.metadata.resourceVersion;
  // Writes between pages do not show: the continue token reads the snapshot of the first page.
  server.delete("services", "default", "s3");
  server.create("services", service("s9"));
  const second = await api.json(`${SVC}?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
  const third = await api.json(`${SVC}?limit=2&continue=${encodeURIComponent(second.body.metadata.continue)}`);
  const names = [...first.body.items, ...second.body.items, ...third.body.items].map((i) => i.metadata.name);
  assertEquals(names, ["s0", "s1", "s2", "s3", "s4"]);
  assertEquals(third.body.metadata.continue, undefined);
  assertEquals(second.body.metadata.resourceVersion, rv);
  // resourceVersionMatch=Exact reads a past snapshot; a resourceVersion from the future is 504 Timeout.
  const exact = await api.json(`${SVC}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
  assertEquals(exact.body.items.length, 5);
  const now = await api.json(`${SVC}?resourceVersion=0`);
  assertEquals(now.body.items.map((i: { metadata: { name: string } }) => i.metadata.name), [
    "s0",
    "s1",
    "s2",
    "s4",
    "s9",
  ]);
  // resourceVersion "0" comes from the watch cache, which ignores limit; N with a limit is an exact read.
  const any = await api.json(`${SVC}?resourceVersion=0&limit=2`);
  assertEquals([any.body.items.length, any.body.metadata.continue], [5, undefined]);
  const exactPage = await api.json(`${SVC}?resourceVersion=${rv}&limit=10`);
  assertEquals(exactPage.body.items.map((i: { metadata: { name: string } }) => i.metadata.name), [
    "s0",
    "s1",
    "s2",
    "s3",
    "s4",
  ]);
  const future = await api.json(`${SVC}?resourceVersion=99999`);
  assertEquals([future.status, future.body.reason], [504, "Timeout"]);
  server.faults.expireHistory();
  const expired = await api.json(`${SVC}?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
  assertEquals([expired.status, expired.body.reason], [410, "Expired"]);
});

Deno.test("delete returns the object; finalizers only mark it; preconditions conflict", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.create("services", service("a"));
  const gone = await api.json(`${SVC}/a`, { method: "DELETE" });
  assertEquals([gone.status, gone.body.kind, gone.body.metadata.name], [200, "Service", "a"]);
  assertEquals((await api.json(`${SVC}/a`)).status, 404);
  server.create("services", {
    ...service("b"),
    metadata: { name: "b", namespace: "default", finalizers: ["example.com/hold"] },
  });
  const pre = await api.json(`${SVC}/b`, {
    method: "DELETE",
    body: JSON.stringify({ preconditions: { uid: "other" } }),
  });
  assertEquals(pre.status, 409);
  const marked = await api.json(`${SVC}/b`, { method: "DELETE" });
  assert(marked.body.metadata.deletionTimestamp, "deletionTimestamp set");
  assertEquals((await api.json(`${SVC}/b`)).status, 200);
  const cleared = await api.send(
    "PATCH",
    `${SVC}/b`,
    { metadata: { finalizers: null } },
    "application/merge-patch+json",
  );
  assertEquals(cleared.status, 200);
  assertEquals((await api.json(`${SVC}/b`)).status, 404);
  server.create("services", service("c", { labels: { x: "1" } }));
  server.create("services", service("d"));
  const coll = await api.json(`${SVC}?labelSelector=x`, { method: "DELETE" });
  assertEquals(coll.body.items.length, 1);
  assertEquals(server.list("services").map((s) => s.metadata.name), ["d"]);
});

Deno.test("server-side apply takes YAML, creates, updates and drops fields the manager stopped applying", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const path = "/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements/l2";
  const yaml = (extra: string) =>
    `apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\nspec:\n  ipAddressPools: [pool]\n${extra}`;
  const noManager = await api.json(path, {
    method: "PATCH",
    body: yaml(""),
    contentType: "application/apply-patch+yaml",
  });
  assertEquals(noManager.status, 400);
  const created = await api.json(`${path}?fieldManager=test`, {
    method: "PATCH",
    body: yaml("  interfaces: [eth0]\n"),
    contentType: "application/apply-patch+yaml",
  });
  assertEquals(created.status, 201);
  assertEquals(created.body.spec, { ipAddressPools: ["pool"], interfaces: ["eth0"] });
  server.patch("l2advertisements", "metallb-system", "l2", { spec: { nodeSelectors: [{ matchLabels: { a: "b" } }] } });
  const updated = await api.json(`${path}?fieldManager=test&force=true`, {
    method: "PATCH",
    body: yaml(""),
    contentType: "application/apply-patch+yaml",
  });
  assertEquals(updated.status, 200);
  assertEquals(updated.body.spec, { ipAddressPools: ["pool"], nodeSelectors: [{ matchLabels: { a: "b" } }] });
  assertEquals(updated.body.metadata.generation, 3);
});

Deno.test("field types and status are checked like a real server: MicroTime, int32, ingress IPs, conditions", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
  const lease = (spec: Record<string, unknown>) => ({ metadata: { name: "l" }, spec });
  const millis = await api.send("POST", leases, lease({ renewTime: new Date(0).toISOString() }));
  assertEquals(
    [millis.status, millis.body.reason],
    [400, "BadRequest"],
    "toISOString() has 3 digits, MicroTime needs 6",
  );
  const str = await api.send("POST", leases, lease({ leaseDurationSeconds: "15" }));
  assertEquals(str.status, 400);
  const ok = await api.send(
    "POST",
    leases,
    lease({ holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-01-01T00:00:00.000000Z" }),
  );
  assertEquals(ok.status, 201);
  server.create("services", service("web"));
  const status = (s: unknown) => api.send("PATCH", `${SVC}/web/status`, { status: s }, "application/merge-patch+json");
  const badIp = await status({ loadBalancer: { ingress: [{ ip: "203.0.113.300" }] } });
  assertEquals([badIp.status, badIp.body.details.causes[0].field], [422, "status.loadBalancer.ingress[0].ip"]);
  const badMode = await status({ loadBalancer: { ingress: [{ ip: "2001:db8::1", ipMode: "Direct" }] } });
  assertEquals(badMode.status, 422);
  assertEquals((await status({ loadBalancer: { ingress: [{ ip: "2001:db8::1", ipMode: "VIP" }] } })).status, 200);
  const badCondition = await status({ conditions: [{ type: "Allocated", status: "Yes", reason: "" }] });
  assertEquals(badCondition.body.details.causes.map((c: { field: string }) => c.field), [
    "status.conditions[0].status",
    "status.conditions[0].reason",
    "status.conditions[0].lastTransitionTime",
  ]);
  server.create("services", service("internal", { type: "ClusterIP" }));
  const notLb = await api.send("PATCH", `${SVC}/internal/status`, {
    status: { loadBalancer: { ingress: [{ ip: "203.0.113.1" }] } },
  }, "application/merge-patch+json");
  assertEquals(notLb.status, 422);
  const event = await api.send("POST", "/api/v1/namespaces/default/events", {
    metadata: { name: "e" },
    involvedObject: { kind: "Service", namespace: "kube-system", name: "web" },
  });
  assertEquals(event.status, 422);
});

Deno.test("managedFields record who set which fields, per manager, operation and subresource", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const created = await api.json(`${SVC}?fieldManager=creator`, {
    method: "POST",
    body: JSON.stringify(service("web", { labels: { a: "1" } })),
  });
  const [entry] = created.body.metadata.managedFields;
  assertEquals([entry.manager, entry.operation, entry.fieldsType], ["creator", "Update", "FieldsV1"]);
  assertEquals(entry.fieldsV1["f:metadata"], { "f:labels": { ".": {}, "f:a": {} } });
  assert("f:ports" in entry.fieldsV1["f:spec"]);
  const status = await api.json(`${SVC}/web/status`, {
    method: "PATCH",
    body: JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: "203.0.113.1" }] } } }),
    contentType: "application/merge-patch+json",
    headers: { "user-agent": "metallite/0.1.0 (linux)" },
  });
  const managers = status.body.metadata.managedFields.map((m: { manager: string; subresource?: string }) =>
    `${m.manager}:${m.subresource ?? ""}`
  );
  assertEquals(managers, ["creator:", "metallite:status"]);
  // A client's own managedFields are ignored, and a no-op write does not touch them.
  const put = await api.send("PUT", `${SVC}/web`, {
    ...status.body,
    metadata: { ...status.body.metadata, managedFields: [] },
  });
  assertEquals(put.body.metadata.resourceVersion, status.body.metadata.resourceVersion);
  assertEquals(put.body.metadata.managedFields.length, 2);
});

Deno.test("changing a Service's type drops what no longer applies, status included; class and clusterIP are immutable", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const created = server.create("services", {
    ...service("web"),
    spec: { type: "LoadBalancer", loadBalancerClass: "metallite.io/lb", ports: [{ port: 80 }] },
  }) as Loose;
  assertEquals(created.spec.ports[0].nodePort, 30000);
  server.patchStatus("services", "default", "web", { loadBalancer: { ingress: [{ ip: "203.0.113.1" }] } });
  const reclass = await api.send(
    "PATCH",
    `${SVC}/web`,
    { spec: { loadBalancerClass: "other.io/lb" } },
    "application/merge-patch+json",
  );
  assertEquals([reclass.status, reclass.body.details.causes[0].field], [422, "spec.loadBalancerClass"]);
  const newIp = await api.send(
    "PATCH",
    `${SVC}/web`,
    { spec: { clusterIP: "10.96.9.9" } },
    "application/merge-patch+json",
  );
  assertEquals(newIp.status, 422);
  const toClusterIp = await api.send(
    "PATCH",
    `${SVC}/web`,
    { spec: { type: "ClusterIP" } },
    "application/merge-patch+json",
  );
  assertEquals(toClusterIp.status, 200);
  const spec = toClusterIp.body.spec;
  assertEquals([spec.loadBalancerClass, spec.allocateLoadBalancerNodePorts, spec.externalTrafficPolicy], [
    undefined,
    undefined,
    undefined,
  ]);
  assertEquals(spec.ports[0].nodePort, undefined);
  assertEquals(toClusterIp.body.status, { loadBalancer: {} });
  const classOnClusterIp = await api.send("POST", SVC, {
    ...service("c", { type: "ClusterIP" }),
    spec: { type: "ClusterIP", loadBalancerClass: "metallite.io/lb", ports: [{ port: 80 }] },
  });
  assertEquals(classOnClusterIp.status, 422);
});

Deno.test("unknown fields are dropped with a warning, or rejected with fieldValidation=Strict; CRD types are checked", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const pools = resourcePath("ipaddresspools", "metallb-system");
  const pool = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name: "p" },
    spec,
    ...extra,
  });
  const res = await api.fetch(pools, {
    method: "POST",
    body: JSON.stringify(pool({ addresses: ["203.0.113.0/28"], autoAsign: false }, { extra: 1 })),
  });
  const body = await res.json();
  assertEquals(res.status, 201);
  assertEquals(body.spec, { addresses: ["203.0.113.0/28"] });
  assertEquals(body.extra, undefined);
  assertEquals(
    res.headers.get("warning"),
    '299 - "unknown field \\"extra\\"", 299 - "unknown field \\"spec.autoAsign\\""',
  );
  const strict = await api.send("POST", `${pools}?fieldValidation=Strict`, pool({ addresses: [], typo: 1 }));
  assertEquals([strict.status, strict.body.message], [400, 'strict decoding error: unknown field "spec.typo"']);
  const wrongType = await api.send(
    "PATCH",
    `${pools}/p`,
    { spec: { autoAssign: "yes" } },
    "application/merge-patch+json",
  );
  assertEquals([wrongType.status, wrongType.body.details.causes[0].field], [422, "spec.autoAssign"]);
  const missing = await api.send("POST", pools, { ...pool({}), metadata: { name: "q" } });
  assertEquals([missing.status, missing.body.details.causes[0].field], [422, "spec.addresses"]);
  const peer = await api.send("POST", resourcePath("bgppeers", "metallb-system"), {
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name: "r" },
    spec: { myASN: "64500" },
  });
  assertEquals(peer.status, 422);
  const secret = await api.send("POST", "/api/v1/namespaces/default/secrets", {
    metadata: { name: "s" },
    stringData: { k: "v" },
  });
  assertEquals([secret.body.data, secret.body.stringData, secret.body.type], [{ k: "dg==" }, undefined, "Opaque"]);
});

Deno.test("Events expire after eventTtlMs since their last write, like --event-ttl", async () => {
  await using server = await startFakeApiServer({ eventTtlMs: 1000 });
  using api = new ApiClient(server);
  const event = { metadata: { name: "e" }, involvedObject: { kind: "Service", name: "web" }, count: 1 };
  assertEquals((await api.send("POST", "/api/v1/namespaces/default/events", event)).status, 201);
  await new Promise((r) => setTimeout(r, 400));
  const bumped = await api.send(
    "PATCH",
    "/api/v1/namespaces/default/events/e",
    { count: 2 },
    "application/merge-patch+json",
  );
  assertEquals(bumped.status, 200, "a write renews the TTL");
  await new Promise((r) => setTimeout(r, 400));
  assertEquals((await api.json("/api/v1/namespaces/default/events/e")).status, 200);
  await new Promise((r) => setTimeout(r, 1200));
  const gone = await api.send(
    "PATCH",
    "/api/v1/namespaces/default/events/e",
    { count: 3 },
    "application/merge-patch+json",
  );
  assertEquals(gone.status, 404);
});
