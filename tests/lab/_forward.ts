/** Starting unix_forward.ts inside a lab host. */
import type { Lab, LabHost } from "./_lab.ts";
import type { LabProcess } from "./_process.ts";

/** Options for {@linkcode startUnixForward}. */
export interface UnixForwardOptions {
  /** "HOST:PORT" to listen on inside the host's namespace, e.g. "198.51.100.2:6443". */
  listen: string;
  /** Unix socket (in the shared filesystem) that every connection is piped to. */
  unixPath: string;
  /** Deadline for the forwarder to start listening (default 20 s; the first run may compile). */
  timeoutMs?: number;
  /** Terminate TLS in the forwarder with these PEM files (certificate, key). */
  tls?: { certFile: string; keyFile: string };
}

const SCRIPT = new URL("./unix_forward.ts", import.meta.url).pathname;

/**
 * Runs `unix_forward.ts` with this Deno in a lab host and resolves once it listens, so daemons in other
 * namespaces can reach a server that listens on a Unix socket in the test process.
 * @example
 * ```ts
 * await using lab = await createLab({ api: true });
 * await startUnixForward(lab, lab.api!, { listen: "198.51.100.2:6443", unixPath: "/tmp/api.sock" });
 * ```
 */
export async function startUnixForward(lab: Lab, host: LabHost, options: UnixForwardOptions): Promise<LabProcess> {
  const process = lab.spawn(host, [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-lock",
    "--no-prompt",
    "--allow-net",
    `--allow-read=${[options.unixPath, ...(options.tls ? [options.tls.certFile, options.tls.keyFile] : [])].join(",")}`,
    `--allow-write=${options.unixPath}`,
    SCRIPT,
    "--listen",
    options.listen,
    "--unix",
    options.unixPath,
    ...(options.tls ? ["--cert", options.tls.certFile, "--key", options.tls.keyFile] : []),
  ]);
  try {
    await process.waitForOutput(/unix_forward: listening on /, options.timeoutMs ?? 20_000);
  } catch (error) {
    process.kill("SIGKILL");
    await process.exited;
    throw error;
  }
  return process;
}
