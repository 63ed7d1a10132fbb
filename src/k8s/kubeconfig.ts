/**
 * Finds and reads the cluster connection settings: in-cluster service account, an explicit kubeconfig, $KUBECONFIG
 * or ~/.kube/config. Pure apart from the injected `readFile`, so every variant is tested without touching the disk.
 * @module
 */
// The ES module build of yaml (see src/config/yaml.ts); its types are in dist/.
// @ts-types="../../node_modules/yaml/dist/index.d.ts"
import { parse } from "yaml";
import { KubeConfigError } from "./errors.ts";

/** Where the service account's files are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Everything needed to talk to one API server. */
export interface KubeConfig {
  /** Base URL of the API server, e.g. `https://10.96.0.1:443`, without a trailing slash. */
  server: string;
  /** PEM of the CA that signed the server's certificate; absent means the system roots. */
  caPem?: string;
  /** Bearer token, fixed. */
  token?: string;
  /** File holding the bearer token, re-read when it rotates (in-cluster, kubeconfig `tokenFile`). */
  tokenFile?: string;
  /** PEM client certificate (mutual TLS). */
  clientCertPem?: string;
  /** PEM private key of the client certificate. */
  clientKeyPem?: string;
  /**
   * kubeconfig `insecure-skip-tls-verify`. Deno's fetch cannot skip verification per client: this works only when
   * the process runs with `--unsafely-ignore-certificate-errors`; otherwise requests fail with an error saying so.
   */
  insecureSkipTlsVerify?: boolean;
  /** The namespace of the context or of the service account. */
  namespace?: string;
  /** Where the settings came from: "in-cluster" or the kubeconfig path, for logs and errors. */
  source: string;
}

/** Options for {@link loadKubeConfig}. */
export interface LoadKubeConfigOptions {
  /** An explicit kubeconfig (`--kubeconfig`); when given, nothing else is tried. */
  path?: string;
  /** Context to use instead of `current-context`. */
  context?: string;
  /** Environment; `Deno.env` fits. Reads KUBERNETES_SERVICE_HOST/PORT, KUBECONFIG and HOME. */
  env?: { get(name: string): string | undefined };
  /** Reads a text file; default `Deno.readTextFile`. */
  readFile?: (path: string) => Promise<string>;
}

/**
 * Loads the connection settings. Order: `path` if given; else in-cluster when KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT are set; else the first file of $KUBECONFIG (a colon-separated list: only its first entry
 * is read, files are not merged as kubectl merges them); else `$HOME/.kube/config`.
 *
 * @throws {KubeConfigError} with one line naming the file and what is wrong with it.
 *
 * @example
 * ```ts
 * const config = await loadKubeConfig({ env: Deno.env });
 * ```
 */
export async function loadKubeConfig(options: LoadKubeConfigOptions = {}): Promise<KubeConfig> {
  const env = options.env ?? Deno.env;
  const readFile = options.readFile ?? ((p: string) => Deno.readTextFile(p));
  if (options.path !== undefined) return await fromKubeconfigFile(options.path, options.context, readFile);

  const host = env.get("KUBERNETES_SERVICE_HOST");
  const port = env.get("KUBERNETES_SERVICE_PORT");
  if (host && port) return await inCluster(host, port, readFile);

  const list = env.get("KUBECONFIG");
  const first = list?.split(":").find((p) => p !== "");
  if (first !== undefined) return await fromKubeconfigFile(first, options.context, readFile);

  const home = env.get("HOME");
  if (!home) {
    throw new KubeConfigError(
      "No Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST unset), KUBECONFIG and HOME unset; " +
        "pass --kubeconfig",
    );
  }
  const path = `${home.replace(/\/$/, "")}/.kube/config`;
  return await fromKubeconfigFile(
    path,
    options.context,
    readFile,
    "not in a cluster (KUBERNETES_SERVICE_HOST unset) and ",
  );
}

