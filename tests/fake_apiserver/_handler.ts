/**
 * The HTTP side of the fake API server: authentication, discovery, URL routing to the store, watch streams
 * (resume, bookmarks, 410 as an ERROR event, timeouts, selector transitions) and the request log.
 * @module
 */
// The ES module build of yaml (see src/config/yaml.ts); its types are in dist/.
// @ts-types="../../node_modules/yaml/dist/index.d.ts"
import { parse as parseYaml } from "yaml";
import { type ResourceInfo, type ResourceTable, urlPlural } from "./_resources.ts";
import { ApiError, badRequest, invalid, statusBody } from "./_status.ts";
import { type Obj, parseRv, type PatchType, type Store, type StoreEvent, type WatchSink } from "./_store.ts";
import { type Matcher, parseFieldSelector, parseLabelSelector, SelectorError } from "./_selectors.ts";
import { FaultState, type RequestFacts } from "./_faults.ts";
import { managerOf } from "./_managed.ts";
import type { Json } from "./_patch.ts";

/** One entry of the request log. */
export interface RequestRecord {
  method: string;
  path: string;
  /** get list watch create update patch delete deletecollection; for non-resource URLs the lower-case method. */
  verb: string;
  /** Resource plural ("" for non-resource URLs such as /version). */
  resource: string;
  /** API group ("" for core). */
  group: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  status: number;
  userAgent?: string;
  /** Wall-clock ms (performance.timeOrigin + now) when the request arrived. */
  receivedAt?: number;
  /** Wall-clock ms when its response (headers; a body may still stream) was ready. */
  answeredAt?: number;
}

/** The handler's options. */
export interface HandlerOptions {
  store: Store;
  token: string;
  bookmarkIntervalMs: number;
  serverAddress: string;
}

interface Route {
  info: ResourceInfo;
  version: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  watchPath: boolean;
}

const JSON_HEADERS = { "content-type": "application/json" };
const encoder = new TextEncoder();

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const NON_RESOURCE_OK = new Set(["healthz", "livez", "readyz"]);

/** An open watch stream. */
class Watch implements WatchSink {
  readonly resource: string;
  readonly #controller: ReadableStreamDefaultController<Uint8Array>;
  readonly #filter: (obj: Obj) => boolean;
  readonly #encode: (type: string, obj: Obj) => string;
  #afterRv: number;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #closed = false;
  readonly #onClose: (w: Watch) => void;

  constructor(options: {
    resource: string;
    controller: ReadableStreamDefaultController<Uint8Array>;
    filter: (obj: Obj) => boolean;
    encode: (type: string, obj: Obj) => string;
    afterRv: number;
    onClose: (w: Watch) => void;
  }) {
    this.resource = options.resource;
    this.#controller = options.controller;
    this.#filter = options.filter;
    this.#encode = options.encode;
    this.#afterRv = options.afterRv;
    this.#onClose = options.onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  addTimer(id: ReturnType<typeof setTimeout>): void {
    this.#timers.push(id);
  }

