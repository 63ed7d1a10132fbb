/**
 * A faithful fake Kubernetes API server for tests and the demo: HTTPS with its own CA and a bearer token,
 * discovery, the core, discovery, coordination and metallb.io resources metallite uses, list + watch with
 * resourceVersion semantics (resume, bookmarks, 410 Gone, timeouts), optimistic concurrency, merge / strategic /
 * JSON patch and server-side apply, status subresources, selectors, pagination, and fault injection.
 * Real `kubectl` works against it.
 *
 * @example
 * ```ts
 * await using server = await startFakeApiServer();
 * server.create("services", { metadata: { name: "web", namespace: "default" }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } });
 * // kubectl --kubeconfig server.kubeconfigPath get svc
 * ```
 * @module
 */
import { join } from "node:path";
import { ResourceTable, urlPlural } from "./_resources.ts";
import { type Obj, type PatchType, Store } from "./_store.ts";
import { Handler, type RequestRecord } from "./_handler.ts";
import { generatePki, type Pki } from "./_certs.ts";
import type { Faults } from "./_faults.ts";
import type { Json } from "./_patch.ts";
import { ApiError } from "./_status.ts";

export { ApiError } from "./_status.ts";
export type { DropOptions, FailOptions, FaultMatch, Faults } from "./_faults.ts";
export type { RequestRecord } from "./_handler.ts";
export type { PatchType } from "./_store.ts";
export { type ResourceInfo, RESOURCES } from "./_resources.ts";

/** Options of startFakeApiServer. */
export interface FakeApiServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  hostname?: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Also serve (plain HTTP, same token) on this Unix socket. */
  unixSocketPath?: string;
  /** Bearer token clients must send; default random. */
  token?: string;
  /** Where the CA, certificates and kubeconfig go; default a temporary directory removed on close. */
  dir?: string;
  /** Extra SANs for the serving certificate (IPs or DNS names), e.g. "198.51.100.2". */
  extraSans?: string[];
  /** Interval of BOOKMARK events on watches that allow them; default 60000 (kube-apiserver sends about one a minute). */
  bookmarkIntervalMs?: number;
  /** Events kept per resource for watch resume and snapshot lists; older resourceVersions get 410. Default 10000. */
  watchHistory?: number;
  /** Events disappear this long after their last write (kube-apiserver's --event-ttl); default one hour. */
  eventTtlMs?: number;
  /** Serve metallb.io (default true); false makes them 404 like a cluster without MetalLB's CRDs. */
  crds?: boolean;
  /** Namespaces to create besides default, kube-system, kube-public, kube-node-lease and metallb-system. */
  namespaces?: string[];
}

/** Options of writeKubeconfig. */
export interface KubeconfigOptions {
  /** Server URL to write, e.g. https://198.51.100.2:6443 for daemons in a lab namespace; default `url`. */
  server?: string;
  /** Also write a client certificate and key signed by the CA (the token stays: the server cannot verify them). */
  clientCert?: boolean;
  /** Write insecure-skip-tls-verify instead of the CA. */
  insecure?: boolean;
  /** Token to write; default the server's (a wrong one tests 401 handling). */
  token?: string;
  /** Namespace of the context. */
  namespace?: string;
}

/** Options of `patch`. */
export interface DirectPatchOptions {
  /** merge (default), strategic, json or apply. */
  type?: PatchType;
  /** "status" to patch the status subresource. */
  subresource?: string;
  /** Field manager for server-side apply; default "fake-apiserver-test". */
  fieldManager?: string;
}

