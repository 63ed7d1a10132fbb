// deno-lint-ignore-file no-console -- tests say why they skip
/**
 * The deployment examples: every YAML parses, the DaemonSet's and static pod's arguments pass metallite's real
 * command-line parser, their pod specs hold the security and probe settings the docs promise, the MetalLB YAML set is
 * accepted by the configuration parser and by `kubectl apply` against the fake API server, and the Dockerfile packs
 * the binaries `deno task compile` writes. (Docker cannot build here: no engine; the Dockerfile is checked as text.)
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ROOT } from "../../scripts/runtime.ts";
import { DEFAULT_METRICS_PORT, DEFAULT_NAMESPACE, HELP_TEXT, parseCommandLine } from "../../src/config/flags.ts";
import { buildModel, parseConfigFile } from "../../src/config/mod.ts";
import { SHUTDOWN_DEFAULTS } from "../../src/ops/shutdown.ts";
import { VERSION } from "../../src/version.ts";
import { loadManifests, parseManifests } from "./rbac.ts";

const EXAMPLES = `${ROOT}/examples`;

// deno-lint-ignore no-explicit-any
type Json = any;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...walk(path));
    else out.push(path);
  }
  return out.sort();
}

const files = walk(EXAMPLES);
const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f));
const markdownFiles = files.filter((f) => f.endsWith(".md"));

async function manifest(file: string, kind: string): Promise<Json> {
  const found = (await loadManifests(`${EXAMPLES}/${file}`)).filter((m) => m.kind === kind);
  assertEquals(found.length, 1, `${file} holds one ${kind}`);
  return found[0];
}

/** Expands Kubernetes' $(VAR) references in container args from the container's env, as the kubelet does. */
function expandArgs(args: string[], values: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_, name: string) => values[name] ?? `$(${name})`));
}

/** What the kubelet would put in each env var of the container: fieldRefs resolved for a node "node-a". */
function containerEnv(container: Json): Record<string, string> {
  const fields: Record<string, string> = { "spec.nodeName": "node-a", "status.podIP": "198.51.100.11" };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    env[e.name] = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath] ?? "";
  }
  return env;
}

function parseContainerArgs(container: Json) {
  const env = containerEnv(container);
  const command = parseCommandLine(expandArgs(container.args ?? [], env), {
    env: (name) => env[name],
    hostname: () => "hostname-not-used",
  });
  assert(command.kind === "run", `args ${JSON.stringify(container.args)} start the daemon`);
  return command.options;
}

Deno.test("every YAML file and YAML block in examples/ parses", async (t) => {
  assert(yamlFiles.length >= 4, `found ${yamlFiles.length} YAML files`);
  for (const file of yamlFiles) {
    await t.step(file.slice(EXAMPLES.length + 1), () => {
      const docs = parseManifests(Deno.readTextFileSync(file), file);
      assert(docs.length > 0);
      for (const doc of docs) {
        assertMatch(String(doc.apiVersion), /^[a-z0-9.]*\/?v\d+(beta\d+|alpha\d+)?$/, file);
        assert(typeof doc.kind === "string" && typeof doc.metadata?.name === "string", `${file}: kind and name`);
      }
    });
  }
  for (const file of markdownFiles) {
    await t.step(file.slice(EXAMPLES.length + 1), () => {
      const text = Deno.readTextFileSync(file);
      for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g)) parseManifests(block[1]!, file);
    });
  }
});

