/**
 * The fake API server driven by the real kubectl: create, get, list, watch, patch (merge, JSON, strategic, status),
 * delete, client-side and server-side apply of MetalLB objects.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { startFakeApiServer } from "./mod.ts";
import { KUBECTL, kubectl, KUBECTL_MISSING, kubectlOk } from "./_testing.ts";

const TESTDATA = join(import.meta.dirname!, "testdata");
const ignore = KUBECTL_MISSING !== undefined;
// deno-lint-ignore no-console
if (ignore) console.warn(`skipping kubectl tests: ${KUBECTL_MISSING}`);

const SERVICE_YAML = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: http, port: 80}
  - {name: https, port: 443}
`;

Deno.test({ name: "kubectl creates, gets and lists a Service as JSON", ignore }, async () => {
  await using server = await startFakeApiServer();
  const out = await kubectlOk(server, ["create", "-f", "-", "-o", "json"], { stdin: SERVICE_YAML });
  const created = JSON.parse(out);
  assertEquals(created.metadata.namespace, "default");
  assert(/^[1-9][0-9]*$/.test(created.metadata.resourceVersion));
  assertEquals(created.spec.ports[0].protocol, "TCP");
  const got = JSON.parse(await kubectlOk(server, ["get", "svc", "web", "-o", "json"]));
  assertEquals(got.metadata.uid, created.metadata.uid);
  const list = JSON.parse(await kubectlOk(server, ["get", "services", "-A", "-l", "app=web", "-o", "json"]));
  assertEquals(list.items.map((s: { metadata: { name: string } }) => s.metadata.name), ["web"]);
  const table = await kubectlOk(server, ["get", "svc"]);
  assertStringIncludes(table, "<pending>");
  const again = await kubectl(server, ["create", "-f", "-"], { stdin: SERVICE_YAML });
  assertEquals(again.code, 1);
  assertStringIncludes(again.stderr, "AlreadyExists");
  const missing = await kubectl(server, ["get", "svc", "nope"]);
  assertStringIncludes(missing.stderr, `services "nope" not found`);
  assertEquals(server.get("services", "default", "web").metadata.uid, created.metadata.uid);
});

Deno.test({ name: "kubectl get -w sees ADDED, MODIFIED and DELETED as objects change", ignore }, async () => {
  await using server = await startFakeApiServer();
  const child = new Deno.Command(KUBECTL!, {
    args: [
      "--kubeconfig",
      server.kubeconfigPath,
      "--cache-dir",
      join(server.dir, "kubectl-cache"),
      "get",
      "svc",
      "-w",
      "--output-watch-events",
      "-o",
      "json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const seen: string[] = [];
  let text = "";
  let pending = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    // kubectl lists first, then watches from the list's resourceVersion; wait for its watch to open.
    for (let i = 0; i < 200 && server.openWatches === 0; i++) await new Promise((r) => setTimeout(r, 25));
    assertEquals(server.openWatches, 1);
    server.create("services", { metadata: { name: "web" }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } });
    server.patchStatus("services", "default", "web", { loadBalancer: { ingress: [{ ip: "203.0.113.10" }] } });
    server.delete("services", "default", "web");
    while (seen.length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      // kubectl prints each event as JSON (one line, or indented over several): parse at line ends.
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        pending += text.slice(0, nl + 1);
        text = text.slice(nl + 1);
        let event;
        try {
          event = JSON.parse(pending);
        } catch {
          continue;
        }
        pending = "";
        seen.push(`${event.type}:${event.object.status?.loadBalancer?.ingress?.[0]?.ip ?? "-"}`);
      }
    }
  } finally {
    clearTimeout(deadline);
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await reader.cancel();
    await child.stderr.cancel();
    await child.status;
  }
  assertEquals(seen, ["ADDED:-", "MODIFIED:203.0.113.10", "DELETED:203.0.113.10"]);
});

Deno.test({ name: "kubectl patch: merge, JSON, strategic, status subresource; then delete", ignore }, async () => {
  await using server = await startFakeApiServer();
  await kubectlOk(server, ["create", "-f", "-"], { stdin: SERVICE_YAML });
  await kubectlOk(server, ["patch", "svc", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}']);
  await kubectlOk(server, [
    "patch",
    "svc",
    "web",
    "--type=json",
    "-p",
    '[{"op":"test","path":"/spec/type","value":"LoadBalancer"},{"op":"replace","path":"/spec/ports/1/port","value":8443}]',
  ]);
  const failed = await kubectl(server, [
    "patch",
    "svc",
    "web",
    "--type=json",
    "-p",
    '[{"op":"test","path":"/spec/type","value":"NodePort"}]',
  ]);
  assertEquals(failed.code, 1);
  assertStringIncludes(failed.stderr, "test failed");
  // Strategic merge on ports merges by the "port" key: http keeps its name, gets a targetPort.
  await kubectlOk(server, ["patch", "svc", "web", "-p", '{"spec":{"ports":[{"port":80,"targetPort":8080}]}}']);
  let svc = server.get("services", "default", "web");
  assertEquals(svc.metadata.labels, { app: "web", tier: "front" });
  assertEquals(
    svc.spec.ports.map((p: { name: string; port: number; targetPort: number }) => [p.name, p.port, p.targetPort]),
    [["http", 80, 8080], ["https", 8443, 443]],
  );
  // Status through the main resource is ignored; through /status it lands.
  await kubectlOk(server, [
    "patch",
    "svc",
    "web",
    "--type=merge",
    "-p",
    '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.99"}]}}}',
  ]);
  assertEquals(server.get("services", "default", "web").status, { loadBalancer: {} });
  await kubectlOk(server, [
    "patch",
    "svc",
    "web",
    "--subresource=status",
    "--type=merge",
    "-p",
    '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10"}]}},"spec":{"type":"NodePort"}}',
  ]);
  svc = server.get("services", "default", "web");
  assertEquals(svc.status.loadBalancer.ingress, [{ ip: "203.0.113.10", ipMode: "VIP" }]);
  assertEquals(svc.spec.type, "LoadBalancer");
  const wide = await kubectlOk(server, ["get", "svc", "web"]);
  assertStringIncludes(wide, "203.0.113.10");
  await kubectlOk(server, ["delete", "svc", "web", "--timeout=10s"]);
  assertEquals(server.get("services", "default", "web"), undefined);
});

Deno.test({ name: "kubectl apply of MetalLB objects, a changed re-apply, and server-side apply", ignore }, async () => {
  await using server = await startFakeApiServer();
  const out = await kubectlOk(server, ["apply", "-f", join(TESTDATA, "metallb.yaml")]);
  for (const what of ["ipaddresspool", "l2advertisement", "bgppeer", "community", "bgpadvertisement"]) {
    assertStringIncludes(out, `${what}.metallb.io/`);
  }
  const peer = JSON.parse(
    await kubectlOk(server, ["get", "bgppeers.metallb.io", "-n", "metallb-system", "lab-router", "-o", "json"]),
  );
  assertEquals(peer.apiVersion, "metallb.io/v1beta2");
  assertEquals(peer.spec.peerASN, 64501);
  assertEquals(peer.metadata.generation, 1);
  // The three-way merge drops what the new file no longer has and keeps fields others set.
  server.patch("ipaddresspools", "metallb-system", "lab-pool", { metadata: { labels: { owner: "someone-else" } } });
  const changed = await kubectlOk(server, ["apply", "-f", join(TESTDATA, "metallb_changed.yaml")]);
  assertStringIncludes(changed, "ipaddresspool.metallb.io/lab-pool configured");
  assertStringIncludes(changed, "bgppeer.metallb.io/lab-router unchanged");
  const pool = server.get("ipaddresspools", "metallb-system", "lab-pool");
  assertEquals(pool.spec, { addresses: ["203.0.113.10-203.0.113.30", "2001:db8:200::/120"], autoAssign: true });
  assertEquals(pool.metadata.labels, { tier: "lab", owner: "someone-else" });
  assertEquals(pool.metadata.generation, 2);
  assertEquals(server.get("l2advertisements", "metallb-system", "lab-l2").spec, { ipAddressPools: ["lab-pool"] });
  assertEquals(server.get("bgpadvertisements", "metallb-system", "lab-bgp").spec.localPref, 200);
  // Server-side apply: create new objects, then change one.
  const ssa = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ssa-pool, namespace: metallb-system}
spec:
  addresses: [198.51.100.240/28]
  avoidBuggyIPs: true
`;
  assertStringIncludes(
    await kubectlOk(server, ["apply", "--server-side", "-f", "-"], { stdin: ssa }),
    "serverside-applied",
  );
  await kubectlOk(server, ["apply", "--server-side", "-f", "-"], { stdin: ssa.replace("  avoidBuggyIPs: true\n", "") });
  assertEquals(server.get("ipaddresspools", "metallb-system", "ssa-pool").spec, { addresses: ["198.51.100.240/28"] });
  const all = await kubectlOk(server, [
    "get",
    "ipaddresspools,l2advertisements,bgppeers,communities,bgpadvertisements",
    "-A",
  ]);
  for (const name of ["lab-pool", "ssa-pool", "lab-l2", "lab-router", "lab-communities", "lab-bgp"]) {
    assertStringIncludes(all, name);
  }
  // kubectl asks for strict field validation: a misspelt field is an error, as on a real cluster.
  const typo = await kubectl(server, ["apply", "-f", "-"], { stdin: ssa.replace("avoidBuggyIPs", "avoidBugyIPs") });
  assertEquals(typo.code, 1);
  assertStringIncludes(typo.stderr, 'unknown field "spec.avoidBugyIPs"');
  // Validation by the server: a pool without a namespace that does not exist is a 404, like on a real cluster.
  const bad = await kubectl(server, ["apply", "-f", "-"], {
    stdin: ssa.replace("namespace: metallb-system", "namespace: nowhere"),
  });
  assertEquals(bad.code, 1);
  assertStringIncludes(bad.stderr, `namespaces "nowhere" not found`);
});

Deno.test({ name: "kubectl fails with Unauthorized on a wrong token and without the CRDs", ignore }, async () => {
  await using server = await startFakeApiServer({ crds: false });
  const wrong = join(server.dir, "wrong-token");
  await server.writeKubeconfig(wrong, { token: "not-the-token" });
  const denied = await kubectl(server, ["get", "svc"], { kubeconfig: wrong });
  assertEquals(denied.code, 1);
  assertStringIncludes(denied.stderr, "You must be logged in to the server");
  const noCrd = await kubectl(server, ["get", "ipaddresspools"]);
  assertEquals(noCrd.code, 1);
  assertStringIncludes(noCrd.stderr, `the server doesn't have a resource type "ipaddresspools"`);
  // A kubeconfig with a client certificate (signed by the CA) and insecure TLS still works: the token authenticates.
  const client = join(server.dir, "client-cert");
  await server.writeKubeconfig(client, { clientCert: true, insecure: true });
  assertStringIncludes(await kubectlOk(server, ["--kubeconfig", client, "get", "ns"]), "metallb-system");
});

Deno.test(
  { name: "kubectl apply of a Service twice: a strategic three-way merge keeps server-set fields", ignore },
  async () => {
    await using server = await startFakeApiServer();
    await kubectlOk(server, ["apply", "-f", "-"], { stdin: SERVICE_YAML });
    const before = server.get("services", "default", "web");
    server.patchStatus("services", "default", "web", { loadBalancer: { ingress: [{ ip: "203.0.113.10" }] } });
    // Drop https, add dns, change http's target: ports merge by "port"; the allocated nodePort of http survives.
    const changed = SERVICE_YAML.replace("  - {name: https, port: 443}\n", "  - {name: dns, port: 53, protocol: UDP}\n")
      .replace("{name: http, port: 80}", "{name: http, port: 80, targetPort: 8080}");
    assertStringIncludes(await kubectlOk(server, ["apply", "-f", "-"], { stdin: changed }), "service/web configured");
    const after = server.get("services", "default", "web");
    assertEquals(
      after.spec.ports.map((p: { name: string; port: number; targetPort: number }) =>
        `${p.name}:${p.port}:${p.targetPort}`
      ),
      ["http:80:8080", "dns:53:53"],
    );
    assertEquals(after.spec.ports[0].nodePort, before.spec.ports[0].nodePort);
    assertEquals(after.spec.clusterIP, before.spec.clusterIP);
    assertEquals(after.status.loadBalancer.ingress[0].ip, "203.0.113.10");
    assertStringIncludes(await kubectlOk(server, ["apply", "-f", "-"], { stdin: changed }), "service/web unchanged");
  },
);
