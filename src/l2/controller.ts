/**
 * The Layer 2 controller of one node: from the cached cluster state and the liveness view it elects an owner for
 * every Service, and drives this node's responders so that it answers exactly for the addresses it owns.
 *
 * Level-triggered: {@link L2Controller.poke} (on any cache change, liveness change or interface change) schedules
 * one reconcile (urgent pokes, from liveness, at once; others at most every `minIntervalMs`, or three times the last
 * reconcile's cost if longer, so a storm of updates on a large cluster costs a bounded share of CPU), which
 * recomputes everything from the inputs and applies the difference at once: `withdraw` for addresses lost,
 * `announce` for addresses gained (the responder sends the gratuitous burst). Only then are the
 * changes handed to the publisher (Events, ServiceL2Status objects, log lines), which must not block: the API
 * server is never between a peer's death and our gratuitous ARP.
 *
 * Two nodes never both own an address in steady state, because every instance computes the same election from the
 * same inputs. Inputs can differ for a moment: a heartbeat view changes on one node up to one heartbeat interval
 * before another (a death is seen by every peer within the same ~200 ms window), and informer caches lag each other
 * by the API server's watch latency. During such a window two nodes may answer at once, or none; it closes as soon as
 * the inputs agree. An address shared by several Services (allow-shared-ip) is decided by the Service with the
 * smallest "namespace/name" key that has an owner, so every node resolves sharing the same way.
 *
 * When a peer comes back after being dead (a partition healed, or it restarted), or its heartbeats resume after a
 * shorter silence (a link flap on either side), the addresses we keep are re-announced (`refresh`), so a client that
 * learned another MAC meanwhile is corrected.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import type { EndpointSlice, Node, Service } from "../k8s/types.ts";
import { type Clock, monotonicClock } from "./clock.ts";
import {
  createElector,
  type Election,
  ElectionCache,
  type ElectionContext,
  objectKey,
  type PeerState,
} from "./election.ts";

/** What the responders must provide (the daemon routes IPv4 to the ARP responder, IPv6 to the NDP one). */
export interface VipAnnouncer {
  /** Starts answering for `ip` (on `interfaces`, or every interface when omitted) and sends the takeover burst. */
  announce(ip: string, options: { interfaces?: readonly string[] }): void;
  /** Stops answering for `ip` at once. */
  withdraw(ip: string): void;
  /** Sends the takeover burst again for an address still owned (after a partition healed); optional. */
  refresh?(ip: string): void;
}

/** A snapshot of everything the election reads, taken from the informer caches and liveness at reconcile time. */
export interface L2Inputs {
  /** The validated configuration. */
  readonly model: ElectionContext["model"];
  /** Services (all of them; others than LoadBalancer and other classes are skipped). */
  readonly services: Iterable<Service>;
  /** Node objects. */
  readonly nodes: readonly Node[];
  /** EndpointSlices of a Service, by "namespace/name". */
  readonly endpointSlices: (serviceKey: string) => readonly EndpointSlice[];
  /** The liveness view (this node included). */
  readonly peers: ReadonlyMap<string, PeerState>;
}

/** A change in what this node announces for one Service, for the publisher. */
export interface OwnershipChange {
  /** "announced": this node now answers for the Service (or its interfaces changed); "withdrawn": it stopped. */
  readonly kind: "announced" | "withdrawn";
  /** "namespace/name". */
  readonly service: string;
  /** The Service object, when it still exists (for Events). */
  readonly object?: Service;
  /** Its addresses. */
  readonly ips: readonly string[];
  /** Where this node announces ("all", or the names); empty for withdrawn. */
  readonly interfaces: readonly string[] | "all";
  /** The owner the election chose now (another node, or none, for withdrawn). */
  readonly owner?: string;
  /** For withdrawn: "lost-election", "deleted", or the election's skip reason. */
  readonly reason?: string;
}

/** Most Services announced by one reconcile that get an info line each (see reconcile). */
const LOG_EACH_SERVICE = 20;

