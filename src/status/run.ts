/**
 * `metallite status`: connect, read the cluster once, explain, print. Failures that stop it (no kubeconfig, an
 * unreachable or refusing API server, an unreadable `--config` file) are thrown as {@link StatusError} with one line
 * for main to print; everything else ends up in the report.
 * @module
 */
import type { StatusOptions } from "../config/flags.ts";
import { type FileObject, parseConfigFile, type Rejection } from "../config/mod.ts";
import {
  createKubeApi,
  type FetchFunction,
  KubeApiError,
  KubeConfigError,
  KubeDecodeError,
  KubeRequestError,
  loadKubeConfig,
} from "../k8s/mod.ts";
import type { Logger } from "../log/mod.ts";
import { explainCluster } from "./explain.ts";
import { readSnapshot } from "./read.ts";
import { renderJson, renderText } from "./render.ts";

/** A failure that stops `metallite status`; main prints the message on one line and exits with status 1. */
export class StatusError extends Error {
  override name = "StatusError";
}

/** Options of `metallite status`: the parsed flags (`configFiles` optional for callers other than main). */
export type StatusRunOptions = Omit<StatusOptions, "configFiles"> & {
  /** YAML files of MetalLB objects the instances read too (their content is not in the cluster). */
  readonly configFiles?: readonly string[];
};

/** Where `metallite status` writes and what it may use; everything but `log` and `stdout` has a default. */
export interface StatusIo {
  /** Logger (debug details of the reads). */
  readonly log: Logger;
  /** Writes the report. */
  readonly stdout: (text: string) => void;
  /** ANSI colours in the text output; default false (main passes `Deno.stdout.isTerminal()`). */
  readonly color?: boolean;
  /** Environment for the kubeconfig search; default Deno.env. */
  readonly env?: { get(name: string): string | undefined };
  /** Reads kubeconfig and `--config` files; default Deno.readTextFile. */
  readonly readFile?: (path: string) => Promise<string>;
  /** Injected fetch (tests). */
  readonly fetch?: FetchFunction;
  /** Clock for Lease freshness; default Date.now. */
  readonly now?: () => number;
  /** Time limit of each request; default 10,000 ms (a command should not hang for the daemon's 30 s). */
  readonly timeoutMs?: number;
}

function line(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function apiFailure(error: unknown, config: { server: string; source: string }): StatusError | undefined {
  const source = config.source;
  if (error instanceof KubeRequestError) {
    // The client says "GET <path>: cannot reach <server>: <why>"; keep the why, the server is named once here.
    const why = error.message.replace(/^\S+ \S+: cannot reach \S+: /, "");
    return new StatusError(line(`cannot reach the Kubernetes API server ${config.server} (from ${source}): ${why}`));
  }
  if (error instanceof KubeApiError) {
    if (error.status === 401) {
      return new StatusError(line(`the API server refused the credentials from ${source} (401 Unauthorized)`));
    }
    if (error.status === 403) {
      return new StatusError(line(`not allowed to list Services (403 Forbidden): ${error.serverMessage}`));
    }
    return new StatusError(line(`the API server refused to list Services: ${error.message}`));
  }
  if (error instanceof KubeDecodeError) {
    return new StatusError(line(`the API server's answer is not usable: ${error.message}`));
  }
  return undefined;
}

async function readConfigFiles(
  paths: readonly string[],
  readFile: (path: string) => Promise<string>,
): Promise<{ objects: FileObject[]; rejected: Rejection[] }> {
  const objects: FileObject[] = [];
  const rejected: Rejection[] = [];
  for (const file of paths) {
    let text: string;
    try {
      text = await readFile(file);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound ? "no such file" : line((error as Error).message);
      throw new StatusError(`cannot read --config file "${file}": ${why}`);
    }
    const parsed = parseConfigFile(text, { file });
    objects.push(...parsed.objects);
    rejected.push(...parsed.rejected);
  }
  return { objects, rejected };
}

/**
 * Runs `metallite status`: prints the report of every LoadBalancer Service and returns the exit status (0).
 *
 * @throws {StatusError} with one line when it cannot run (no kubeconfig, API server unreachable or refusing).
 *
 * @example
 * ```ts
 * const code = await runStatus({ namespace: "metallb-system", output: "text" }, { log, stdout: print });
 * ```
 */
export async function runStatus(options: StatusRunOptions, io: StatusIo): Promise<number> {
  const readFile = io.readFile ?? ((path: string) => Deno.readTextFile(path));
  let config;
  try {
    config = await loadKubeConfig({
      env: io.env ?? Deno.env,
      readFile,
      ...(options.kubeconfig === undefined ? {} : { path: options.kubeconfig }),
    });
  } catch (error) {
    if (error instanceof KubeConfigError) throw new StatusError(line(error.message));
    throw error;
  }
  const files = await readConfigFiles(options.configFiles ?? [], readFile);
  const api = createKubeApi({
    config,
    log: io.log,
    timeoutMs: io.timeoutMs ?? 10_000,
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });
  let snapshot;
  try {
    snapshot = await readSnapshot(api, { namespace: options.namespace, ...(io.now ? { now: io.now } : {}) });
  } catch (error) {
    throw apiFailure(error, config) ?? error;
  } finally {
    api.close();
  }
  const report = explainCluster({
    ...snapshot,
    files: files.objects,
    fileRejections: files.rejected,
    statusConfigFiles: options.configFiles ?? [],
  });
  io.stdout(options.output === "json" ? renderJson(report) : renderText(report, { color: io.color ?? false }));
  return 0;
}
