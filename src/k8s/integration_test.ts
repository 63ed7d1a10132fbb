/**
 * The client, informers and writers against the fake API server (tests/fake_apiserver): real HTTPS, real watch
 * streams, injected faults.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes, waitFor } from "../../tests/assert.ts";
import { type FakeApiServer, startFakeApiServer } from "../../tests/fake_apiserver/mod.ts";
import { createKubeApi, type KubeApi } from "./api.ts";
import { FakeClock } from "./clock.ts";
import { KubeApiError, KubeConfigError, KubeDecodeError, KubeRequestError } from "./errors.ts";
import { EventRecorder } from "./events.ts";
import { loadKubeConfig } from "./kubeconfig.ts";
import { LeaseLock } from "./lease.ts";
import { updateServiceStatus } from "./status.ts";
import type { Lease, Service } from "./types.ts";

function svc(name: string, namespace = "default"): Service {
  return { metadata: { name, namespace }, spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] } };
}

async function withServer(
  fn: (s: FakeApiServer, api: KubeApi, defer: (cleanup: () => Promise<void>) => void) => Promise<void>,
  options: Parameters<typeof startFakeApiServer>[0] = {},
  apiOptions: { timeoutMs?: number } = {},
): Promise<void> {
  const server = await startFakeApiServer(options);
  const api = createKubeApi({ config: await loadKubeConfig({ path: server.kubeconfigPath }), ...apiOptions });
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await fn(server, api, (cleanup) => cleanups.push(cleanup));
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
    api.close();
    await server.close();
  }
}

const watchesOf = (s: FakeApiServer, resource: string) =>
  s.requests.filter((r) => r.resource === resource && r.verb === "watch");
const listsOf = (s: FakeApiServer, resource: string) =>
  s.requests.filter((r) => r.resource === resource && r.verb === "list");

Deno.test("informer syncs from list + watch and follows creates, updates and deletes", async () => {
  await withServer(async (s, api, defer) => {
    for (let i = 0; i < 7; i++) s.create("services", svc(`s${i}`));
    s.create("services", svc("other", "kube-system"));
    const informer = api.services.informer({ pageSize: 3 });
    defer(() => informer.stop());
    const changes: string[] = [];
    informer.onChange((c) => changes.push(`${c.type}:${c.key}`));
    informer.start();
    await informer.synced();
    assertEquals(informer.size, 8);
    assertEquals(listsOf(s, "services").length, 3, "three pages of three");
    s.create("services", svc("late"));
    const updated = s.get("services", "default", "s1");
    updated.metadata.labels = { x: "y" };
    s.update("services", updated);
    s.delete("services", "default", "s2");
    await waitFor("the watch to deliver", () => informer.get("default/late") && !informer.get("default/s2"));
    assertEquals(informer.get("default/s1")?.metadata.labels, { x: "y" });
    assertEquals(changes.slice(8), ["added:default/late", "modified:default/s1", "deleted:default/s2"]);
    await informer.stop();
  });
});

Deno.test("informer honours label and field selectors on list and watch", async () => {
  await withServer(async (s, api, defer) => {
    s.create("services", { ...svc("web"), metadata: { name: "web", namespace: "default", labels: { tier: "front" } } });
    s.create("services", svc("db"));
    const informer = api.services.informer({
      labelSelector: "tier=front",
      fieldSelector: "metadata.namespace=default",
    });
    defer(() => informer.stop());
    informer.start();
    await informer.synced();
    assertEquals(informer.keys(), ["default/web"]);
    s.create("services", {
      ...svc("web2"),
      metadata: { name: "web2", namespace: "default", labels: { tier: "front" } },
    });
    s.create("services", svc("db2"));
    await waitFor("web2", () => informer.get("default/web2"));
    assertEquals(informer.keys().sort(), ["default/web", "default/web2"]);
  });
});

Deno.test("informer resumes dropped watches (clean and cut) without relisting", async () => {
  await withServer(async (s, api, defer) => {
    s.create("services", svc("a"));
    const informer = api.services.informer({ backoff: { initialMs: 50 } });
    defer(() => informer.stop());
    informer.start();
    await informer.synced();
    await waitFor("a watch", () => s.openWatches === 1);
    s.faults.dropWatches("services");
    s.create("services", svc("b"));
    await waitFor("b after a clean drop", () => informer.get("default/b"));
    await waitFor("a new watch", () => s.openWatches === 1);
    s.faults.dropWatches("services", { abort: true });
    s.create("services", svc("c"));
    await waitFor("c after a cut connection", () => informer.get("default/c"));
    assertEquals(listsOf(s, "services").length, 1, "no relist");
    assertEquals(informer.stats.relists, 0);
    assert(watchesOf(s, "services").length >= 3);
    await informer.stop();
  });
});

Deno.test("informer relists after a forced 410 and reports what changed meanwhile", async () => {
  await withServer(async (s, api, defer) => {
    s.create("services", svc("keep"));
    s.create("services", svc("gone"));
    const informer = api.services.informer({ backoff: { initialMs: 50 } });
    defer(() => informer.stop());
    const changes: string[] = [];
    informer.onChange((c) => changes.push(`${c.type}:${c.key}`));
    informer.start();
    await informer.synced();
    await waitFor("a watch", () => s.openWatches === 1);
    changes.length = 0;
    s.faults.expireHistory("services");
    s.faults.dropWatches("services");
    await waitFor("a relist and a new watch", () => listsOf(s, "services").length === 2 && s.openWatches === 1);
    s.delete("services", "default", "gone");
    s.create("services", svc("new"));
    await waitFor("events after the relist", () => informer.get("default/new") && !informer.get("default/gone"));
    assertEquals(listsOf(s, "services").length, 2);
    assertEquals(informer.stats.relists, 1);
    assertEquals(changes, ["deleted:default/gone", "added:default/new"]);
    await informer.stop();
  });
});

Deno.test("informer backs off on 500s: a bounded number of requests, then recovers", async () => {
  await withServer(async (s, api, defer) => {
    s.create("services", svc("a"));
    s.faults.failNext(1000, { status: 500, resource: "services" });
    const informer = api.services.informer();
    defer(() => informer.stop());
    informer.start();
    await new Promise((r) => setTimeout(r, 2_000));
    const seen = s.requests.filter((r) => r.resource === "services").length;
    // 100–200, 200–400, 400–800, 800–1600 ms: at most 5 requests in 2 s (a hot loop would make thousands).
    assert(seen >= 2 && seen <= 5, `saw ${seen} requests in 2 s`);
    assert(!informer.hasSynced());
    s.faults.clear();
    await waitFor("sync after recovery", () => informer.hasSynced(), { timeoutMs: 10_000 });
    assertEquals(informer.size, 1);
    await informer.stop();
  });
});

Deno.test("client turns a garbage body into KubeDecodeError and keeps working", async () => {
  await withServer(async (s, api) => {
    s.create("services", svc("a"));
    s.faults.failNext(1, { status: 200, body: "<html><body>captive portal</body></html>", verb: "get" });
    await assertRejects(() => api.services.get({ namespace: "default", name: "a" }), KubeDecodeError, "not JSON");
    s.faults.failNext(1, { status: 500, body: "\u0000\u0001 garbage", verb: "get" });
    const error = await assertRejects(() => api.services.get({ namespace: "default", name: "a" }), KubeApiError);
    assertEquals((error as KubeApiError).status, 500);
    assertEquals((await api.services.get({ namespace: "default", name: "a" })).metadata.name, "a");
    s.faults.failNext(1, { status: 200, body: '{"items": 5}', verb: "list" });
    await assertRejects(() => api.services.list(), KubeDecodeError, "not a list");
  });
});

Deno.test("updateServiceStatus() retries after 409s on the status subresource", async () => {
  await withServer(async (s, api) => {
    s.create("services", svc("web"));
    s.faults.failNext(2, { status: 409, subresource: "status", method: "PUT" });
    const written = await updateServiceStatus({
      services: api.services,
      namespace: "default",
      name: "web",
      // The API server (1.32) adds ipMode "VIP" to ingress entries with an IP, as the fake one does.
      update: () => ({ loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } }),
    });
    assertEquals(written?.status?.loadBalancer?.ingress, [{ ip: "192.0.2.10", ipMode: "VIP" }]);
    assertEquals(s.get("services", "default", "web").status.loadBalancer.ingress, [{
      ip: "192.0.2.10",
      ipMode: "VIP",
    }]);
    const statusPuts = s.requests.filter((r) => r.subresource === "status" && r.method === "PUT");
    assertEquals(statusPuts.map((r) => r.status), [409, 409, 200]);
    // A real conflict: someone else changed the Service since our cached copy.
    const stale = await api.services.get({ namespace: "default", name: "web" });
    s.update("services", {
      ...s.get("services", "default", "web"),
      metadata: { ...stale.metadata, labels: { a: "b" } },
    });
    await updateServiceStatus({
      services: api.services,
      namespace: "default",
      name: "web",
      current: stale,
      update: () => ({ loadBalancer: { ingress: [{ ip: "192.0.2.11" }] } }),
    });
    assertEquals(s.get("services", "default", "web").metadata.labels, { a: "b" });
    assertEquals(s.get("services", "default", "web").status.loadBalancer.ingress[0].ip, "192.0.2.11");
  });
});

Deno.test("LeaseLock: acquire, renew, and takeover after expiry between two clients", async () => {
  await withServer(async (s, api) => {
    const clock = new FakeClock(Date.now());
    const config = await loadKubeConfig({ path: s.kubeconfigPath });
    const api2 = createKubeApi({ config });
    try {
      const options = { namespace: "metallb-system", name: "metallite-allocator", clock, leaseDurationSeconds: 15 };
      const a = new LeaseLock({ ...options, leases: api.leases, identity: "node-a" });
      const b = new LeaseLock({ ...options, leases: api2.leases, identity: "node-b" });
      assert(await a.tryAcquireOrRenew());
      assert(!(await b.tryAcquireOrRenew()));
      await clock.advance(5_000);
      assert(await a.tryAcquireOrRenew(), "renew");
      await clock.advance(10_000);
      assert(!(await b.tryAcquireOrRenew()), "b saw a renewal 10 s ago");
      await clock.advance(15_000); // a is gone
      assert(await b.tryAcquireOrRenew(), "takeover");
      const lease = s.get("leases", "metallb-system", "metallite-allocator") as Lease;
      assertEquals([lease.spec?.holderIdentity, lease.spec?.leaseTransitions], ["node-b", 1]);
      assert(!(await a.tryAcquireOrRenew()), "a is back but b holds it");
      assert(await b.release());
      assert(await a.tryAcquireOrRenew(), "released leases are taken at once");
    } finally {
      api2.close();
    }
  });
});

Deno.test("EventRecorder creates one Event and patches its count", async () => {
  await withServer(async (s, api) => {
    const recorder = new EventRecorder({ events: api.events, component: "metallite-controller", host: "node1" });
    const target = { kind: "Service", apiVersion: "v1", namespace: "default", name: "web" };
    const e = { type: "Warning" as const, reason: "AllocationFailed", message: 'no pool for "web"' };
    await recorder.record(target, e);
    await recorder.record(target, e);
    const events = s.list("events", "default");
    assertEquals(events.length, 1);
    assertEquals([events[0].count, events[0].reason, events[0].involvedObject.name], [2, "AllocationFailed", "web"]);
  });
});

Deno.test("discoverMetallb() reports installed CRDs, and their absence", async () => {
  await withServer(async (_s, api) => {
    const found = await api.discoverMetallb();
    assert(found.installed);
    assert(found.resources.v1beta1?.includes("ipaddresspools"));
    assert(found.resources.v1beta2?.includes("bgppeers"));
  });
  await withServer(async (_s, api) => {
    assertEquals(await api.discoverMetallb(), { installed: false, resources: {} });
  }, { crds: false });
});

Deno.test("kubeconfig variants against the fake server", async (t) => {
  const s = await startFakeApiServer();
  const dir = await Deno.makeTempDir({ prefix: "mlt-kubeconfig-" });
  const tryGet = async (path: string) => {
    const api = createKubeApi({ config: await loadKubeConfig({ path }), timeoutMs: 5_000 });
    try {
      return await api.nodes.list();
    } finally {
      api.close();
    }
  };
  try {
    await t.step("token and CA data", async () => {
      await tryGet(s.kubeconfigPath);
    });
    await t.step("CA file relative to the kubeconfig, token file", async () => {
      await Deno.writeTextFile(`${dir}/ca.crt`, s.caPem);
      await Deno.writeTextFile(`${dir}/token`, s.token + "\n");
      await Deno.writeTextFile(
        `${dir}/config`,
        `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n` +
          `clusters: [{name: k, cluster: {server: "${s.url}", certificate-authority: ca.crt}}]\n` +
          `users: [{name: u, user: {tokenFile: token}}]\n`,
      );
      await tryGet(`${dir}/config`);
    });
    await t.step("client certificate", async () => {
      await s.writeKubeconfig(`${dir}/cert`, { clientCert: true });
      const config = await loadKubeConfig({ path: `${dir}/cert` });
      assert(config.clientCertPem && config.clientKeyPem);
      await tryGet(`${dir}/cert`);
    });
    await t.step("wrong token gives 401", async () => {
      await s.writeKubeconfig(`${dir}/bad-token`, { token: "nope" });
      const error = await assertRejects(() => tryGet(`${dir}/bad-token`), KubeApiError);
      assertEquals((error as KubeApiError).status, 401);
    });
    await t.step("insecure-skip-tls-verify names the Deno flag", async () => {
      await s.writeKubeconfig(`${dir}/insecure`, { insecure: true });
      const error = await assertRejects(() => tryGet(`${dir}/insecure`), KubeRequestError);
      assertStringIncludes(error.message, "--unsafely-ignore-certificate-errors=127.0.0.1");
    });
    await t.step("insecure-skip-tls-verify works under --unsafely-ignore-certificate-errors", async () => {
      const probe = new URL("./_list_nodes_probe.ts", import.meta.url).pathname;
      const denoJson = new URL("../../deno.json", import.meta.url).pathname;
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          denoJson,
          "--unsafely-ignore-certificate-errors=127.0.0.1",
          probe,
          `${dir}/insecure`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(new TextDecoder().decode(output.stdout).trim(), "ok 0", new TextDecoder().decode(output.stderr));
    });
    await t.step("missing file", async () => {
      await assertRejects(
        () => loadKubeConfig({ path: `${dir}/none` }),
        KubeConfigError,
        "cannot be read: no such file",
      );
    });
    await t.step("bad YAML", async () => {
      await Deno.writeTextFile(`${dir}/bad`, "clusters: [\n  {name: ");
      await assertRejects(() => loadKubeConfig({ path: `${dir}/bad` }), KubeConfigError, "is not valid YAML");
    });
    await t.step("server pointing nowhere", async () => {
      await s.writeKubeconfig(`${dir}/nowhere`, { server: "https://127.0.0.1:1" });
      await assertRejects(() => tryGet(`${dir}/nowhere`), KubeRequestError, "cannot reach https://127.0.0.1:1");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await s.close();
  }
});

Deno.test("a hung API server: requests time out, a hung watch is cut and resumed", async () => {
  await withServer(
    async (s, api, defer) => {
      s.create("services", svc("a"));
      s.faults.hangNext(1, { verb: "get" });
      const error = await assertRejects(
        () => api.services.get({ namespace: "default", name: "a" }),
        KubeRequestError,
        "within 500 ms",
      );
      assert((error as KubeRequestError).timedOut);

      s.faults.hangNext(1, { verb: "watch" });
      const informer = api.services.informer({ idleTimeoutMs: 500, backoff: { initialMs: 50 } });
      defer(() => informer.stop());
      informer.start();
      await informer.synced();
      s.create("services", svc("b"));
      await waitFor("b after the hung watch was cut", () => informer.get("default/b"), { timeoutMs: 5_000 });
      assert(informer.stats.watches >= 2);
      await informer.stop();
    },
    {},
    { timeoutMs: 500 },
  );
});
