// deno-lint-ignore-file no-console -- tests say why they skip
/**
 * `metallite status` against the fake API server: objects created through the server's direct API (and MetalLB
 * YAML applied with the real kubectl when it is installed), then `runStatus` read back as text and JSON.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes } from "../assert.ts";
import { type FakeApiServer, startFakeApiServer } from "../fake_apiserver/mod.ts";
import { microTime } from "../../src/k8s/mod.ts";
import { silentLogger } from "../../src/log/mod.ts";
import { runStatus, StatusError, type StatusReport } from "../../src/status/mod.ts";
import { bgpAdv, bgpPeer, ipPool, l2Adv, node, nodeLease, service, slice } from "../../src/status/_testing.ts";

const NS = "metallb-system";
const EXCLUDE = { "node.kubernetes.io/exclude-from-external-load-balancers": "" };

const KUBECTL = [
  "/usr/bin/kubectl",
  "/usr/local/bin/kubectl",
  ...(Deno.env.get("PATH") ?? "").split(":").map((d) => join(d, "kubectl")),
].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const KUBECTL_MISSING = KUBECTL === undefined ? "kubectl is not installed" : undefined;
if (KUBECTL_MISSING) console.error(`skipping the kubectl status test: ${KUBECTL_MISSING}`);

type Json = Record<string, unknown>;

/** Creates an object and then writes its status, as the status subresource ignores status on create. */
function createWithStatus(server: FakeApiServer, resource: string, obj: Json): void {
  server.create(resource, obj);
  const meta = obj.metadata as { name: string; namespace?: string };
  if (obj.status !== undefined) server.patchStatus(resource, meta.namespace, meta.name, obj.status);
}

/** Leases renewed relative to the real clock (runStatus judges freshness with Date.now). */
function lease(nodeName: string, agoMs: number, config?: Json): Json {
  return nodeLease(nodeName, agoMs, config, Date.now());
}

function populate(server: FakeApiServer): void {
  for (const n of [node("node-a"), node("node-b"), node("node-c", EXCLUDE)]) server.create("nodes", n);
  createWithStatus(server, "services", service("web", { ips: ["198.51.100.10"] }));
  createWithStatus(server, "services", service("db", { ips: ["198.51.100.11"], local: true }));
  createWithStatus(
    server,
    "services",
    service("full", {
      conditions: [{
        type: "metallite.io/AddressAssigned",
        status: "False",
        reason: "PoolExhausted",
        message: 'pool "lan" is exhausted (IPv4)',
        lastTransitionTime: "2025-01-01T00:00:00Z",
      }],
    }),
  );
  createWithStatus(server, "services", service("api", { ips: ["203.0.113.5"] }));
  server.create("endpointslices", slice("web", ["node-a", "node-b", "node-c"]));
  server.create("endpointslices", slice("db", ["node-b"]));
  server.create("endpointslices", slice("api", ["node-a"]));
  server.create("leases", lease("node-a", 1000, { announceInterfaces: ["eth0"] }));
  server.create("leases", lease("node-b", 120_000));
  server.create("leases", lease("node-c", 1000));
  server.create("leases", {
    metadata: { name: "metallite-allocator", namespace: NS },
    spec: { holderIdentity: "node-a", leaseDurationSeconds: 15, renewTime: microTime(Date.now() - 1000) },
  });
  server.create("ipaddresspools", ipPool("lan", ["198.51.100.10-198.51.100.11"]));
  server.create("l2advertisements", l2Adv("l2", ["lan"]));
  server.create("ipaddresspools", ipPool("public", ["203.0.113.5/32"]));
  server.create("bgpadvertisements", bgpAdv("bgp", ["public"]));
  server.create("bgppeers", bgpPeer("router1", "198.51.100.1"));
  createWithStatus(server, "servicel2statuses", {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceL2Status",
    metadata: { name: "l2-web", namespace: NS },
    spec: {},
    status: { node: "node-a", serviceName: "web", serviceNamespace: "default" },
  });
  createWithStatus(server, "servicebgpstatuses", {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: { name: "bgp-api", namespace: NS },
    spec: {},
    status: { node: "node-a", serviceName: "api", serviceNamespace: "default", peers: ["router1"] },
  });
  server.create("events", {
    metadata: { name: "full.1", namespace: "default" },
    involvedObject: { kind: "Service", name: "full", namespace: "default" },
    reason: "AllocationFailed",
    message: 'Failed to allocate IP for "default/full": pool "lan" is exhausted (IPv4)',
    type: "Warning",
    count: 3,
    lastTimestamp: "2025-01-01T00:00:00Z",
  });
}

async function status(kubeconfig: string, output: "text" | "json"): Promise<string> {
  let out = "";
  const code = await runStatus({ kubeconfig, namespace: NS, output }, {
    log: silentLogger,
    stdout: (text) => (out += text),
  });
  assertEquals(code, 0);
  return out;
}

