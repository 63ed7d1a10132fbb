// deno-lint-ignore-file no-console
/**
 * Runs the fake API server standalone (the demo's stand-in cluster):
 *
 *   deno run -A tests/fake_apiserver/main.ts --port 6443 --unix /tmp/x.sock --kubeconfig-out /tmp/kc --san 198.51.100.2
 *
 * When ready it prints one JSON line: {"url":…,"kubeconfig":…,"token":…,"ca":…,"dir":…,"unixSocket":…}.
 * It stops cleanly on SIGTERM or SIGINT.
 * @module
 */
import { parseArgs } from "node:util";
import { startFakeApiServer } from "./mod.ts";

const USAGE = "usage: main.ts [--host H] [--port N] [--unix PATH] [--kubeconfig-out PATH] [--kubeconfig-server URL] " +
  "[--san IP]... [--token T] [--dir DIR] [--bookmark-ms N] [--watch-history N] [--no-crds] [--namespace NS]...";

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "0" },
        unix: { type: "string" },
        "kubeconfig-out": { type: "string" },
        "kubeconfig-server": { type: "string" },
        san: { type: "string", multiple: true, default: [] },
        token: { type: "string" },
        dir: { type: "string" },
        "bookmark-ms": { type: "string" },
        "watch-history": { type: "string" },
        "no-crds": { type: "boolean", default: false },
        namespace: { type: "string", multiple: true, default: [] },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid --port "${values.port}": expected 0-65535`);
    return 2;
  }
  const server = await startFakeApiServer({
    hostname: values.host,
    port,
    extraSans: values.san,
    crds: !values["no-crds"],
    namespaces: values.namespace,
    ...(values.unix !== undefined ? { unixSocketPath: values.unix } : {}),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    ...(values["bookmark-ms"] !== undefined ? { bookmarkIntervalMs: Number(values["bookmark-ms"]) } : {}),
    ...(values["watch-history"] !== undefined ? { watchHistory: Number(values["watch-history"]) } : {}),
  });
  let kubeconfig = server.kubeconfigPath;
  if (values["kubeconfig-out"] !== undefined) {
    kubeconfig = values["kubeconfig-out"];
    await server.writeKubeconfig(kubeconfig, {
      ...(values["kubeconfig-server"] !== undefined ? { server: values["kubeconfig-server"] } : {}),
    });
  }
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log(JSON.stringify({
    url: server.url,
    kubeconfig,
    token: server.token,
    ca: server.caPath,
    dir: server.dir,
    unixSocket: server.unixSocketPath ?? null,
  }));
  await stopped.promise;
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.removeSignalListener("SIGINT", stop);
  await server.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
