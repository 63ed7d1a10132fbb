/**
 * A small Kubernetes API client over Deno's `fetch`: authentication (bearer token, rotating token file, client
 * certificate), JSON requests with timeouts and validation, metav1.Status errors, and watch streams.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Counter, Registry } from "../metrics/mod.ts";
import { type Clock, systemClock } from "./clock.ts";
import { KubeApiError, KubeDecodeError, KubeRequestError } from "./errors.ts";
import type { KubeConfig } from "./kubeconfig.ts";
import { Limiter, LimiterAbortedError } from "./_limiter.ts";
import type { KubeList, KubeObject, WatchEvent } from "./types.ts";

/** The `fetch` the client calls; injected in tests. */
export type FetchFunction = (url: string, init: RequestInit & { client?: Deno.HttpClient }) => Promise<Response>;

/** Options for {@link KubeClient}. */
export interface KubeClientOptions {
  /** Where and how to connect, from {@link loadKubeConfig}. */
  config: KubeConfig;
  /** Default `globalThis.fetch`. When injected, no TLS client is created. */
  fetch?: FetchFunction;
  /** Clock for timeouts and token re-reads; default the system clock. */
  clock?: Clock;
  /** Reads the token file; default `Deno.readTextFile`. */
  readFile?: (path: string) => Promise<string>;
  /** Time limit of one request, headers and body; default 30,000 ms. */
  timeoutMs?: number;
  /** How often a token file is re-read (tokens rotate hourly); default 60,000 ms. It is also re-read on a 401. */
  tokenRefreshMs?: number;
  /** Largest response body accepted; default 64 MiB. */
  maxBodyBytes?: number;
  /** Logger; default silent. */
  log?: Logger;
  /** Registry for `metallite_k8s_requests_total{verb,code}`; optional. */
  metrics?: Registry;
  /** User-Agent header; default "metallite". */
  userAgent?: string;
  /**
   * Most requests in flight at once, watches excepted (they are long-lived and would starve the others); the rest
   * wait in arrival order, and their timeout starts when they are sent. Default 32 (the allocator's own bound on
   * writes in flight): a burst of writes then opens a bounded number of connections, not one per write, whose TLS
   * buffers the process would keep. Writes are latency-bound, so a smaller cap slows a cold start over many
   * Services in proportion (8 made 10,000 Services take 4x longer to get their addresses written).
   */
  maxConcurrentRequests?: number;
}