Deno.test("runStatus() explains a populated cluster in text", async () => {
  await using server = await startFakeApiServer();
  populate(server);
  const text = await status(server.kubeconfigPath, "text");
  const flat = text.replace(/ {2,}/g, " ");
  assertStringIncludes(text, "Configuration: valid · 2 pools, 1 L2Advertisement, 1 BGPAdvertisement, 1 BGPPeer");
  assertStringIncludes(text, "Instances: 2 alive, 1 stale, 0 nodes without metallite · allocator: node-a (fresh)");
  assertStringIncludes(flat, " default/web announced 198.51.100.10 lan node-a (L2)\n");
  assertStringIncludes(flat, " default/full pending - - PoolExhausted\n");
  assertStringIncludes(flat, " default/api announced 203.0.113.5 public node-a (BGP)\n");
  assertStringIncludes(text, "L2: node-a announces it on all interfaces (reported by node-a; the election agrees)");
  assertStringIncludes(
    text,
    "node-b: dead (its instance is dead or cut off: its node Lease was last renewed 120 s ago)",
  );
  assertStringIncludes(
    text,
    "node-c: excluded-label (labelled node.kubernetes.io/exclude-from-external-load-balancers)",
  );
  assertStringIncludes(text, "externalTrafficPolicy Local: serving endpoints on node-b");
  assertStringIncludes(text, "[from its condition metallite.io/AddressAssigned; recomputed: same]");
  assertStringIncludes(text, 'event: Warning AllocationFailed: Failed to allocate IP for "default/full"');
  assertStringIncludes(text, "BGP: node-a → router1 (as reported)");
  assert(!text.includes("Warnings:"), text);
});

Deno.test("runStatus() --output json prints one document with the stable fields", async () => {
  await using server = await startFakeApiServer();
  populate(server);
  const report = JSON.parse(await status(server.kubeconfigPath, "json")) as StatusReport;
  assertEquals(report.schemaVersion, 1);
  assertEquals(report.namespace, NS);
  assertEquals(report.config.crdsInstalled, true);
  assertEquals(report.services.map((s) => [s.name, s.state]), [
    ["api", "announced"],
    ["db", "unannounced"],
    ["full", "pending"],
    ["web", "announced"],
  ]);
  const web = report.services.find((s) => s.name === "web")!;
  assertEquals(web.l2?.elected, "node-a");
  assertEquals(web.l2?.excluded.map((e) => [e.node, e.reason]), [["node-b", "dead"], ["node-c", "excluded-label"]]);
  const db = report.services.find((s) => s.name === "db")!;
  assertEquals(db.l2?.skipped, "no-candidate");
  assertEquals(db.l2?.localEndpointNodes, ["node-b"]);
  const full = report.services.find((s) => s.name === "full")!;
  assertEquals(full.pending?.reported?.reason, "PoolExhausted");
  assertEquals(full.pending?.agrees, true);
  assertEquals(full.events[0]?.count, 3);
  const api = report.services.find((s) => s.name === "api")!;
  assertEquals(api.bgp?.expected, [{ node: "node-a", peers: ["router1"] }]);
  assertEquals(report.pools.map((p) => [p.name, p.ipv4.assigned, p.ipv4.available]), [
    ["lan", 2, 0],
    ["public", 1, 0],
  ]);
  assertEquals(report.instances.find((i) => i.node === "node-a")?.interfaces, ["eth0"]);
  assertEquals(report.warnings, []);
});

Deno.test("runStatus() works without MetalLB's CRDs, with flag pools published on a node Lease", async () => {
  await using server = await startFakeApiServer({ crds: false });
  server.create("nodes", node("node-a"));
  createWithStatus(server, "services", service("web", { ips: ["198.51.100.200"] }));
  server.create("endpointslices", slice("web", ["node-a"]));
  server.create("leases", lease("node-a", 1000, { pools: ["198.51.100.200-198.51.100.210"] }));
  const report = JSON.parse(await status(server.kubeconfigPath, "json")) as StatusReport;
  assertEquals(report.config.crdsInstalled, false);
  assertEquals(report.config.flags, "published");
  assertEquals(report.pools.map((p) => p.name), ["cli-pool-1"]);
  assertEquals(report.services[0]?.l2?.elected, "node-a");
  assert(report.config.notes.some((n) => n.includes("the metallb.io CRDs are not installed")));
  assertEquals(report.warnings, []);
});

Deno.test("runStatus() lists what it could not read as warnings and goes on", async () => {
  await using server = await startFakeApiServer();
  populate(server);
  server.faults.failNext(1, { status: 500, verb: "list", resource: "nodes" });
  server.faults.failNext(1, { status: 403, verb: "list", resource: "events" });
  const report = JSON.parse(await status(server.kubeconfigPath, "json")) as StatusReport;
  assert(report.warnings.some((w) => w.startsWith("cannot list nodes: 500")), report.warnings.join("\n"));
  assert(report.warnings.some((w) => w.startsWith("cannot list events of Services: 403")));
  assertEquals(report.services.find((s) => s.name === "full")?.events, []);
});

