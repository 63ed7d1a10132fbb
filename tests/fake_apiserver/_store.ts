/**
 * The fake API server's object store: one global resourceVersion counter, objects per resource, a bounded event
 * history per resource for watch resume and past-snapshot lists, and the write rules of the real registry
 * (optimistic concurrency, status subresource separation, generation, finalizers, no-op updates).
 * Objects in the store are never mutated: every write stores a new object, so events and lists can share them.
 * @module
 */
import { type ResourceInfo, type ResourceTable, urlPlural } from "./_resources.ts";
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  expired,
  invalid,
  MODIFIED_MESSAGE,
  notFound,
} from "./_status.ts";
import { diffMergePatch, type Json, jsonEqual, jsonPatch, mergePatch, PatchError, strategicMerge } from "./_patch.ts";
import type { Matcher } from "./_selectors.ts";
import { defaultObject, defaultStatus, validateObject } from "./_defaults.ts";
import { changedFields, recordManaged } from "./_managed.ts";
import { checkShape } from "./_schemas.ts";

/** Who writes, for managedFields: the field manager and whether the write is an Update or an Apply. */
export interface WriteOptions {
  dryRun?: boolean;
  /** Field manager name; default "unknown". */
  manager?: string;
  operation?: "Update" | "Apply";
  /** For Apply: the applied configuration, whose fields the manager then owns. */
  applied?: Json;
  /** Unknown fields: Strict rejects them (400), Warn (default) and Ignore drop them, Warn with a warning. */
  fieldValidation?: "Strict" | "Warn" | "Ignore";
}

/** A stored object (plain JSON). */
export type Obj = Record<string, Json> & { metadata: Record<string, Json> };

/** One change, as history keeps it and watches deliver it. */
export interface StoreEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  rv: number;
  object: Obj;
  /** The object before the change (MODIFIED, DELETED). */
  old?: Obj;
}

/** Someone watching a resource; the store calls `deliver` for every event in order. */
export interface WatchSink {
  resource: string;
  deliver(event: StoreEvent): void;
}

/** The patch content types the server accepts. */
export type PatchType = "merge" | "strategic" | "json" | "apply";

/** Options of a list. */
export interface ListOptions {
  namespace?: string | undefined;
  labelSelector?: Matcher | undefined;
  fieldSelector?: Matcher | undefined;
  limit?: number | undefined;
  continueToken?: string | undefined;
  resourceVersion?: string | undefined;
  resourceVersionMatch?: string | undefined;
}

