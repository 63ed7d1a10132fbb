/**
 * The patch formats the API server accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic
 * merge patch that knows the merge keys metallite's objects use. All are pure functions over JSON values; a bad
 * patch throws PatchError, which the server turns into a 422 (or 400 for unparsable text).
 * @module
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A patch that cannot be applied; `status` is the HTTP status the server answers with. */
export class PatchError extends Error {
  override name = "PatchError";
  readonly status: number;
  /** Builds the error with the status the server should send (422 by default). */
  constructor(message: string, status = 422) {
    super(message);
    this.status = status;
  }
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge recursively, null deletes, everything else (lists too) replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/**
 * Merge keys of lists with `patchStrategy: merge` in the built-in types metallite touches (field name → key);
 * lists not named here are atomic and replaced, as in the Go structs' tags. `null` marks a merged list of
 * primitives (finalizers).
 */
const MERGE_KEYS: Record<string, string | null> = {
  conditions: "type",
  ports: "port",
  containers: "name",
  initContainers: "name",
  volumes: "name",
  env: "name",
  volumeMounts: "mountPath",
  ownerReferences: "uid",
  finalizers: null,
  addresses: "type",
  taints: "key",
  imagePullSecrets: "name",
  secrets: "name",
};

function sameKey(a: Json, b: Json, key: string): boolean {
  return isObject(a) && isObject(b) && a[key] !== undefined && JSON.stringify(a[key]) === JSON.stringify(b[key]);
}

function mergeList(field: string, target: Json[], patch: Json[], order: Json[] | undefined): Json[] {
  const key = MERGE_KEYS[field];
  if (key === undefined) return structuredClone(patch);
  let result = [...target];
  if (key === null) {
    for (const v of patch) if (!result.some((r) => JSON.stringify(r) === JSON.stringify(v))) result.push(v);
  } else {
    for (const item of patch) {
      if (!isObject(item)) throw new PatchError(`strategic merge patch: list ${field} needs objects with "${key}"`);
      if (item["$patch"] === "replace") return patch.filter((p) => !(isObject(p) && p["$patch"] === "replace"));
      if (item[key] === undefined) {
        throw new PatchError(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
      }
      const i = result.findIndex((r) => sameKey(r, item, key));
      if (item["$patch"] === "delete") {
        if (i >= 0) result.splice(i, 1);
        continue;
      }
      if (i >= 0) result[i] = strategicMerge(result[i], item);
      else result.push(strategicMerge(undefined, item));
    }
  }
  if (order) {
    // $setElementOrder/<field>: the patch lists every element in its wanted order; others keep their place after.
    const ordered: Json[] = [];
    for (const o of order) {
      const i = result.findIndex((r) => key === null ? JSON.stringify(r) === JSON.stringify(o) : sameKey(r, o, key));
      if (i >= 0) ordered.push(...result.splice(i, 1));
    }
    result = [...ordered, ...result];
  }
  return result;
}

/**
 * Strategic merge patch over built-in types: like merge patch, but lists with a merge key merge by that key and
 * honour `$patch: delete|replace`, `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…`.
 */
export function strategicMerge(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch["$patch"] === "replace") {
    const copy = { ...patch };
    delete copy["$patch"];
    return copy;
  }
  if (patch["$patch"] === "delete") return {};
  let result: JsonObject = isObject(target) ? { ...target } : {};
  const retain = patch["$retainKeys"];
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    result = Object.fromEntries(Object.entries(result).filter(([k]) => keep.has(k)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$retainKeys" || key === "$patch" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const cur = result[field];
      if (Array.isArray(cur) && Array.isArray(value)) {
        const drop = new Set(value.map((v) => JSON.stringify(v)));
        result[field] = cur.filter((v) => !drop.has(JSON.stringify(v)));
      }
      continue;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    const orderValue = patch[`$setElementOrder/${key}`];
    const order = Array.isArray(orderValue) ? orderValue : undefined;
    const cur = result[key];
    if (Array.isArray(value)) {
      result[key] = mergeList(key, Array.isArray(cur) ? cur : [], value, order);
    } else {
      result[key] = strategicMerge(cur, value);
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    // An order directive for a list the patch does not otherwise touch still reorders it.
    if (!key.startsWith("$setElementOrder/")) continue;
    const field = key.slice("$setElementOrder/".length);
    if (patch[field] === undefined && Array.isArray(result[field]) && Array.isArray(value)) {
      result[field] = mergeList(field, result[field] as Json[], [], value);
    }
  }
  return result;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

function parsePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new PatchError(`JSON pointer "${path}" does not start with "/"`);
  return path.slice(1).split("/").map(unescapePointer);
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: JsonObject | Json[]; last: string } {
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)] as Json;
    else if (isObject(cur)) cur = cur[t] as Json;
    else cur = undefined as unknown as Json;
    if (cur === undefined || cur === null || typeof cur !== "object") {
      throw new PatchError(`doc is missing path: "${path}"`);
    }
  }
  return { parent: cur as JsonObject | Json[], last: tokens[tokens.length - 1]! };
}

