import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import { startFakeApiServer } from "../../tests/fake_apiserver/mod.ts";
import { parseCommandLine } from "../config/flags.ts";
import { createKubeApi, loadKubeConfig } from "../k8s/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { startModelSource } from "./model_source.ts";

Deno.test("startModelSource() tells listeners once the cluster's objects are read, even when the model is unchanged", async () => {
  await using server = await startFakeApiServer({ namespaces: ["default", "metallb-system"] });
  const command = parseCommandLine(["--pool", "192.0.2.10-20", "--node-name", "n1"], {
    env: () => undefined,
    hostname: () => "n1",
  });
  if (command.kind !== "run") throw new Error("expected run");
  const api = createKubeApi({
    config: await loadKubeConfig({ path: server.kubeconfigPath, env: { get: () => undefined } }),
  });
  try {
    const models = await startModelSource({ run: command.options, api, log: silentLogger, registry: new Registry() });
    try {
      assert(models.crdsInstalled);
      let calls = 0;
      models.onChange(() => calls++);
      // The cluster holds no metallb.io objects, so the model after listing equals the one from the flags alone:
      // the allocator waits for ready() and must still be told.
      await waitFor("the model source to say it is ready", () => models.ready() && calls > 0, { timeoutMs: 5000 });
      assertEquals(calls, 1);
      assertEquals(models.current().pools.map((p) => p.name), ["cli-pool-1"]);
    } finally {
      await models.stop();
    }
  } finally {
    api.close();
  }
});
