/**
 * The metrics and health endpoint on `--metrics-addr`: `GET /metrics` (Prometheus text), `GET /healthz` (the process
 * answers) and `GET /readyz` (the daemon says it is ready). A small HTTP/1.x server over `Deno.listen` rather than
 * `Deno.serve`, because a scrape flood must be bounded: `Deno.serve` has no cap on connections and no deadline for a
 * client that sends its request slowly. Here every connection carries one request, has a deadline, and past a cap of
 * open connections is answered with a short 503 or, far past it, closed at once.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Counter, Registry } from "../metrics/mod.ts";
import { encodeResponse, type HeadLimits, parseRequestHead, type ResponseParts } from "./_http.ts";
import { denoProcessProbe, type ProcessProbe, registerProcessMetrics } from "./process_metrics.ts";

/**
 * Says whether the daemon is ready: `true`, or a one-line reason why not (e.g. "informers not synced"). The reason
 * is sent to whoever asks /readyz, so it must never carry a secret.
 */
export type ReadyCheck = () => true | string;

/** Options for {@link startOpsServer}. */
export interface OpsServerOptions {
  /** Address to listen on, e.g. "0.0.0.0", "::" or "127.0.0.1". */
  hostname: string;
  /** TCP port; 0 picks a free one (see {@link OpsServer.port}). */
  port: number;
  /** Metrics rendered at `/metrics`; the process metrics are registered in it too. */
  registry: Registry;
  /** Readiness for `/readyz`. */
  ready: ReadyCheck;
  /** Logger; default silent. */
  log?: Logger;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
  /** Connections served at once; up to as many more get a 503, the rest are closed at once. Default 32. */
  maxConnections?: number;
  /** Deadline in ms for a connection to send its request and take the answer. Default 5000. */
  requestTimeoutMs?: number;
  /** How long a rendering of `/metrics` is reused, in ms. Default 1000. */
  cacheMs?: number;
  /** Most bytes of request line and headers. Default 8192. */
  maxHeadBytes?: number;
  /** Most bytes of the request target. Default 2048. */
  maxTargetBytes?: number;
  /** Monotonic clock in ms for the render cache; default `performance.now`. */
  now?: () => number;
  /** Source of the process metrics; default this process. */
  processProbe?: ProcessProbe;
}

/** A running ops server. */
export interface OpsServer {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  /** Stops listening, closes open connections and waits for their handlers; safe to call twice. */
  close(): Promise<void>;
}

/** The ops server could not start: the message is one line naming the address and why. */
export class OpsServerError extends Error {
  override name = "OpsServerError";
}

/** Defaults of {@link OpsServerOptions}, in one place. */
export const OPS_SERVER_DEFAULTS = {
  maxConnections: 32,
  requestTimeoutMs: 5000,
  cacheMs: 1000,
  maxHeadBytes: 8192,
  maxTargetBytes: 2048,
  maxHeaders: 64,
  // A busy connection gets this long to send its request before its 503.
  busyTimeoutMs: 1000,
} as const;

/** Content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const TEXT = "text/plain; charset=utf-8";
const PATHS = ["/metrics", "/healthz", "/readyz"] as const;

const encoder = new TextEncoder();

function text(status: number, body: string, headers?: Record<string, string>): ResponseParts {
  return { status, contentType: TEXT, body: encoder.encode(body + "\n"), ...(headers ? { headers } : {}) };
}

function oneLine(reason: string): string {
  const line = reason.replace(/[\r\n]+/g, " ").trim();
  return line.length > 200 ? line.slice(0, 197) + "..." : line;
}

function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

function listenError(address: string, error: unknown): OpsServerError {
  const why = error instanceof Deno.errors.AddrInUse
    ? "address already in use (is another metallite or a MetalLB speaker running? choose another --metrics-addr or off)"
    : error instanceof Deno.errors.AddrNotAvailable
    ? "no interface of this host has that address"
    : error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
    ? "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    : error instanceof Error
    ? error.message.split("\n")[0]!
    : String(error);
  return new OpsServerError(`Cannot serve metrics on ${address}: ${why}`);
}

/**
 * Starts the metrics and health endpoint. Throws {@link OpsServerError} when the address cannot be bound.
 *
 * @example
 * ```ts
 * const ops = startOpsServer({ hostname: "0.0.0.0", port: 7472, registry, ready: () => synced || "informers not synced" });
 * // ...
 * await ops.close();
 * ```
 */