Deno.test("runStatus() survives malformed objects in the cluster", async () => {
  await using server = await startFakeApiServer();
  populate(server);
  server.create("servicel2statuses", {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceL2Status",
    metadata: { name: "l2-broken", namespace: NS },
    spec: {},
  });
  server.create("leases", {
    metadata: {
      name: "metallite-node-node-x",
      namespace: NS,
      annotations: { "metallite.io/node-config": "[1,2" },
    },
    spec: { holderIdentity: "node-x", renewTime: microTime(Date.now()) },
  });
  server.create("ipaddresspools", ipPool("broken", ["10.0.0.0/0"]));
  const report = JSON.parse(await status(server.kubeconfigPath, "json")) as StatusReport;
  assert(
    report.warnings.some((w) => w.includes("ServiceL2Status metallb-system/l2-broken skipped")),
    report.warnings.join("\n"),
  );
  assert(report.warnings.some((w) => w.includes("metallite.io/node-config skipped")));
  assert(report.warnings.some((w) => w.includes("node Lease of node-x names a node that does not exist")));
  assertEquals(report.config.valid, false);
  assertEquals(report.config.rejected.map((r) => r.name), ["broken"]);
  const text = await status(server.kubeconfigPath, "text");
  assertStringIncludes(text, "rejected: IPAddressPool metallb-system/broken (cluster)");
  assertStringIncludes(text, "Warnings:");
});

Deno.test("runStatus() fails with one line when the API server cannot be reached", async () => {
  await using server = await startFakeApiServer();
  const path = join(server.dir, "unreachable-kubeconfig");
  // A loopback port that was free a moment ago: nothing listens there, so the connection is refused at once.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  await server.writeKubeconfig(path, { server: `https://127.0.0.1:${port}` });
  const error = await assertRejects(() => status(path, "text"), StatusError);
  assertMatch(error.message, /^cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:\d+ \(from .*\): /);
  assertStringIncludes(error.message, `https://127.0.0.1:${port}`);
  console.log(`    message: ${error.message}`);
  assert(!error.message.includes("\n"));
});

Deno.test("runStatus() gives up on an API server that does not answer, with one line", async () => {
  await using server = await startFakeApiServer();
  server.faults.hangNext(1, { verb: "list", resource: "services" });
  const error = await assertRejects(
    () =>
      runStatus({ kubeconfig: server.kubeconfigPath, namespace: NS, output: "text" }, {
        log: silentLogger,
        stdout: () => {},
        timeoutMs: 300,
      }),
    StatusError,
  );
  assertMatch(error.message, /^cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:\d+ /);
  assert(!error.message.includes("\n"));
  console.log(`    message: ${error.message}`);
});

Deno.test("runStatus() fails with one line when the kubeconfig is missing", async () => {
  const error = await assertRejects(() => status("/nonexistent/metallite-kubeconfig", "text"), StatusError);
  assertStringIncludes(error.message, "/nonexistent/metallite-kubeconfig");
  assert(!error.message.includes("\n"));
});

Deno.test("runStatus() fails with one line when Services may not be listed", async () => {
  await using server = await startFakeApiServer();
  server.faults.failNext(1, { status: 403, verb: "list", resource: "services" });
  const error = await assertRejects(() => status(server.kubeconfigPath, "text"), StatusError);
  assertMatch(error.message, /^not allowed to list Services \(403 Forbidden\)/);
});

Deno.test({
  name: "runStatus() reads MetalLB YAML applied with the real kubectl",
  ignore: KUBECTL_MISSING !== undefined,
  async fn() {
    await using server = await startFakeApiServer();
    server.create("nodes", node("node-a"));
    server.create("leases", lease("node-a", 1000));
    createWithStatus(server, "services", service("web", { ips: ["192.0.2.20"] }));
    server.create("endpointslices", slice("web", ["node-a"]));
    const yaml = [
      "apiVersion: metallb.io/v1beta1",
      "kind: IPAddressPool",
      "metadata: {name: home, namespace: metallb-system}",
      "spec: {addresses: [192.0.2.16/28]}",
      "---",
      "apiVersion: metallb.io/v1beta1",
      "kind: L2Advertisement",
      "metadata: {name: home, namespace: metallb-system}",
      "spec: {ipAddressPools: [home]}",
      "",
    ].join("\n");
    const child = new Deno.Command(KUBECTL!, {
      args: ["--kubeconfig", server.kubeconfigPath, "--cache-dir", join(server.dir, "kc-cache"), "apply", "-f", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(yaml));
    await writer.close();
    const result = await child.output();
    assertEquals(result.code, 0, new TextDecoder().decode(result.stderr));
    const text = await status(server.kubeconfigPath, "text");
    assertStringIncludes(text.replace(/ {2,}/g, " "), " default/web announced 192.0.2.20 home node-a (L2)\n");
  },
});
