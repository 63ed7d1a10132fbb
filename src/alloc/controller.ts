/**
 * The allocator's controller: a level-triggered reconciler around the pure {@link allocateAll}. On any change it
 * waits a moment (debounce), recomputes every Service's addresses from the whole cached state, and writes only the
 * differences: `status.loadBalancer.ingress` and a status condition (status subresource), the
 * `metallb.io/ip-allocated-from-pool` annotation, Events, IPAddressPool status counters and the ConfigurationState.
 *
 * Everything outside is a port: the caches, the leader check, the writers and the clock are injected, so the
 * controller is tested without an API server or sleeps. It imports only types from src/k8s.
 *
 * Rules it keeps:
 * - Nothing is written before every cache has synced and a model is known, so the addresses Services already
 *   hold (ours or MetalLB's) are adopted before anything new is handed out.
 * - Only the leader writes. Since allocation is deterministic, a new leader computes the same answer and writes
 *   nothing for Services that are already right.
 * - A write happens only when the object differs from what is wanted; what we wrote is remembered until the cache
 *   catches up (its watch event arrives), so a lagging cache never causes a second write, and the echo of our own
 *   write does not trigger another pass.
 * - Writes run at most `maxInFlight` at a time, address and condition writes first (what speakers and users wait
 *   for), then annotations, Events and pool status; a failed one is retried with capped, jittered backoff while
 *   the others go on.
 * - Events follow changes the controller itself made (addresses written, pending reason changed), so a restart or
 *   a new leader does not repeat them. A refusal while an address-conflict probe runs is not reported at all.
 *
 * Service status condition: type {@link ADDRESS_CONDITION_TYPE}, True with reason "Assigned" and the addresses and
 * pool as message, or False with the pending code (`PoolExhausted`, `IpInUse`...) as reason and the one-line why
 * as message. Conditions of other types are kept.
 * @module
 */
import type { Model, Pool } from "../config/model.ts";
import { configurationState, type ConfigurationStateStatus } from "../config/state.ts";
import { type IpAddress, tryParseIp } from "../ip/mod.ts";
import type { Condition, KubeObject, Service } from "../k8s/types.ts";
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Counter, Gauge, Registry } from "../metrics/mod.ts";
import { allocateAll } from "./allocate.ts";
import { ALLOCATED_FROM_POOL_ANNOTATION } from "./annotations.ts";
import type { AddressVerdict, AllocationNote, NamespaceLike, PoolStatus, ServiceOutcome } from "./types.ts";

/** The Service status condition the allocator writes: True with the addresses, or False with the pending reason. */
export const ADDRESS_CONDITION_TYPE = "metallite.io/AddressAssigned";

/** The condition reason while a Service has its addresses (stable across restarts, unlike how it got them). */
export const ASSIGNED_REASON = "Assigned";

/** Event reasons, as MetalLB's controller names them (controller/service.go). */
export const EVENT_REASONS = {
  /** Normal: addresses written. */
  allocated: "IPAllocated",
  /** Warning: the Service is left pending. */
  failed: "AllocationFailed",
  /** Warning: the requested addresses cannot be read (MetalLB's reason for an invalid loadBalancerIPs). */
  invalid: "LoadBalancerFailed",
  /** Normal: addresses the Service had were dropped (pool changed, request changed...). */
  cleared: "ClearAssignment",
  /** Normal: PreferDualStack got one family only. */
  additionalFailed: "AdditionalAssignFailed",
} as const;

/** Label MetalLB puts on ConfigurationState objects to say which component wrote them. */
export const COMPONENT_TYPE_LABEL = "metallb.io/component-type";

/** A clock with one-shot timers (structurally the same as src/k8s's `Clock`). */
export interface ControllerClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** An Event to record about a Service. */
export interface ServiceEvent {
  /** Normal or Warning. */
  readonly type: "Normal" | "Warning";
  /** One of {@link EVENT_REASONS}. */
  readonly reason: string;
  /** One line. */
  readonly message: string;
}

/** The IPAddressPool status fields (MetalLB's IPAddressPoolStatus). */
export interface PoolStatusFields {
  /** Distinct IPv4 addresses in use. */
  readonly assignedIPv4: number;
  /** Distinct IPv6 addresses in use. */
  readonly assignedIPv6: number;
  /** IPv4 addresses still free. */
  readonly availableIPv4: number;
  /** IPv6 addresses still free (capped at 2^53 - 1). */
  readonly availableIPv6: number;
}

/** A cluster object the controller reads and writes status of (IPAddressPool, ConfigurationState). */
export interface StatusObject extends KubeObject {
  /** Untyped status, validated where read. */
  status?: Record<string, unknown>;
}