/** A list result. */
export interface ListResult {
  items: Obj[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

function meta(obj: Obj): Record<string, Json> {
  return obj.metadata;
}

function nameOf(obj: Obj): string {
  return String(obj.metadata.name ?? "");
}

function keyOf(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

function isObject(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A timestamp as Kubernetes writes them: RFC 3339, whole seconds, UTC. */
export function kubeTime(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

const RANDOM_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

function randomSuffix(): string {
  let s = "";
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  for (const b of bytes) s += RANDOM_ALPHABET[b % RANDOM_ALPHABET.length];
  return s;
}

/** Fields other than metadata and status: a change there bumps generation. */
function specPart(obj: Obj): Record<string, Json> {
  const rest: Record<string, Json> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k !== "metadata" && k !== "status" && k !== "apiVersion" && k !== "kind") rest[k] = v;
  }
  return rest;
}

/** The options of the store. */
export interface StoreOptions {
  table: ResourceTable;
  /** Events kept per resource for watch resume and past-snapshot lists; older ones answer 410. */
  watchHistory: number;
  /** Events (core and events.k8s.io) disappear this long after their last write, like kube-apiserver's --event-ttl. */
  eventTtlMs?: number;
}

/** The store itself. */
export class Store {
  readonly table: ResourceTable;
  #rv = 0;
  readonly #objects = new Map<string, Map<string, Obj>>();
  readonly #history = new Map<string, StoreEvent[]>();
  /** Per resource: the newest rv no longer in history (a watch from below it gets 410). */
  readonly #evicted = new Map<string, number>();
  readonly #sinks = new Set<WatchSink>();
  readonly #historySize: number;
  /** Per object and field manager: the last configuration it applied server-side. */
  readonly #applied = new Map<string, Json>();
  readonly #eventTtlMs: number;
  readonly #writtenAt = new WeakMap<Obj, number>();
  #lastPurge = 0;
  #clusterIp = 10;
  #warnings: string[] = [];
  #nodePort = 30000;

  /** Builds an empty store (call `seedNamespaces` for the defaults). */
  constructor(options: StoreOptions) {
    this.table = options.table;
    this.#historySize = Math.max(1, options.watchHistory);
    this.#eventTtlMs = options.eventTtlMs ?? 3_600_000;
    for (const info of this.table.all) {
      this.#objects.set(info.plural, new Map());
      this.#history.set(info.plural, []);
      this.#evicted.set(info.plural, 0);
    }
  }

  /** The current global resourceVersion. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Registers a watch sink (it gets every later event of its resource). */
  addSink(sink: WatchSink): void {
    this.#sinks.add(sink);
  }

  /** Unregisters a watch sink. */
  removeSink(sink: WatchSink): void {
    this.#sinks.delete(sink);
  }

  /** The resource info for a store name, or a 404 if the server does not serve it. */
  info(resource: string): ResourceInfo {
    const info = this.table.byName(resource);
    if (!info) throw new ApiError(404, "NotFound", `the server could not find the requested resource (${resource})`);
    return info;
  }

  #map(info: ResourceInfo): Map<string, Obj> {
    if (info.kind === "Event") this.#purgeEvents();
    return this.#objects.get(info.plural)!;
  }

  /**
   * Deletes Events older than the TTL. kube-apiserver does it with etcd leases; here it happens lazily, whenever
   * Events are next read or written, which is when a client could notice.
   */
  #purgeEvents(): void {
    const now = Date.now();
    if (now - this.#lastPurge < Math.min(1000, this.#eventTtlMs / 2)) return;
    this.#lastPurge = now;
    for (const info of this.table.all) {
      if (info.kind !== "Event") continue;
      const map = this.#objects.get(info.plural)!;
      for (const [key, obj] of [...map]) {
        if (now - (this.#writtenAt.get(obj) ?? now) < this.#eventTtlMs) continue;
        const gone: Obj = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } };
        map.delete(key);
        this.#record(info, { type: "DELETED", rv: this.#rv, object: gone, old: obj });
      }
    }
  }

  #record(info: ResourceInfo, event: StoreEvent): void {
    if (event.type !== "DELETED") this.#writtenAt.set(event.object, Date.now());
    const history = this.#history.get(info.plural)!;
    history.push(event);
    if (history.length > this.#historySize) {
      const drop = history.length - this.#historySize;
      const last = history[drop - 1]!;
      history.splice(0, drop);
      this.#evicted.set(info.plural, last.rv);
    }
    for (const sink of this.#sinks) if (sink.resource === info.plural) sink.deliver(event);
  }

  /** Forgets all history: every watch resume or snapshot list from before now gets 410. */
  expireHistory(): void {
    for (const info of this.table.all) {
      this.#history.set(info.plural, []);
      this.#evicted.set(info.plural, this.#rv);
    }
  }

  /** Events of a resource newer than `rv`, or a 410 if some of them are no longer kept. */
  eventsSince(info: ResourceInfo, rv: number): StoreEvent[] {
    const evicted = this.#evicted.get(info.plural)!;
    if (rv < evicted) {
      throw expired(`too old resource version: ${rv} (${evicted + 1})`);
    }
    const history = this.#history.get(info.plural)!;
    let i = history.length;
    while (i > 0 && history[i - 1]!.rv > rv) i--;
    return history.slice(i);
  }

  #requireNamespace(info: ResourceInfo, namespace: string | undefined): void {
    if (!info.namespaced) return;
    if (namespace === undefined || namespace === "") {
      throw badRequest("the server could not find the requested resource: a namespace is required");
    }
    const ns = this.table.byName("namespaces")!;
    if (!this.#map(ns).has(namespace)) throw notFound("namespaces", "", namespace);
  }

  /** One object, or undefined. */
  find(info: ResourceInfo, namespace: string | undefined, name: string): Obj | undefined {
    return this.#map(info).get(keyOf(info.namespaced ? namespace : undefined, name));
  }

  /** One object, or 404. */
  get(info: ResourceInfo, namespace: string | undefined, name: string): Obj {
    const obj = this.find(info, namespace, name);
    if (!obj) throw notFound(urlPlural(info), info.group, name);
    return obj;
  }

  /** Objects of a resource at the current or (from history) a past resourceVersion. */
  #snapshot(info: ResourceInfo, rv: number): Map<string, Obj> {
    const current = this.#map(info);
    if (rv >= this.#rv) return current;
    const events = this.eventsSince(info, rv);
    if (events.length === 0) return current;
    const past = new Map(current);
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      const key = keyOf(info.namespaced ? String(e.object.metadata.namespace) : undefined, nameOf(e.object));
      if (e.type === "ADDED") past.delete(key);
      else if (e.old) past.set(key, e.old);
    }
    return past;
  }

  /** A list with selectors, pagination and resourceVersion semantics. */
  list(info: ResourceInfo, options: ListOptions = {}): ListResult {
    let atRv = this.#rv;
    let startAfter: string | undefined;
    let ignoreLimit = false;
    if (options.continueToken) {
      if (options.resourceVersion !== undefined && options.resourceVersion !== "") {
        throw badRequest("specifying resource version is not allowed when using continue");
      }
      let token: { rv?: unknown; start?: unknown };
      try {
        token = JSON.parse(atob(options.continueToken));
      } catch {
        throw badRequest("continue key is not valid: illegal base64 data");
      }
      if (typeof token.rv !== "number" || typeof token.start !== "string") {
        throw badRequest("continue key is not valid");
      }
      atRv = token.rv;
      startAfter = token.start;
      if (atRv < this.#evicted.get(info.plural)!) {
        throw expired(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        );
      }
    } else if (options.resourceVersion !== undefined && options.resourceVersion !== "") {
      const rv = parseRv(options.resourceVersion);
      const match = options.resourceVersionMatch ?? "";
      if (rv > this.#rv) {
        throw new ApiError(504, "Timeout", `Too large resource version: ${rv}, current: ${this.#rv}`, {
          causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
          retryAfterSeconds: 1,
        });
      }
      if (rv === 0 && match === "Exact") {
        throw badRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"');
      }
      // Without resourceVersionMatch, a paginated list at N > 0 is served from etcd at exactly N (the quirk
      // KEP-2523 describes); resourceVersion "0" is served from the watch cache, which ignores limit.
      if (rv === 0) ignoreLimit = true;
      if (match === "Exact" || (match === "" && rv > 0 && (options.limit ?? 0) > 0)) {
        if (rv < this.#evicted.get(info.plural)!) {
          throw expired(`The resourceVersion for the provided list is too old.`);
        }
        atRv = rv;
      } else if (match !== "" && match !== "NotOlderThan") {
        throw badRequest(`resourceVersionMatch: Unsupported value: "${match}"`);
      }
    } else if (options.resourceVersionMatch) {
      throw badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
    }
    const source = this.#snapshot(info, atRv);
    let keys = [...source.keys()].sort();
    if (options.namespace !== undefined && info.namespaced) {
      const prefix = options.namespace + "/";
      keys = keys.filter((k) => k.startsWith(prefix));
    }
    if (startAfter !== undefined) {
      const from = startAfter;
      keys = keys.filter((k) => k > from);
    }
    const items: Obj[] = [];
    const limit = options.limit && options.limit > 0 && !ignoreLimit ? options.limit : Infinity;
    let last = "";
    let i = 0;
    for (; i < keys.length && items.length < limit; i++) {
      const obj = source.get(keys[i]!)!;
      if (options.labelSelector && !options.labelSelector(obj)) continue;
      if (options.fieldSelector && !options.fieldSelector(obj)) continue;
      items.push(obj);
      last = keys[i]!;
    }
    const result: ListResult = { items, resourceVersion: String(atRv) };
    if (items.length >= limit) {
      // Like etcd, only promise more when there are more keys; the count is exact only without selectors.
      let remaining = 0;
      for (let j = i; j < keys.length; j++) {
        const obj = source.get(keys[j]!)!;
        if (options.labelSelector && !options.labelSelector(obj)) continue;
        if (options.fieldSelector && !options.fieldSelector(obj)) continue;
        remaining++;
      }
      if (remaining > 0) {
        result.continueToken = btoa(JSON.stringify({ rv: atRv, start: last }));
        if (!options.labelSelector && !options.fieldSelector) result.remainingItemCount = remaining;
      }
    }
    return result;
  }

  /** Creates an object (POST). */
  create(info: ResourceInfo, namespace: string | undefined, input: unknown, options: WriteOptions = {}): Obj {
    const obj = this.#checkBody(info, input);
    const m = meta(obj);
    if (info.namespaced) {
      if (m.namespace !== undefined && m.namespace !== "" && namespace !== undefined && m.namespace !== namespace) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      }
      const ns = namespace ?? (typeof m.namespace === "string" && m.namespace !== "" ? m.namespace : undefined);
      this.#requireNamespace(info, ns);
      m.namespace = ns!;
    } else {
      delete m.namespace;
    }
    if ((m.name === undefined || m.name === "") && typeof m.generateName === "string" && m.generateName !== "") {
      m.name = m.generateName + randomSuffix();
    }
    if (m.resourceVersion !== undefined && m.resourceVersion !== "") {
      throw new ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created");
    }
    const name = typeof m.name === "string" ? m.name : "";
    if (info.status && !info.statusOnCreate) delete obj.status;
    this.#checkShape(info, obj, name, "all", options);
    validateObject(info, obj, name);
    if (this.find(info, namespace ?? (m.namespace as string | undefined), name)) {
      throw alreadyExists(urlPlural(info), info.group, name);
    }
    for (const k of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]) {
      delete m[k];
    }
    delete m.managedFields;
    const fields = changedFields(undefined, obj);
    m.uid = crypto.randomUUID();
    m.creationTimestamp = kubeTime();
    if (info.generation) m.generation = 1;
    defaultObject(info, obj, this);
    m.managedFields = recordManaged(undefined, fields, {
      manager: options.manager ?? "unknown",
      operation: options.operation ?? "Update",
      apiVersion: String(obj.apiVersion),
      time: String(m.creationTimestamp),
    });
    if (options.dryRun) return obj;
    m.resourceVersion = String(++this.#rv);
    this.#map(info).set(keyOf(info.namespaced ? String(m.namespace) : undefined, name), obj);
    this.#record(info, { type: "ADDED", rv: this.#rv, object: obj });
    return obj;
  }

