/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaselock does it: every write carries the
 * resourceVersion it was based on, so two candidates can never both win, and expiry is judged on the local clock
 * from when a change was last observed, so clock skew between nodes cannot steal a live lease.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { ResourceClient } from "./api.ts";
import { type Clock, sleep, systemClock } from "./clock.ts";
import { isConflict, isNotFound } from "./errors.ts";
import type { Lease } from "./types.ts";

/** Options for {@link LeaseLock}. */
export interface LeaseLockOptions {
  /** The Leases resource client. */
  leases: ResourceClient<Lease>;
  /** Namespace of the Lease. */
  namespace: string;
  /** Name of the Lease, e.g. "metallite-allocator" or "metallite-node-worker1". */
  name: string;
  /** This candidate's identity (node name, or node name plus a process id). */
  identity: string;
  /** How long a holder's claim lasts without renewal; default 15 s. */
  leaseDurationSeconds?: number;
  /** Clock; default the system clock. */
  clock?: Clock;
  /** Labels put on a Lease this lock creates. */
  labels?: Record<string, string>;
  /** Annotations written on every acquire and renewal (e.g. what this holder is configured with). */
  annotations?: () => Record<string, string>;
}

/** Formats a metav1.MicroTime (RFC 3339 with exactly six fractional digits, as the API server parses it). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * One candidate's handle on a Lease.
 *
 * @example
 * ```ts
 * const lock = new LeaseLock({ leases: api.leases, namespace: "metallb-system", name: "metallite-allocator", identity: node });
 * if (await lock.tryAcquireOrRenew()) allocate(); // call again every few seconds
 * ```
 */
export class LeaseLock {
  readonly #options: LeaseLockOptions;
  readonly #clock: Clock;
  readonly #durationMs: number;
  #observed: Lease | undefined;
  #observedKey = "";
  #observedAt = 0;
  #renewedAt = -Infinity;
  #held = false;

  constructor(options: LeaseLockOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const seconds = options.leaseDurationSeconds ?? 15;
    if (!Number.isInteger(seconds) || seconds < 1) {
      throw new RangeError(`Lease duration must be a whole number of seconds ≥ 1, got ${seconds}`);
    }
    this.#durationMs = seconds * 1000;
    if (options.identity === "") throw new TypeError("Lease identity must not be empty");
  }

  /** This candidate's identity. */
  get identity(): string {
    return this.#options.identity;
  }

  /** The holder named in the Lease as last read ("" when free or never read). */
  get holder(): string {
    return this.#observed?.spec?.holderIdentity ?? "";
  }

  /** The Lease as last read or written. */
  get lease(): Lease | undefined {
    return this.#observed;
  }

  /**
   * True while this candidate holds the Lease and its last successful renewal is younger than the lease duration:
   * past that, another candidate may already have taken over, so a holder must stop acting.
   */
  isHeld(): boolean {
    return this.#held && this.#clock.now() - this.#renewedAt < this.#durationMs;
  }

