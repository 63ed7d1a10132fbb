/**
 * Fast liveness of peer metallite instances over direct UDP heartbeats, so the API server is never on the failover
 * path.
 *
 * ## Design
 * - Every instance sends a {@link Heartbeat} every `intervalMs` (default 200 ms) to every peer it knows (the daemon
 *   gives the list: Node names with their InternalIP, or the address a peer's node Lease advertises). Port default
 *   {@link DEFAULT_HEARTBEAT_PORT}, one off memberlist's 7946 so MetalLB speakers and metallite can run side by side
 *   during a migration.
 * - A peer is alive while a valid heartbeat arrived within `deadAfterMs` (default 1000 ms: five heartbeats missed,
 *   scaled up if the peer announces a slower interval). Then it is dead, and the election moves its addresses.
 * - Every datagram is validated: codec checks (length, magic, version, names), the cluster tag (namespace hash), a
 *   known node name, and the order of (incarnation, sequence): a duplicate, reordered or replayed heartbeat is
 *   dropped. Each drop is counted by reason (`metallite_heartbeats_dropped_total`) and logged once.
 * - An optional shared key (`key`) adds an HMAC-SHA256 to every heartbeat; with it, datagrams from hosts without the
 *   key are dropped. It guards against spoofing from outside the LAN and against a misconfigured second cluster; it
 *   does not defend against a host on the LAN, which could as well answer ARP for the addresses itself.
 * - A per-start incarnation (start time and random bits) tells a restart from a delay; a larger incarnation replaces
 *   the old one at once.
 * - Graceful shutdown sends heartbeats flagged `leaving`: peers take over at once instead of after `deadAfterMs`.
 * - Start-up: an instance says `starting` in its heartbeats, and counts itself alive (a candidate) only once it has
 *   listened for `startupWindowMs` (default 600 ms, three intervals) and the daemon called {@link Liveness.setReady}
 *   (caches synced). Peers do not count a starting instance, so they keep answering for its addresses until the
 *   moment it is ready; it never answers before it has heard the others, so a restart causes no double answer.
 * - If this process stalls (a long garbage collection, a huge relist), queued heartbeats are read before any peer is
 *   declared dead: a timer that fires more than one interval late postpones death decisions by one interval.
 * - Node Leases (written by the daemon at most every 10 s) only bootstrap the peer list and feed `metallite status`.
 *   A peer whose heartbeats stop is dead for the election even while its Lease is fresh.
 *
 * ## Failover budget (defaults)
 * SIGKILL of the owner → peers declare it dead 800-1000 ms later (its last heartbeat left 0-200 ms before the kill,
 * plus 1000 ms of silence) → the controller reconciles at once (an urgent poke; ~75 ms for 10,000 Services on 10
 * nodes) and the responder sends the first gratuitous ARP / unsolicited NA → the client's cache points at the new
 * owner: about 1.0 s at the median and 1.1-1.2 s at worst, inside the 2 s / 3 s goal with room for one lost frame
 * (the ARP responder repeats its announcement 0.5 s and 1 s later). A graceful stop moves addresses within a few ms.
 * Faster settings (`intervalMs` 100, `deadAfterMs` 500) halve this at the price of more false deaths on a busy node.
 *
 * ## When the API server is slow or down
 * Heartbeats still decide liveness: owned addresses keep being answered, a dead node's addresses still move. Only
 * changes that need new objects (new Services, endpoint changes) wait for the API server.
 *
 * ## Network partitions
 * Each side hears only itself, so each side elects an owner among its own nodes. On the LAN segment each side
 * reaches, its owner answers; when the partition is of the LAN itself, each client sees one answer. When only
 * the heartbeats are cut (UDP port filtered) while the LAN is whole, two nodes answer for the same address for as
 * long as that lasts; metallite warns when a peer's Lease is fresh but its heartbeats are missing. An asymmetric cut
 * (A hears B, B does not hear A) lets both A and B answer for the addresses A wins in A's view, until heard again.
 * When the partition heals, heartbeats resume within one interval (200 ms): the losers withdraw at once, and the
 * owners re-send gratuitous ARPs so clients that learned the wrong MAC meanwhile are corrected.
 * An instance whose own link goes down hears nobody and elects itself for everything, but cannot be heard; when the
 * link returns it withdraws within about one interval as the others' heartbeats arrive.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import { type Clock, monotonicClock } from "./clock.ts";
import type { PeerState } from "./election.ts";
import {
  clusterHash,
  decodeHeartbeat,
  encodeHeartbeat,
  MAX_HEARTBEAT_INTERFACES,
  newIncarnation,
} from "./heartbeat.ts";

/** The default UDP port for heartbeats (memberlist's 7946 + 1, so MetalLB's speakers can run beside us). */
export const DEFAULT_HEARTBEAT_PORT = 7947;
/** Default interval between heartbeats, ms. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 200;
/** Default silence after which a peer is dead, ms. */
export const DEFAULT_DEAD_AFTER_MS = 1000;
/** Default time an instance listens before it counts itself a candidate, ms. */
export const DEFAULT_STARTUP_WINDOW_MS = 600;
/**
 * Silence, in heartbeat intervals, after which heard-again heartbeats count as a resumption: the peer or we were cut
 * off (a link flap shorter than the death deadline, say), so either side may hold stale announcements.
 */