async function inCluster(
  host: string,
  port: string,
  readFile: (path: string) => Promise<string>,
): Promise<KubeConfig> {
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw new KubeConfigError(`In-cluster configuration: KUBERNETES_SERVICE_PORT "${port}" is not a port number`);
  }
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const server = `https://${hostPart}:${port}`;
  checkServer(server, "In-cluster configuration (KUBERNETES_SERVICE_HOST)");
  const tokenFile = `${SERVICE_ACCOUNT_DIR}/token`;
  // Read once now so a missing mount fails at start, not at the first request.
  const token = (await readOrThrow(tokenFile, readFile, "In-cluster service account token")).trim();
  if (token === "") throw new KubeConfigError(`In-cluster service account token ${tokenFile} is empty`);
  const caPem = await readOrThrow(`${SERVICE_ACCOUNT_DIR}/ca.crt`, readFile, "In-cluster CA certificate");
  const config: KubeConfig = { server, caPem, tokenFile, source: "in-cluster" };
  try {
    const namespace = (await readFile(`${SERVICE_ACCOUNT_DIR}/namespace`)).trim();
    if (namespace !== "") config.namespace = namespace;
  } catch {
    // Optional: the namespace file is absent on some setups; callers have their own default.
  }
  return config;
}

async function readOrThrow(path: string, readFile: (path: string) => Promise<string>, what: string): Promise<string> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new KubeConfigError(`${what} ${path} cannot be read: ${describeFsError(error)}`);
  }
}

function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}

type Yaml = Record<string, unknown>;

function isRecord(value: unknown): value is Yaml {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function resolvePath(base: string, path: string): string {
  return path.startsWith("/") ? path : `${dirname(base)}/${path}`;
}

// Finds the entry called `name` in a kubeconfig list (clusters, users, contexts) and returns its inner object.
function findNamed(doc: Yaml, list: string, inner: string, name: string, file: string): Yaml {
  const entries = doc[list];
  if (entries !== undefined && entries !== null && !Array.isArray(entries)) {
    throw new KubeConfigError(`Kubeconfig ${file}: "${list}" is not a list`);
  }
  for (const entry of entries ?? []) {
    if (isRecord(entry) && entry.name === name) {
      const value = entry[inner];
      if (value === undefined || value === null) return {};
      if (!isRecord(value)) throw new KubeConfigError(`Kubeconfig ${file}: ${list} "${name}" has no ${inner} map`);
      return value;
    }
  }
  throw new KubeConfigError(`Kubeconfig ${file}: ${inner} "${name}" not found in ${list}`);
}

function optionalString(map: Yaml, key: string, where: string, file: string): string | undefined {
  const value = map[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw new KubeConfigError(`Kubeconfig ${file}: ${where} ${key} is not a string`);
  return value;
}

function decodeBase64(text: string, what: string, file: string): string {
  const clean = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new KubeConfigError(`Kubeconfig ${file}: ${what} is not valid base64`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(clean), (c) => c.charCodeAt(0)));
  } catch {
    throw new KubeConfigError(`Kubeconfig ${file}: ${what} is not valid base64 of PEM text`);
  }
}

function checkPem(pem: string, what: string, where: string): string {
  if (!pem.includes("-----BEGIN ")) throw new KubeConfigError(`${where}: ${what} is not PEM (no -----BEGIN line)`);
  return pem;
}

