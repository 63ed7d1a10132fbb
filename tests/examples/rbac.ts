/**
 * A small RBAC evaluator for tests: which (verb, resource, namespace) a ServiceAccount may use according to a set of
 * manifests (ClusterRoles, Roles and their bindings), and whether a log of API requests — the fake API server's
 * `requests` — stayed inside that. Follows Kubernetes' RBAC rules for apiGroups, resources (with subresources),
 * verbs, resourceNames and the "*" wildcard; non-resource URLs are allowed only for discovery, as system:discovery
 * allows every authenticated client.
 *
 * @example
 * ```ts
 * const grants = grantsFor(await loadManifests("examples/daemonset.yaml"), { namespace: "metallb-system", name: "metallite" });
 * const { denied, unused } = checkRequests(grants, fakeApiServer.requests);
 * ```
 * @module
 */
// The ES module build of yaml (see src/config/yaml.ts); its types are in dist/.
// @ts-types="../../node_modules/yaml/dist/index.d.ts"
import { parseAllDocuments } from "yaml";

/** One API request, as the fake API server records it (`RequestRecord` fits). */
export interface ApiRequest {
  /** RBAC verb: get, list, watch, create, update, patch, delete, deletecollection (lower-case method otherwise). */
  readonly verb: string;
  /** API group, "" for core. */
  readonly group: string;
  /** Plural resource; "" for a non-resource URL. */
  readonly resource: string;
  /** Subresource, e.g. "status". */
  readonly subresource?: string | undefined;
  /** Namespace of a namespaced request. */
  readonly namespace?: string | undefined;
  /** Object name, when the request names one. */
  readonly name?: string | undefined;
  /** URL path, for non-resource requests and messages. */
  readonly path?: string | undefined;
}

/** One permitted (verb, group, resource) in a namespace, or cluster-wide when `namespace` is undefined. */
export interface Grant {
  /** Verb or "*". */
  readonly verb: string;
  /** API group or "*". */
  readonly group: string;
  /** Resource, "resource/subresource", "*" or "* /subresource" (without the space). */
  readonly resource: string;
  /** Where it applies; undefined means every namespace and cluster-scoped resources. */
  readonly namespace?: string | undefined;
  /** Names it is limited to; empty means any. */
  readonly resourceNames: readonly string[];
}

/** A ServiceAccount. */
export interface ServiceAccountRef {
  /** Its namespace. */
  readonly namespace: string;
  /** Its name. */
  readonly name: string;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  rules?: PolicyRule[];
  roleRef?: { kind?: string; name?: string };
  subjects?: { kind?: string; name?: string; namespace?: string }[];
  [key: string]: unknown;
}

/** Parses a multi-document YAML text into objects; throws SyntaxError naming the file and document on bad YAML. */
export function parseManifests(text: string, file = "<text>"): Manifest[] {
  const out: Manifest[] = [];
  parseAllDocuments(text, { uniqueKeys: true }).forEach((doc, i) => {
    if ("errors" in doc && doc.errors.length > 0) {
      throw new SyntaxError(`${file} document ${i + 1}: ${doc.errors[0]!.message.split("\n")[0]}`);
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value as Manifest);
  });
  return out;
}

/** Reads and parses manifest files. */
export async function loadManifests(...paths: string[]): Promise<Manifest[]> {
  const all: Manifest[] = [];
  for (const path of paths) all.push(...parseManifests(await Deno.readTextFile(path), path));
  return all;
}

function boundTo(binding: Manifest, sa: ServiceAccountRef): boolean {
  return (binding.subjects ?? []).some((s) =>
    (s.kind === "ServiceAccount" && s.name === sa.name &&
      (s.namespace ?? binding.metadata?.namespace) === sa.namespace) ||
    (s.kind === "Group" &&
      ["system:serviceaccounts", `system:serviceaccounts:${sa.namespace}`, "system:authenticated"].includes(
        s.name ?? "",
      ))
  );
}

function rulesToGrants(rules: readonly PolicyRule[], namespace: string | undefined): Grant[] {
  const grants: Grant[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs ?? []) {
          grants.push({ verb, group, resource, namespace, resourceNames: rule.resourceNames ?? [] });
        }
      }
    }
  }
  return grants;
}

