/**
 * metadata.managedFields bookkeeping, simplified: every write records, for its field manager, operation and
 * subresource, the fields it set or changed (FieldsV1 notation, lists treated as atomic), and takes those fields
 * away from other managers. Clients see objects shaped and sized like a real server's; ownership conflicts are not
 * enforced.
 * @module
 */
import type { Json } from "./_patch.ts";
import { jsonEqual } from "./_patch.ts";

type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const METADATA_FIELDS = new Set(["labels", "annotations", "finalizers", "ownerReferences"]);

/** The FieldsV1 set of the fields in `next` that are new or differ from `prev` (all of them when prev is absent). */
export function changedFields(prev: Json | undefined, next: Json, topLevel = true): JsonObject {
  const out: JsonObject = {};
  if (!isObject(next)) return out;
  for (const [key, value] of Object.entries(next)) {
    if (topLevel && (key === "apiVersion" || key === "kind")) continue;
    const before = isObject(prev) ? prev[key] : undefined;
    if (topLevel && key === "metadata") {
      if (!isObject(value)) continue;
      const meta: JsonObject = {};
      for (const [mk, mv] of Object.entries(value)) {
        if (!METADATA_FIELDS.has(mk)) continue;
        const mb = isObject(before) ? before[mk] : undefined;
        if (mb !== undefined && jsonEqual(mb, mv)) continue;
        meta[`f:${mk}`] = isObject(mv) ? { ".": {}, ...changedFields(mb, mv, false) } : {};
      }
      if (Object.keys(meta).length > 0) out["f:metadata"] = meta;
      continue;
    }
    if (before !== undefined && jsonEqual(before, value)) continue;
    if (isObject(value)) {
      const inner = changedFields(before, value, false);
      out[`f:${key}`] = before === undefined ? { ".": {}, ...inner } : inner;
    } else {
      out[`f:${key}`] = {};
    }
  }
  return out;
}

function union(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = isObject(cur) && isObject(v) ? union(cur, v) : v;
  }
  return out;
}

/** Removes from `set` every leaf field named in `taken`. */
function subtract(set: JsonObject, taken: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(set)) {
    const t = taken[k];
    if (t === undefined) out[k] = v;
    else if (isObject(t) && isObject(v) && Object.keys(t).some((x) => x !== ".")) {
      const rest = subtract(v, t);
      if (Object.keys(rest).some((x) => x !== ".")) out[k] = rest;
    }
  }
  return out;
}

/** What a write adds to managedFields. */
export interface ManagedWrite {
  manager: string;
  operation: "Update" | "Apply";
  apiVersion: string;
  subresource?: string | undefined;
  time: string;
}

/** The managedFields after a write that set `fields`. */
export function recordManaged(current: Json | undefined, fields: JsonObject, write: ManagedWrite): Json[] {
  const entries = Array.isArray(current) ? current.filter(isObject) : [];
  const same = (e: JsonObject) =>
    e.manager === write.manager && e.operation === write.operation &&
    (e.subresource ?? "") === (write.subresource ?? "");
  const result: Json[] = [];
  let mine: JsonObject | undefined;
  for (const e of entries) {
    if (same(e)) {
      mine = e;
      continue;
    }
    const rest = subtract(isObject(e.fieldsV1) ? e.fieldsV1 : {}, fields);
    if (Object.keys(rest).length > 0) result.push({ ...e, fieldsV1: rest });
  }
  const owned = write.operation === "Apply" ? fields : union(isObject(mine?.fieldsV1) ? mine.fieldsV1 : {}, fields);
  if (Object.keys(owned).length === 0 && !mine) return result;
  result.push({
    manager: write.manager,
    operation: write.operation,
    apiVersion: write.apiVersion,
    time: write.time,
    fieldsType: "FieldsV1",
    fieldsV1: owned,
    ...(write.subresource ? { subresource: write.subresource } : {}),
  });
  return result;
}

/** The field manager of a request: the fieldManager parameter, else the user agent's first word, as kube-apiserver does. */
export function managerOf(fieldManager: string | null | undefined, userAgent: string | null | undefined): string {
  if (fieldManager) return fieldManager;
  const ua = (userAgent ?? "").split("/")[0]!.trim();
  return ua === "" ? "unknown" : ua.slice(0, 128);
}
