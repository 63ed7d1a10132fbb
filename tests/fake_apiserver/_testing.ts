/**
 * Helpers for the fake API server's own tests: run the real kubectl with a deadline, talk HTTPS to the server,
 * and read watch streams line by line with a deadline.
 * @module
 */
import { join } from "node:path";
import type { FakeApiServer, Loose } from "./mod.ts";

/** Where kubectl is, or undefined (tests needing it are then skipped with a reason). */
export const KUBECTL: string | undefined = (() => {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const path of [...dirs.map((d) => join(d, "kubectl")), "/usr/bin/kubectl", "/usr/local/bin/kubectl"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
})();

/** Why kubectl tests are skipped, or undefined when they can run. */
export const KUBECTL_MISSING: string | undefined = KUBECTL === undefined
  ? "kubectl is not installed (not on PATH, /usr/bin or /usr/local/bin)"
  : undefined;

/** What a kubectl run produced. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the server with its kubeconfig, killed after `timeoutMs` (default 20 s). */
export async function kubectl(
  server: FakeApiServer,
  args: string[],
  options: { stdin?: string; timeoutMs?: number; kubeconfig?: string } = {},
): Promise<KubectlResult> {
  const child = new Deno.Command(KUBECTL!, {
    args: [
      "--kubeconfig",
      options.kubeconfig ?? server.kubeconfigPath,
      "--cache-dir",
      join(server.dir, "kubectl-cache"),
      ...args,
    ],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs ?? 20_000);
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs kubectl and throws with its stderr unless it exits 0; returns stdout. */
export async function kubectlOk(
  server: FakeApiServer,
  args: string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await kubectl(server, args, options);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** An HTTPS client for the server (trusting its CA, sending its token unless told otherwise). */
export class ApiClient implements Disposable {
  readonly #client: Deno.HttpClient;
  readonly #server: FakeApiServer;

  /** Opens a client for the server. */
  constructor(server: FakeApiServer) {
    this.#server = server;
    this.#client = Deno.createHttpClient({ caCerts: [server.caPem] });
  }

  /** A raw request; the caller consumes the body. */
  fetch(path: string, init: RequestInit & { token?: string | null; contentType?: string } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = init.token === undefined ? this.#server.token : init.token;
    if (token !== null) headers.set("authorization", `Bearer ${token}`);
    if (init.contentType) headers.set("content-type", init.contentType);
    else if (init.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
    return fetch(this.#server.url + path, { ...init, headers, client: this.#client });
  }

  /** A request whose JSON answer is returned with the status. */
  async json(
    path: string,
    init: RequestInit & { token?: string | null; contentType?: string; body?: string } = {},
  ): Promise<{ status: number; body: Loose }> {
    const res = await this.fetch(path, init);
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  }

  /** Sends a JSON body with a method. */
  send(method: string, path: string, body: unknown, contentType = "application/json"): ReturnType<ApiClient["json"]> {
    return this.json(path, { method, body: JSON.stringify(body), contentType });
  }

  /** Opens a watch and returns a line reader over it. */
  async watch(path: string): Promise<WatchReader> {
    const res = await this.fetch(path);
    if (res.status !== 200) {
      const text = await res.text();
      throw new Error(`watch ${path} answered ${res.status}: ${text}`);
    }
    return new WatchReader(res.body!);
  }

  /** Closes the HTTP client. */
  [Symbol.dispose](): void {
    this.#client.close();
  }
}

/** One parsed watch event. */
// deno-lint-ignore no-explicit-any
export type Event = { type: string; object: any };

/** Reads watch events with deadlines. */
export class WatchReader implements AsyncDisposable {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = "";
  #done = false;
  readonly #decoder = new TextDecoder();
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  /** Wraps a response body. */
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** True once the server ended the stream. */
  get done(): boolean {
    return this.#done;
  }

  /** The next event, or undefined when the stream ended; throws after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Event | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line.trim() !== "") return JSON.parse(line);
        continue;
      }
      if (this.#done) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No watch event within ${timeoutMs} ms`);
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left));
      let result;
      try {
        result = await Promise.race([this.#pending, timeout]);
      } finally {
        clearTimeout(timer);
      }
      if (result === "timeout") throw new Error(`No watch event within ${timeoutMs} ms`);
      this.#pending = undefined;
      if (result.done) this.#done = true;
      else this.#buffer += this.#decoder.decode(result.value, { stream: true });
    }
  }

  /** Events until one satisfies `until` (returned last), with an overall deadline. */
  async collect(until: (e: Event) => boolean, timeoutMs = 5000): Promise<Event[]> {
    const deadline = Date.now() + timeoutMs;
    const events: Event[] = [];
    while (true) {
      const e = await this.next(Math.max(1, deadline - Date.now()));
      if (e === undefined) {
        throw new Error(`Watch ended before the expected event; got ${JSON.stringify(events.map((x) => x.type))}`);
      }
      events.push(e);
      if (until(e)) return events;
    }
  }

  /** Cancels the stream. */
  async close(): Promise<void> {
    if (this.#pending) {
      await this.#reader.cancel().catch(() => {});
      await this.#pending.catch(() => {});
    } else await this.#reader.cancel().catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A Service object for tests. */
export function service(
  name: string,
  extra: { namespace?: string; labels?: Record<string, string>; type?: string } = {},
): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
} {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: extra.namespace ?? "default", ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: { type: extra.type ?? "LoadBalancer", ports: [{ name: "http", port: 80 }] },
  };
}