/** A running fake API server. */
export interface FakeApiServer extends AsyncDisposable {
  /** https://HOST:PORT */
  url: string;
  /** PEM of the CA that signed the serving certificate. */
  caPem: string;
  /** Path of the CA file. */
  caPath: string;
  /** The bearer token. */
  token: string;
  /** A kubeconfig for `url` with the CA and token, current-context set. */
  kubeconfigPath: string;
  /** The directory holding the CA, certificates and kubeconfig. */
  dir: string;
  /** The Unix socket path, when serving on one. */
  unixSocketPath: string | undefined;
  /** Writes a kubeconfig, e.g. for a lab address: `writeKubeconfig(p, { server: "https://198.51.100.2:6443" })`. */
  writeKubeconfig(path: string, options?: KubeconfigOptions): Promise<void>;
  /** Creates an object (namespace from metadata, default "default"); like POST. Throws ApiError. */
  create<T>(resource: string, obj: T): T;
  /** One object (a copy), or undefined. */
  get(resource: string, namespace: string | undefined, name: string): Loose;
  /** Replaces an object like PUT; without metadata.resourceVersion the update is unconditional. Throws ApiError. */
  update<T>(resource: string, obj: T): T;
  /** Replaces the status like PUT on /status. */
  updateStatus<T>(resource: string, obj: T): T;
  /** Merge-patches the status subresource with `status` (the value of .status). */
  patchStatus(resource: string, namespace: string | undefined, name: string, status: unknown): Loose;
  /** Patches an object like PATCH. */
  patch(
    resource: string,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options?: DirectPatchOptions,
  ): Loose;
  /** Deletes an object like DELETE (finalizers only mark it). Throws ApiError 404 when missing. */
  delete(resource: string, namespace: string | undefined, name: string): void;
  /** Copies of all objects of a resource (in a namespace, or all), sorted by namespace/name. */
  list(resource: string, namespace?: string): Loose[];
  /** The current global resourceVersion. */
  readonly resourceVersion: string;
  /** Number of open watch streams. */
  readonly openWatches: number;
  /** Fault injection. */
  faults: Faults;
  /** Every request served, in order (for RBAC checks). */
  requests: RequestRecord[];
  /** Ends all watches and hanging requests, stops listening, removes the temporary directory. */
  close(): Promise<void>;
}

/** Objects handed to tests: plain JSON, typed loosely as the brief's API promised (`any`). */
// deno-lint-ignore no-explicit-any
export type Loose = any;

/** The field manager of writes made through the direct store API. */
const MANAGER = "fake-apiserver-test";

const DEFAULT_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease", "metallb-system"];

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function b64(text: string): string {
  return btoa(text);
}