/** Options for {@link createL2Controller}. */
export interface L2ControllerOptions {
  /** This node's name. */
  readonly nodeName: string;
  /** Reads the current inputs. */
  readonly read: () => L2Inputs;
  /** The responders. */
  readonly announcer: VipAnnouncer;
  /** Receives ownership changes after the responders were driven; must not block (queue API writes). */
  readonly publish?: (change: OwnershipChange) => void;
  /** Our `spec.loadBalancerClass` (`--lb-class`); undefined serves Services without a class. */
  readonly lbClass?: string;
  /** Ignore the exclude-from-external-load-balancers label. */
  readonly ignoreExcludeLabel?: boolean;
  /** Least time between two reconciles caused by non-urgent pokes, ms; default 100. */
  readonly minIntervalMs?: number;
  /**
   * Non-urgent reconciles also wait this many times the last reconcile's cost after it started; default 3. A
   * reconcile recomputes every Service, so with 10,000 Services and a stream of updates a fixed interval would keep a
   * core busy; this bounds the share to about 1/spacing while urgent pokes still run at once.
   */
  readonly costSpacing?: number;
  /** Clock for coalescing pokes; default the monotonic one. */
  readonly clock?: Clock;
  /** Log. */
  readonly log?: Logger;
  /** Metrics. */
  readonly metrics?: Registry;
}

/** What one reconcile did. */
export interface ReconcileSummary {
  /** Addresses announced (newly owned or interfaces changed). */
  readonly announced: readonly string[];
  /** Addresses withdrawn. */
  readonly withdrawn: readonly string[];
  /** Addresses re-announced after a peer came back. */
  readonly refreshed: readonly string[];
}

/** The running controller. */
export interface L2Controller {
  /**
   * Schedules a reconcile (coalesced: many pokes, one reconcile). `urgent` (liveness changes: the failover path) runs
   * it at once; otherwise it runs no sooner than `minIntervalMs` after the previous one.
   */
  poke(urgent?: boolean): void;
  /** Reconciles now. */
  reconcile(): ReconcileSummary;
  /** The elections of the last reconcile, sorted by Service, for `metallite status`. */
  elections(): readonly Election[];
  /** Addresses this node answers for, with their interfaces ("all" or names). */
  owned(): ReadonlyMap<string, readonly string[] | "all">;
  /** Withdraws every address (shutdown) and stops reacting to pokes. */
  stop(): void;
}

interface Desired {
  interfaces: readonly string[] | "all";
}