Deno.test("the DaemonSet's arguments pass metallite's parser and match its ports, probes and namespace", async () => {
  const ds = await manifest("daemonset.yaml", "DaemonSet");
  const pod = ds.spec.template.spec;
  const [container] = pod.containers;
  const options = parseContainerArgs(container);
  assertEquals(options.nodeName, "node-a");
  assertEquals(options.namespace, ds.metadata.namespace);
  assertEquals(ds.metadata.namespace, DEFAULT_NAMESPACE);
  assertEquals(options.metricsAddr, { hostname: "198.51.100.11", port: DEFAULT_METRICS_PORT });
  assert(options.pools.length > 0);
  const metricsPort = container.ports.find((p: Json) => p.name === "metrics");
  assertEquals(metricsPort.containerPort, options.metricsAddr?.port);
  assertEquals([container.livenessProbe.httpGet.path, container.livenessProbe.httpGet.port], ["/healthz", "metrics"]);
  assertEquals([container.readinessProbe.httpGet.path, container.readinessProbe.httpGet.port], ["/readyz", "metrics"]);
  assertEquals(ds.spec.template.metadata.annotations["prometheus.io/port"], String(DEFAULT_METRICS_PORT));
  const sa = await manifest("daemonset.yaml", "ServiceAccount");
  assertEquals([pod.serviceAccountName, sa.metadata.namespace], [sa.metadata.name, ds.metadata.namespace]);
  assert(
    pod.tolerations.some((t: Json) => t.key === "node-role.kubernetes.io/control-plane" && t.operator === "Exists"),
  );
});

Deno.test("the static pod's arguments pass metallite's parser and its kubeconfig comes from the node", async () => {
  const pod = await manifest("static-pod.yaml", "Pod");
  const [container] = pod.spec.containers;
  const options = parseContainerArgs(container);
  assertEquals(options.nodeName, "node-a");
  assertEquals(options.metricsAddr, { hostname: "127.0.0.1", port: DEFAULT_METRICS_PORT });
  for (const probe of [container.livenessProbe, container.readinessProbe]) {
    assertEquals([probe.httpGet.host, probe.httpGet.port], ["127.0.0.1", DEFAULT_METRICS_PORT]);
  }
  assertEquals([container.livenessProbe.httpGet.path, container.readinessProbe.httpGet.path], ["/healthz", "/readyz"]);
  const mount = container.volumeMounts.find((m: Json) => m.mountPath === options.kubeconfig);
  assert(mount?.readOnly === true, `--kubeconfig ${options.kubeconfig} is a read-only mount`);
  const volume = pod.spec.volumes.find((v: Json) => v.name === mount.name);
  assertEquals(volume.hostPath, { path: options.kubeconfig, type: "File" });
  assert(!pod.spec.serviceAccountName, "static pods cannot use a ServiceAccount");
});

Deno.test("both pods run on the host network with NET_RAW, NET_ADMIN and BPF only, never privileged", async () => {
  const ds = await manifest("daemonset.yaml", "DaemonSet");
  const pod = await manifest("static-pod.yaml", "Pod");
  for (const [name, spec] of [["DaemonSet", ds.spec.template.spec], ["static pod", pod.spec]] as const) {
    assertEquals(spec.hostNetwork, true, name);
    assert(spec.terminationGracePeriodSeconds > SHUTDOWN_DEFAULTS.totalTimeoutMs / 1000, `${name}: grace period`);
    const [container] = spec.containers;
    const sc = container.securityContext;
    assertEquals(sc.capabilities, { drop: ["ALL"], add: ["NET_RAW", "NET_ADMIN", "BPF"] }, name);
    assertEquals([sc.privileged, sc.allowPrivilegeEscalation, sc.readOnlyRootFilesystem], [false, false, true], name);
    const nodeName = container.env.find((e: Json) => e.name === "NODE_NAME");
    assertEquals(nodeName.valueFrom.fieldRef.fieldPath, "spec.nodeName", name);
    assertEquals(container.image, `ghcr.io/example/metallite:${VERSION}`, name);
    // A read-only root needs a writable /tmp for the compiled binary's code cache.
    assert(container.volumeMounts.some((m: Json) => m.mountPath === "/tmp"), `${name}: /tmp`);
    const { requests, limits } = container.resources;
    assert(!limits.cpu, `${name}: no CPU limit`);
    assert(parseInt(requests.memory) <= parseInt(limits.memory), `${name}: memory request within limit`);
  }
});

Deno.test("the access objects can be applied alone by label, without the DaemonSet", async () => {
  const all = await loadManifests(`${EXAMPLES}/daemonset.yaml`);
  const access = all.filter((m) => m.metadata?.labels?.["app.kubernetes.io/component"] === "access");
  assertEquals(access.map((m) => m.kind).sort(), [
    "ClusterRole",
    "ClusterRoleBinding",
    "Namespace",
    "Role",
    "RoleBinding",
    "ServiceAccount",
  ]);
});

