/**
 * Address-conflict detection before allocation: an address of a Layer 2 pool is probed on the LAN (RFC 5227 ARP
 * probe, or IPv6 duplicate address detection; the probe is injected) before it is handed out, and skipped while
 * another host answers for it.
 *
 * ## The loop with the allocator
 * The allocator is pure and synchronous, so it cannot wait for a probe. Its `isAddressUsable(ip, pool)` hook is
 * {@link ConflictDetector.check}, a cache lookup:
 * - a fresh "free" result says usable;
 * - a fresh "in use" result says not usable, with the MAC that answered;
 * - no result yet starts a probe (all of one allocation pass run concurrently) and says not usable for now,
 *   with `probing: true`, so the allocator moves on and leaves the Service pending.
 * When probes finish, `onSettled` fires once (coalesced) and the allocator runs again: the address it tried first
 * is now known, so it is handed out, or skipped for the next one, whose probe ran in the same batch. An allocation
 * thus waits for one round of probes, about one second (the probe's own listening time), whatever the number of
 * conflicting addresses in its way (up to `maxConcurrent` per round).
 *
 * The allocator's controller should not turn a `probing` refusal into a Warning Event: only refusals with a MAC are
 * conflicts. A free result is trusted for `freeForMs` (default 60 s) and then probed again before use; an address in
 * use is probed again every `reprobeAfterMs` (default 60 s) until it is free, and stays in the
 * `metallite_address_conflicts{pool,ip,mac}` gauge meanwhile. A probe that fails or hangs (no socket, no
 * permission) counts as free: detection is an extra safety that must not stop allocation, so failures are counted
 * (`metallite_address_probe_errors_total`) and logged once. Only the allocator leader probes, on its own LAN.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import { type Clock, monotonicClock } from "./clock.ts";

/** The reason given while an address is being probed (the allocator's controller should not report it). */
export const PROBING_REASON = "address-conflict probe in progress";

/** What a probe found: a MAC when another host uses the address. */
export interface ProbeOutcome {
  /** The MAC that answered (or announced, or probed for the address), as aa:bb:cc:dd:ee:ff. */
  readonly mac?: string;
}

/** The verdict for one address, in the shape of the allocator's `AddressVerdict`. */
export type ConflictVerdict =
  | { readonly usable: true }
  | {
    readonly usable: false;
    /** One line for the pending message and the Warning Event. */
    readonly reason: string;
    /** The MAC that answered, when the address is in use. */
    readonly mac?: string;
    /** True while the first probe of the address runs (not a conflict yet). */
    readonly probing?: boolean;
  };

/** One address found in use, for status and Events. */
export interface AddressConflictReport {
  /** The address. */
  readonly ip: string;
  /** Its pool ("" when unknown). */
  readonly pool: string;
  /** The MAC that answered. */
  readonly mac: string;
  /** When it was first seen in use (detector clock, ms). */
  readonly since: number;
}

/** Options for {@link createConflictDetector}. */
export interface ConflictDetectorOptions {
  /** Probes one address on the LAN; resolves within about a second. */
  readonly probe: (ip: string) => Promise<ProbeOutcome>;
  /** Called once after a batch of probes changed what `check` says; re-run allocation then. */
  readonly onSettled?: () => void;
  /** Clock; default the monotonic one. */
  readonly clock?: Clock;
  /** How long an "in use" result stands before the address is probed again, ms; default 60000. */
  readonly reprobeAfterMs?: number;
  /** How long a "free" result is trusted, ms; default 60000. */
  readonly freeForMs?: number;
  /** A probe not settled after this long counts as free (and as an error), ms; default 2000. */
  readonly probeTimeoutMs?: number;
  /** Most probes at once; further unknown addresses wait for the next pass. Default 64. */
  readonly maxConcurrent?: number;
  /** Most addresses remembered. Default 65536. */
  readonly maxEntries?: number;
  /** Log. */
  readonly log?: Logger;
  /** Metrics. */
  readonly metrics?: Registry;
}

/** The running detector. */
export interface ConflictDetector {
  /** The allocator's `isAddressUsable` hook: answers from the cache at once, starting a probe when needed. */
  check(ip: string, pool?: string): ConflictVerdict;
  /** Addresses currently known to be in use by another host, sorted by address text. */
  conflicts(): AddressConflictReport[];
  /** Number of probes running. */
  readonly probing: number;
  /** Cancels timers and waits for running probes to settle. */
  stop(): Promise<void>;
}

interface Entry {
  pool: string;
  state: "probing" | "free" | "in-use";
  until: number;
  mac?: string;
  since?: number;
  cancelReprobe?: (() => void) | undefined;
}

/**
 * Creates a conflict detector around an injected probe.
 *
 * @example
 * ```ts
 * const detector = createConflictDetector({
 *   probe: async (ip) => { const r = await probeArp(ip, { socket }); return r.conflict ? { mac: r.mac } : {}; },
 *   onSettled: () => allocator.poke(),
 *   metrics,
 * });
 * allocateAll({ ..., isAddressUsable: (ip, pool) => detector.check(ip, pool) });
 * ```
 */