/** Options of one {@link KubeClient.request}. */
export interface RequestOptions {
  /** Body, sent as JSON (or as is when a string). */
  body?: unknown;
  /** Content-Type of the body; default application/json. */
  contentType?: string;
  /** Query parameters appended to the path. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Selectors and paging of a LIST. */
export interface ListOptions {
  /** Label selector, e.g. `app=web,tier!=db`. */
  labelSelector?: string;
  /** Field selector, e.g. `metadata.name=foo`. */
  fieldSelector?: string;
  /** Page size; default 500. 0 asks for everything in one answer. */
  limit?: number;
  /** Aborts the list. */
  signal?: AbortSignal;
}

/** Kinds of PATCH and their content types. */
export type PatchType = "merge" | "strategic" | "json" | "apply";

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

/** Options of {@link KubeClient.patch}. */
export interface PatchOptions {
  /** Field manager (required by server-side apply); default "metallite". */
  fieldManager?: string;
  /** Server-side apply: take over conflicting fields. */
  force?: boolean;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Options of {@link KubeClient.watch}. */
export interface WatchOptions {
  /** Start after this resourceVersion (from a list or the last event seen). */
  resourceVersion?: string;
  /** Ask for BOOKMARK events, which move the resourceVersion forward on quiet resources; default true. */
  allowWatchBookmarks?: boolean;
  /** Server-side end of the watch; default none (the server picks). */
  timeoutSeconds?: number;
  /** Label selector. */
  labelSelector?: string;
  /** Field selector. */
  fieldSelector?: string;
  /** Ends the watch quietly (the iterator finishes). */
  signal?: AbortSignal;
  /**
   * The stream counts as hung after this long without a byte; default 150,000 ms, above the API server's bookmark
   * interval (about one minute), so a healthy quiet watch is never cut.
   */
  idleTimeoutMs?: number;
}

/** One page-joined LIST result. */
export interface ListResult<T> {
  /** Every item of every page. */
  items: T[];
  /** resourceVersion of the list, to watch from. */
  resourceVersion: string;
}

// A watch line larger than this is not a Kubernetes object but garbage without newlines.
const MAX_WATCH_LINE = 16 * 1024 * 1024;
/**
 * Bytes a watch reads at a time, into one buffer of its own that every read reuses. Left to itself, a fetch body
 * stream allocates a fresh 64 KiB buffer for each read and keeps one waiting per open stream: with a dozen watches
 * open and an event or bookmark now and then, that is most of an idle daemon's C-heap garbage.
 */
const WATCH_READ_BYTES = 16 * 1024;
const WATCH_TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function snippet(text: string): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > 80 ? one.slice(0, 80) + "…" : one;
}

/** The error for an ERROR watch event (a metav1.Status), e.g. 410 Expired. */
export function watchErrorToApiError(event: WatchEvent, path: string): KubeApiError {
  const status: Record<string, unknown> = isRecord(event.object) ? event.object as Record<string, unknown> : {};
  return new KubeApiError({
    status: typeof status.code === "number" ? status.code : 500,
    reason: typeof status.reason === "string" ? status.reason : "",
    message: typeof status.message === "string" ? status.message : "watch ERROR event",
    method: "WATCH",
    path,
  });
}

/** True when a decoded value is a usable object: a map whose metadata.name is a non-empty string. */
export function isKubeObject(value: unknown): value is KubeObject {
  if (!isRecord(value) || !isRecord(value.metadata)) return false;
  const meta = value.metadata;
  return typeof meta.name === "string" && meta.name !== "" &&
    (meta.namespace === undefined || typeof meta.namespace === "string") &&
    (meta.resourceVersion === undefined || typeof meta.resourceVersion === "string");
}

function withQuery(path: string, query: Record<string, string | number | boolean | undefined> | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const text = params.toString();
  if (text === "") return path;
  return path + (path.includes("?") ? "&" : "?") + text;
}

/**
 * Talks to one API server. Paths are API paths (`/api/v1/namespaces/default/services`); typed helpers live in
 * {@link createKubeApi}.
 *
 * @example
 * ```ts
 * const client = new KubeClient({ config: await loadKubeConfig() });
 * const svc = await client.get<Service>("/api/v1/namespaces/default/services/web");
 * client.close();
 * ```
 */
export class KubeClient {
  readonly #config: KubeConfig;
  readonly #fetch: FetchFunction;
  readonly #clock: Clock;
  readonly #readFile: (path: string) => Promise<string>;
  readonly #timeoutMs: number;
  readonly #tokenRefreshMs: number;
  readonly #maxBodyBytes: number;
  readonly #log: Logger;
  readonly #userAgent: string;
  readonly #requests: Counter | undefined;
  readonly #limiter: Limiter;
  #httpClient: Deno.HttpClient | undefined;
  #token: string | undefined;
  #tokenReadAt = -Infinity;

  constructor(options: KubeClientOptions) {
    this.#config = options.config;
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.#clock = options.clock ?? systemClock;
    this.#readFile = options.readFile ?? ((p) => Deno.readTextFile(p));
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#tokenRefreshMs = options.tokenRefreshMs ?? 60_000;
    this.#maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
    this.#log = options.log ?? silentLogger;
    this.#userAgent = options.userAgent ?? "metallite";
    this.#requests = options.metrics?.counter(
      "metallite_k8s_requests_total",
      "Requests to the Kubernetes API by verb and HTTP status (0: no answer)",
      ["verb", "code"],
    );
    this.#token = options.config.token;
    this.#limiter = new Limiter(options.maxConcurrentRequests ?? 32);
    if (options.fetch === undefined && options.config.server.startsWith("https:")) {
      const { caPem, clientCertPem, clientKeyPem } = options.config;
      const tls: Deno.CreateHttpClientOptions = caPem === undefined ? {} : { caCerts: [caPem] };
      this.#httpClient = clientCertPem !== undefined && clientKeyPem !== undefined
        ? Deno.createHttpClient({ ...tls, cert: clientCertPem, key: clientKeyPem })
        : Deno.createHttpClient(tls);
    }
  }