  #observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    const key = `${spec.holderIdentity ?? ""}|${spec.renewTime ?? ""}|${spec.leaseTransitions ?? 0}`;
    if (key !== this.#observedKey) {
      this.#observedKey = key;
      this.#observedAt = this.#clock.now();
    }
    this.#observed = lease;
  }

  #ref() {
    return { namespace: this.#options.namespace, name: this.#options.name };
  }

  /**
   * Takes the Lease when it is free, released or expired, or renews it when held. Returns true when this candidate
   * holds it afterwards. A lost race (409) returns false. Network and other API errors are thrown.
   *
   * A holder whose claim is still valid renews with one write based on the Lease it last wrote, without reading it
   * first (as client-go does since kubernetes/kubernetes#122069): half the requests of an idle daemon. When that write
   * conflicts (someone changed the Lease meanwhile), the Lease is read and judged as usual.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#clock.now();
    if (this.isHeld() && this.#observed !== undefined) {
      try {
        return this.#write(now, await this.#options.leases.update(this.#renewal(this.#observed, now)));
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    return await this.#readAndTry(now);
  }

  /** The Lease `current` as this holder writes it at `now`: renewed (or taken over), with the annotations. */
  #renewal(current: Lease, now: number): Lease {
    const spec = current.spec ?? {};
    const renewing = spec.holderIdentity === this.#options.identity;
    const annotations = this.#options.annotations?.();
    const metadata = annotations
      ? { ...current.metadata, annotations: { ...current.metadata.annotations, ...annotations } }
      : current.metadata;
    return {
      ...current,
      metadata,
      spec: {
        holderIdentity: this.#options.identity,
        leaseDurationSeconds: this.#durationMs / 1000,
        acquireTime: renewing && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (renewing ? 0 : 1),
      },
    };
  }

  /** Records a successful write made at `now`. */
  #write(now: number, written: Lease): boolean {
    this.#observe(written);
    this.#held = true;
    this.#renewedAt = now;
    return true;
  }

  async #readAndTry(now: number): Promise<boolean> {
    const me = this.#options.identity;
    let current: Lease;
    try {
      current = await this.#options.leases.get(this.#ref());
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return await this.#create(now);
    }
    this.#observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const durationMs = typeof spec.leaseDurationSeconds === "number" && spec.leaseDurationSeconds > 0
      ? spec.leaseDurationSeconds * 1000
      : this.#durationMs;
    if (holder !== "" && holder !== me && now - this.#observedAt < durationMs) {
      this.#held = false;
      return false;
    }
    try {
      return this.#write(now, await this.#options.leases.update(this.#renewal(current, now)));
    } catch (error) {
      if (!isConflict(error)) throw error;
      this.#held = false;
      return false;
    }
  }

  async #create(now: number): Promise<boolean> {
    const lease: Lease = {
      metadata: {
        name: this.#options.name,
        namespace: this.#options.namespace,
        ...(this.#options.labels ? { labels: this.#options.labels } : {}),
        ...(this.#options.annotations ? { annotations: this.#options.annotations() } : {}),
      },
      spec: {
        holderIdentity: this.#options.identity,
        leaseDurationSeconds: this.#durationMs / 1000,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      },
    };
    try {
      return this.#write(now, await this.#options.leases.create(lease));
    } catch (error) {
      if (!isConflict(error)) throw error;
      this.#held = false;
      return false;
    }
  }

  /**
   * Gives the Lease up (holder cleared, so another candidate takes it at once instead of waiting for expiry).
   * Returns false when this candidate did not hold it or lost a race.
   */
  async release(): Promise<boolean> {
    if (!this.#held || this.#observed === undefined) return false;
    this.#held = false;
    const spec = this.#observed.spec ?? {};
    if (spec.holderIdentity !== this.#options.identity) return false;
    try {
      const written = await this.#options.leases.update({
        ...this.#observed,
        spec: {
          ...spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: microTime(this.#clock.now()),
        },
      });
      this.#observe(written);
      return true;
    } catch (error) {
      if (isConflict(error) || isNotFound(error)) return false;
      throw error;
    }
  }
}

/** Options for {@link LeaderElector}. */
export interface LeaderElectorOptions {
  /** The lock to contend for. */
  lock: LeaseLock;
  /** Time between attempts, held or not; default 2,000 ms (client-go's retry period). */
  retryPeriodMs?: number;
  /** Called when this candidate becomes the leader. */
  onStartedLeading?: () => void;
  /** Called when it stops being the leader (lost, expired or stopped). */
  onStoppedLeading?: () => void;
  /** Clock; default the system clock. */
  clock?: Clock;
  /** Logger; default silent. */
  log?: Logger;
}

/**
 * Runs a {@link LeaseLock} in a loop: tries every retry period, reports leadership changes, and on stop releases
 * the Lease so a successor takes over without waiting for expiry.
 */
export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #controller: AbortController | undefined;
  #running: Promise<void> | undefined;
  #leading = false;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLogger;
  }

  /** True while leading (the lock is held and fresh). */
  isLeader(): boolean {
    return this.#leading && this.#options.lock.isHeld();
  }

  /** Starts contending in the background. */
  start(): void {
    if (this.#running) return;
    this.#controller = new AbortController();
    this.#running = this.#run(this.#controller.signal);
  }

  /** Stops contending, releases the Lease if held, and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#controller?.abort();
    await this.#running;
    this.#running = undefined;
    if (this.#leading) {
      this.#set(false);
      await this.#options.lock.release().catch((error) => this.#log.warn("Cannot release the Lease", { error }));
    }
  }

  #set(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    try {
      if (leading) this.#options.onStartedLeading?.();
      else this.#options.onStoppedLeading?.();
    } catch (error) {
      this.#log.warn("A leader election callback threw", { error });
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const period = this.#options.retryPeriodMs ?? 2_000;
    while (!signal.aborted) {
      try {
        const held = await this.#options.lock.tryAcquireOrRenew();
        this.#set(held);
      } catch (error) {
        this.#log.warn("Lease update failed", { error, lease: this.#options.lock.identity });
        // Keep leading only while the last renewal is fresh: past its duration another node may have taken over.
        if (!this.#options.lock.isHeld()) this.#set(false);
      }
      await sleep(this.#clock, period, signal);
    }
  }
}