export function createConflictDetector(options: ConflictDetectorOptions): ConflictDetector {
  const clock = options.clock ?? monotonicClock;
  const log = (options.log ?? silentLogger).with({ part: "conflict" });
  const reprobeAfterMs = options.reprobeAfterMs ?? 60_000;
  const freeForMs = options.freeForMs ?? 60_000;
  const probeTimeoutMs = options.probeTimeoutMs ?? 2000;
  const maxConcurrent = options.maxConcurrent ?? 64;
  const maxEntries = options.maxEntries ?? 65_536;
  const gauge = options.metrics?.gauge(
    "metallite_address_conflicts",
    "Pool addresses another host on the LAN answers for (1 per address, labelled with the MAC)",
    ["pool", "ip", "mac"],
  );
  const probes = options.metrics?.counter("metallite_address_probes_total", "Address-conflict probes, by result", [
    "result",
  ]);
  const errors = options.metrics?.counter(
    "metallite_address_probe_errors_total",
    "Address-conflict probes that failed or timed out (counted as free)",
  );
  const entries = new Map<string, Entry>();
  const running = new Set<Promise<void>>();
  let settleTimer: (() => void) | undefined;
  let stopped = false;

  function settled(): void {
    if (stopped || settleTimer || !options.onSettled) return;
    // Coalesce a batch of probes finishing together into one allocation pass.
    settleTimer = clock.setTimer(0, () => {
      settleTimer = undefined;
      if (!stopped) options.onSettled?.();
    });
  }

  function evictIfFull(now: number): void {
    if (entries.size < maxEntries) return;
    for (const [ip, e] of entries) {
      if (e.state === "free" && e.until <= now) entries.delete(ip);
    }
    if (entries.size < maxEntries) return;
    // Still full: drop the oldest free results, never conflicts or running probes.
    for (const [ip, e] of entries) {
      if (entries.size < maxEntries) break;
      if (e.state === "free") entries.delete(ip);
    }
  }

  function startProbe(ip: string, pool: string, previous?: Entry): void {
    const entry: Entry = previous ?? { pool, state: "probing", until: Infinity };
    if (!previous) entries.set(ip, entry);
    else entry.pool = pool || entry.pool;
    let cancelTimeout: (() => void) | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      cancelTimeout = clock.setTimer(probeTimeoutMs, () => resolve("timeout"));
    });
    let attempt: Promise<ProbeOutcome>;
    try {
      attempt = options.probe(ip);
    } catch (error) {
      attempt = Promise.reject(error);
    }
    const done = Promise.race([attempt, timeout]).then(
      (outcome) => finish(ip, entry, outcome),
      (error) => finish(ip, entry, error instanceof Error ? error : new Error(String(error))),
    ).finally(() => {
      cancelTimeout?.();
      running.delete(done);
    });
    running.add(done);
  }

  function finish(ip: string, entry: Entry, outcome: ProbeOutcome | "timeout" | Error): void {
    if (stopped || entries.get(ip) !== entry) return;
    const now = clock.now();
    const wasInUse = entry.state === "in-use";
    const oldMac = entry.mac;
    if (outcome === "timeout" || outcome instanceof Error) {
      errors?.inc();
      probes?.inc({ result: "error" });
      const why = outcome === "timeout" ? `no result within ${probeTimeoutMs} ms` : outcome.message;
      log.warnOnce(`probe-error:${why}`, "address-conflict probe failed; treating the address as free", { ip, why });
    }
    const mac = typeof outcome === "object" && !(outcome instanceof Error) ? outcome.mac : undefined;
    if (mac !== undefined) {
      probes?.inc({ result: "in-use" });
      entry.state = "in-use";
      entry.mac = mac;
      entry.since ??= now;
      entry.until = now + reprobeAfterMs;
      if (oldMac !== undefined && oldMac !== mac) gauge?.remove({ pool: entry.pool, ip, mac: oldMac });
      gauge?.set({ pool: entry.pool, ip, mac }, 1);
      if (!wasInUse || oldMac !== mac) {
        log.warn("address is in use by another host on the LAN; skipping it", { ip, pool: entry.pool, mac });
      }
      entry.cancelReprobe?.();
      entry.cancelReprobe = clock.setTimer(reprobeAfterMs, () => {
        entry.cancelReprobe = undefined;
        if (!stopped && entries.get(ip) === entry) startProbe(ip, entry.pool, entry);
      });
    } else {
      if (outcome !== "timeout" && !(outcome instanceof Error)) probes?.inc({ result: "free" });
      if (wasInUse) {
        if (oldMac !== undefined) gauge?.remove({ pool: entry.pool, ip, mac: oldMac });
        log.info("address no longer in use by another host", { ip, pool: entry.pool, mac: oldMac });
      }
      entry.state = "free";
      delete entry.mac;
      delete entry.since;
      entry.until = now + freeForMs;
    }
    // A re-probe that finds the same host changes nothing the allocator would see.
    if (!(wasInUse && entry.state === "in-use")) settled();
  }

  return {
    check(ip, pool = "") {
      const now = clock.now();
      const entry = entries.get(ip);
      if (entry) {
        if (entry.state === "in-use") {
          // A re-probe may be running; the address stays refused until it comes back free.
          return { usable: false, reason: `MAC ${entry.mac} answers for it`, mac: entry.mac! };
        }
        if (entry.state === "free" && entry.until > now) return { usable: true };
        if (entry.state === "probing") return { usable: false, reason: PROBING_REASON, probing: true };
        entries.delete(ip); // an expired free result: probe again before use
      }
      if (stopped) return { usable: true };
      if (running.size >= maxConcurrent) return { usable: false, reason: PROBING_REASON, probing: true };
      evictIfFull(now);
      startProbe(ip, pool);
      return { usable: false, reason: PROBING_REASON, probing: true };
    },
    conflicts() {
      return [...entries].filter(([, e]) => e.state === "in-use").map(([ip, e]) => ({
        ip,
        pool: e.pool,
        mac: e.mac!,
        since: e.since!,
      })).sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    },
    get probing() {
      return running.size;
    },
    async stop() {
      stopped = true;
      settleTimer?.();
      settleTimer = undefined;
      for (const e of entries.values()) e.cancelReprobe?.();
      await Promise.allSettled([...running]);
    },
  };
}