/** What the controller reads and writes, injected. */
export interface AllocatorPorts {
  /** True once every cache the controller reads has finished its first LIST. */
  synced(): boolean;
  /** True while this instance holds the allocator Lease (checked before every write). */
  isLeader(): boolean;
  /**
   * The current model, or undefined while its sources are not all read. Must stay undefined until the cluster's
   * pools are known: a Service whose address is in a pool the model lacks would otherwise lose it.
   */
  model(): Model | undefined;
  /** Every cached Service. */
  services(): readonly Service[];
  /** The cached Service at `namespace/name`. */
  service(key: string): Service | undefined;
  /** Namespaces with labels; called only when a pool has namespace selectors. Undefined while not synced. */
  namespaces?(): readonly NamespaceLike[] | undefined;
  /** Address-conflict check (a cache lookup); a `probing: true` refusal is not reported as a failure. */
  isAddressUsable?(ip: string, pool: string): AddressVerdict & { readonly probing?: boolean };
  /**
   * Writes a Service's status through the status subresource, conflict-checked: `update` computes the status
   * from `current` and again from a fresh copy after a 409; undefined from it means nothing to write. Resolves to
   * the Service as written, or undefined when nothing was written. A 404 rejection means the Service is gone.
   */
  updateServiceStatus(
    current: Service,
    update: (fresh: Service) => Service["status"] | undefined,
  ): Promise<Service | undefined>;
  /** Merge-patches annotations of a Service (null removes one); resolves to the Service as written. */
  patchServiceAnnotations(service: Service, annotations: Record<string, string | null>): Promise<Service>;
  /** Records an Event about a Service; never rejects. */
  recordEvent(service: Service, event: ServiceEvent): Promise<void>;
  /** The cached IPAddressPool object of a pool from the cluster (undefined when not found or CRDs absent). */
  poolObject?(pool: Pool): StatusObject | undefined;
  /** Writes an IPAddressPool's status subresource; resolves to the object as written. */
  writePoolStatus?(object: StatusObject, status: PoolStatusFields): Promise<StatusObject>;
  /**
   * The cached ConfigurationState: null when it does not exist yet, undefined when the cluster has no
   * ConfigurationState CRD (or it is not known yet), and then nothing is written.
   */
  configurationState?(): StatusObject | null | undefined;
  /** Creates the ConfigurationState when `current` is null, then writes its status; resolves to it as written. */
  writeConfigurationState?(current: StatusObject | null, status: ConfigurationStateStatus): Promise<StatusObject>;
}

/** Options for {@link AllocatorController}. */
export interface AllocatorControllerOptions {
  /** The caches and writers. */
  ports: AllocatorPorts;
  /** Our `spec.loadBalancerClass` (`--lb-class`); undefined serves Services without one. */
  lbClass?: string | undefined;
  /** Clock for debounce, backoff and condition times. */
  clock: ControllerClock;
  /** Wait after a change before a pass, ms; default 30. Passes are also spaced by twice the last pass's time. */
  debounceMs?: number;
  /**
   * Most writes at once; default 32. Writes are latency-bound, not CPU-bound: Deno's `fetch` leaves TCP_NODELAY
   * off, so a request often waits ~40 ms for a delayed ACK, and 16 in flight would take ~35 s for 10,000 Services.
   */
  maxInFlight?: number;
  /** First retry delay after a failed write, ms; default 500, doubling per failure. */
  retryInitialMs?: number;
  /** Longest retry delay, ms; default 60,000. */
  retryMaxMs?: number;
  /** Random source for jitter; default Math.random. */
  random?: () => number;
  /** Logger; default silent. */
  log?: Logger;
  /** Metrics: metallite_allocations_total, metallite_pool_addresses, metallite_services_pending. */
  metrics?: Registry;
}

/** Counters for tests and status output. */
export interface ControllerStats {
  /** Allocation passes run (as leader, synced). */
  passes: number;
  /** Writes started (status, annotation, pool status, ConfigurationState). */
  writes: number;
  /** Writes that failed (and are retried). */
  failures: number;
  /** Writes queued or running now. */
  queued: number;
}

/** What one Service should look like; `undefined` fields are left alone. */
interface ServiceWant {
  readonly uid: string | undefined;
  /** Ingress addresses (empty: none). */
  readonly ips: readonly string[] | undefined;
  /** Annotation value; null removes it. */
  readonly pool: string | null | undefined;
  /** Our condition; null removes it. */
  readonly condition: WantedCondition | null | undefined;
  /** Events recorded once the ingress addresses were changed by our write. */
  readonly onIpsChanged: readonly ServiceEvent[];
  /** Events recorded once our condition was changed by our write. */
  readonly onConditionChanged: readonly ServiceEvent[];
  /** For metallite_allocations_total, counted when the write changed something. */
  readonly result: { readonly pool: string; readonly result: "allocated" | "failed" | "released" } | undefined;
}

