/**
 * Lists Nodes with the kubeconfig given as the first argument and prints `ok <count>`; used by integration_test.ts
 * to prove that insecure-skip-tls-verify works when Deno runs with --unsafely-ignore-certificate-errors.
 * @module
 */
import { createKubeApi } from "./api.ts";
import { loadKubeConfig } from "./kubeconfig.ts";

const api = createKubeApi({ config: await loadKubeConfig({ path: Deno.args[0] ?? "" }), timeoutMs: 5_000 });
try {
  const nodes = await api.nodes.list();
  // deno-lint-ignore no-console
  console.log(`ok ${nodes.items.length}`);
} finally {
  api.close();
}