export function startOpsServer(options: OpsServerOptions): OpsServer {
  const address = formatAddress(options.hostname, options.port);
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  } catch (error) {
    throw listenError(address, error);
  }
  return new Server(listener, options);
}

class Server implements OpsServer {
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #options: OpsServerOptions;
  readonly #log: Logger;
  readonly #limits: HeadLimits;
  readonly #maxConnections: number;
  readonly #now: () => number;
  readonly #refreshProcess: () => void;
  readonly #requests: Counter;
  readonly #rejected: Counter;
  readonly #open = new Map<Deno.TcpConn, Promise<void>>();
  readonly #acceptLoop: Promise<void>;
  #cache: { at: number; body: Uint8Array } | undefined;
  #closing: Promise<void> | undefined;
  #wakeAccept: (() => void) | undefined;

  constructor(listener: Deno.TcpListener, options: OpsServerOptions) {
    this.#listener = listener;
    this.#options = options;
    this.port = listener.addr.port;
    this.#log = (options.log ?? silentLogger).with({ part: "ops" });
    this.#limits = {
      maxHeadBytes: options.maxHeadBytes ?? OPS_SERVER_DEFAULTS.maxHeadBytes,
      maxTargetBytes: options.maxTargetBytes ?? OPS_SERVER_DEFAULTS.maxTargetBytes,
      maxHeaders: OPS_SERVER_DEFAULTS.maxHeaders,
    };
    this.#maxConnections = options.maxConnections ?? OPS_SERVER_DEFAULTS.maxConnections;
    this.#now = options.now ?? (() => performance.now());
    const registry = options.registry;
    this.#refreshProcess = registerProcessMetrics(registry, options.processProbe ?? denoProcessProbe);
    this.#requests = registry.counter(
      "metallite_ops_http_requests_total",
      "Requests answered by the metrics and health endpoint, by path and status code",
      ["path", "code"],
    );
    this.#rejected = registry.counter(
      "metallite_ops_http_rejected_total",
      "Connections to the metrics and health endpoint refused or cut short, by reason",
      ["reason"],
    );
    this.#log.info("serving metrics and health checks", {
      address: formatAddress(options.hostname, this.port),
      paths: PATHS.join(","),
    });
    this.#acceptLoop = this.#accept();
    if (options.signal?.aborted) void this.close();
    else options.signal?.addEventListener("abort", () => void this.close(), { once: true });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        this.#listener.close();
      } catch { /* already closed */ }
      this.#wakeAccept?.();
      for (const conn of this.#open.keys()) closeQuietly(conn);
      await this.#acceptLoop;
      await Promise.all(this.#open.values());
    })();
    return this.#closing;
  }

  async #accept(): Promise<void> {
    while (this.#closing === undefined) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing !== undefined) return;
        // EMFILE and friends: back off briefly instead of spinning on a failing accept.
        this.#rejected.inc({ reason: "accept_error" });
        this.#log.warnOnce("ops-accept", "metrics endpoint cannot accept connections", { error });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => resolve(), 100);
          this.#wakeAccept = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wakeAccept = undefined;
        continue;
      }
      if (this.#closing !== undefined) {
        closeQuietly(conn);
        return;
      }
      const open = this.#open.size;
      if (open >= 2 * this.#maxConnections) {
        // Far past the cap: not even a 503, so a flood costs one accept and one close per connection.
        this.#rejected.inc({ reason: "overloaded" });
        this.#log.warnOnce("ops-overloaded", "metrics endpoint flooded: closing connections past the limit", {
          limit: 2 * this.#maxConnections,
        });
        closeQuietly(conn);
        continue;
      }
      const busy = open >= this.#maxConnections;
      const handler = this.#handle(conn, busy).finally(() => this.#open.delete(conn));
      this.#open.set(conn, handler);
    }
  }

  async #handle(conn: Deno.TcpConn, busy: boolean): Promise<void> {
    let timedOut = false;
    const timeoutMs = busy
      ? OPS_SERVER_DEFAULTS.busyTimeoutMs
      : this.#options.requestTimeoutMs ?? OPS_SERVER_DEFAULTS.requestTimeoutMs;
    // One deadline for the whole exchange: a client that sends slowly or never reads its answer is cut off.
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, timeoutMs);
    try {
      const response = await this.#respond(conn, busy);
      if (response) await writeAll(conn, response);
    } catch {
      // Reset by the peer or closed by the deadline: nothing to answer.
    } finally {
      clearTimeout(timer);
      closeQuietly(conn);
      if (timedOut) this.#rejected.inc({ reason: "timeout" });
    }
  }

  async #respond(conn: Deno.TcpConn, busy: boolean): Promise<Uint8Array | undefined> {
    const buffer = new Uint8Array(this.#limits.maxHeadBytes);
    let length = 0;
    while (true) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) return undefined;
      length += n;
      const result = parseRequestHead(buffer.subarray(0, length), this.#limits);
      if (result.kind === "incomplete") continue;
      if (result.kind === "error") {
        this.#rejected.inc({ reason: `http_${result.status}` });
        this.#log.warnOnce(`ops-bad-${result.status}`, "metrics endpoint got a bad request", {
          reason: result.reason,
        });
        return encodeResponse(text(result.status, result.reason), new Date());
      }
      const { method, path } = result.head;
      const known = (PATHS as readonly string[]).includes(path) ? path : "other";
      let parts: ResponseParts;
      if (busy) {
        this.#rejected.inc({ reason: "busy" });
        this.#log.warnOnce("ops-busy", "metrics endpoint busy: answering 503 past the connection limit", {
          limit: this.#maxConnections,
        });
        parts = text(503, "busy, retry later", { "Retry-After": "1" });
      } else if (method !== "GET" && method !== "HEAD") {
        parts = text(405, "only GET and HEAD are allowed", { Allow: "GET, HEAD" });
      } else {
        parts = this.#route(known);
      }
      this.#requests.inc({ path: known, code: String(parts.status) });
      return encodeResponse({ ...parts, headOnly: method === "HEAD" }, new Date());
    }
  }

  #route(path: string): ResponseParts {
    switch (path) {
      case "/metrics":
        try {
          return { status: 200, contentType: METRICS_CONTENT_TYPE, body: this.#metrics() };
        } catch (error) {
          this.#log.warnOnce("ops-render", "cannot render metrics", { error });
          return text(500, "cannot render metrics");
        }
      case "/healthz":
        return text(200, "ok");
      case "/readyz": {
        let state: true | string;
        try {
          state = this.#options.ready();
        } catch (error) {
          state = `readiness check failed: ${error instanceof Error ? error.message : String(error)}`;
        }
        return state === true ? text(200, "ok") : text(503, `not ready: ${oneLine(state)}`);
      }
      default:
        return text(404, "not found: try /metrics, /healthz or /readyz");
    }
  }

  #metrics(): Uint8Array {
    const now = this.#now();
    const cacheMs = this.#options.cacheMs ?? OPS_SERVER_DEFAULTS.cacheMs;
    if (this.#cache && now - this.#cache.at < cacheMs) return this.#cache.body;
    this.#refreshProcess();
    const body = encoder.encode(this.#options.registry.render());
    this.#cache = { at: now, body };
    return body;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