interface WantedCondition {
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

interface Task {
  readonly sig: string;
  readonly run: () => Promise<void>;
}

interface Retry {
  attempt: number;
  at: number;
}

/** The latest object we wrote, trusted over the cache while the cache still shows a version we wrote over. */
interface Assumed<T extends KubeObject> {
  object: T;
  readonly older: Set<string>;
}

const FAMILY_LABEL: Readonly<Record<4 | 6, string>> = { 4: "ipv4", 6: "ipv6" };

function rvOf(object: KubeObject | null | undefined): string {
  return object?.metadata.resourceVersion ?? "";
}

function isNotFoundError(error: unknown): boolean {
  // Structural check: src/alloc does not import the k8s client's error classes.
  return typeof error === "object" && error !== null && (error as { status?: unknown }).status === 404;
}

function kubeTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

function ingressTexts(service: Service): string[] | undefined {
  const ingress = service.status?.loadBalancer?.ingress;
  if (!Array.isArray(ingress)) return [];
  const texts: string[] = [];
  for (const entry of ingress) {
    // A hostname entry (or garbage) never equals what we want to write.
    if (typeof entry?.ip !== "string" || entry.hostname !== undefined) return undefined;
    texts.push(entry.ip);
  }
  return texts;
}

function sameTexts(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

function ourCondition(service: Service): Condition | undefined {
  const conditions = service.status?.conditions;
  return Array.isArray(conditions) ? conditions.find((c) => c?.type === ADDRESS_CONDITION_TYPE) : undefined;
}

function annotationOf(service: Service): string | undefined {
  const value = service.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION];
  return typeof value === "string" ? value : undefined;
}

/** The status to write so that `service` matches `want`, or undefined when it already does. */
function wantedStatus(service: Service, want: ServiceWant, now: number): Service["status"] | undefined {
  if (want.uid !== undefined && service.metadata.uid !== undefined && service.metadata.uid !== want.uid) {
    return undefined; // deleted and created again under the same name: the next pass decides for the new one
  }
  let changed = false;
  const status: NonNullable<Service["status"]> = { ...service.status };
  if (want.ips !== undefined && !sameTexts(ingressTexts(service), want.ips)) {
    status.loadBalancer = want.ips.length === 0 ? {} : { ingress: want.ips.map((ip) => ({ ip })) };
    changed = true;
  }
  if (want.condition !== undefined) {
    const list = Array.isArray(service.status?.conditions) ? service.status.conditions : [];
    const index = list.findIndex((c) => c?.type === ADDRESS_CONDITION_TYPE);
    const existing = index >= 0 ? list[index] : undefined;
    const wanted = want.condition;
    if (wanted === null) {
      if (existing) {
        const rest = list.filter((_, i) => i !== index);
        if (rest.length > 0) status.conditions = rest;
        else delete status.conditions;
        changed = true;
      }
    } else if (
      !existing || existing.status !== wanted.status || existing.reason !== wanted.reason ||
      existing.message !== wanted.message
    ) {
      const condition: Condition = {
        type: ADDRESS_CONDITION_TYPE,
        status: wanted.status,
        reason: wanted.reason,
        message: wanted.message,
        lastTransitionTime: existing && existing.status === wanted.status && existing.lastTransitionTime
          ? existing.lastTransitionTime
          : kubeTime(now),
      };
      status.conditions = index >= 0 ? list.map((c, i) => (i === index ? condition : c)) : [...list, condition];
      changed = true;
    }
  }
  return changed ? status : undefined;
}

function annotationPatch(service: Service, want: ServiceWant): Record<string, string | null> | undefined {
  if (want.pool === undefined) return undefined;
  const current = annotationOf(service);
  if (want.pool === null) return current === undefined ? undefined : { [ALLOCATED_FROM_POOL_ANNOTATION]: null };
  return current === want.pool ? undefined : { [ALLOCATED_FROM_POOL_ANNOTATION]: want.pool };
}

function noteEvents(notes: readonly AllocationNote[]): ServiceEvent[] {
  return notes.map((n) =>
    n.code === "AddressConflict" ? { type: "Warning" as const, reason: "AddressConflict", message: n.message } : {
      type: "Normal" as const,
      reason: n.code === "NoAdditionalFamily" ? EVENT_REASONS.additionalFailed : EVENT_REASONS.cleared,
      message: n.message,
    }
  );
}

function poolFields(status: PoolStatus): PoolStatusFields {
  return {
    assignedIPv4: status.assignedIPv4,
    assignedIPv6: status.assignedIPv6,
    availableIPv4: status.availableIPv4,
    availableIPv6: status.availableIPv6,
  };
}

function samePoolStatus(object: StatusObject, want: PoolStatusFields): boolean {
  const s = object.status ?? {};
  return s.assignedIPv4 === want.assignedIPv4 && s.assignedIPv6 === want.assignedIPv6 &&
    s.availableIPv4 === want.availableIPv4 && s.availableIPv6 === want.availableIPv6;
}

function sameConfigState(object: StatusObject | null, want: ConfigurationStateStatus): boolean {
  if (object === null) return false;
  const s = object.status ?? {};
  if (s.result !== want.result || (s.errorSummary ?? "") !== want.errorSummary) return false;
  const have = Array.isArray(s.conditions) ? s.conditions as Partial<Condition>[] : [];
  return have.length === want.conditions.length && want.conditions.every((w, i) => {
    const h = have[i];
    return h?.type === w.type && h.status === w.status && h.reason === w.reason && (h.message ?? "") === w.message;
  });
}

/** Queue key of a Service's follow-up write (annotation and Events), apart from its status write. */
function metaKey(key: string): string {
  return `${key}\u0000meta`;
}

function needsNamespaces(model: Model): boolean {
  return model.pools.some((p) => (p.serviceAllocation?.namespaceSelectors.length ?? 0) > 0);
}

function inAnyPool(model: Model, ip: IpAddress): boolean {
  return model.pools.some((p) => p.ranges[ip.family].some((r) => r.first <= ip.value && ip.value <= r.last));
}

/**
 * The allocator controller. Feed it changes ({@link AllocatorController.poke},
 * {@link AllocatorController.serviceChanged}); it runs passes and writes on its own until {@link AllocatorController.stop}.
 *
 * @example
 * ```ts
 * const controller = new AllocatorController({ ports, clock: systemClock, metrics });
 * services.onChange((c) => controller.serviceChanged(c.key, c.object));
 * elector = new LeaderElector({ lock, onStartedLeading: () => controller.poke(), ... });
 * // later
 * await controller.stop();
 * ```
 */
export class AllocatorController {
  readonly #ports: AllocatorPorts;
  readonly #lbClass: string | undefined;
  readonly #clock: ControllerClock;
  readonly #debounceMs: number;
  readonly #maxInFlight: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #allocations: Counter | undefined;
  readonly #poolAddresses: Gauge | undefined;
  readonly #pending: Gauge | undefined;