function kubeconfigText(options: {
  server: string;
  caPem: string;
  token: string;
  insecure: boolean;
  client: { cert: string; key: string } | undefined;
  namespace: string | undefined;
}): string {
  const cluster = options.insecure
    ? "    insecure-skip-tls-verify: true"
    : `    certificate-authority-data: ${b64(options.caPem)}`;
  const user = [`    token: ${options.token}`];
  if (options.client) {
    user.push(`    client-certificate-data: ${b64(options.client.cert)}`);
    user.push(`    client-key-data: ${b64(options.client.key)}`);
  }
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${options.server}`,
    cluster,
    "users:",
    "- name: fake",
    "  user:",
    ...user,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: fake",
    ...(options.namespace ? [`    namespace: ${options.namespace}`] : []),
    "current-context: fake",
    "preferences: {}",
    "",
  ].join("\n");
}

function copy<T>(v: T): T {
  return structuredClone(v);
}

function metaOf(obj: unknown): { name: string; namespace: string | undefined } {
  const m = (obj as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (!m || typeof m.name !== "string") throw new TypeError("Cannot use object without metadata.name");
  return { name: m.name, namespace: typeof m.namespace === "string" ? m.namespace : undefined };
}

/** Starts a fake API server; close it with `close()` or `await using`. */
export async function startFakeApiServer(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const token = options.token ?? randomToken();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "fake-apiserver-" });
  if (!ownDir) await Deno.mkdir(dir, { recursive: true });
  let pki: Pki;
  try {
    pki = await generatePki(dir, options.extraSans ?? []);
  } catch (error) {
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const table = new ResourceTable({ crds: options.crds ?? true });
  const store = new Store({
    table,
    watchHistory: options.watchHistory ?? 10000,
    ...(options.eventTtlMs !== undefined ? { eventTtlMs: options.eventTtlMs } : {}),
  });
  const namespaces = table.byName("namespaces")!;
  for (const ns of [...DEFAULT_NAMESPACES, ...(options.namespaces ?? [])]) {
    if (!store.find(namespaces, undefined, ns)) {
      store.create(namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, {
        manager: "kube-apiserver",
      });
    }
  }
  const handlerRef: { handler?: Handler } = {};
  const listener = Deno.serve({
    hostname,
    port: options.port ?? 0,
    cert: pki.certPem,
    key: pki.keyPem,
    onListen: () => {},
    handler: (req) => handlerRef.handler!.handle(req),
  });
  const port = listener.addr.port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `https://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  const handler = new Handler({
    store,
    token,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    serverAddress: `${host}:${port}`,
  });
  handlerRef.handler = handler;
  let unix: Deno.HttpServer<Deno.UnixAddr> | undefined;
  if (options.unixSocketPath !== undefined) {
    await Deno.remove(options.unixSocketPath).catch(() => {});
    unix = Deno.serve({ path: options.unixSocketPath, onListen: () => {}, handler: (req) => handler.handle(req) });
  }

  const writeKubeconfig = async (path: string, opts: KubeconfigOptions = {}) => {
    await Deno.writeTextFile(
      path,
      kubeconfigText({
        server: opts.server ?? url,
        caPem: pki.caPem,
        token: opts.token ?? token,
        insecure: opts.insecure ?? false,
        client: opts.clientCert ? { cert: pki.clientCertPem, key: pki.clientKeyPem } : undefined,
        namespace: opts.namespace,
      }),
      { mode: 0o600 },
    );
  };
  const kubeconfigPath = join(dir, "kubeconfig");
  await writeKubeconfig(kubeconfigPath);

  const info = (resource: string) => store.info(resource);
  const nsFor = (resource: string, namespace: string | undefined) =>
    info(resource).namespaced ? (namespace ?? "default") : undefined;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      handler.close();
      await listener.shutdown();
      await listener.finished;
      if (unix) {
        await unix.shutdown();
        await unix.finished;
        await Deno.remove(options.unixSocketPath!).catch(() => {});
      }
      if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };

  const server: FakeApiServer = {
    url,
    caPem: pki.caPem,
    caPath: pki.caPath,
    token,
    kubeconfigPath,
    dir,
    unixSocketPath: options.unixSocketPath,
    writeKubeconfig,
    create<T>(resource: string, obj: T): T {
      const { namespace } = metaOfLoose(obj);
      return copy(store.create(info(resource), nsFor(resource, namespace), obj, { manager: MANAGER })) as T;
    },
    get(resource, namespace, name) {
      const found = store.find(info(resource), nsFor(resource, namespace), name);
      return found === undefined ? undefined : copy(found);
    },
    update<T>(resource: string, obj: T): T {
      const { name, namespace } = metaOf(obj);
      return copy(store.update(info(resource), nsFor(resource, namespace), name, obj, { manager: MANAGER })) as T;
    },
    updateStatus<T>(resource: string, obj: T): T {
      const { name, namespace } = metaOf(obj);
      return copy(
        store.update(info(resource), nsFor(resource, namespace), name, obj, {
          subresource: "status",
          manager: MANAGER,
        }),
      ) as T;
    },
    patchStatus(resource, namespace, name, status) {
      return copy(
        store.patch(info(resource), nsFor(resource, namespace), name, "merge", { status } as Json, {
          subresource: "status",
          manager: MANAGER,
        }),
      );
    },
    patch(resource, namespace, name, patch, opts = {}) {
      return copy(
        store.patch(info(resource), nsFor(resource, namespace), name, opts.type ?? "merge", patch as Json, {
          subresource: opts.subresource,
          manager: opts.fieldManager ?? MANAGER,
        }),
      );
    },
    delete(resource, namespace, name) {
      store.delete(info(resource), nsFor(resource, namespace), name);
    },
    list(resource, namespace) {
      const i = info(resource);
      return store.list(i, { namespace: i.namespaced ? namespace : undefined }).items.map((o: Obj) => copy(o));
    },
    get resourceVersion() {
      return String(store.resourceVersion);
    },
    get openWatches() {
      return handler.openWatches;
    },
    faults: handler.faults,
    requests: handler.requests,
    close,
    [Symbol.asyncDispose]: close,
  };
  return server;
}

function metaOfLoose(obj: unknown): { namespace: string | undefined } {
  const m = (obj as { metadata?: { namespace?: unknown } } | null)?.metadata;
  return { namespace: typeof m?.namespace === "string" && m.namespace !== "" ? m.namespace : undefined };
}

/** The URL path of a resource collection, e.g. `resourcePath("services", "default")` → /api/v1/namespaces/default/services. */
export function resourcePath(resource: string, namespace?: string, name?: string): string {
  const table = new ResourceTable({ crds: true });
  const i = table.byName(resource);
  if (!i) throw new TypeError(`Unknown resource "${resource}"`);
  const base = i.group === "" ? `/api/${i.versions[0]}` : `/apis/${i.group}/${i.versions[0]}`;
  const ns = i.namespaced && namespace !== undefined ? `/namespaces/${namespace}` : "";
  return `${base}${ns}/${urlPlural(i)}${name !== undefined ? "/" + name : ""}`;
}

/** True when `error` is an ApiError with this HTTP code. */
export function isApiError(error: unknown, code?: number): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}