  /** The configuration this client uses. */
  get config(): KubeConfig {
    return this.#config;
  }

  /** Requests (watches excepted) running now and waiting for a turn. */
  get queue(): { active: number; waiting: number } {
    return { active: this.#limiter.active, waiting: this.#limiter.waiting };
  }

  /** Releases the TLS client and its pooled connections. */
  close(): void {
    this.#httpClient?.close();
    this.#httpClient = undefined;
  }

  async #authorization(force: boolean): Promise<string | undefined> {
    const file = this.#config.tokenFile;
    if (file !== undefined && (force || this.#clock.now() - this.#tokenReadAt >= this.#tokenRefreshMs)) {
      try {
        const token = (await this.#readFile(file)).trim();
        if (token !== "") this.#token = token;
        this.#tokenReadAt = this.#clock.now();
      } catch (error) {
        // Keep the old token: a rotation in progress can briefly remove the file.
        this.#log.warnOnce(`k8s-token-read:${file}`, "Cannot re-read the API token file, keeping the last token", {
          file,
          error,
        });
      }
    }
    return this.#token === undefined ? undefined : `Bearer ${this.#token}`;
  }

  async #headers(contentType: string | undefined, accept: string, forceToken: boolean): Promise<Headers> {
    const headers = new Headers({ "Accept": accept, "User-Agent": this.#userAgent });
    if (contentType !== undefined) headers.set("Content-Type", contentType);
    const auth = await this.#authorization(forceToken);
    if (auth !== undefined) headers.set("Authorization", auth);
    return headers;
  }

  #networkError(method: string, path: string, error: unknown, timedOut: boolean, limitMs: number): KubeRequestError {
    // fetch says only "fetch failed"; the reason (refused, certificate...) is down the cause chain.
    const parts: string[] = [];
    for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth++) {
      parts.push(e instanceof Error ? e.message : String(e));
      e = e instanceof Error ? e.cause : undefined;
    }
    const text = parts.join(": ");
    if (timedOut) {
      return new KubeRequestError(`${method} ${path}: no answer from ${this.#config.server} within ${limitMs} ms`, {
        timedOut: true,
        cause: error,
      });
    }
    if (this.#config.insecureSkipTlsVerify && /certificate|UnknownIssuer|tls|ssl/i.test(text)) {
      return new KubeRequestError(
        `${method} ${path}: TLS verification of ${this.#config.server} failed and the kubeconfig asks to skip it ` +
          `(insecure-skip-tls-verify), which Deno's fetch cannot do per connection: run with ` +
          `--unsafely-ignore-certificate-errors=${new URL(this.#config.server).hostname} or give the cluster's CA`,
        { cause: error },
      );
    }
    return new KubeRequestError(`${method} ${path}: cannot reach ${this.#config.server}: ${text.split("\n")[0]}`, {
      cause: error,
    });
  }

  async #readBody(response: Response, method: string, path: string): Promise<string> {
    if (response.body === null) return "";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let bytes = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (bytes > this.#maxBodyBytes) {
          throw new KubeDecodeError(`${method} ${path}: response body exceeds ${this.#maxBodyBytes} bytes`);
        }
        text += decoder.decode(value, { stream: true });
      }
      return text + decoder.decode();
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /**
   * Sends one request and returns the decoded JSON answer (undefined for an empty body).
   *
   * @throws {KubeApiError} for an error status, with the metav1.Status reason and message.
   * @throws {KubeDecodeError} when the body is not JSON.
   * @throws {KubeRequestError} when there is no answer (network, TLS, timeout).
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.#config.server + withQuery(path, options.query);
    const body = options.body === undefined
      ? undefined
      : typeof options.body === "string"
      ? options.body
      : JSON.stringify(options.body);
    const contentType = body === undefined ? undefined : options.contentType ?? "application/json";
    const limitMs = options.timeoutMs ?? this.#timeoutMs;
    const verb = method.toUpperCase();

    for (let attempt = 0;; attempt++) {
      let release: () => void;
      try {
        release = await this.#limiter.acquire(options.signal);
      } catch (error) {
        if (!(error instanceof LimiterAbortedError)) throw error;
        throw new KubeRequestError(`${verb} ${path}: aborted before it was sent`, { cause: error });
      }
      let headers: Headers;
      try {
        headers = await this.#headers(contentType, "application/json", attempt > 0);
      } catch (error) {
        release();
        throw error;
      }
      const controller = new AbortController();
      let timedOut = false;
      const cancelTimer = this.#clock.setTimer(limitMs, () => {
        timedOut = true;
        controller.abort();
      });
      const onAbort = () => controller.abort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) controller.abort();
      let status = 0;
      let text: string;
      try {
        const init: RequestInit & { client?: Deno.HttpClient } = { method: verb, headers, signal: controller.signal };
        if (body !== undefined) init.body = body;
        if (this.#httpClient) init.client = this.#httpClient;
        const response = await this.#fetch(url, init);
        status = response.status;
        text = await this.#readBody(response, verb, path);
      } catch (error) {
        if (error instanceof KubeDecodeError) throw error;
        throw this.#networkError(verb, path, error, timedOut, limitMs);
      } finally {
        release();
        cancelTimer();
        options.signal?.removeEventListener("abort", onAbort);
        this.#requests?.inc({ verb, code: String(status) });
      }

      if (status === 401 && attempt === 0 && this.#config.tokenFile !== undefined) {
        // The token may have rotated since we last read it: read it again and retry once.
        continue;
      }
      if (status < 200 || status >= 300) throw this.#apiError(verb, path, status, text);
      if (text.trim() === "") return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new KubeDecodeError(
          `${verb} ${path}: the API server answered ${status} with a body that is not JSON: ` +
            JSON.stringify(snippet(text)),
        );
      }
    }
  }

  #apiError(method: string, path: string, status: number, text: string): KubeApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (isRecord(parsed) && parsed.kind === "Status") {
      return new KubeApiError({
        status,
        reason: typeof parsed.reason === "string" ? parsed.reason : "",
        message: typeof parsed.message === "string" ? parsed.message : "",
        method,
        path,
      });
    }
    return new KubeApiError({ status, reason: "", message: snippet(text) || `HTTP ${status}`, method, path });
  }

  #expectObject<T>(value: unknown, method: string, path: string): T {
    if (!isKubeObject(value)) {
      throw new KubeDecodeError(`${method} ${path}: the answer is not a Kubernetes object (no metadata.name)`);
    }
    return value as T;
  }

  /** GET of one object. */
  async get<T extends KubeObject = KubeObject>(path: string, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.#expectObject<T>(await this.request("GET", path, options), "GET", path);
  }

  /** GET of anything JSON (discovery documents), decoded but not checked as an object. */
  async getRaw(path: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    return await this.request("GET", path, options);
  }

  /** One LIST page, checked to be a list. */
  async listPage<T extends KubeObject = KubeObject>(
    path: string,
    options: ListOptions & { continue?: string; resourceVersion?: string } = {},
  ): Promise<KubeList<T>> {
    const query = {
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      limit: options.limit === 0 ? undefined : options.limit ?? 500,
      continue: options.continue,
      resourceVersion: options.resourceVersion,
    };
    const value = await this.request("GET", path, options.signal ? { query, signal: options.signal } : { query });
    if (
      !isRecord(value) || !Array.isArray(value.items) || (value.metadata !== undefined && !isRecord(value.metadata))
    ) {
      throw new KubeDecodeError(`GET ${path}: the answer is not a list (no items array)`);
    }
    const meta = (value.metadata ?? {}) as Record<string, unknown>;
    if (meta.resourceVersion !== undefined && typeof meta.resourceVersion !== "string") {
      throw new KubeDecodeError(`GET ${path}: the list's metadata.resourceVersion is not a string`);
    }
    return value as unknown as KubeList<T>;
  }

  /**
   * LIST of every page (limit/continue), joined. Items are returned as decoded, unchecked: the caller validates
   * each one. If a continue token expires (410) mid-way, the list restarts once in one page, as client-go does.
   */
  async list<T extends KubeObject = KubeObject>(path: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let token: string | undefined;
    let limit = options.limit;
    let restarted = false;
    for (;;) {
      let page: KubeList<T>;
      try {
        page = await this.listPage<T>(
          path,
          token === undefined ? { ...options, ...(limit === undefined ? {} : { limit }) } : {
            ...options,
            ...(limit === undefined ? {} : { limit }),
            continue: token,
          },
        );
      } catch (error) {
        if (token !== undefined && !restarted && error instanceof KubeApiError && error.status === 410) {
          restarted = true;
          items.length = 0;
          token = undefined;
          limit = 0;
          continue;
        }
        throw error;
      }
      for (const item of page.items) items.push(item);
      const next = page.metadata?.continue;
      if (typeof next === "string" && next !== "") {
        token = next;
        continue;
      }
      return { items, resourceVersion: page.metadata?.resourceVersion ?? "" };
    }
  }

  /** POST of a new object to a collection path. */
  async create<T extends KubeObject = KubeObject>(
    path: string,
    object: T,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    return this.#expectObject<T>(await this.request("POST", path, { ...options, body: object }), "POST", path);
  }

  /** PUT of a whole object (carry metadata.resourceVersion for a conflict-checked write). */
  async update<T extends KubeObject = KubeObject>(
    path: string,
    object: T,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    return this.#expectObject<T>(await this.request("PUT", path, { ...options, body: object }), "PUT", path);
  }

  /** PATCH of an object: merge, strategic merge, JSON patch or server-side apply. */
  async patch<T extends KubeObject = KubeObject>(
    path: string,
    patch: unknown,
    type: PatchType,
    options: PatchOptions = {},
  ): Promise<T> {
    const query: Record<string, string | boolean | undefined> = {};
    if (type === "apply") {
      query.fieldManager = options.fieldManager ?? "metallite";
      if (options.force) query.force = true;
    } else if (options.fieldManager !== undefined) query.fieldManager = options.fieldManager;
    const request: RequestOptions = { body: patch, contentType: PATCH_CONTENT_TYPES[type], query };
    if (options.signal) request.signal = options.signal;
    return this.#expectObject<T>(await this.request("PATCH", path, request), "PATCH", path);
  }

  /** DELETE of an object; with `resourceVersion`, only that version is deleted (409 otherwise). */
  async delete(path: string, options: { resourceVersion?: string; signal?: AbortSignal } = {}): Promise<void> {
    const request: RequestOptions = {};
    if (options.resourceVersion !== undefined) {
      request.body = {
        apiVersion: "v1",
        kind: "DeleteOptions",
        preconditions: { resourceVersion: options.resourceVersion },
      };
    }
    if (options.signal) request.signal = options.signal;
    await this.request("DELETE", path, request);
  }

  /**
   * WATCH as an async iterator of events. The iterator ends when the server closes the stream or `signal` aborts;
   * it throws {@link KubeApiError} when the watch is refused (410 when the resourceVersion is too old),
   * {@link KubeDecodeError} for a line that is not a watch event, and {@link KubeRequestError} for a dropped or
   * hung stream. ERROR events are yielded as they come (see {@link watchErrorToApiError}).
   */
  async *watch<T extends KubeObject = KubeObject>(
    path: string,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const query = {
      watch: 1,
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: options.allowWatchBookmarks ?? true,
      timeoutSeconds: options.timeoutSeconds,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    };
    const url = this.#config.server + withQuery(path, query);
    const idleMs = options.idleTimeoutMs ?? 150_000;
    const signal = options.signal;
    if (signal?.aborted) return;
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    let cancelIdle = () => {};
    const arm = () => {
      cancelIdle();
      cancelIdle = this.#clock.setTimer(idleMs, () => {
        timedOut = true;
        controller.abort();
      });
    };
    let reader: WatchReader | undefined;
    let status = 0;
    try {
      arm();
      let response: Response;
      for (let attempt = 0;; attempt++) {
        const headers = await this.#headers(undefined, "application/json", attempt > 0);
        const init: RequestInit & { client?: Deno.HttpClient } = { method: "GET", headers, signal: controller.signal };
        if (this.#httpClient) init.client = this.#httpClient;
        try {
          response = await this.#fetch(url, init);
        } catch (error) {
          if (signal?.aborted) return;
          throw this.#networkError("WATCH", path, error, timedOut, idleMs);
        }
        status = response.status;
        if (status === 401 && attempt === 0 && this.#config.tokenFile !== undefined) {
          await response.body?.cancel().catch(() => {});
          continue;
        }
        break;
      }
      if (!response.ok) {
        let text = "";
        try {
          text = await this.#readBody(response, "WATCH", path);
        } catch (error) {
          if (signal?.aborted) return;
          if (!(error instanceof KubeDecodeError)) throw this.#networkError("WATCH", path, error, timedOut, idleMs);
        }
        throw this.#apiError("WATCH", path, status, text);
      }
      if (response.body === null) return;
      reader = watchReader(response.body);
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (signal?.aborted) return;
          throw timedOut
            ? new KubeRequestError(`WATCH ${path}: no data for ${idleMs} ms, the stream is hung`, {
              timedOut: true,
              cause: error,
            })
            : this.#networkError("WATCH", path, error, false, idleMs);
        }
        if (chunk.done) break;
        arm();
        buffer += decoder.decode(chunk.value, { stream: true });
        let start = 0;
        for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n", start)) {
          const line = buffer.slice(start, nl);
          start = nl + 1;
          if (line.trim() === "") continue;
          const event = parseWatchLine<T>(line, path);
          // The consumer's time does not count as the server's silence.
          cancelIdle();
          yield event;
          if (signal?.aborted) return;
          arm();
        }
        buffer = start === 0 ? buffer : buffer.slice(start);
        if (buffer.length > MAX_WATCH_LINE) {
          throw new KubeDecodeError(`WATCH ${path}: a line exceeds ${MAX_WATCH_LINE} bytes without a newline`);
        }
      }
      buffer += decoder.decode();
      if (buffer.trim() !== "") yield parseWatchLine<T>(buffer, path);
    } finally {
      cancelIdle();
      signal?.removeEventListener("abort", onAbort);
      this.#requests?.inc({ verb: "WATCH", code: String(status) });
      await reader?.cancel().catch(() => {});
    }
  }
}

