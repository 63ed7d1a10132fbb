/**
 * Recording core/v1 Events about objects (a Service left pending, a rejected pool...), aggregated and rate limited
 * like client-go's recorder, so a flapping object produces one Event with a growing count, not a flood.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { ResourceClient } from "./api.ts";
import { type Clock, systemClock } from "./clock.ts";
import { isNotFound } from "./errors.ts";
import { Limiter } from "./_limiter.ts";
import type { KubeEvent } from "./types.ts";

/** The object an Event is about. */
export interface InvolvedObject {
  /** Kind, e.g. "Service". */
  kind: string;
  /** apiVersion, e.g. "v1". */
  apiVersion?: string;
  /** Name. */
  name: string;
  /** Namespace; cluster-scoped objects get their Events in "default", as kubectl expects. */
  namespace?: string;
  /** UID, so Events of a deleted and re-created object are told apart. */
  uid?: string;
}

/** What happened. */
export interface EventDetails {
  /** "Normal" or "Warning". */
  type: "Normal" | "Warning";
  /** Short CamelCase reason, e.g. "AllocationFailed". */
  reason: string;
  /** One line for humans (cut to 1024 characters). */
  message: string;
}

/** Options for {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** The Events resource client. */
  events: ResourceClient<KubeEvent>;
  /** source.component / reportingComponent, e.g. "metallite-controller". */
  component: string;
  /** source.host / reportingInstance, e.g. the node name. */
  host?: string;
  /** Clock; default the system clock. */
  clock?: Clock;
  /** An identical event within this window updates the existing Event; default 600,000 ms (10 min). */
  aggregateWindowMs?: number;
  /** Writes allowed at once per involved object; default 10. */
  burst?: number;
  /** One more write per involved object every this many ms; default 30,000. */
  refillMs?: number;
  /** Most aggregation entries kept (oldest forgotten); default 4,096. */
  maxTracked?: number;
  /**
   * Most Event writes in flight at once; default 2. The rest wait in arrival order, so 1,000 Services announced at
   * once become a queue that trickles out beside the writes that matter (addresses, Leases), not 1,000 requests.
   */
  maxInFlight?: number;
  /** Logger; default silent. */
  log?: Logger;
}

interface Aggregate {
  namespace: string;
  eventName: string | undefined;
  count: number;
  sentCount: number;
  firstTimestamp: string;
  lastSeen: number;
  chain: Promise<void>;
}

interface Bucket {
  tokens: number;
  refilledAt: number;
}

const MAX_MESSAGE = 1024;

/**
 * Records Events. Identical events (same object, type, reason and message) within the window bump `count` and
 * `lastTimestamp` of one Event by PATCH; writes per object are limited by a token bucket, and occurrences that find
 * no token are still counted and sent with the next write. `record` never throws.
 *
 * @example
 * ```ts
 * const recorder = new EventRecorder({ events: api.events, component: "metallite-controller", host: nodeName });
 * await recorder.record({ kind: "Service", apiVersion: "v1", namespace: "default", name: "web" },
 *   { type: "Warning", reason: "AllocationFailed", message: "pool \"lan\" is exhausted" });
 * ```
 */