function arrayIndex(arr: Json[], token: string, path: string, forAdd: boolean): number {
  if (forAdd && token === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`invalid array index "${token}" in "${path}"`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) {
    throw new PatchError(`unable to access invalid index: ${i} in "${path}"`);
  }
  return i;
}

function getAt(doc: Json, path: string): Json {
  let cur: Json | undefined = doc;
  for (const t of parsePointer(path)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, path, false)];
    else if (isObject(cur) && t in cur) cur = cur[t];
    else throw new PatchError(`doc is missing path: "${path}"`);
  }
  return cur as Json;
}

function removeAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError("cannot remove the whole document");
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0]!;
  if (!(last in parent)) throw new PatchError(`unable to remove nonexistent key: ${last}: missing value`);
  const old = parent[last]!;
  delete parent[last];
  return old;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, path, !replace);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else {
    if (replace && !(last in parent)) {
      throw new PatchError(`replace operation does not apply: doc is missing key: ${path}`);
    }
    parent[last] = value;
  }
  return doc;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]!));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k]!, b[k]!));
  }
  return false;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test; the whole patch applies or none of it. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError("json patch must be a list of operations", 400);
  let doc = structuredClone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== "string" || typeof op.path !== "string") {
      throw new PatchError(`invalid json patch operation: ${JSON.stringify(op)}`, 400);
    }
    const path = op.path;
    switch (op.op) {
      case "add":
        if (!("value" in op)) throw new PatchError(`add operation at "${path}" has no value`);
        doc = addAt(doc, path, structuredClone(op.value!), false);
        break;
      case "remove":
        removeAt(doc, path);
        break;
      case "replace":
        if (!("value" in op)) throw new PatchError(`replace operation at "${path}" has no value`);
        doc = addAt(doc, path, structuredClone(op.value!), true);
        break;
      case "move": {
        if (typeof op.from !== "string") throw new PatchError(`move operation at "${path}" has no from`);
        const v = removeAt(doc, op.from);
        doc = addAt(doc, path, v, false);
        break;
      }
      case "copy": {
        if (typeof op.from !== "string") throw new PatchError(`copy operation at "${path}" has no from`);
        doc = addAt(doc, path, structuredClone(getAt(doc, op.from)), false);
        break;
      }
      case "test":
        if (!deepEqual(getAt(doc, path), op.value ?? null)) {
          throw new PatchError(`testing value ${path} failed: test failed`);
        }
        break;
      default:
        throw new PatchError(`Unexpected kind: ${op.op}`, 400);
    }
  }
  return doc;
}

/**
 * The merge patch that turns `from` into `to` (fields dropped become null). Server-side apply uses it to remove
 * what a manager applied before and no longer applies.
 */
export function diffMergePatch(from: Json | undefined, to: Json): Json {
  if (!isObject(from) || !isObject(to)) return structuredClone(to);
  const patch: JsonObject = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const old = from[key];
    if (old !== undefined && deepEqual(old, value)) continue;
    patch[key] = isObject(value) && isObject(old) ? diffMergePatch(old, value) : structuredClone(value);
  }
  return patch;
}

/** Deep equality over JSON values. */
export function jsonEqual(a: Json, b: Json): boolean {
  return deepEqual(a, b);
}