Deno.test("the quick start documents every flag of metallite run", () => {
  const text = Deno.readTextFileSync(`${EXAMPLES}/quick-start.md`);
  const runSection = HELP_TEXT.slice(HELP_TEXT.indexOf("Flags for run:"), HELP_TEXT.indexOf("Flags for status:"));
  const flags = [...runSection.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]!);
  assert(flags.length >= 10, flags.join(" "));
  for (const flag of flags) assert(text.includes(`\`${flag}`), `quick-start.md mentions ${flag}`);
});

Deno.test("the MetalLB YAML set is accepted by metallite's configuration parser", async (t) => {
  const dir = `${EXAMPLES}/metallb-compatible`;
  const sets = {
    "l2.yaml": ["IPAddressPool", "L2Advertisement"],
    "bgp.yaml": ["IPAddressPool", "Community", "BGPPeer", "BGPAdvertisement"],
  };
  for (const [name, kinds] of Object.entries(sets)) {
    await t.step(name, () => {
      const file = `${dir}/${name}`;
      const parsed = parseConfigFile(Deno.readTextFileSync(file), { file });
      assertEquals(parsed.rejected, []);
      assertEquals(parsed.objects.map((o) => (o.object as Json).kind), kinds);
      const model = buildModel({ files: parsed.objects, namespace: DEFAULT_NAMESPACE });
      assertEquals(model.rejected, []);
      assert(model.pools.length === 1);
    });
  }
  await t.step("both files together", () => {
    const objects = ["l2.yaml", "bgp.yaml"].flatMap((n) =>
      parseConfigFile(Deno.readTextFileSync(`${dir}/${n}`), { file: n }).objects
    );
    const model = buildModel({ files: objects, namespace: DEFAULT_NAMESPACE });
    assertEquals(model.rejected, []);
    assertEquals(model.pools.map((p) => p.name), ["bgp-pool", "homelab"]);
    assertEquals(model.bgpPeers.map((p) => [p.name, p.peerAsn, p.myAsn]), [["router", 64501, 64500]]);
  });
});

const kubectl = "/usr/bin/kubectl";
const kubectlMissing = await Deno.stat(kubectl).then(() => undefined, () => `${kubectl} is missing`);
if (kubectlMissing) console.error(`skipping kubectl apply of examples: ${kubectlMissing}`);