  /** Replaces an object (PUT), on the main resource or its status subresource. */
  update(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    input: unknown,
    options: WriteOptions & { subresource?: string | undefined } = {},
  ): Obj {
    const obj = this.#checkBody(info, input);
    const m = meta(obj);
    if (m.name !== undefined && m.name !== name) {
      throw badRequest(`the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
    }
    if (info.namespaced && m.namespace !== undefined && m.namespace !== "" && m.namespace !== namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    const old = this.get(info, namespace, name);
    const rv = m.resourceVersion;
    if (rv !== undefined && rv !== "") {
      if (rv !== old.metadata.resourceVersion) throw conflict(urlPlural(info), info.group, name, MODIFIED_MESSAGE);
    } else if (info.custom) {
      // CustomResources do not allow unconditional updates (AllowUnconditionalUpdate is false for them).
      throw invalid(info.kind, info.group, name, [{
        field: "metadata.resourceVersion",
        message: "Invalid value: 0x0: must be specified for an update",
      }]);
    }
    return this.#write(info, old, obj, options);
  }

  /** Applies a new version of `old`: the common tail of update and patch. */
  #write(
    info: ResourceInfo,
    old: Obj,
    input: Obj,
    options: WriteOptions & { subresource?: string | undefined },
  ): Obj {
    const name = nameOf(old);
    let obj: Obj;
    if (options.subresource === "status") {
      if (!info.status) throw notFound(urlPlural(info) + "/status", info.group, name);
      // PUT/PATCH on /status changes only status.
      obj = { ...old, metadata: { ...old.metadata } };
      if (input.status === undefined) delete obj.status;
      else obj.status = input.status;
      defaultStatus(info, obj);
      this.#checkShape(info, obj, name, "status", options);
      validateObject(info, obj, name, true);
    } else if (options.subresource !== undefined) {
      throw notFound(`${urlPlural(info)}/${options.subresource}`, info.group, name);
    } else {
      obj = { ...input, metadata: { ...input.metadata } };
      // PUT/PATCH on the main resource ignores status when there is a status subresource.
      if (info.status) {
        if (old.status === undefined) delete obj.status;
        else obj.status = old.status;
      }
      const m = obj.metadata;
      for (
        const k of [
          "uid",
          "creationTimestamp",
          "deletionTimestamp",
          "deletionGracePeriodSeconds",
          "generation",
          "namespace",
        ]
      ) {
        if (old.metadata[k] === undefined) delete m[k];
        else m[k] = old.metadata[k]!;
      }
      m.name = name;
      if (m.generateName === undefined && old.metadata.generateName !== undefined) {
        m.generateName = old.metadata.generateName;
      }
      defaultObject(info, obj, this, old);
      this.#checkShape(info, obj, name, "all", options);
      validateObject(info, obj, name, false, old);
      if (info.generation && !jsonEqual(specPart(old), specPart(obj))) {
        m.generation = Number(old.metadata.generation ?? 0) + 1;
      }
    }
    obj.apiVersion = old.apiVersion!;
    obj.kind = old.kind!;
    obj.metadata.resourceVersion = old.metadata.resourceVersion!;
    // managedFields are the server's: what a client sends there is ignored.
    if (old.metadata.managedFields === undefined) delete obj.metadata.managedFields;
    else obj.metadata.managedFields = old.metadata.managedFields;
    if (jsonEqual(obj, old)) return old; // A no-op write stores nothing and sends no event, as etcd3's store does.
    const fields = options.applied !== undefined
      ? changedFields(undefined, options.applied)
      : options.subresource === "status"
      ? changedFields({ status: old.status ?? null }, { status: obj.status ?? null })
      : changedFields(old, obj);
    obj.metadata.managedFields = recordManaged(old.metadata.managedFields, fields, {
      manager: options.manager ?? "unknown",
      operation: options.operation ?? "Update",
      apiVersion: String(old.apiVersion),
      subresource: options.subresource,
      time: kubeTime(),
    });
    if (options.dryRun) return obj;
    const deleting = obj.metadata.deletionTimestamp !== undefined;
    const finalizers = obj.metadata.finalizers;
    obj.metadata.resourceVersion = String(++this.#rv);
    const key = keyOf(info.namespaced ? String(obj.metadata.namespace) : undefined, name);
    if (deleting && (!Array.isArray(finalizers) || finalizers.length === 0)) {
      this.#map(info).delete(key);
      this.#record(info, { type: "DELETED", rv: this.#rv, object: obj, old });
      return obj;
    }
    this.#map(info).set(key, obj);
    this.#record(info, { type: "MODIFIED", rv: this.#rv, object: obj, old });
    return obj;
  }

  /** Patches an object (PATCH); server-side apply creates it when missing. */
  patch(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: Json,
    options: WriteOptions & { subresource?: string | undefined; force?: boolean } = {},
  ): Obj {
    if (type === "strategic" && info.custom) {
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
    }
    const old = this.find(info, namespace, name);
    if (type === "apply") return this.#apply(info, namespace, name, old, patch, options);
    if (!old) throw notFound(urlPlural(info), info.group, name);
    let next: Json;
    try {
      if (type === "merge") next = mergePatch(old, patch);
      else if (type === "strategic") next = strategicMerge(old, patch);
      else next = jsonPatch(old, patch);
    } catch (error) {
      if (error instanceof PatchError) {
        if (error.status === 400) throw badRequest(error.message);
        throw new ApiError(422, "Invalid", error.message);
      }
      throw error;
    }
    if (!isObject(next) || !isObject(next.metadata)) throw badRequest("the patch removed the object's metadata");
    const obj = next as Obj;
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== old.metadata.resourceVersion) {
      throw conflict(urlPlural(info), info.group, name, MODIFIED_MESSAGE);
    }
    if (obj.metadata.name !== name) {
      throw badRequest("metadata.name: Invalid value: the name in the patch does not match");
    }
    return this.#write(info, old, obj, options);
  }

  /**
   * Server-side apply, simplified: the applied configuration is merged over the object, and fields this field
   * manager applied before but no longer applies are removed. Ownership conflicts between managers are not
   * detected (a real server answers 409 unless force=true).
   */
  #apply(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    old: Obj | undefined,
    config: Json,
    options: WriteOptions & { subresource?: string | undefined },
  ): Obj {
    if (!isObject(config) || !isObject(config.metadata)) throw badRequest("apply: the configuration has no metadata");
    if (config.metadata.name !== undefined && config.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${String(config.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (options.manager === undefined || options.manager === "") {
      throw badRequest("PATCH, application/apply-patch+yaml requires fieldManager to be set");
    }
    const key = `${info.plural}|${namespace ?? ""}|${name}|${options.manager}|${options.subresource ?? ""}`;
    const applyOptions = { ...options, operation: "Apply" as const, applied: config };
    if (!old) {
      if (options.subresource) throw notFound(urlPlural(info), info.group, name);
      const created = this.create(info, namespace, { ...config, metadata: { ...config.metadata, name } }, applyOptions);
      if (!options.dryRun) this.#applied.set(key, config);
      return created;
    }
    const previous = this.#applied.get(key);
    const delta = previous === undefined ? config : diffMergePatch(previous, config);
    const next = mergePatch(old, delta) as Obj;
    next.metadata.resourceVersion = old.metadata.resourceVersion!;
    const result = this.#write(info, old, next, applyOptions);
    if (!options.dryRun) this.#applied.set(key, config);
    return result;
  }

  /** Deletes an object (DELETE); with finalizers it only marks it for deletion. */
  delete(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    options: { preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: boolean } = {},
  ): Obj {
    const old = this.get(info, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid !== undefined && pre.uid !== old.metadata.uid) {
      throw conflict(
        urlPlural(info),
        info.group,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(old.metadata.uid)}`,
      );
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        urlPlural(info),
        info.group,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${
          String(old.metadata.resourceVersion)
        }`,
      );
    }
    if (options.dryRun) return old;
    const finalizers = old.metadata.finalizers;
    if (Array.isArray(finalizers) && finalizers.length > 0) {
      if (old.metadata.deletionTimestamp !== undefined) return old;
      const marked: Obj = {
        ...old,
        metadata: { ...old.metadata, deletionTimestamp: kubeTime(), deletionGracePeriodSeconds: 0 },
      };
      if (info.plural === "namespaces") marked.status = { phase: "Terminating" };
      marked.metadata.resourceVersion = String(++this.#rv);
      this.#map(info).set(keyOf(info.namespaced ? namespace : undefined, name), marked);
      this.#record(info, { type: "MODIFIED", rv: this.#rv, object: marked, old });
      return marked;
    }
    if (info.plural === "namespaces") this.#emptyNamespace(name);
    const gone: Obj = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.#rv) } };
    this.#map(info).delete(keyOf(info.namespaced ? namespace : undefined, name));
    this.#record(info, { type: "DELETED", rv: this.#rv, object: gone, old });
    return gone;
  }

  /** Deleting a namespace deletes what is in it (the namespace controller's job on a real cluster). */
  #emptyNamespace(namespace: string): void {
    for (const info of this.table.all) {
      if (!info.namespaced) continue;
      for (const obj of [...this.#map(info).values()]) {
        if (obj.metadata.namespace !== namespace) continue;
        const gone: Obj = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } };
        this.#map(info).delete(keyOf(namespace, nameOf(obj)));
        this.#record(info, { type: "DELETED", rv: this.#rv, object: gone, old: obj });
      }
    }
  }

  /** Allocates the next ClusterIP from 10.96.0.0/12 (defaulting of Services). */
  nextClusterIp(): string {
    const n = this.#clusterIp++;
    return `10.96.${(n >> 8) & 255}.${n & 255}`;
  }

  /** Allocates the next NodePort from 30000-32767. */
  nextNodePort(): number {
    const port = this.#nodePort;
    this.#nodePort = port >= 32767 ? 30000 : port + 1;
    return port;
  }

  /** Warnings of the last write (unknown fields dropped), for the server's Warning headers; reading clears them. */
  takeWarnings(): string[] {
    const w = this.#warnings;
    this.#warnings = [];
    return w;
  }

  #checkShape(info: ResourceInfo, obj: Obj, name: string, sections: "all" | "status", options: WriteOptions): void {
    const report = checkShape(info.plural, obj, { custom: info.custom, sections });
    const mode = options.fieldValidation ?? "Warn";
    if (report.unknown.length > 0 && mode === "Strict") {
      throw badRequest(`strict decoding error: ${report.unknown.map((f) => `unknown field "${f}"`).join(", ")}`);
    }
    if (report.invalid.length > 0) throw invalid(info.kind, info.group, name, report.invalid);
    if (mode === "Warn") { for (const f of report.unknown) this.#warnings.push(`unknown field "${f}"`); }
  }

  #checkBody(info: ResourceInfo, input: unknown): Obj {
    if (!isObject(input)) throw badRequest("the body of the request is not a JSON object");
    const obj = structuredClone(input) as Record<string, Json>;
    const version = typeof obj.apiVersion === "string" ? obj.apiVersion : undefined;
    const [group, ver] = version === undefined
      ? [info.group, info.versions[0]!]
      : version.includes("/")
      ? [version.split("/")[0]!, version.split("/")[1]!]
      : ["", version];
    if (group !== info.group || !info.versions.includes(ver)) {
      throw badRequest(
        `the API version in the data (${version}) does not match the expected API version (${
          info.group === "" ? info.versions[0] : info.group + "/" + info.versions[0]
        })`,
      );
    }
    if (obj.kind !== undefined && obj.kind !== info.kind) {
      throw badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${info.kind})`);
    }
    if (obj.metadata === undefined) obj.metadata = {};
    if (!isObject(obj.metadata)) throw badRequest("metadata must be an object");
    // Stored in the preferred version; the server relabels when serving another version.
    obj.apiVersion = info.group === "" ? info.versions[0]! : `${info.group}/${info.versions[0]}`;
    obj.kind = info.kind;
    return obj as Obj;
  }
}

/** Parses a resourceVersion parameter; anything but a non-negative integer is a 400. */
export function parseRv(text: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) {
    throw badRequest(`resourceVersion: Invalid value: "${text}": must be an integer`);
  }
  return Number(text);
}