  readonly #assumed = new Map<string, Assumed<KubeObject>>();
  /** Writes that change addresses or conditions (what speakers and users wait for) go first... */
  readonly #urgent = new Map<string, Task>();
  /** ...annotations, Events, pool status and the ConfigurationState after. */
  readonly #later = new Map<string, Task>();
  /** Events waiting for a Service's follow-up write (recorded after its status changed). */
  readonly #events = new Map<string, ServiceEvent[]>();
  /** Services that changed in the cache while a write of theirs was running. */
  readonly #deferred = new Set<string>();
  readonly #running = new Map<string, { sig: string; done: Promise<void> }>();
  readonly #retries = new Map<string, Retry>();
  #dirty = false;
  #cancelPass: (() => void) | undefined;
  #passAt = 0;
  #notBefore = 0;
  #cancelRetry: (() => void) | undefined;
  #retryAt = Infinity;
  #stopped = false;
  #wasLeading = false;
  readonly #stats: ControllerStats = { passes: 0, writes: 0, failures: 0, queued: 0 };

  constructor(options: AllocatorControllerOptions) {
    this.#ports = options.ports;
    this.#lbClass = options.lbClass;
    this.#clock = options.clock;
    this.#debounceMs = options.debounceMs ?? 30;
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 32);
    this.#retryInitialMs = options.retryInitialMs ?? 500;
    this.#retryMaxMs = options.retryMaxMs ?? 60_000;
    this.#random = options.random ?? Math.random;
    this.#log = (options.log ?? silentLogger).with({ part: "allocator" });
    const metrics = options.metrics;
    this.#allocations = metrics?.counter(
      "metallite_allocations_total",
      "Address changes written to Services, by pool and result (allocated, failed, released)",
      ["pool", "result"],
    );
    this.#poolAddresses = metrics?.gauge(
      "metallite_pool_addresses",
      "Addresses per pool and family, assigned or available (set by the allocator leader)",
      ["pool", "family", "state"],
    );
    this.#pending = metrics?.gauge(
      "metallite_services_pending",
      "LoadBalancer Services of our class left without addresses (set by the allocator leader)",
    );
  }

  /** Counters (a copy). */
  get stats(): ControllerStats {
    return { ...this.#stats, queued: this.#urgent.size + this.#later.size + this.#running.size };
  }

  /** True when no pass is scheduled and no write is queued or running (tests wait for this). */
  get idle(): boolean {
    return !this.#dirty && this.#cancelPass === undefined && this.#urgent.size === 0 && this.#later.size === 0 &&
      this.#running.size === 0;
  }

  /** Something changed (model, namespaces, conflict results, leadership, sync): schedules a pass. */
  poke(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    this.#schedule();
  }

  /**
   * A Service changed in the cache. The echo of our own write (a version we produced) is ignored; anything else
   * schedules a pass.
   */
  serviceChanged(key: string, object: Service | undefined): void {
    if (object !== undefined) {
      if (this.#isEcho(key, object)) {
        this.#forgetIfCaughtUp(key, object);
        return;
      }
      // The watch often delivers our write before its response arrives: decide once the write has finished.
      if (this.#running.has(key) || this.#running.has(metaKey(key))) {
        this.#deferred.add(key);
        return;
      }
    }
    this.poke();
  }

  #isEcho(key: string, object: Service): boolean {
    const assumed = this.#assumed.get(key);
    const rv = rvOf(object);
    return assumed !== undefined && rv !== "" && (rv === rvOf(assumed.object) || assumed.older.has(rv));
  }

  /** Once the cache holds our last write and no write of that Service runs, the copy we kept is not needed. */
  #forgetIfCaughtUp(key: string, cached: Service): void {
    if (this.#running.has(key) || this.#running.has(metaKey(key))) return;
    if (rvOf(cached) === rvOf(this.#assumed.get(key)?.object)) this.#assumed.delete(key);
  }

  /** After a write: a change seen meanwhile that is not the write's own echo needs a pass. */
  #settleDeferred(key: string): void {
    if (key.startsWith("\u0000")) return; // pools and the ConfigurationState are not deferred
    const service = key.endsWith("\u0000meta") ? key.slice(0, -"\u0000meta".length) : key;
    const cached = this.#ports.service(service);
    if (this.#deferred.delete(service) && (cached === undefined || !this.#isEcho(service, cached))) this.poke();
    if (cached !== undefined) this.#forgetIfCaughtUp(service, cached);
  }

  /** Stops passes and retries, drops queued writes and waits for running ones. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelPass?.();
    this.#cancelPass = undefined;
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
    this.#urgent.clear();
    this.#later.clear();
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
  }

  #schedule(): void {
    if (this.#stopped || !this.#dirty) return;
    const now = this.#clock.now();
    const at = Math.max(now + this.#debounceMs, this.#notBefore);
    if (this.#cancelPass !== undefined) {
      if (this.#passAt <= at) return;
      this.#cancelPass();
    }
    this.#passAt = at;
    this.#cancelPass = this.#clock.setTimer(at - now, () => {
      this.#cancelPass = undefined;
      if (this.#stopped || !this.#dirty) return;
      this.#dirty = false;
      const started = performance.now();
      try {
        this.#pass();
      } catch (error) {
        this.#log.error("Allocation pass failed", { error });
      }
      // Space passes by twice their cost, so a flood of watch events cannot keep a core busy with passes.
      this.#notBefore = this.#clock.now() + 2 * (performance.now() - started);
      this.#schedule();
    });
  }

  #pass(): void {
    const ports = this.#ports;
    const leading = ports.isLeader();
    if (!leading) {
      if (this.#wasLeading) this.#stepDown();
      return;
    }
    if (!ports.synced()) return;
    const model = ports.model();
    if (model === undefined) return;
    let namespaces: readonly NamespaceLike[] | undefined;
    if (needsNamespaces(model)) {
      namespaces = ports.namespaces?.();
      if (namespaces === undefined) return; // poked again when the namespaces have synced
    }
    this.#wasLeading = true;
    this.#stats.passes++;

    const cached = ports.services();
    const byKey = new Map<string, Service>();
    const services: Service[] = [];
    for (const service of cached) {
      const key = `${service.metadata.namespace || "default"}/${service.metadata.name}`;
      const effective = this.#effective(key, service) ?? service;
      byKey.set(key, effective);
      services.push(effective);
    }
    for (const key of this.#assumed.keys()) {
      if (!key.startsWith("\u0000") && !byKey.has(key)) this.#assumed.delete(key);
    }

    const probing = new Set<string>();
    const check = ports.isAddressUsable;
    const result = allocateAll({
      model,
      services,
      ...(namespaces ? { namespaces } : {}),
      ...(this.#lbClass === undefined ? {} : { lbClass: this.#lbClass }),
      ...(check
        ? {
          isAddressUsable: (ip: string, pool: string) => {
            const verdict = check(ip, pool);
            if (!verdict.usable && verdict.probing) probing.add(verdict.reason);
            return verdict;
          },
        }
        : {}),
    });

    const now = this.#clock.now();
    let pending = 0;
    const live = new Set<string>();
    for (const outcome of result.services) {
      if (outcome.state === "pending") pending++;
      const service = byKey.get(outcome.key);
      if (service === undefined) continue;
      const want = this.#wantFor(outcome, service, model, probing);
      if (want === undefined) continue;
      if (wantedStatus(service, want, now) !== undefined) {
        live.add(outcome.key);
        this.#enqueue(
          outcome.key,
          JSON.stringify([want.uid, want.ips, want.pool, want.condition]),
          () => this.#writeStatus(outcome.key, want),
        );
      } else if (annotationPatch(service, want) !== undefined) {
        live.add(metaKey(outcome.key));
        this.#enqueueMeta(outcome.key, want);
      }
    }
    this.#pools(model, result.pools, live);
    this.#configurationState(model, live);
    // Retries of objects that no longer need a write are forgotten.
    for (const key of this.#retries.keys()) if (!live.has(key)) this.#retries.delete(key);
    this.#metrics(model, result.pools, pending);
    this.#pump();
  }

  #stepDown(): void {
    this.#wasLeading = false;
    this.#urgent.clear();
    this.#later.clear();
    this.#events.clear();
    this.#retries.clear();
    this.#poolAddresses?.reset();
    this.#pending?.set(undefined, 0);
    this.#log.info("Not the allocator leader any more; writes stop");
  }

  #wantFor(
    outcome: ServiceOutcome,
    service: Service,
    model: Model,
    probing: ReadonlySet<string>,
  ): ServiceWant | undefined {
    const uid = service.metadata.uid;
    const base = { uid, onIpsChanged: [] as ServiceEvent[], onConditionChanged: [] as ServiceEvent[] };
    if (outcome.state === "assigned") {
      return {
        ...base,
        ips: outcome.ips,
        pool: outcome.pool,
        condition: {
          status: "True",
          reason: ASSIGNED_REASON,
          message: `${outcome.ips.join(", ")} from pool "${outcome.pool}"`,
        },
        onIpsChanged: [
          ...noteEvents(outcome.notes),
          {
            type: "Normal",
            reason: EVENT_REASONS.allocated,
            message: `Assigned IP ${JSON.stringify(outcome.ips)} from pool "${outcome.pool}"`,
          },
        ],
        result: { pool: outcome.pool, result: "allocated" },
      };
    }
    if (outcome.state === "pending") {
      const released = { pool: annotationOf(service) ?? "", result: "released" as const };
      if ([...probing].some((reason) => outcome.message.includes(reason))) {
        // Waiting for a conflict probe is not a failure: clear stale addresses only, report nothing yet.
        return { ...base, ips: [], pool: null, condition: undefined, result: released };
      }
      const reason = outcome.code === "InvalidRequest" ? EVENT_REASONS.invalid : EVENT_REASONS.failed;
      return {
        ...base,
        ips: [],
        pool: null,
        condition: { status: "False", reason: outcome.code, message: outcome.message },
        onIpsChanged: noteEvents(outcome.notes),
        onConditionChanged: [{
          type: "Warning",
          reason,
          message: `Failed to allocate IP for "${outcome.key}": ${outcome.message}`,
        }],
        result: { pool: annotationOf(service) ?? "", result: "failed" },
      };
    }
    if (outcome.code !== "NotLoadBalancer") return undefined; // another class: another controller's Service
    // No longer a LoadBalancer: release what we (or MetalLB) gave it, but never touch a stranger's status.
    const ours = annotationOf(service) !== undefined || ourCondition(service) !== undefined ||
      (ingressTexts(service) ?? []).some((text) => {
        const ip = tryParseIp(text);
        return ip !== undefined && inAnyPool(model, ip);
      });
    if (!ours) return undefined;
    return {
      ...base,
      ips: [],
      pool: null,
      condition: null,
      result: { pool: annotationOf(service) ?? "", result: "released" },
    };
  }

  #effective<T extends KubeObject>(key: string, cached: T | undefined): T | undefined {
    const assumed = this.#assumed.get(key);
    if (assumed === undefined) return cached;
    const rv = rvOf(cached);
    if (assumed.older.has(rv)) return assumed.object as T;
    // The cache caught up (kept while a write of ours runs, to recognise its echo), or someone else wrote after us.
    if (rv !== rvOf(assumed.object) || !(this.#running.has(key) || this.#running.has(metaKey(key)))) {
      this.#assumed.delete(key);
    }
    return cached;
  }

  #wrote(key: string, before: KubeObject | null | undefined, after: KubeObject): void {
    let assumed = this.#assumed.get(key);
    if (assumed === undefined || assumed.object !== before) {
      assumed = { object: after, older: new Set() };
      this.#assumed.set(key, assumed);
    }
    assumed.older.add(rvOf(before));
    assumed.object = after;
  }

  #enqueue(key: string, sig: string, run: () => Promise<void>, later = false): void {
    const retry = this.#retries.get(key);
    if (retry !== undefined && retry.at > this.#clock.now()) return; // its retry timer will bring it back
    if (this.#running.get(key)?.sig === sig) return; // being written already
    (later ? this.#later : this.#urgent).set(key, { sig, run });
  }

  /** Queues a Service's follow-up write: its annotation, then the Events its status change earned. */
  #enqueueMeta(key: string, want: ServiceWant): void {
    this.#enqueue(metaKey(key), JSON.stringify([want.uid, want.pool]), () => this.#writeMeta(key, want), true);
  }

  #next(): [string, Task, Map<string, Task>] | undefined {
    for (const queue of [this.#urgent, this.#later]) {
      for (const [key, task] of queue) if (!this.#running.has(key)) return [key, task, queue];
    }
    return undefined;
  }

  #pump(): void {
    if (this.#stopped) return;
    while (this.#running.size < this.#maxInFlight) {
      const next = this.#next();
      if (next === undefined) return;
      const [key, task, queue] = next;
      queue.delete(key);
      const done = this.#runTask(key, task).finally(() => {
        this.#running.delete(key);
        this.#settleDeferred(key);
        this.#pump();
      });
      this.#running.set(key, { sig: task.sig, done });
    }
  }

  async #runTask(key: string, task: Task): Promise<void> {
    if (!this.#ports.isLeader()) return;
    try {
      await task.run();
      this.#retries.delete(key);
    } catch (error) {
      if (this.#stopped) return; // aborted by stop()
      if (isNotFoundError(error)) {
        this.#retries.delete(key); // gone; its delete event brings the next pass
        return;
      }
      this.#stats.failures++;
      const attempt = (this.#retries.get(key)?.attempt ?? 0) + 1;
      const base = Math.min(this.#retryMaxMs, this.#retryInitialMs * 2 ** Math.min(attempt - 1, 30));
      const delay = Math.round(base * (0.8 + 0.4 * this.#random()));
      const at = this.#clock.now() + delay;
      this.#retries.set(key, { attempt, at });
      const name = error instanceof Error ? error.name : "Error";
      this.#log.warnOnce(
        `alloc-write:${name}:${(error as { status?: unknown }).status ?? ""}`,
        "A write failed; retrying with backoff",
        {
          object: key,
          error,
        },
      );
      this.#log.debug("Write failed", { object: key, attempt, retryInMs: delay, error });
      this.#armRetry(at);
    }
  }

  #armRetry(at: number): void {
    if (this.#stopped || (this.#cancelRetry !== undefined && this.#retryAt <= at)) return;
    this.#cancelRetry?.();
    this.#retryAt = at;
    this.#cancelRetry = this.#clock.setTimer(Math.max(0, at - this.#clock.now()), () => {
      this.#cancelRetry = undefined;
      this.#retryAt = Infinity;
      const now = this.#clock.now();
      let next = Infinity;
      for (const retry of this.#retries.values()) if (retry.at > now) next = Math.min(next, retry.at);
      if (next !== Infinity) this.#armRetry(next);
      this.poke();
    });
  }

  /** First phase: the status subresource (addresses and condition); queues the annotation and Events after. */
  async #writeStatus(key: string, want: ServiceWant): Promise<void> {
    const before = this.#effective(key, this.#ports.service(key));
    if (before === undefined) return;
    let service = before;
    if (wantedStatus(service, want, this.#clock.now()) !== undefined) {
      this.#stats.writes++;
      const written = await this.#ports.updateServiceStatus(
        service,
        (fresh) => wantedStatus(fresh, want, this.#clock.now()),
      );
      if (written !== undefined) {
        this.#wrote(key, service, written);
        service = written;
        this.#statusChanged(key, want, before, service);
      }
    }
    if (annotationPatch(service, want) !== undefined || this.#events.has(key)) this.#enqueueMeta(key, want);
  }

  /** Notes what a status write changed: metrics, a log line, and the Events for the follow-up write. */
  #statusChanged(key: string, want: ServiceWant, before: Service, after: Service): void {
    const beforeIps = ingressTexts(before);
    const ipsChanged = want.ips !== undefined && !sameTexts(beforeIps, want.ips) &&
      sameTexts(ingressTexts(after), want.ips);
    const was = ourCondition(before);
    const now = ourCondition(after);
    const conditionChanged = want.condition !== undefined && want.condition !== null && now !== undefined &&
      (was?.reason !== now.reason || was?.message !== now.message || was?.status !== now.status);
    const events = [...(ipsChanged ? want.onIpsChanged : []), ...(conditionChanged ? want.onConditionChanged : [])];
    if (events.length > 0) this.#events.set(key, [...(this.#events.get(key) ?? []), ...events]);
    const result = want.result;
    if (result && ipsChanged && (result.result !== "released" || (beforeIps?.length ?? 0) > 0)) {
      this.#allocations?.inc({ pool: result.pool, result: result.result });
    } else if (result?.result === "failed" && conditionChanged) {
      this.#allocations?.inc({ pool: result.pool, result: result.result });
    }
    if (ipsChanged && want.ips!.length > 0) {
      this.#log.info("Assigned addresses", { service: key, ips: want.ips, pool: want.pool });
    } else if (ipsChanged) {
      this.#log.info("Released addresses", { service: key, ips: beforeIps });
    }
    if (conditionChanged && want.condition?.status === "False") {
      this.#log.info("Service left pending", {
        service: key,
        reason: want.condition.reason,
        why: want.condition.message,
      });
    }
  }

  /** Second phase: the pool annotation, then the Events the status change earned. */
  async #writeMeta(key: string, want: ServiceWant): Promise<void> {
    let service = this.#effective(key, this.#ports.service(key));
    if (service === undefined) {
      this.#events.delete(key);
      return;
    }
    const patch = annotationPatch(service, want);
    if (patch !== undefined) {
      this.#stats.writes++;
      const written = await this.#ports.patchServiceAnnotations(service, patch);
      this.#wrote(key, service, written);
      service = written;
    }
    const events = this.#events.get(key) ?? [];
    this.#events.delete(key);
    // Not awaited: the recorder queues Events behind a few writes of its own and never rejects, and waiting here
    // would hold this write slot (and the annotations behind it) for as long as that queue is.
    for (const event of events) {
      this.#ports.recordEvent(service, event).catch((error) =>
        this.#log.warnOnce(`alloc-event:${event.reason}`, "Recording an Event failed", { error })
      );
    }
  }

  #pools(model: Model, statuses: readonly PoolStatus[], live: Set<string>): void {
    const ports = this.#ports;
    if (!ports.poolObject || !ports.writePoolStatus) return;
    const write = ports.writePoolStatus.bind(ports);
    const read = ports.poolObject.bind(ports);
    const byName = new Map(statuses.map((s) => [s.name, s]));
    for (const pool of model.pools) {
      if (pool.source !== "cluster") continue;
      const key = `\u0000pool/${pool.ref.namespace}/${pool.ref.name}`;
      const object = this.#effective(key, read(pool));
      const status = byName.get(pool.name);
      if (object === undefined || status === undefined) continue;
      const want = poolFields(status);
      if (samePoolStatus(object, want)) continue;
      live.add(key);
      this.#enqueue(key, JSON.stringify(want), async () => {
        const current = this.#effective(key, read(pool));
        if (current === undefined || samePoolStatus(current, want)) return;
        this.#stats.writes++;
        this.#wrote(key, current, await write(current, want));
      }, true);
    }
  }

  #configurationState(model: Model, live: Set<string>): void {
    const ports = this.#ports;
    if (!ports.configurationState || !ports.writeConfigurationState) return;
    const read = ports.configurationState.bind(ports);
    const write = ports.writeConfigurationState.bind(ports);
    const key = "\u0000configurationstate";
    const cached = read();
    if (cached === undefined) return;
    const current = this.#effectiveOrNull(key, cached);
    const want = configurationState(model, { now: kubeTime(this.#clock.now()) });
    if (sameConfigState(current, want)) return;
    live.add(key);
    this.#enqueue(key, JSON.stringify([want.result, want.errorSummary]), async () => {
      const cachedNow = read();
      if (cachedNow === undefined) return;
      const fresh = this.#effectiveOrNull(key, cachedNow);
      if (sameConfigState(fresh, want)) return;
      this.#stats.writes++;
      this.#wrote(key, fresh, await write(fresh, want));
    }, true);
  }

  #effectiveOrNull(key: string, cached: StatusObject | null): StatusObject | null {
    return this.#effective(key, cached ?? undefined) ?? null;
  }

  #metrics(model: Model, statuses: readonly PoolStatus[], pending: number): void {
    this.#pending?.set(undefined, pending);
    const gauge = this.#poolAddresses;
    if (!gauge) return;
    gauge.reset();
    const byName = new Map(model.pools.map((p) => [p.name, p]));
    for (const s of statuses) {
      const pool = byName.get(s.name);
      for (const family of [4, 6] as const) {
        if (!pool || pool.ranges[family].length === 0) continue;
        const labels = { pool: s.name, family: FAMILY_LABEL[family] };
        gauge.set({ ...labels, state: "assigned" }, family === 4 ? s.assignedIPv4 : s.assignedIPv6);
        gauge.set({ ...labels, state: "available" }, family === 4 ? s.availableIPv4 : s.availableIPv6);
      }
    }
  }
}