Deno.test({
  name: "kubectl apply of the MetalLB YAML set against the fake API server creates every object",
  ignore: kubectlMissing !== undefined,
  async fn() {
    const { startFakeApiServer } = await import("../fake_apiserver/mod.ts");
    const server = await startFakeApiServer();
    try {
      const out = await new Deno.Command(kubectl, {
        args: ["--kubeconfig", server.kubeconfigPath, "apply", "-f", `${EXAMPLES}/metallb-compatible/`],
        stdin: "null",
        env: { HOME: server.dir },
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 0, stderr);
      const names = (resource: string) => server.list(resource, DEFAULT_NAMESPACE).map((o: Json) => o.metadata.name);
      assertEquals(names("ipaddresspools"), ["bgp-pool", "homelab"]);
      assertEquals(names("l2advertisements"), ["homelab"]);
      assertEquals(names("bgppeers"), ["router"]);
      assertEquals(names("bgpadvertisements"), ["bgp-pool"]);
      assertEquals(names("communities"), ["communities"]);
      assertEquals(names("secrets"), ["router-bgp-password"]);
      // What the cluster now holds is what metallite reads from it: the same model as from the files.
      const cluster = ["ipaddresspools", "l2advertisements", "bgppeers", "bgpadvertisements", "communities"]
        .flatMap((r) => server.list(r, DEFAULT_NAMESPACE));
      const model = buildModel({ cluster, namespace: DEFAULT_NAMESPACE });
      assertEquals(model.rejected, []);
      assertEquals(model.pools.map((p) => p.name), ["bgp-pool", "homelab"]);
    } finally {
      await server.close();
    }
  },
});

Deno.test("the Dockerfile packs the binaries deno task compile writes, with metallite as its exec-form entrypoint", async () => {
  const text = await Deno.readTextFile(`${ROOT}/Dockerfile`);
  const lines = text.split("\n");
  assertEquals(lines[0], "# syntax=docker/dockerfile:1", "the syntax directive must be the first line");
  const instructions = lines.filter((l) => /^[A-Z]+ /.test(l));
  // The binaries named in the COPY lines are exactly the outputs of scripts/compile.ts.
  const compile = await Deno.readTextFile(`${ROOT}/scripts/compile.ts`);
  const outputs = [...compile.matchAll(/output: "(dist\/metallite-[a-z0-9_]+)"/g)].map((m) => m[1]).sort();
  const copied = instructions.flatMap((l) => l.match(/^COPY (dist\/\S+) /)?.[1] ?? []).sort();
  assertEquals(copied, outputs);
  assertEquals(outputs, ["dist/metallite-aarch64", "dist/metallite-x86_64"]);
  // One stage per buildx TARGETARCH, picked by name.
  assert(instructions.includes("FROM scratch AS binary-amd64"));
  assert(instructions.includes("FROM scratch AS binary-arm64"));
  assert(instructions.includes("FROM binary-${TARGETARCH} AS binary"));
  assert(instructions.includes("FROM ${BASE}"));
  assertMatch(text, /^ARG BASE=gcr\.io\/distroless\/cc-debian12$/m);
  const copyFinal = instructions.find((l) => l.startsWith("COPY --from=binary"));
  assertEquals(copyFinal, "COPY --from=binary --chmod=0555 /metallite /usr/local/bin/metallite");
  // Exec form, so metallite is PID 1 and receives SIGTERM itself (a shell would swallow it).
  const entrypoint = instructions.find((l) => l.startsWith("ENTRYPOINT "))!;
  assertEquals(JSON.parse(entrypoint.slice("ENTRYPOINT ".length)), ["/usr/local/bin/metallite"]);
  const cmd = JSON.parse(instructions.find((l) => l.startsWith("CMD "))!.slice(4));
  const command = parseCommandLine(cmd, { env: () => undefined, hostname: () => "node-a" });
  assertEquals(command.kind, "run");
  assertMatch(text, new RegExp(`org\\.opencontainers\\.image\\.version="${VERSION.replaceAll(".", "\\.")}"`));
  assert(!/^(ADD|RUN) /m.test(text), "no ADD or RUN: nothing fetched or executed at build time");
  assert(!/^USER /m.test(text), "root by default, as the manifests expect (see the comment)");
});

Deno.test({
  name: "the quick start's kubeconfig recipe makes a kubeconfig metallite's client can use",
  ignore: kubectlMissing !== undefined,
  async fn() {
    const text = await Deno.readTextFile(`${EXAMPLES}/quick-start.md`);
    const recipe = text.split("\n").filter((l) => l.startsWith("kubectl config --kubeconfig=metallite.conf "));
    assertEquals(recipe.length, 4, "set-cluster, set-credentials, set-context, use-context");
    const { startFakeApiServer } = await import("../fake_apiserver/mod.ts");
    const k8s = await import("../../src/k8s/mod.ts");
    const server = await startFakeApiServer();
    const dir = await Deno.makeTempDir({ prefix: "mlt-kubeconfig-" });
    try {
      await Deno.copyFile(server.caPath, `${dir}/ca.crt`);
      const script = ["set -eu", ...recipe.map((l) => l.replace(/^kubectl /, `${kubectl} `))].join("\n");
      const out = await new Deno.Command("bash", {
        args: ["-c", script],
        cwd: dir,
        env: { SERVER: server.url, TOKEN: server.token, HOME: dir, PATH: "/usr/bin:/bin" },
        clearEnv: true,
        stdin: "null",
      }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      const api = k8s.createKubeApi({ config: await k8s.loadKubeConfig({ path: `${dir}/metallite.conf` }) });
      try {
        const services = await api.services.list();
        assert(Array.isArray(services.items));
      } finally {
        api.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await server.close();
    }
  },
});
