/**
 * Fault injection, the request log, the Unix socket, the direct store API, and the standalone runner.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { ApiError, isApiError, startFakeApiServer } from "./mod.ts";
import { ApiClient, service } from "./_testing.ts";

const SVC = "/api/v1/namespaces/default/services";

Deno.test("failNext answers matching requests with 500 (or a given status and garbage body), then recovers", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.faults.failNext(2, { method: "GET", pathPattern: /\/services$/ });
  const one = await api.json(SVC);
  assertEquals([one.status, one.body.kind, one.body.reason], [500, "Status", "InternalError"]);
  assertEquals((await api.json("/api/v1/namespaces/default/secrets")).status, 200, "other paths are untouched");
  assertEquals((await api.json(SVC)).status, 500);
  assertEquals((await api.json(SVC)).status, 200);
  server.faults.failNext(1, { status: 200, body: "{garbage", verb: "list", resource: "services" });
  const garbage = await api.fetch(SVC);
  assertEquals([garbage.status, await garbage.text()], [200, "{garbage"]);
  server.faults.failNext(1, { status: 503, subresource: "status" });
  server.create("services", service("a"));
  const st = await api.send("PATCH", `${SVC}/a/status`, { status: {} }, "application/merge-patch+json");
  assertEquals([st.status, st.body.reason], [503, "ServiceUnavailable"]);
  server.faults.failNext(5);
  server.faults.clear();
  assertEquals((await api.json(SVC)).status, 200);
});

Deno.test("latencyMs delays answers and hangNext holds a request until the server closes", async () => {
  const server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.faults.latencyMs = 150;
  const t0 = Date.now();
  assertEquals((await api.json(SVC)).status, 200);
  assert(Date.now() - t0 >= 140, "latency applied");
  // A watch still waiting out its latency when the server closes is refused, not left open.
  server.faults.latencyMs = 60_000;
  const late = api.json(`${SVC}?watch=1`);
  await new Promise((r) => setTimeout(r, 50));
  server.faults.latencyMs = 0;
  server.faults.hangNext(1, { verb: "list" });
  let answered = false;
  const hanging = api.json(SVC).then((r) => {
    answered = true;
    return r;
  });
  assertEquals((await api.json(`${SVC}/x`)).status, 404, "other requests are served meanwhile");
  await new Promise((r) => setTimeout(r, 100));
  assertEquals(answered, false);
  await server.close();
  assertEquals((await hanging).status, 503);
  assertEquals((await late).status, 503);
});

Deno.test("dropWatches ends open watches (cleanly or by cutting the stream); clients re-watch", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  await using svc = await api.watch(`${SVC}?watch=1&resourceVersion=${server.resourceVersion}`);
  await using sec = await api.watch(`/api/v1/secrets?watch=1&resourceVersion=${server.resourceVersion}`);
  assertEquals(server.openWatches, 2);
  server.faults.dropWatches("services");
  assertEquals(await svc.next(), undefined);
  assertEquals(server.openWatches, 1);
  server.faults.dropWatches(undefined, { abort: true });
  let error: unknown;
  try {
    await sec.next();
  } catch (e) {
    error = e;
  }
  assert(error !== undefined || sec.done, "the cut stream errors or ends");
  assertEquals(server.openWatches, 0);
  await using again = await api.watch(`${SVC}?watch=1&resourceVersion=${server.resourceVersion}`);
  server.faults.dropWatches("services", { error: { code: 500, reason: "InternalError", message: "etcd is sad" } });
  const e = await again.next();
  assertEquals([e?.type, e?.object.code, e?.object.message], ["ERROR", 500, "etcd is sad"]);
  assertEquals(await again.next(), undefined);
});

Deno.test("the request log records verb, resource, subresource, namespace, status and user agent", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.create("services", service("a"));
  await api.json(`${SVC}/a`, { headers: { "user-agent": "metallite-test/1" } });
  await api.send("PATCH", `${SVC}/a/status`, { status: {} }, "application/merge-patch+json");
  await using w = await api.watch("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?watch=1");
  await api.json("/api/v1/nodes");
  await api.json("/version");
  const log = server.requests.map((r) =>
    [r.verb, r.group, r.resource, r.subresource ?? "", r.namespace ?? "", r.status].join(" ")
  );
  assertEquals(log, [
    "get  services  default 200",
    "patch  services status default 200",
    "watch coordination.k8s.io leases  kube-system 200",
    "list  nodes   200",
    "get     200",
  ]);
  assertEquals(server.requests[0]!.userAgent, "metallite-test/1");
  assertEquals(server.requests[0]!.name, "a");
  assert(w);
});

Deno.test("the server also answers on a Unix socket with the same token", async () => {
  const dir = await Deno.makeTempDir();
  const socket = join(dir, "api.sock");
  try {
    await using server = await startFakeApiServer({ unixSocketPath: socket });
    using client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const ok = await fetch("http://localhost/api/v1/namespaces", {
      client,
      headers: { authorization: `Bearer ${server.token}` },
    });
    const body = await ok.json();
    assertEquals(ok.status, 200);
    assert(body.items.some((n: { metadata: { name: string } }) => n.metadata.name === "metallb-system"));
    const denied = await fetch("http://localhost/api/v1/namespaces", { client });
    await denied.body?.cancel();
    assertEquals(denied.status, 401);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the direct store API has the HTTP semantics and hands out copies", async () => {
  await using server = await startFakeApiServer();
  const created = server.create("services", service("a"));
  assertEquals(created.metadata.namespace, "default");
  const got = server.get("services", "default", "a");
  got.spec.type = "NodePort";
  assertEquals(server.get("services", "default", "a").spec.type, "LoadBalancer", "a copy, not the stored object");
  got.spec.type = "LoadBalancer";
  const err = assertThrows(() => server.create("services", service("a")), ApiError);
  assert(isApiError(err, 409));
  const stale = { ...got, metadata: { ...got.metadata, resourceVersion: "1" } };
  assert(isApiError(assertThrows(() => server.update("services", stale)), 409));
  got.spec.sessionAffinity = "ClientIP";
  const updated = server.update("services", { ...got, metadata: { ...got.metadata, resourceVersion: undefined } });
  assertEquals(updated.spec.sessionAffinity, "ClientIP");
  const st = server.patchStatus("services", "default", "a", { loadBalancer: { ingress: [{ ip: "203.0.113.5" }] } });
  assertEquals(st.status.loadBalancer.ingress, [{ ip: "203.0.113.5", ipMode: "VIP" }], "ipMode is defaulted");
  const lb = server.updateStatus("services", { ...st, status: { loadBalancer: {} } });
  assertEquals(lb.status, { loadBalancer: {} });
  const json = server.patch("services", "default", "a", [{ op: "add", path: "/metadata/labels", value: { a: "b" } }], {
    type: "json",
  });
  assertEquals(json.metadata.labels, { a: "b" });
  server.create("nodes", { metadata: { name: "n1" } });
  assertEquals(server.list("nodes").map((n) => n.metadata.name), ["n1"]);
  assertEquals(server.list("services", "kube-system"), []);
  server.delete("services", "default", "a");
  assert(isApiError(assertThrows(() => server.delete("services", "default", "a")), 404));
  assertThrows(() => server.list("widgets"), ApiError);
  // The namespace of a lab kubeconfig: CA and token, another server address.
  const kc = join(server.dir, "lab-kubeconfig");
  await server.writeKubeconfig(kc, { server: "https://198.51.100.2:6443" });
  const text = await Deno.readTextFile(kc);
  assertMatch(text, /server: https:\/\/198\.51\.100\.2:6443/);
  assertMatch(text, new RegExp(`token: ${server.token}`));
  assertMatch(text, /certificate-authority-data: [A-Za-z0-9+/=]+/);
});

Deno.test("serving certificate carries the extra SANs", async () => {
  await using server = await startFakeApiServer({ extraSans: ["198.51.100.2", "apiserver.lab"] });
  const out = await new Deno.Command("openssl", {
    args: ["x509", "-noout", "-ext", "subjectAltName", "-in", join(server.dir, "server.crt")],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  for (const san of ["IP Address:127.0.0.1", "DNS:localhost", "IP Address:198.51.100.2", "DNS:apiserver.lab"]) {
    assert(text.includes(san), `${san} missing from ${text}`);
  }
});

Deno.test("main.ts runs standalone, prints one JSON line when ready and stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kc = join(dir, "kc");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(import.meta.dirname!, "main.ts"),
        "--port",
        "0",
        "--kubeconfig-out",
        kc,
        "--san",
        "198.51.100.2",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const ready = JSON.parse(text.split("\n")[0]!);
    assertMatch(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assertEquals(ready.kubeconfig, kc);
    using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ready.ca)] });
    const res = await fetch(`${ready.url}/version`, { client, headers: { authorization: `Bearer ${ready.token}` } });
    assertEquals((await res.json()).minor, "32");
    child.kill("SIGTERM");
    const status = await child.status;
    clearTimeout(killer);
    await reader.cancel();
    await child.stderr.cancel();
    assertEquals(status.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
