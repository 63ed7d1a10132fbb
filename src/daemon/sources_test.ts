import { assert, assertRejects, waitFor } from "../../tests/assert.ts";
import { startFakeApiServer } from "../../tests/fake_apiserver/mod.ts";
import { parseCommandLine } from "../config/flags.ts";
import { createKubeApi, loadKubeConfig } from "../k8s/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { ConfigFileError } from "./model_source.ts";
import { startSources } from "./sources.ts";

function runOptions(extra: string[] = []) {
  const command = parseCommandLine(["--pool", "192.0.2.10-20", "--node-name", "n1", ...extra], {
    env: () => undefined,
    hostname: () => "n1",
  });
  if (command.kind !== "run") throw new Error("expected run");
  return command.options;
}

Deno.test("startSources() lists Services, Nodes and EndpointSlices without waiting for the configuration", async () => {
  const server = await startFakeApiServer({ namespaces: ["default", "metallb-system"] });
  const api = createKubeApi({
    config: await loadKubeConfig({ path: server.kubeconfigPath, env: { get: () => undefined } }),
  });
  // The configuration's first request (metallb.io discovery) does not answer.
  server.faults.hangNext(1, { pathPattern: /^\/apis\/metallb\.io\/v1beta1$/ });
  const starting = startSources({ run: runOptions(), api, log: silentLogger, registry: new Registry() });
  try {
    await waitFor("the caches' LISTs while discovery hangs", () => {
      const listed = new Set(server.requests.filter((r) => r.verb === "list").map((r) => r.resource));
      return ["services", "nodes", "endpointslices"].every((r) => listed.has(r));
    }, { timeoutMs: 5000 });
    assert(server.requests.some((r) => r.path === "/apis/metallb.io/v1beta1" && r.status === 0), "discovery waits");
  } finally {
    // Closing the server ends the hanging discovery (the source goes on with flags only), then everything stops.
    await server.close();
    const { caches, models } = await starting;
    await Promise.all([caches.stop(), models.stop()]);
    api.close();
  }
});

Deno.test("startSources() stops the caches it started when a --config file cannot be read", async () => {
  await using server = await startFakeApiServer({ namespaces: ["default", "metallb-system"] });
  const api = createKubeApi({
    config: await loadKubeConfig({ path: server.kubeconfigPath, env: { get: () => undefined } }),
  });
  try {
    await assertRejects(
      () =>
        startSources({
          run: runOptions(["--config", "/nonexistent/metallite.yaml"]),
          api,
          log: silentLogger,
          registry: new Registry(),
          readFile: () => Promise.reject(new Deno.errors.NotFound("no such file")),
        }),
      ConfigFileError,
    );
  } finally {
    api.close();
  }
});