/** A watch body's reader: `read()` as a default reader's, `cancel()` to stop. */
interface WatchReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(): Promise<void>;
}

/**
 * Reads `body` into one {@link WATCH_READ_BYTES} buffer that each read hands back for the next (a BYOB reader); a
 * body that is not a byte stream is read with its default reader.
 */
function watchReader(body: ReadableStream<Uint8Array>): WatchReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    return body.getReader();
  }
  let view = new Uint8Array(WATCH_READ_BYTES);
  return {
    async read() {
      const result = await byob.read(view);
      if (result.value) view = new Uint8Array(result.value.buffer);
      return result.done ? { done: true } : { done: false, value: result.value! };
    },
    cancel: () => byob.cancel(),
  };
}

function parseWatchLine<T extends KubeObject>(line: string, path: string): WatchEvent<T> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new KubeDecodeError(`WATCH ${path}: a line is not JSON: ${JSON.stringify(snippet(line))}`);
  }
  if (!isRecord(value) || typeof value.type !== "string" || !WATCH_TYPES.has(value.type) || !isRecord(value.object)) {
    throw new KubeDecodeError(`WATCH ${path}: a line is not a watch event: ${JSON.stringify(snippet(line))}`);
  }
  return value as unknown as WatchEvent<T>;
}
