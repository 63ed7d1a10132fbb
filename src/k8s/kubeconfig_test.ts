import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { KubeConfigError } from "./errors.ts";
import { loadKubeConfig, SERVICE_ACCOUNT_DIR } from "./kubeconfig.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const b64 = (s: string) => btoa(s);

function files(map: Record<string, string>): (path: string) => Promise<string> {
  return (path) => {
    const text = map[path];
    return text === undefined ? Promise.reject(new Deno.errors.NotFound(path)) : Promise.resolve(text);
  };
}

function env(map: Record<string, string>): { get(name: string): string | undefined } {
  return { get: (name) => map[name] };
}

function kubeconfig(options: { cluster?: string; user?: string; context?: string; current?: string } = {}): string {
  return `apiVersion: v1
kind: Config
current-context: ${options.current ?? "lab"}
contexts:
- name: lab
  context:
    cluster: lab-cluster
    user: lab-user
${options.context ?? ""}
clusters:
- name: lab-cluster
  cluster:
${options.cluster ?? `    server: https://192.0.2.1:6443/\n    certificate-authority-data: ${b64(CA)}`}
users:
- name: lab-user
  user:
${options.user ?? "    token: abc123"}
`;
}

Deno.test("loadKubeConfig() reads in-cluster settings when KUBERNETES_SERVICE_HOST is set", async () => {
  const config = await loadKubeConfig({
    env: env({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443", KUBECONFIG: "/nope" }),
    readFile: files({
      [`${SERVICE_ACCOUNT_DIR}/token`]: "tok\n",
      [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA,
      [`${SERVICE_ACCOUNT_DIR}/namespace`]: "metallb-system\n",
    }),
  });
  assertEquals(config, {
    server: "https://[fd00::1]:443",
    caPem: CA,
    tokenFile: `${SERVICE_ACCOUNT_DIR}/token`,
    namespace: "metallb-system",
    source: "in-cluster",
  });
});

Deno.test("loadKubeConfig() names the missing service account token in-cluster", async () => {
  await assertRejects(
    () =>
      loadKubeConfig({
        env: env({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }),
        readFile: files({}),
      }),
    KubeConfigError,
    `In-cluster service account token ${SERVICE_ACCOUNT_DIR}/token cannot be read: no such file`,
  );
});

Deno.test("loadKubeConfig() takes the first file of $KUBECONFIG, then ~/.kube/config", async () => {
  const fromList = await loadKubeConfig({
    env: env({ KUBECONFIG: "/a/config:/b/config", HOME: "/home/x" }),
    readFile: files({ "/a/config": kubeconfig(), "/home/x/.kube/config": "garbage: [" }),
  });
  assertEquals(fromList.source, "/a/config");
  assertEquals(fromList.server, "https://192.0.2.1:6443");
  assertEquals(fromList.token, "abc123");
  assertEquals(fromList.caPem, CA);
  const fromHome = await loadKubeConfig({
    env: env({ HOME: "/home/x/" }),
    readFile: files({ "/home/x/.kube/config": kubeconfig() }),
  });
  assertEquals(fromHome.source, "/home/x/.kube/config");
});

Deno.test("loadKubeConfig() prefers an explicit path over in-cluster settings", async () => {
  const config = await loadKubeConfig({
    path: "/etc/k.yaml",
    env: env({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }),
    readFile: files({ "/etc/k.yaml": kubeconfig() }),
  });
  assertEquals(config.source, "/etc/k.yaml");
});

Deno.test("loadKubeConfig() reads CA, client certificate and key from files relative to the kubeconfig", async () => {
  const config = await loadKubeConfig({
    path: "/etc/kube/config",
    readFile: files({
      "/etc/kube/config": kubeconfig({
        cluster: "    server: https://192.0.2.1:6443\n    certificate-authority: pki/ca.crt",
        user: "    client-certificate: /abs/client.crt\n    client-key-data: " + b64(KEY),
        context: "    namespace: apps",
      }),
      "/etc/kube/pki/ca.crt": CA,
      "/abs/client.crt": CERT,
    }),
  });
  assertEquals(config, {
    server: "https://192.0.2.1:6443",
    caPem: CA,
    clientCertPem: CERT,
    clientKeyPem: KEY,
    namespace: "apps",
    source: "/etc/kube/config",
  });
});

Deno.test("loadKubeConfig() keeps a tokenFile for re-reading, and honours --context", async () => {
  const text = kubeconfig({ user: "    tokenFile: tok", current: "other" });
  const config = await loadKubeConfig({
    path: "/k/config",
    context: "lab",
    readFile: files({ "/k/config": text, "/k/tok": "t\n" }),
  });
  assertEquals(config.tokenFile, "/k/tok");
  assertEquals(config.token, undefined);
});

Deno.test("loadKubeConfig() passes insecure-skip-tls-verify on", async () => {
  const config = await loadKubeConfig({
    path: "/k",
    readFile: files({
      "/k": kubeconfig({ cluster: "    server: https://192.0.2.1:6443\n    insecure-skip-tls-verify: true" }),
    }),
  });
  assertEquals(config.insecureSkipTlsVerify, true);
});

Deno.test("loadKubeConfig() rejects unusable kubeconfigs with one clear line", async (t) => {
  const cases: [string, Record<string, string>, string][] = [
    ["missing file", {}, "No Kubernetes configuration: kubeconfig /k cannot be read: no such file"],
    ["bad YAML", { "/k": "clusters: [\n  - {" }, "Kubeconfig /k is not valid YAML:"],
    ["not a map", { "/k": "- 1\n- 2\n" }, "Kubeconfig /k is not a YAML map"],
    ["no current-context", { "/k": kubeconfig({ current: '""' }) }, "Kubeconfig /k has no current-context"],
    ["unknown context", { "/k": kubeconfig({ current: "prod" }) }, 'Kubeconfig /k: context "prod" not found'],
    [
      "missing server",
      { "/k": kubeconfig({ cluster: "    certificate-authority-data: " + b64(CA) }) },
      "has no server",
    ],
    ["bad server", { "/k": kubeconfig({ cluster: "    server: ftp://x" }) }, "is not an http(s) URL"],
    [
      "bad base64",
      { "/k": kubeconfig({ cluster: '    server: https://x\n    certificate-authority-data: "@@@"' }) },
      "not valid base64",
    ],
    ["CA is not PEM", {
      "/k": kubeconfig({ cluster: "    server: https://x\n    certificate-authority-data: " + b64("hello") }),
    }, "is not PEM"],
    [
      "missing CA file",
      { "/k": kubeconfig({ cluster: "    server: https://x\n    certificate-authority: /ca.pem" }) },
      "certificate-authority /ca.pem cannot be read: no such file",
    ],
    [
      "exec user",
      { "/k": kubeconfig({ user: "    exec:\n      command: aws" }) },
      "uses exec, which metallite does not support",
    ],
    [
      "cert without key",
      { "/k": kubeconfig({ user: "    client-certificate-data: " + b64(CERT) }) },
      "has a client certificate without its key",
    ],
    ["insecure and CA", {
      "/k": kubeconfig({
        cluster: "    server: https://x\n    insecure-skip-tls-verify: true\n    certificate-authority-data: " +
          b64(CA),
      }),
    }, "sets both insecure-skip-tls-verify"],
  ];
  for (const [name, map, message] of cases) {
    await t.step(name, async () => {
      await assertRejects(() => loadKubeConfig({ path: "/k", readFile: files(map) }), KubeConfigError, message);
    });
  }
});

Deno.test("loadKubeConfig() says where it looked when nothing is configured", async () => {
  await assertRejects(
    () => loadKubeConfig({ env: env({ HOME: "/home/x" }), readFile: files({}) }),
    KubeConfigError,
    "not in a cluster (KUBERNETES_SERVICE_HOST unset) and kubeconfig /home/x/.kube/config cannot be read",
  );
});