  send(line: string): void {
    if (this.#closed) return;
    try {
      this.#controller.enqueue(encoder.encode(line + "\n"));
    } catch {
      this.close();
    }
  }

  deliver(event: StoreEvent): void {
    if (this.#closed || event.rv <= this.#afterRv) return;
    this.#afterRv = event.rv;
    const now = this.#filter(event.object);
    const before = event.old !== undefined && this.#filter(event.old);
    if (event.type === "MODIFIED") {
      // Selector transitions, as the watch cache reports them: leaving the selection is a DELETED of the old
      // object at the new resourceVersion, entering it an ADDED.
      if (now && before) this.send(this.#encode("MODIFIED", event.object));
      else if (now) this.send(this.#encode("ADDED", event.object));
      else if (before) {
        const old = { ...event.old!, metadata: { ...event.old!.metadata, resourceVersion: String(event.rv) } };
        this.send(this.#encode("DELETED", old));
      }
    } else if (now) {
      this.send(this.#encode(event.type, event.object));
    }
  }

  /** Ends the stream cleanly (or abruptly with `abort`). */
  close(abort = false): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of this.#timers) {
      clearTimeout(id);
      clearInterval(id);
    }
    this.#timers = [];
    try {
      if (abort) {
        this.#controller.error(new Error("fake API server: watch cut by faults.dropWatches(…, { abort: true })"));
      } else this.#controller.close();
    } catch {
      // Already closed by the client going away.
    }
    this.#onClose(this);
  }
}

/** The request handler, plus the state the server's controls reach into. */
export class Handler {
  readonly store: Store;
  readonly requests: RequestRecord[] = [];
  readonly faults: FaultState;
  readonly #token: string;
  readonly #bookmarkIntervalMs: number;
  readonly #serverAddress: string;
  readonly #watches = new Set<Watch>();
  readonly #hangs = new Set<() => void>();
  readonly #sleeps = new Set<() => void>();
  /** Resources whose next watch resume must get 410 (faults.expireHistory). */
  readonly #goneNext = new Set<string>();
  #closing = false;

  /** Builds a handler over a store. */
  constructor(options: HandlerOptions) {
    this.store = options.store;
    this.#token = options.token;
    this.#bookmarkIntervalMs = options.bookmarkIntervalMs;
    this.#serverAddress = options.serverAddress;
    this.faults = new FaultState({
      dropWatches: (resource, options) => {
        for (const w of [...this.#watches]) {
          if (resource !== undefined && w.resource !== resource) continue;
          if (options.error) {
            const { code, reason, message } = options.error;
            w.send(JSON.stringify({
              type: "ERROR",
              object: statusBody(code, reason ?? "InternalError", message ?? `injected watch error (${code})`),
            }));
          }
          w.close(options.abort ?? false);
        }
      },
      expireHistory: (resource) => {
        this.store.expireHistory();
        for (const info of this.store.table.all) {
          if (resource === undefined || info.plural === resource) this.#goneNext.add(info.plural);
        }
      },
    });
  }

  /** Number of open watch streams. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** Ends every watch, answers hanging requests with 503, and refuses new ones: called before shutdown. */
  close(): void {
    this.#closing = true;
    for (const w of [...this.#watches]) w.close();
    for (const release of [...this.#hangs]) release();
    for (const wake of [...this.#sleeps]) wake();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(id);
        this.#sleeps.delete(wake);
        resolve();
      };
      const id = setTimeout(wake, ms);
      this.#sleeps.add(wake);
    });
  }

  /** Serves one request. */
  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const record: RequestRecord = {
      method: request.method,
      path: url.pathname,
      verb: request.method.toLowerCase(),
      resource: "",
      group: "",
      status: 0,
      receivedAt: performance.timeOrigin + performance.now(),
    };
    const ua = request.headers.get("user-agent");
    if (ua !== null) record.userAgent = ua;
    this.requests.push(record);
    let response: Response;
    try {
      response = await this.#serve(request, url, record);
    } catch (error) {
      if (error instanceof ApiError) response = json(error.toStatus(), error.code);
      else response = json(statusBody(500, "InternalError", `Internal error occurred: ${String(error)}`), 500);
    }
    record.status = response.status;
    record.answeredAt = performance.timeOrigin + performance.now();
    return response;
  }

  async #serve(request: Request, url: URL, record: RequestRecord): Promise<Response> {
    let route: Route | undefined;
    let routeError: unknown;
    try {
      route = this.#route(url.pathname, request.method, url.searchParams, record);
    } catch (error) {
      routeError = error;
    }
    const auth = request.headers.get("authorization");
    if (auth !== `Bearer ${this.#token}`) {
      return json(statusBody(401, "Unauthorized", "Unauthorized"), 401);
    }
    if (routeError !== undefined) throw routeError;
    if (this.#closing) return json(statusBody(503, "ServiceUnavailable", "the server is shutting down"), 503);
    const facts: RequestFacts = {
      method: request.method,
      path: url.pathname,
      verb: record.verb,
      resource: record.resource,
      subresource: record.subresource,
    };
    if (this.faults.latencyMs > 0) {
      await this.#sleep(this.faults.latencyMs);
      // close() may have run meanwhile; a watch opened now would keep shutdown waiting.
      if (this.#closing) return json(statusBody(503, "ServiceUnavailable", "the server is shutting down"), 503);
    }
    if (this.faults.takeHang(facts)) {
      await new Promise<void>((resolve) => {
        const release = () => {
          this.#hangs.delete(release);
          resolve();
        };
        this.#hangs.add(release);
      });
      return json(statusBody(503, "ServiceUnavailable", "the server is shutting down"), 503);
    }
    const failure = this.faults.takeFailure(facts);
    if (failure) {
      const status = failure.status ?? 500;
      if (failure.body !== undefined) return new Response(failure.body, { status, headers: JSON_HEADERS });
      const reason = status === 500
        ? "InternalError"
        : status === 503
        ? "ServiceUnavailable"
        : status === 429
        ? "TooManyRequests"
        : status === 504
        ? "Timeout"
        : "";
      return json(statusBody(status, reason, `injected failure (${status})`), status);
    }
    if (route === undefined) return this.#nonResource(url.pathname);
    return await this.#resource(request, url, route, record);
  }

  /** Parses a resource URL, filling in the record; undefined for non-resource paths. */
  #route(path: string, method: string, query: URLSearchParams, record: RequestRecord): Route | undefined {
    const seg = path.split("/").filter((s) => s !== "");
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === "api" && seg.length >= 3) {
      group = "";
      version = seg[1]!;
      rest = seg.slice(2);
    } else if (seg[0] === "apis" && seg.length >= 4) {
      group = seg[1]!;
      version = seg[2]!;
      rest = seg.slice(3);
    } else {
      return undefined;
    }
    let watchPath = false;
    if (rest[0] === "watch") {
      watchPath = true;
      rest = rest.slice(1);
    }
    let namespace: string | undefined;
    const namespaceItself = group === "" && rest[0] === "namespaces" &&
      (rest.length <= 2 || (rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize")));
    if (rest[0] === "namespaces" && rest.length >= 3 && !namespaceItself) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource] = rest;
    record.resource = plural ?? "";
    record.group = group;
    if (namespace !== undefined) record.namespace = namespace;
    if (name !== undefined) record.name = name;
    if (subresource !== undefined) record.subresource = subresource;
    const watch = watchPath || query.get("watch") === "true" || query.get("watch") === "1";
    record.verb = verbOf(method, name !== undefined, watch);
    const info = plural === undefined ? undefined : this.store.table.lookup(group, version, plural);
    if (!info || rest.length > 3 || (namespace !== undefined && !info.namespaced)) {
      throw new ApiError(404, "NotFound", "the server could not find the requested resource");
    }
    return { info, version, namespace, name, subresource, watchPath };
  }

  #nonResource(path: string): Response {
    const seg = path.split("/").filter((s) => s !== "");
    const table = this.store.table;
    if (seg.length === 0) {
      const paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"];
      for (const g of table.groups()) {
        paths.push(`/apis/${g.name}`);
        for (const v of g.versions) paths.push(`/apis/${g.name}/${v}`);
      }
      return json({ paths: paths.sort() });
    }
    if (seg.length === 1 && NON_RESOURCE_OK.has(seg[0]!)) {
      return new Response("ok", { headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    if (seg.length === 1 && seg[0] === "version") {
      return json({
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-metallite-fake",
        gitCommit: "0000000000000000000000000000000000000000",
        gitTreeState: "clean",
        buildDate: "2026-01-01T00:00:00Z",
        goVersion: "go1.23.0",
        compiler: "gc",
        platform: "linux/amd64",
      });
    }
    if (seg[0] === "api" && seg.length === 1) {
      return json({
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: this.#serverAddress }],
      });
    }
    if (seg[0] === "api" && seg.length === 2) {
      const list = table.resourceList("", seg[1]!);
      if (list) return json(list);
    }
    if (seg[0] === "apis" && seg.length === 1) {
      return json({ kind: "APIGroupList", apiVersion: "v1", groups: table.groups().map(apiGroup) });
    }
    if (seg[0] === "apis" && seg.length === 2) {
      const g = table.groups().find((x) => x.name === seg[1]);
      if (g) return json({ kind: "APIGroup", apiVersion: "v1", ...apiGroup(g) });
    }
    if (seg[0] === "apis" && seg.length === 3) {
      const list = table.resourceList(seg[1]!, seg[2]!);
      if (list) return json(list);
    }
    if (seg[0] === "openapi" && seg[1] === "v3") {
      const doc = openApiV3(table, seg.slice(2).join("/"));
      if (doc) return json(doc);
    }
    // /openapi/v2 is not served, nor schemas in /openapi/v3: kubectl then uses server-side field validation
    // (the fieldValidation parameter advertised below), merge patches for custom resources and its compiled-in
    // schemas for built-in ones, which is all metallite's tests need.
    return json(statusBody(404, "NotFound", "the server could not find the requested resource"), 404);
  }

  async #resource(request: Request, url: URL, route: Route, record: RequestRecord): Promise<Response> {
    const { info, namespace, name, subresource } = route;
    const q = url.searchParams;
    const dryRun = q.getAll("dryRun").includes("All");
    const fieldManager = q.get("fieldManager");
    const manager = managerOf(fieldManager, request.headers.get("user-agent"));
    const validation = q.get("fieldValidation") ?? "Warn";
    if (validation !== "Strict" && validation !== "Warn" && validation !== "Ignore") {
      throw badRequest(
        `fieldValidation: Unsupported value: "${validation}": supported values: "Ignore", "Strict", "Warn"`,
      );
    }
    const fieldValidation: "Strict" | "Warn" | "Ignore" = validation;
    const store = this.store;
    store.takeWarnings();
    if (subresource !== undefined && (subresource !== "status" || !info.status)) {
      throw new ApiError(404, "NotFound", "the server could not find the requested resource");
    }
    switch (record.verb) {
      case "get": {
        const obj = store.get(info, namespace, name!);
        if (wantsTable(request)) return json(this.#table(info, [obj], String(obj.metadata.resourceVersion)));
        return this.#object(obj, route);
      }
      case "list": {
        const result = store.list(info, {
          namespace,
          labelSelector: selector(q.get("labelSelector"), (s) => parseLabelSelector(s)),
          fieldSelector: selector(q.get("fieldSelector"), (s) => parseFieldSelector(s, info.plural)),
          limit: q.has("limit") ? Number(q.get("limit")) : undefined,
          continueToken: q.get("continue") ?? undefined,
          resourceVersion: q.get("resourceVersion") ?? undefined,
          resourceVersionMatch: q.get("resourceVersionMatch") ?? undefined,
        });
        if (wantsTable(request)) return json(this.#table(info, result.items, result.resourceVersion));
        const metadata: Record<string, unknown> = { resourceVersion: result.resourceVersion };
        if (result.continueToken !== undefined) metadata.continue = result.continueToken;
        if (result.remainingItemCount !== undefined) metadata.remainingItemCount = result.remainingItemCount;
        const apiVersion = groupVersion(info, route.version);
        // Lists of built-in types leave kind and apiVersion out of each item; CRD lists keep them.
        const items = result.items.map((o) => info.custom ? relabel(o, apiVersion) : stripType(o));
        return json({ kind: `${info.kind}List`, apiVersion, metadata, items });
      }
      case "watch":
        return this.#watch(request, route, q);
      case "create": {
        if (request.method !== "POST" || name !== undefined) throw methodNotAllowed();
        const created = store.create(info, namespace, await readBody(request), { dryRun, manager, fieldValidation });
        return this.#object(created, route, 201);
      }
      case "update": {
        const updated = store.update(info, namespace, name!, await readBody(request), {
          subresource,
          dryRun,
          manager,
          fieldValidation,
        });
        return this.#object(updated, route);
      }
      case "patch": {
        const type = patchType(request.headers.get("content-type"));
        const text = await request.text();
        const body = parsePatchBody(text, type);
        const existed = store.find(info, namespace, name!) !== undefined;
        const result = store.patch(info, namespace, name!, type, body, {
          subresource,
          dryRun,
          fieldValidation,
          force: q.get("force") === "true",
          // Server-side apply requires an explicit fieldManager; other writes default to the user agent.
          ...(type !== "apply" || fieldManager !== null ? { manager } : {}),
        });
        return this.#object(result, route, existed ? 200 : 201);
      }
      case "delete": {
        const options = await readDeleteOptions(request);
        const pre = isObject(options.preconditions) ? options.preconditions : {};
        const preconditions: { uid?: string; resourceVersion?: string } = {};
        if (typeof pre.uid === "string") preconditions.uid = pre.uid;
        if (typeof pre.resourceVersion === "string") preconditions.resourceVersion = pre.resourceVersion;
        const dry = dryRun || (Array.isArray(options.dryRun) && options.dryRun.includes("All"));
        return this.#object(store.delete(info, namespace, name!, { preconditions, dryRun: dry }), route);
      }
      case "deletecollection": {
        const result = store.list(info, {
          namespace,
          labelSelector: selector(q.get("labelSelector"), (s) => parseLabelSelector(s)),
          fieldSelector: selector(q.get("fieldSelector"), (s) => parseFieldSelector(s, info.plural)),
        });
        const gone = result.items.map((o) =>
          store.delete(info, o.metadata.namespace as string | undefined, String(o.metadata.name), { dryRun })
        );
        const apiVersion = groupVersion(info, route.version);
        return json({
          kind: `${info.kind}List`,
          apiVersion,
          metadata: { resourceVersion: String(store.resourceVersion) },
          items: gone.map((o) => info.custom ? relabel(o, apiVersion) : stripType(o)),
        });
      }
      default:
        throw methodNotAllowed();
    }
  }

  #object(obj: Obj, route: Route, status = 200): Response {
    const response = json(relabel(obj, groupVersion(route.info, route.version)), status);
    // Dropped unknown fields come back as warnings (RFC 7234 Warning headers, code 299), as kube-apiserver sends.
    for (const w of this.store.takeWarnings()) response.headers.append("warning", `299 - ${JSON.stringify(w)}`);
    return response;
  }

  #watch(request: Request, route: Route, q: URLSearchParams): Response {
    const { info, namespace, name } = route;
    const store = this.store;
    const labels = selector(q.get("labelSelector"), (s) => parseLabelSelector(s));
    let fields = selector(q.get("fieldSelector"), (s) => parseFieldSelector(s, info.plural));
    if (name !== undefined) {
      const byName = parseFieldSelector(`metadata.name=${name}`, info.plural);
      const other = fields;
      fields = other ? (o) => byName(o) && other(o) : byName;
    }
    const rvText = q.get("resourceVersion") ?? "";
    const bookmarks = q.get("allowWatchBookmarks") === "true";
    const sendInitialParam = q.get("sendInitialEvents");
    const sendInitial = sendInitialParam === "true";
    const match = q.get("resourceVersionMatch") ?? "";
    const timeoutText = q.get("timeoutSeconds");
    const timeoutSeconds = timeoutText === null ? 0 : Number(timeoutText);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
      throw badRequest(`invalid timeoutSeconds "${timeoutText}"`);
    }
    if (sendInitialParam !== null) {
      const causes: { field: string; message: string }[] = [];
      if (match !== "NotOlderThan") {
        causes.push({
          field: "resourceVersionMatch",
          message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        });
      }
      if (sendInitial && !bookmarks) {
        causes.push({
          field: "allowWatchBookmarks",
          message: "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
        });
      }
      if (causes.length > 0) throw invalid("ListOptions", "meta.k8s.io", "", causes);
    } else if (match !== "") {
      throw invalid("ListOptions", "meta.k8s.io", "", [{
        field: "resourceVersionMatch",
        message: "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
      }]);
    }
    const rv = rvText === "" ? undefined : parseRv(rvText);
    if (rv !== undefined && rv > store.resourceVersion) {
      // The watch cache waits up to 3 s for a future resourceVersion, then gives up with this 504.
      throw new ApiError(504, "Timeout", `Too large resource version: ${rv}, current: ${store.resourceVersion}`, {
        causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
        retryAfterSeconds: 1,
      });
    }
    const apiVersion = groupVersion(info, route.version);
    const filter = (o: Obj) =>
      (namespace === undefined || !info.namespaced || o.metadata.namespace === namespace) &&
      (!labels || labels(o)) && (!fields || fields(o));
    const cache = new WeakMap<Obj, Map<string, string>>();
    const table = wantsTable(request);
    const encode = (type: string, obj: Obj) => {
      let byType = cache.get(obj);
      if (!byType) cache.set(obj, byType = new Map());
      let line = byType.get(type);
      if (line === undefined) {
        // kubectl get -w without -o asks for Tables: each event then carries a one-row Table.
        const object = table
          ? this.#table(info, [obj], String(obj.metadata.resourceVersion))
          : relabel(obj, apiVersion);
        line = JSON.stringify({ type, object });
        byType.set(type, line);
      }
      return line;
    };
    const bookmark = (annotations?: Record<string, string>) =>
      JSON.stringify({
        type: "BOOKMARK",
        object: {
          kind: info.kind,
          apiVersion,
          metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) },
        },
      });
    let watch: Watch | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const current = store.resourceVersion;
        const w = new Watch({
          resource: info.plural,
          controller,
          filter,
          encode,
          afterRv: rv !== undefined && rv !== 0 && !sendInitial ? rv : current,
          onClose: (x) => {
            this.#watches.delete(x);
            store.removeSink(x);
          },
        });
        watch = w;
        this.#watches.add(w);
        // Initial state: with no resourceVersion (or "0") the watch starts with ADDED for every object, like a
        // real server; with sendInitialEvents it ends them with the initial-events-end bookmark.
        const initial = sendInitial || (sendInitialParam === null && (rv === undefined || rv === 0));
        if (initial) {
          const list = store.list(info, { namespace, labelSelector: labels, fieldSelector: fields });
          for (const o of list.items) w.send(encode("ADDED", o));
          if (sendInitial) w.send(bookmark({ "k8s.io/initial-events-end": "true" }));
        } else if (rv !== undefined && rv !== 0) {
          try {
            if (this.#goneNext.delete(info.plural)) {
              throw new ApiError(410, "Expired", `too old resource version: ${rv} (${current + 1})`);
            }
            for (const e of store.eventsSince(info, rv)) w.deliver(e);
          } catch (error) {
            if (!(error instanceof ApiError)) throw error;
            w.send(JSON.stringify({ type: "ERROR", object: error.toStatus() }));
            w.close();
            return;
          }
        }
        store.addSink(w);
        if (bookmarks && this.#bookmarkIntervalMs > 0) {
          w.addTimer(setInterval(() => w.send(bookmark()), this.#bookmarkIntervalMs));
        }
        if (timeoutSeconds > 0) w.addTimer(setTimeout(() => w.close(), timeoutSeconds * 1000));
      },
      cancel: () => watch?.close(),
    });
    return new Response(stream, { headers: { ...JSON_HEADERS, "cache-control": "no-cache, private" } });
  }

  /** A meta.k8s.io/v1 Table for `kubectl get` without -o. */
  #table(info: ResourceInfo, items: Obj[], rv: string): unknown {
    const age = (o: Obj) => {
      const t = Date.parse(String(o.metadata.creationTimestamp ?? ""));
      const s = Number.isNaN(t) ? 0 : Math.max(0, Math.floor((Date.now() - t) / 1000));
      return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
    };
    const columns = [{ name: "Name", type: "string", format: "name", description: "Name", priority: 0 }];
    const extra: { name: string; cell: (o: Obj) => string }[] = [];
    const field = (o: Obj, path: string) => {
      let cur: unknown = o;
      for (const part of path.split(".")) cur = isObject(cur) ? cur[part] : undefined;
      return cur === undefined || cur === null ? "" : Array.isArray(cur) ? cur.join(",") : String(cur);
    };
    // Columns after MetalLB's additionalPrinterColumns and kubectl's printers for events.
    const printer: Record<string, [string, string][]> = {
      events: [["Type", "type"], ["Reason", "reason"], ["Object", "involvedObject.name"], ["Message", "message"]],
      ipaddresspools: [["Auto Assign", "spec.autoAssign"], ["Avoid Buggy IPs", "spec.avoidBuggyIPs"], [
        "Addresses",
        "spec.addresses",
      ]],
      l2advertisements: [["IPAddressPools", "spec.ipAddressPools"], ["Interfaces", "spec.interfaces"]],
      bgpadvertisements: [["IPAddressPools", "spec.ipAddressPools"], ["Peers", "spec.peers"]],
      bgppeers: [["Address", "spec.peerAddress"], ["ASN", "spec.peerASN"], ["BFD Profile", "spec.bfdProfile"]],
      servicel2statuses: [["Allocated Node", "status.node"], ["Service Name", "status.serviceName"]],
      leases: [["Holder", "spec.holderIdentity"]],
    };
    for (const [name, path] of printer[info.plural] ?? []) extra.push({ name, cell: (o) => field(o, path) });
    if (info.plural === "services") {
      const spec = (o: Obj) => (isObject(o.spec) ? o.spec : {}) as Record<string, Json>;
      extra.push({ name: "Type", cell: (o) => String(spec(o).type ?? "") });
      extra.push({ name: "Cluster-IP", cell: (o) => String(spec(o).clusterIP ?? "<none>") });
      extra.push({
        name: "External-IP",
        cell: (o) => {
          const lb = isObject(o.status) && isObject(o.status.loadBalancer) ? o.status.loadBalancer : {};
          const ingress = Array.isArray(lb.ingress) ? lb.ingress : [];
          const ips = ingress.map((i) => isObject(i) ? String(i.ip ?? i.hostname ?? "") : "").filter((s) => s !== "");
          return ips.length > 0 ? ips.join(",") : spec(o).type === "LoadBalancer" ? "<pending>" : "<none>";
        },
      });
      extra.push({
        name: "Port(s)",
        cell: (o) => {
          const ports = Array.isArray(spec(o).ports) ? spec(o).ports as Json[] : [];
          const text = ports.map((p) =>
            isObject(p) ? `${p.port}${p.nodePort !== undefined ? ":" + p.nodePort : ""}/${p.protocol ?? "TCP"}` : ""
          );
          return text.length > 0 ? text.join(",") : "<none>";
        },
      });
    }
    for (const e of extra) columns.push({ name: e.name, type: "string", format: "", description: e.name, priority: 0 });
    columns.push({ name: "Age", type: "string", format: "", description: "Age", priority: 0 });
    return {
      kind: "Table",
      apiVersion: "meta.k8s.io/v1",
      metadata: { resourceVersion: rv },
      columnDefinitions: columns,
      rows: items.map((o) => ({
        cells: [String(o.metadata.name), ...extra.map((e) => e.cell(o)), age(o)],
        object: {
          kind: "PartialObjectMetadata",
          apiVersion: "meta.k8s.io/v1",
          metadata: o.metadata,
        },
      })),
    };
  }
}

/**
 * A minimal OpenAPI v3 discovery: the root lists every group version; each group-version document names the
 * PATCH operation of every kind with its fieldValidation parameter (what kubectl checks before validating on the
 * server), without schemas.
 */
function openApiV3(table: ResourceTable, gvPath: string): unknown | undefined {
  const gvs: { path: string; group: string; version: string }[] = [{ path: "api/v1", group: "", version: "v1" }];
  for (const g of table.groups()) {
    for (const v of g.versions) gvs.push({ path: `apis/${g.name}/${v}`, group: g.name, version: v });
  }
  if (gvPath === "") {
    return {
      paths: Object.fromEntries(
        gvs.map((gv) => [gv.path, { serverRelativeURL: `/openapi/v3/${gv.path}?hash=${gv.group}${gv.version}` }]),
      ),
    };
  }
  const gv = gvs.find((x) => x.path === gvPath);
  if (!gv) return undefined;
  const paths: Record<string, unknown> = {};
  for (const info of table.all) {
    if (info.group !== gv.group || !info.versions.includes(gv.version)) continue;
    const ns = info.namespaced ? "/namespaces/{namespace}" : "";
    const gvk = { group: info.group, version: gv.version, kind: info.kind };
    paths[`/${gv.path}${ns}/${urlPlural(info)}/{name}`] = {
      patch: {
        operationId: `patch${info.kind}`,
        parameters: [
          { name: "dryRun", in: "query", schema: { type: "string" } },
          { name: "fieldManager", in: "query", schema: { type: "string" } },
          { name: "fieldValidation", in: "query", schema: { type: "string" } },
          { name: "force", in: "query", schema: { type: "boolean" } },
        ],
        responses: { "200": { description: "OK" } },
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk,
      },
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.0" },
    paths,
    components: { schemas: {} },
  };
}

function apiGroup(g: { name: string; versions: string[] }): Record<string, unknown> {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v }));
  return { name: g.name, versions, preferredVersion: versions[0] };
}

function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case "GET":
    case "HEAD":
      return watch ? "watch" : named ? "get" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return named ? "delete" : "deletecollection";
    default:
      return method.toLowerCase();
  }
}