const RESUMPTION_GAP_INTERVALS = 3;

/** An older incarnation is accepted again only after the peer has been silent this long (its clock went back). */
const OLD_INCARNATION_AFTER_MS = 30_000;

/** Sends and receives heartbeat datagrams (UDP in the daemon, a fake hub in tests). */
export interface HeartbeatTransport {
  /** Sends one datagram; failures are the transport's to count, never thrown. */
  send(data: Uint8Array, address: string, port: number): void;
  /** Installs the handler for received datagrams (one handler). */
  listen(handler: (data: Uint8Array, from: string) => void): void;
  /** Stops receiving and frees the sockets. */
  close(): Promise<void>;
}

/** A node that may run a metallite instance, and where its heartbeats go. */
export interface PeerEndpoint {
  /** Node name. */
  readonly name: string;
  /** Address to send heartbeats to (InternalIP, or the node Lease's); without it we only listen for the peer. */
  readonly address?: string;
  /** Port, when not the default one (tests run several instances on one host). */
  readonly port?: number;
}

/** How a peer looks from here. */
export type PeerPhase = "unknown" | "starting" | "alive" | "dead" | "left";

/** One peer as shown by `metallite status`. */
export interface PeerReport {
  /** Node name. */
  readonly name: string;
  /** unknown (never heard), starting, alive, dead (silent too long) or left (said goodbye). */
  readonly phase: PeerPhase;
  /** Milliseconds since its last valid heartbeat; undefined when never heard. */
  readonly lastHeardAgoMs?: number;
  /** Where its last heartbeat came from. */
  readonly from?: string;
  /** Its incarnation, as decimal text. */
  readonly incarnation?: string;
  /** Interfaces it reported. */
  readonly interfaces: readonly string[];
}

/** Options for {@link createLiveness}. */
export interface LivenessOptions {
  /** This node's name. */
  readonly nodeName: string;
  /** The namespace metallite runs in; heartbeats of other namespaces (clusters) are dropped. */
  readonly namespace: string;
  /** Datagram transport. */
  readonly transport: HeartbeatTransport;
  /** Port peers listen on; default {@link DEFAULT_HEARTBEAT_PORT}. */
  readonly port?: number;
  /** Interfaces this node can announce on, read at each heartbeat (at most 32 are sent). */
  readonly localInterfaces: () => readonly string[];
  /** Called (synchronously) whenever the view changes: a peer's phase or interfaces, or our own readiness. */
  readonly onChange?: () => void;
  /** Shared key for HMAC-signed heartbeats; default none. */
  readonly key?: Uint8Array;
  /** Heartbeat interval, ms; default 200. */
  readonly intervalMs?: number;
  /** Silence after which a peer is dead, ms; default 1000. */
  readonly deadAfterMs?: number;
  /** Listening time before this instance counts itself, ms; default 600. */
  readonly startupWindowMs?: number;
  /** Monotonic clock; default `performance.now` with real timers. */
  readonly clock?: Clock;
  /** Wall clock for the incarnation; default `Date.now`. */
  readonly wallClock?: () => number;
  /** Log. */
  readonly log?: Logger;
  /** Metrics. */
  readonly metrics?: Registry;
}

/** The running liveness of this node and its peers. */
export interface Liveness {
  /** Starts sending and listening; the start-up window begins now. */
  start(): void;
  /** Replaces the list of peers to heartbeat (from Nodes and node Leases). Unknown senders are dropped. */
  setPeers(peers: readonly PeerEndpoint[]): void;
  /** Marks this instance ready (caches synced); it becomes a candidate once the start-up window has passed too. */
  setReady(): void;
  /** True when this instance counts itself a candidate. */
  readonly ready: boolean;
  /** The election's input: every peer heard at least once, and this node, by name. */
  view(): ReadonlyMap<string, PeerState>;
  /** Every known peer with its phase, for status. */
  report(): PeerReport[];
  /** This process's incarnation. */
  readonly incarnation: bigint;
  /** Sends `leaving` heartbeats, stops timers and closes the transport. */
  stop(): Promise<void>;
}