/** Everything a ServiceAccount may do according to the bindings among `manifests`. */
export function grantsFor(manifests: readonly Manifest[], sa: ServiceAccountRef): Grant[] {
  const find = (kind: string, name: string | undefined, namespace?: string) =>
    manifests.find((m) =>
      m.kind === kind && m.metadata?.name === name && (namespace === undefined || m.metadata?.namespace === namespace)
    );
  const grants: Grant[] = [];
  for (const binding of manifests) {
    if (binding.kind !== "ClusterRoleBinding" && binding.kind !== "RoleBinding") continue;
    if (!boundTo(binding, sa)) continue;
    const ref = binding.roleRef ?? {};
    // A ClusterRoleBinding grants cluster-wide; a RoleBinding only in its namespace, even for a ClusterRole.
    const scope = binding.kind === "ClusterRoleBinding" ? undefined : binding.metadata?.namespace ?? "default";
    const role = ref.kind === "ClusterRole"
      ? find("ClusterRole", ref.name)
      : binding.kind === "RoleBinding"
      ? find("Role", ref.name, scope)
      : undefined;
    if (!role) throw new Error(`${binding.kind} ${binding.metadata?.name} refers to missing ${ref.kind} ${ref.name}`);
    grants.push(...rulesToGrants(role.rules ?? [], scope));
  }
  return grants;
}

// What system:discovery and system:public-info-viewer let every authenticated client read.
const DISCOVERY_PATH = /^\/(api|apis|version|openapi|healthz|livez|readyz)(\/.*)?$/;

function resourceMatches(granted: string, resource: string, subresource: string | undefined): boolean {
  const wanted = subresource ? `${resource}/${subresource}` : resource;
  if (granted === "*" || granted === wanted) return true;
  return subresource !== undefined && granted === `*/${subresource}`;
}

/** True when `grant` allows `request`. */
export function grantAllows(grant: Grant, request: ApiRequest): boolean {
  if (grant.verb !== "*" && grant.verb !== request.verb) return false;
  if (grant.group !== "*" && grant.group !== request.group) return false;
  if (!resourceMatches(grant.resource, request.resource, request.subresource)) return false;
  if (grant.namespace !== undefined && grant.namespace !== request.namespace) return false;
  if (grant.resourceNames.length > 0 && !grant.resourceNames.includes(request.name ?? "")) return false;
  return true;
}

/** True when some grant allows the request; discovery URLs are always allowed. */
export function isAllowed(grants: readonly Grant[], request: ApiRequest): boolean {
  if (request.resource === "") return request.verb === "get" && DISCOVERY_PATH.test(request.path ?? "");
  return grants.some((g) => grantAllows(g, request));
}

/** A request in words, e.g. `list discovery.k8s.io/endpointslices (all namespaces)`. */
export function describeRequest(r: ApiRequest): string {
  if (r.resource === "") return `${r.verb} ${r.path ?? "?"}`;
  const what = `${r.group ? r.group + "/" : ""}${r.resource}${r.subresource ? "/" + r.subresource : ""}`;
  const where = r.namespace ? `in ${r.namespace}` : "(all namespaces or cluster-scoped)";
  return `${r.verb} ${what}${r.name ? " " + r.name : ""} ${where}`;
}

/** A grant in words, e.g. `watch metallb.io/bgppeers in metallb-system`. */
export function describeGrant(g: Grant): string {
  return `${g.verb} ${g.group ? g.group + "/" : ""}${g.resource} ${g.namespace ? "in " + g.namespace : "cluster-wide"}`;
}

/** Outcome of {@link checkRequests}. */
export interface RequestCheck {
  /** Requests no grant allows (each once), described. */
  denied: string[];
  /** Grants no request used: each must be documented as needed (see permissions.ts). */
  unused: Grant[];
}

/** Checks a request log against grants: what was denied, and which grants were never used. */
export function checkRequests(grants: readonly Grant[], requests: readonly ApiRequest[]): RequestCheck {
  const denied = new Set<string>();
  const used = new Set<Grant>();
  for (const request of requests) {
    if (request.resource === "") {
      if (!isAllowed(grants, request)) denied.add(describeRequest(request));
      continue;
    }
    const matching = grants.filter((g) => grantAllows(g, request));
    if (matching.length === 0) denied.add(describeRequest(request));
    for (const g of matching) used.add(g);
  }
  return { denied: [...denied].sort(), unused: grants.filter((g) => !used.has(g)) };
}

/** The ServiceAccount examples/daemonset.yaml creates. */
export const EXAMPLE_SERVICE_ACCOUNT: ServiceAccountRef = { namespace: "metallb-system", name: "metallite" };

/**
 * For integration tests: checks a request log (the fake API server's `requests` after running metallite) against the
 * roles of examples/daemonset.yaml. `denied` must be empty; every `unused` grant must be one the run did not exercise
 * but the code needs (see permissions.ts), or the roles are wider than needed.
 *
 * @example
 * ```ts
 * const { denied } = await checkExampleRbac(fake.requests);
 * assertEquals(denied, []);
 * ```
 */
export async function checkExampleRbac(requests: readonly ApiRequest[]): Promise<RequestCheck> {
  const manifests = await loadManifests(new URL("../../examples/daemonset.yaml", import.meta.url).pathname);
  return checkRequests(grantsFor(manifests, EXAMPLE_SERVICE_ACCOUNT), requests);
}