function methodNotAllowed(): ApiError {
  return new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
}

function selector(text: string | null, parse: (s: string) => Matcher): Matcher | undefined {
  if (text === null || text.trim() === "") return undefined;
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof SelectorError) throw badRequest(error.message);
    throw error;
  }
}

function wantsTable(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  return accept.split(",")[0]!.includes("as=Table");
}

function groupVersion(info: ResourceInfo, version: string): string {
  return info.group === "" ? version : `${info.group}/${version}`;
}

function relabel(obj: Obj, apiVersion: string): Obj {
  return obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
}

function stripType(obj: Obj): Record<string, Json> {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

async function readBody(request: Request): Promise<unknown> {
  const type = (request.headers.get("content-type") ?? "application/json").split(";")[0]!.trim();
  const text = await request.text();
  if (type === "application/yaml") {
    try {
      return parseYaml(text);
    } catch (error) {
      throw badRequest(`the body of the request is not valid YAML: ${String(error)}`);
    }
  }
  if (type !== "application/json" && type !== "*/*") {
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
  }
}

async function readDeleteOptions(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (text.trim() === "") return {};
  try {
    const parsed = JSON.parse(text);
    return isObject(parsed) ? parsed : {};
  } catch {
    throw badRequest("the DeleteOptions body is not valid JSON");
  }
}

function patchType(contentType: string | null): PatchType {
  const type = (contentType ?? "").split(";")[0]!.trim();
  switch (type) {
    case "application/merge-patch+json":
      return "merge";
    case "application/strategic-merge-patch+json":
      return "strategic";
    case "application/json-patch+json":
      return "json";
    case "application/apply-patch+yaml":
      return "apply";
    default:
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
      );
  }
}

function parsePatchBody(text: string, type: PatchType): Json {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (type === "apply") {
      try {
        return parseYaml(text) as Json;
      } catch {
        // Fall through to the error below.
      }
    }
    throw badRequest(`error decoding patch: ${(error as Error).message}`);
  }
}