function sameInterfaces(a: readonly string[] | "all", b: readonly string[] | "all"): boolean {
  if (a === "all" || b === "all") return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function mergeInterfaces(a: readonly string[] | "all", b: readonly string[] | "all"): readonly string[] | "all" {
  if (a === "all" || b === "all") return "all";
  return [...new Set([...a, ...b])].sort();
}

/**
 * Creates the controller. Wire `poke` to every informer, to liveness' `onChange` and to interface changes.
 *
 * @example
 * ```ts
 * const controller = createL2Controller({ nodeName, read: () => snapshot(), announcer, publish: (c) => queue(c) });
 * liveness = createLiveness({ ..., onChange: () => controller.poke(true) });
 * ```
 */
export function createL2Controller(options: L2ControllerOptions): L2Controller {
  const clock = options.clock ?? monotonicClock;
  const log = (options.log ?? silentLogger).with({ part: "l2" });
  const ownedGauge = options.metrics?.gauge("metallite_l2_owned_addresses", "Addresses this node answers for");
  const changes = options.metrics?.counter(
    "metallite_l2_ownership_changes_total",
    "Addresses this node started or stopped answering for",
    ["change"],
  );
  const errors = options.metrics?.counter("metallite_l2_reconcile_errors_total", "Reconciles that failed");

  const owned = new Map<string, Desired>();
  // Per Service we announce: its IPs and interfaces, to publish changes per Service.
  const announcedServices = new Map<string, { ips: readonly string[]; interfaces: readonly string[] | "all" }>();
  let lastElections: Election[] = [];
  const cache = new ElectionCache();
  let previousPeers = new Map<string, boolean>();
  let previousResumptions = new Map<string, number>();
  // Peers seen alive at least once: only their return is a revival (a node joining for the first time is not).
  const everAlive = new Set<string>();
  let cancelPoke: (() => void) | undefined;
  let pokeDueAt = Infinity;
  let lastReconcileAt = -Infinity;
  let lastCost = 0;
  const minIntervalMs = options.minIntervalMs ?? 100;
  const costSpacing = options.costSpacing ?? 3;
  let stopped = false;

  function ours(service: Service): boolean {
    const cls = service.spec?.loadBalancerClass;
    return options.lbClass === undefined ? cls === undefined || cls === null : cls === options.lbClass;
  }

  function safePublish(change: OwnershipChange): void {
    if (!options.publish) return;
    try {
      options.publish(change);
    } catch (error) {
      log.warnOnce(`publish:${String(error)}`, "publishing an ownership change failed", { error });
    }
  }

  function reconcile(): ReconcileSummary {
    if (stopped) return { announced: [], withdrawn: [], refreshed: [] };
    const inputs = options.read();
    const elector = createElector({
      model: inputs.model,
      nodes: inputs.nodes,
      peers: inputs.peers,
      endpointSlices: inputs.endpointSlices,
      cache,
      ...(options.ignoreExcludeLabel !== undefined ? { ignoreExcludeLabel: options.ignoreExcludeLabel } : {}),
    });
    const services = new Map<string, Service>();
    for (const service of inputs.services) {
      if (typeof service?.metadata?.name !== "string" || !ours(service)) continue;
      services.set(objectKey(service), service);
    }
    const keys = [...services.keys()].sort();
    const elections = keys.map((k) => elector.elect(services.get(k)!));
    cache.sweep();

    // Each address is decided by the first Service (by key) that has an owner for it.
    const deciding = new Map<string, Election>();
    for (const e of elections) {
      if (e.owner === undefined) continue;
      for (const ip of e.ips) if (!deciding.has(ip)) deciding.set(ip, e);
    }
    const desired = new Map<string, Desired>();
    const mine = new Map<string, { ips: string[]; interfaces: readonly string[] | "all" }>();
    for (const e of elections) {
      if (e.owner !== options.nodeName) continue;
      const ips = e.ips.filter((ip) => deciding.get(ip) === e || deciding.get(ip)?.owner === options.nodeName);
      if (ips.length === 0) continue;
      mine.set(e.service, { ips, interfaces: e.interfaces });
      for (const ip of ips) {
        const d = desired.get(ip);
        desired.set(ip, { interfaces: d ? mergeInterfaces(d.interfaces, e.interfaces) : e.interfaces });
      }
    }

    // Apply: withdraw first, so an address never has two interface sets at once, then announce.
    const withdrawn: string[] = [];
    const announced: string[] = [];
    for (const ip of [...owned.keys()]) {
      if (desired.has(ip)) continue;
      owned.delete(ip);
      withdrawn.push(ip);
      try {
        options.announcer.withdraw(ip);
      } catch (error) {
        log.error("withdrawing an address failed", { ip, error });
      }
    }
    for (const [ip, d] of desired) {
      const had = owned.get(ip);
      if (had && sameInterfaces(had.interfaces, d.interfaces)) continue;
      owned.set(ip, d);
      announced.push(ip);
      try {
        options.announcer.announce(ip, d.interfaces === "all" ? {} : { interfaces: d.interfaces });
      } catch (error) {
        log.error("announcing an address failed", { ip, error });
      }
    }

    // A peer back from the dead may have answered for our addresses meanwhile: re-announce what we kept.
    const refreshed: string[] = [];
    const peersNow = new Map<string, boolean>();
    for (const [name, p] of inputs.peers) peersNow.set(name, p.alive);
    const resumptionsNow = new Map<string, number>();
    for (const [name, p] of inputs.peers) resumptionsNow.set(name, p.resumptions ?? 0);
    const revived =
      [...peersNow].some(([name, alive]) =>
        name !== options.nodeName && alive && previousPeers.get(name) !== true && everAlive.has(name)
      ) || [...resumptionsNow].some(([name, count]) => count > (previousResumptions.get(name) ?? count));
    previousResumptions = resumptionsNow;
    for (const [name, alive] of peersNow) if (alive) everAlive.add(name);
    previousPeers = peersNow;
    if (revived && options.announcer.refresh) {
      const fresh = new Set(announced);
      for (const ip of owned.keys()) {
        if (fresh.has(ip)) continue;
        refreshed.push(ip);
        try {
          options.announcer.refresh(ip);
        } catch (error) {
          log.error("re-announcing an address failed", { ip, error });
        }
      }
    }

    ownedGauge?.set(undefined, owned.size);
    if (announced.length) changes?.inc({ change: "announced" }, announced.length);
    if (withdrawn.length) changes?.inc({ change: "withdrawn" }, withdrawn.length);

    // Publish per Service, after the wire is right.
    const electionByKey = new Map(elections.map((e) => [e.service, e]));
    for (const [key, was] of [...announcedServices]) {
      if (mine.has(key)) continue;
      announcedServices.delete(key);
      const e = electionByKey.get(key);
      const reason = !services.has(key) ? "deleted" : e?.skipped ?? "lost-election";
      log.info("stopped announcing service", { service: key, ips: was.ips, reason, owner: e?.owner });
      safePublish({
        kind: "withdrawn",
        service: key,
        ...(services.has(key) ? { object: services.get(key)! } : {}),
        ips: was.ips,
        interfaces: [],
        ...(e?.owner !== undefined ? { owner: e.owner } : {}),
        reason,
      });
    }
    const fresh: [string, { ips: string[]; interfaces: readonly string[] | "all" }][] = [];
    for (const entry of mine) {
      const was = announcedServices.get(entry[0]);
      const now = entry[1];
      if (was && was.ips.join() === now.ips.join() && sameInterfaces(was.interfaces, now.interfaces)) continue;
      fresh.push(entry);
    }
    // A line per Service reads well for a few; the first reconcile over 10,000 Services would spend a third of its
    // time writing 10,000 lines. Past LOG_EACH_SERVICE, one summary line, and the details at debug level.
    const detail = fresh.length > LOG_EACH_SERVICE ? log.debug.bind(log) : log.info.bind(log);
    if (fresh.length > LOG_EACH_SERVICE) {
      log.info("announcing services", { count: fresh.length, first: fresh.slice(0, 3).map(([key]) => key) });
    }
    for (const [key, now] of fresh) {
      announcedServices.set(key, now);
      detail("announcing service", { service: key, ips: now.ips, interfaces: now.interfaces });
      safePublish({
        kind: "announced",
        service: key,
        object: services.get(key)!,
        ips: now.ips,
        interfaces: now.interfaces,
        owner: options.nodeName,
      });
    }
    lastElections = elections;
    return { announced, withdrawn, refreshed };
  }

  function guardedReconcile(): void {
    lastReconcileAt = clock.now();
    try {
      reconcile();
      lastCost = clock.now() - lastReconcileAt;
    } catch (error) {
      errors?.inc();
      log.error("layer 2 reconcile failed; retrying in 1 s", { error });
      if (!stopped && !cancelPoke) schedule(1000);
    }
  }

  function schedule(delayMs: number): void {
    const at = clock.now() + delayMs;
    if (cancelPoke && pokeDueAt <= at) return;
    cancelPoke?.();
    pokeDueAt = at;
    cancelPoke = clock.setTimer(delayMs, () => {
      cancelPoke = undefined;
      pokeDueAt = Infinity;
      guardedReconcile();
    });
  }

  return {
    poke(urgent = false) {
      if (stopped) return;
      const gap = Math.max(minIntervalMs, costSpacing * lastCost);
      schedule(urgent ? 0 : Math.max(0, lastReconcileAt + gap - clock.now()));
    },
    reconcile,
    elections: () => lastElections,
    owned: () => new Map([...owned].map(([ip, d]) => [ip, d.interfaces])),
    stop() {
      if (stopped) return;
      stopped = true;
      cancelPoke?.();
      cancelPoke = undefined;
      for (const ip of owned.keys()) {
        try {
          options.announcer.withdraw(ip);
        } catch (error) {
          log.error("withdrawing an address failed", { ip, error });
        }
      }
      owned.clear();
      ownedGauge?.set(undefined, 0);
    },
  };
}

/** Routes IPv4 addresses to one announcer (ARP) and IPv6 ones to another (NDP). */
export function announcerByFamily(v4: VipAnnouncer, v6: VipAnnouncer): VipAnnouncer {
  const pick = (ip: string) => (ip.includes(":") ? v6 : v4);
  return {
    announce: (ip, o) => pick(ip).announce(ip, o),
    withdraw: (ip) => pick(ip).withdraw(ip),
    refresh: (ip) => pick(ip).refresh?.(ip),
  };
}