function checkServer(server: string, where: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeConfigError(`${where}: server "${server}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new KubeConfigError(`${where}: server "${server}" is not an http(s) URL`);
  }
}

// Reads a PEM given inline as base64 (`<key>-data`) or as a file (`<key>`), the data form winning as in kubectl.
async function pemFrom(
  map: Yaml,
  key: string,
  where: string,
  file: string,
  readFile: (path: string) => Promise<string>,
): Promise<string | undefined> {
  const data = optionalString(map, `${key}-data`, where, file);
  if (data !== undefined) {
    return checkPem(decodeBase64(data, `${where} ${key}-data`, file), `${key}-data`, `Kubeconfig ${file}: ${where}`);
  }
  const path = optionalString(map, key, where, file);
  if (path === undefined) return undefined;
  const full = resolvePath(file, path);
  const pem = await readOrThrow(full, readFile, `Kubeconfig ${file}: ${where} ${key}`);
  return checkPem(pem, `${key} ${full}`, `Kubeconfig ${file}: ${where}`);
}

async function fromKubeconfigFile(
  file: string,
  contextOverride: string | undefined,
  readFile: (path: string) => Promise<string>,
  missingPrefix = "",
): Promise<KubeConfig> {
  let text: string;
  try {
    text = await readFile(file);
  } catch (error) {
    throw new KubeConfigError(
      `No Kubernetes configuration: ${missingPrefix}kubeconfig ${file} cannot be read: ${describeFsError(error)}`,
    );
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    throw new KubeConfigError(`Kubeconfig ${file} is not valid YAML: ${first}`);
  }
  if (!isRecord(doc)) throw new KubeConfigError(`Kubeconfig ${file} is not a YAML map`);

  const contextName = contextOverride ?? optionalString(doc, "current-context", "", file);
  if (contextName === undefined) throw new KubeConfigError(`Kubeconfig ${file} has no current-context`);
  const context = findNamed(doc, "contexts", "context", contextName, file);
  const clusterName = optionalString(context, "cluster", `context "${contextName}"`, file);
  if (clusterName === undefined) {
    throw new KubeConfigError(`Kubeconfig ${file}: context "${contextName}" names no cluster`);
  }
  const cluster = findNamed(doc, "clusters", "cluster", clusterName, file);
  const userName = optionalString(context, "user", `context "${contextName}"`, file);
  const user = userName === undefined ? {} : findNamed(doc, "users", "user", userName, file);
  const clusterWhere = `cluster "${clusterName}"`;
  const userWhere = `user "${userName ?? ""}"`;

  const server = optionalString(cluster, "server", clusterWhere, file);
  if (server === undefined) throw new KubeConfigError(`Kubeconfig ${file}: ${clusterWhere} has no server`);
  checkServer(server, `Kubeconfig ${file}: ${clusterWhere}`);
  const config: KubeConfig = { server: server.replace(/\/+$/, ""), source: file };

  const insecure = cluster["insecure-skip-tls-verify"];
  if (insecure !== undefined && typeof insecure !== "boolean") {
    throw new KubeConfigError(`Kubeconfig ${file}: ${clusterWhere} insecure-skip-tls-verify is not true or false`);
  }
  const caPem = await pemFrom(cluster, "certificate-authority", clusterWhere, file, readFile);
  if (insecure === true) {
    if (caPem !== undefined) {
      // kubectl refuses the same combination.
      throw new KubeConfigError(
        `Kubeconfig ${file}: ${clusterWhere} sets both insecure-skip-tls-verify and a certificate authority`,
      );
    }
    config.insecureSkipTlsVerify = true;
  }
  if (caPem !== undefined) config.caPem = caPem;

  for (const unsupported of ["exec", "auth-provider"]) {
    if (user[unsupported] !== undefined && user[unsupported] !== null) {
      throw new KubeConfigError(
        `Kubeconfig ${file}: ${userWhere} uses ${unsupported}, which metallite does not support; ` +
          "use a token, tokenFile or client certificate",
      );
    }
  }
  if (user.username !== undefined || user.password !== undefined) {
    throw new KubeConfigError(
      `Kubeconfig ${file}: ${userWhere} uses basic auth (username/password), which Kubernetes removed; ` +
        "use a token or client certificate",
    );
  }
  const token = optionalString(user, "token", userWhere, file);
  const tokenFile = optionalString(user, "tokenFile", userWhere, file);
  if (token !== undefined) config.token = token.trim();
  else if (tokenFile !== undefined) {
    const full = resolvePath(file, tokenFile);
    await readOrThrow(full, readFile, `Kubeconfig ${file}: ${userWhere} tokenFile`);
    config.tokenFile = full;
  }
  const cert = await pemFrom(user, "client-certificate", userWhere, file, readFile);
  const key = await pemFrom(user, "client-key", userWhere, file, readFile);
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeConfigError(
      `Kubeconfig ${file}: ${userWhere} has a client ${cert === undefined ? "key" : "certificate"} without its ` +
        (cert === undefined ? "certificate" : "key"),
    );
  }
  if (cert !== undefined && key !== undefined) {
    config.clientCertPem = cert;
    config.clientKeyPem = key;
  }
  const namespace = optionalString(context, "namespace", `context "${contextName}"`, file);
  if (namespace !== undefined) config.namespace = namespace;
  return config;
}