interface PeerRecord {
  endpoint: PeerEndpoint;
  phase: PeerPhase;
  heardAt?: number;
  from?: string;
  incarnation?: bigint;
  sequence?: number;
  intervalMs?: number;
  interfaces: readonly string[];
  /** Times its heartbeats came back after a silence of {@link RESUMPTION_GAP_INTERVALS} intervals or more. */
  resumptions: number;
}

/**
 * Creates the liveness tracker. Call `start()`, feed `setPeers()` from the Node cache, read `view()` in the election.
 *
 * @example
 * ```ts
 * const transport = await openUdpTransport({ port: DEFAULT_HEARTBEAT_PORT });
 * const liveness = createLiveness({ nodeName, namespace, transport, localInterfaces: () => ["eth0"],
 *   onChange: () => controller.poke() });
 * liveness.start();
 * ```
 */
export function createLiveness(options: LivenessOptions): Liveness {
  const clock = options.clock ?? monotonicClock;
  const log = (options.log ?? silentLogger).with({ part: "liveness" });
  const intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const deadAfterMs = options.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
  const startupWindowMs = options.startupWindowMs ?? DEFAULT_STARTUP_WINDOW_MS;
  const port = options.port ?? DEFAULT_HEARTBEAT_PORT;
  if (!(intervalMs >= 10 && intervalMs <= 10_000)) {
    throw new RangeError(`Heartbeat interval ${intervalMs} ms is outside 10-10000`);
  }
  if (!(deadAfterMs >= 2 * intervalMs)) {
    throw new RangeError(`deadAfterMs ${deadAfterMs} must be at least two heartbeat intervals (${2 * intervalMs})`);
  }
  const cluster = clusterHash(options.namespace);
  const incarnation = newIncarnation((options.wallClock ?? Date.now)());
  const metrics = options.metrics;
  const sent = metrics?.counter("metallite_heartbeats_sent_total", "Heartbeat datagrams sent");
  const received = metrics?.counter("metallite_heartbeats_received_total", "Valid heartbeats received");
  const dropped = metrics?.counter(
    "metallite_heartbeats_dropped_total",
    "Heartbeat datagrams dropped, by reason",
    ["reason"],
  );
  const peersGauge = metrics?.gauge("metallite_peers", "Peer instances by phase", ["phase"]);
  const transitions = metrics?.counter("metallite_peer_transitions_total", "Peer phase changes, by new phase", [
    "phase",
  ]);

  const peers = new Map<string, PeerRecord>();
  let sequence = 0;
  let startedAt: number | undefined;
  let readyCalled = false;
  let selfReady = false;
  let stopped = false;
  let cancelSend: (() => void) | undefined;
  let cancelDeath: (() => void) | undefined;
  let deathDueAt = Infinity;
  let cancelWindow: (() => void) | undefined;
  let holdDeathsUntil = -Infinity;

  function changed(): void {
    updateGauge();
    options.onChange?.();
  }

  function updateGauge(): void {
    if (!peersGauge) return;
    const counts: Record<PeerPhase, number> = { unknown: 0, starting: 0, alive: 0, dead: 0, left: 0 };
    for (const p of peers.values()) counts[p.phase]++;
    for (const [phase, n] of Object.entries(counts)) peersGauge.set({ phase }, n);
  }

  function setPhase(peer: PeerRecord, phase: PeerPhase, why: string): boolean {
    if (peer.phase === phase) return false;
    const was = peer.phase;
    peer.phase = phase;
    transitions?.inc({ phase });
    const line = { peer: peer.endpoint.name, from: was, to: phase, why };
    if (phase === "dead" || phase === "left") log.warn("peer instance is gone", line);
    else log.info("peer instance phase changed", line);
    return true;
  }

  function drop(reason: string, from: string, detail: string): void {
    dropped?.inc({ reason });
    log.warnOnce(`heartbeat:${reason}:${from}`, "dropped a heartbeat", { reason, from, detail });
    log.debug("dropped a heartbeat", { reason, from, detail });
  }

  function deadlineFor(peer: PeerRecord): number {
    // A peer announcing a slower interval gets as many missed heartbeats as ours, not fewer.
    const scaled = peer.intervalMs ? Math.ceil(deadAfterMs * peer.intervalMs / intervalMs) : deadAfterMs;
    return (peer.heardAt ?? 0) + Math.max(deadAfterMs, scaled);
  }

  function armDeathTimer(): void {
    if (stopped) return;
    let earliest = Infinity;
    for (const p of peers.values()) {
      if (p.phase === "alive" || p.phase === "starting") earliest = Math.min(earliest, deadlineFor(p));
    }
    earliest = Math.max(earliest, holdDeathsUntil);
    if (earliest === Infinity || earliest >= deathDueAt) return;
    cancelDeath?.();
    deathDueAt = earliest;
    const expected = earliest;
    cancelDeath = clock.setTimer(Math.max(0, earliest - clock.now()), () => onDeathTimer(expected));
  }

  function onDeathTimer(expected: number): void {
    cancelDeath = undefined;
    deathDueAt = Infinity;
    const now = clock.now();
    if (now - expected > intervalMs) {
      // We were stalled: heartbeats may be waiting in the socket. Read them before judging anyone.
      holdDeathsUntil = now + intervalMs;
      log.warn("event loop stalled; postponing peer death decisions", { lateMs: Math.round(now - expected) });
      armDeathTimer();
      return;
    }
    if (now < holdDeathsUntil) {
      armDeathTimer();
      return;
    }
    let any = false;
    for (const p of peers.values()) {
      if ((p.phase === "alive" || p.phase === "starting") && now >= deadlineFor(p)) {
        any = setPhase(p, "dead", `no heartbeat for ${Math.round(now - (p.heardAt ?? now))} ms`) || any;
      }
    }
    if (any) changed();
    armDeathTimer();
  }

  function receive(data: Uint8Array, from: string): void {
    if (stopped) return;
    const result = decodeHeartbeat(data, options.key ? { key: options.key } : {});
    if (!result.ok) return drop(result.error, from, result.detail);
    const hb = result.heartbeat;
    if (!hb.cluster.every((b, i) => b === cluster[i])) {
      return drop("wrong-cluster", from, "another namespace's heartbeat");
    }
    if (hb.node === options.nodeName) {
      if (hb.incarnation !== incarnation) {
        log.warnOnce(`heartbeat:duplicate-node:${from}`, "another instance uses this node's name", { from });
      }
      return drop("self", from, "our own node name");
    }
    const peer = peers.get(hb.node);
    if (!peer) return drop("unknown-node", from, `node "${hb.node}" is not a known peer`);
    const now = clock.now();
    if (peer.incarnation !== undefined) {
      if (hb.incarnation === peer.incarnation) {
        if (hb.sequence <= (peer.sequence ?? -1)) return drop("stale", from, `sequence ${hb.sequence} already seen`);
      } else if (hb.incarnation < peer.incarnation) {
        const silentFor = now - (peer.heardAt ?? now);
        if (silentFor < OLD_INCARNATION_AFTER_MS) return drop("stale", from, "older incarnation");
      } else {
        log.info("peer instance restarted", { peer: hb.node });
      }
    }
    received?.inc();
    const resumed = peer.heardAt !== undefined && now - peer.heardAt >= RESUMPTION_GAP_INTERVALS * intervalMs;
    if (resumed) peer.resumptions++;
    const interfacesChanged = peer.interfaces.join("\n") !== hb.interfaces.join("\n");
    peer.heardAt = now;
    peer.from = from;
    peer.incarnation = hb.incarnation;
    peer.sequence = hb.sequence;
    peer.intervalMs = hb.intervalMs;
    peer.interfaces = hb.interfaces;
    const phase: PeerPhase = hb.leaving ? "left" : hb.starting ? "starting" : "alive";
    const phaseChanged = setPhase(peer, phase, hb.leaving ? "said it is leaving" : "heartbeat");
    if (phaseChanged || interfacesChanged || resumed) changed();
    armDeathTimer();
  }

  function localInterfaces(): string[] {
    const out: string[] = [];
    for (const name of options.localInterfaces()) {
      if (out.length >= MAX_HEARTBEAT_INTERFACES) {
        log.warnOnce(
          "heartbeat:too-many-interfaces",
          "more interfaces than a heartbeat carries; the rest are left out",
          {
            max: MAX_HEARTBEAT_INTERFACES,
          },
        );
        break;
      }
      if (/^[\x21-\x2e\x30-\x39\x3b-\x7e]{1,15}$/.test(name) && name !== "." && name !== ".." && !out.includes(name)) {
        out.push(name);
      }
    }
    return out;
  }

  function anyPeerAddress(): boolean {
    for (const p of peers.values()) if (p.endpoint.address !== undefined) return true;
    return false;
  }

  function broadcast(flags: { leaving: boolean }): void {
    sequence = (sequence + 1) >>> 0;
    // Alone (a one-node cluster, or before any peer is known) there is no one to tell; no heartbeat is built.
    if (!anyPeerAddress()) return;
    const bytes = encodeHeartbeat(
      {
        cluster,
        node: options.nodeName,
        incarnation,
        sequence,
        intervalMs,
        leaving: flags.leaving,
        starting: !selfReady,
        interfaces: localInterfaces(),
      },
      options.key,
    );
    for (const p of peers.values()) {
      if (p.endpoint.address === undefined) continue;
      options.transport.send(bytes, p.endpoint.address, p.endpoint.port ?? port);
      sent?.inc();
    }
  }

  function scheduleSend(expectedAt: number): void {
    cancelSend = clock.setTimer(Math.max(0, expectedAt - clock.now()), () => {
      if (stopped) return;
      const now = clock.now();
      if (now - expectedAt > intervalMs) {
        holdDeathsUntil = Math.max(holdDeathsUntil, now + intervalMs);
        armDeathTimer();
      }
      broadcast({ leaving: false });
      // Keep the cadence without drifting, but never try to catch up a backlog after a stall.
      const next = expectedAt + intervalMs;
      scheduleSend(next > now ? next : now + intervalMs);
    });
  }

  function maybeReady(): void {
    if (selfReady || !readyCalled || startedAt === undefined || clock.now() < startedAt + startupWindowMs) return;
    selfReady = true;
    log.info("this instance is ready to announce", { listenedMs: Math.round(clock.now() - startedAt) });
    changed();
    // Tell peers at once rather than at the next tick, so the hand-over is as short as the network's latency.
    broadcast({ leaving: false });
  }

  return {
    start() {
      if (startedAt !== undefined || stopped) return;
      startedAt = clock.now();
      options.transport.listen(receive);
      broadcast({ leaving: false });
      scheduleSend(startedAt + intervalMs);
      cancelWindow = clock.setTimer(startupWindowMs, () => {
        cancelWindow = undefined;
        maybeReady();
      });
      log.info("liveness started", { incarnation: String(incarnation), intervalMs, deadAfterMs, startupWindowMs });
    },
    setPeers(list) {
      const wanted = new Map<string, PeerEndpoint>();
      for (const p of list) if (p.name !== options.nodeName) wanted.set(p.name, p);
      let any = false;
      for (const name of [...peers.keys()]) {
        if (!wanted.has(name)) {
          peers.delete(name);
          any = true;
        }
      }
      for (const [name, endpoint] of wanted) {
        const known = peers.get(name);
        if (known) known.endpoint = endpoint;
        else peers.set(name, { endpoint, phase: "unknown", interfaces: [], resumptions: 0 });
      }
      if (any) changed();
      else updateGauge();
    },
    setReady() {
      readyCalled = true;
      maybeReady();
    },
    get ready() {
      return selfReady;
    },
    view() {
      const out = new Map<string, PeerState>();
      for (const [name, p] of peers) {
        if (p.phase === "unknown") continue;
        out.set(name, { alive: p.phase === "alive", interfaces: p.interfaces, resumptions: p.resumptions });
      }
      out.set(options.nodeName, { alive: selfReady, interfaces: localInterfaces() });
      return out;
    },
    report() {
      const now = clock.now();
      return [...peers.values()].sort((a, b) => (a.endpoint.name < b.endpoint.name ? -1 : 1)).map((p) => ({
        name: p.endpoint.name,
        phase: p.phase,
        ...(p.heardAt !== undefined ? { lastHeardAgoMs: Math.round(now - p.heardAt) } : {}),
        ...(p.from !== undefined ? { from: p.from } : {}),
        ...(p.incarnation !== undefined ? { incarnation: String(p.incarnation) } : {}),
        interfaces: p.interfaces,
      }));
    },
    incarnation,
    async stop() {
      if (stopped) return;
      if (startedAt !== undefined) {
        // Twice, so one lost datagram does not cost the peers a full dead-after wait.
        broadcast({ leaving: true });
        broadcast({ leaving: true });
      }
      stopped = true;
      cancelSend?.();
      cancelDeath?.();
      cancelWindow?.();
      await options.transport.close();
    },
  };
}