export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #aggregates = new Map<string, Aggregate>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #limiter: Limiter;
  #sequence = 0;
  /** Occurrences not written at once because of the rate limit (they are folded into a later count). */
  throttled = 0;
  /** Writes that failed. */
  failed = 0;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLogger;
    this.#limiter = new Limiter(options.maxInFlight ?? 2);
  }

  /** Event writes waiting for their turn (see {@link EventRecorderOptions.maxInFlight}). */
  get queued(): number {
    return this.#limiter.waiting;
  }

  #take(objectKey: string, now: number): boolean {
    const burst = this.#options.burst ?? 10;
    const refillMs = this.#options.refillMs ?? 30_000;
    let bucket = this.#buckets.get(objectKey);
    if (bucket === undefined) {
      bucket = { tokens: burst, refilledAt: now };
      this.#bound(this.#buckets);
    } else {
      this.#buckets.delete(objectKey);
      const earned = Math.floor((now - bucket.refilledAt) / refillMs);
      if (earned > 0) {
        bucket.tokens = Math.min(burst, bucket.tokens + earned);
        bucket.refilledAt += earned * refillMs;
      }
    }
    this.#buckets.set(objectKey, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  #bound(map: Map<string, unknown>): void {
    const max = this.#options.maxTracked ?? 4096;
    while (map.size >= max) {
      const oldest = map.keys().next();
      if (oldest.done) break;
      map.delete(oldest.value);
    }
  }

  /** Records one occurrence; resolves when it is written, throttled or has failed (never rejects). */
  record(object: InvolvedObject, details: EventDetails): Promise<void> {
    const now = this.#clock.now();
    const namespace = object.namespace || "default";
    const message = details.message.length > MAX_MESSAGE
      ? details.message.slice(0, MAX_MESSAGE - 1) + "…"
      : details.message;
    const objectKey = `${object.kind}/${namespace}/${object.name}/${object.uid ?? ""}`;
    const key = `${objectKey}|${details.type}|${details.reason}|${message}`;
    const window = this.#options.aggregateWindowMs ?? 600_000;

    let aggregate = this.#aggregates.get(key);
    if (aggregate !== undefined && now - aggregate.lastSeen > window) aggregate = undefined;
    if (aggregate === undefined) {
      aggregate = {
        namespace,
        eventName: undefined,
        count: 0,
        sentCount: 0,
        firstTimestamp: new Date(now).toISOString().replace(/\.\d+Z$/, "Z"),
        lastSeen: now,
        chain: Promise.resolve(),
      };
      this.#bound(this.#aggregates);
    }
    this.#aggregates.delete(key);
    this.#aggregates.set(key, aggregate);
    aggregate.count++;
    aggregate.lastSeen = now;
    if (!this.#take(objectKey, now)) {
      this.throttled++;
      return aggregate.chain;
    }
    const entry = aggregate;
    // One write at a time per aggregate, so a PATCH never races the CREATE it depends on; occurrences recorded while
    // a write waits for its turn are sent by it (the writes after it find nothing new and send nothing).
    entry.chain = entry.chain.then(() => {
      if (entry.count === entry.sentCount) return;
      return this.#limiter.run(() => this.#write(entry, object, { ...details, message }, now));
    });
    return entry.chain;
  }

  async #write(entry: Aggregate, object: InvolvedObject, details: EventDetails, now: number): Promise<void> {
    if (entry.count === entry.sentCount) return;
    const lastTimestamp = new Date(entry.lastSeen).toISOString().replace(/\.\d+Z$/, "Z");
    const count = entry.count;
    try {
      if (entry.eventName !== undefined) {
        try {
          await this.#options.events.patch(
            { namespace: entry.namespace, name: entry.eventName },
            { count, lastTimestamp },
            "merge",
          );
          entry.sentCount = count;
          return;
        } catch (error) {
          // The Event expired (the API server keeps them about an hour): start a new one.
          if (!isNotFound(error)) throw error;
        }
      }
      // Random bits as well: several nodes record Events about the same Service, and a name taken by another
      // node in the same millisecond would be refused with AlreadyExists and the Event lost.
      const random = Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, "0");
      const name = `${object.name}.${now.toString(16)}${
        (this.#sequence++ % 4096).toString(16).padStart(3, "0")
      }${random}`;
      const involvedObject: KubeEvent["involvedObject"] = { kind: object.kind, name: object.name };
      if (object.apiVersion !== undefined) involvedObject.apiVersion = object.apiVersion;
      if (object.namespace) involvedObject.namespace = object.namespace;
      if (object.uid !== undefined) involvedObject.uid = object.uid;
      const event: KubeEvent = {
        metadata: { name, namespace: entry.namespace },
        involvedObject,
        reason: details.reason,
        message: details.message,
        type: details.type,
        source: this.#options.host === undefined
          ? { component: this.#options.component }
          : { component: this.#options.component, host: this.#options.host },
        firstTimestamp: entry.firstTimestamp,
        lastTimestamp,
        count,
        reportingComponent: this.#options.component,
        reportingInstance: this.#options.host ?? this.#options.component,
      };
      await this.#options.events.create(event);
      entry.eventName = name;
      entry.sentCount = count;
    } catch (error) {
      this.failed++;
      this.#log.warnOnce(`k8s-event:${details.reason}`, "Cannot write a Kubernetes Event", {
        reason: details.reason,
        object: `${object.namespace ?? ""}/${object.name}`,
        error,
      });
    }
  }
}
