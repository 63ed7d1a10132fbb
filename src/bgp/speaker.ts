/**
 * The BGP speaker: several peers, each with its own session, connection and Adj-RIB-Out; listeners for passive
 * peers (and collisions); routes per peer; clean shutdown. The daemon creates one with {@link createSpeaker}.
 */
import { type BfdChange, BfdManager, type BfdProfile } from "../bfd/mod.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import { type Clock, systemClock } from "../net/clock.ts";
import { tryParseIp } from "../ip/mod.ts";
import { Afi, CeaseSubcode, ErrorCode, SAFI_UNICAST } from "./constants.ts";
import type { FsmConfig, Negotiated, SessionState } from "./fsm.ts";
import { shutdownCommunication } from "./message.ts";
import { describeNotification } from "./errors.ts";
import { parseBgpId } from "./open.ts";
import { type Route, validateRoutes } from "./rib_out.ts";
import { PeerSession, type SessionEvent, type SessionStats } from "./session.ts";
import {
  type AcceptDecision,
  type BgpConnection,
  type DialOptions,
  dialTcp,
  type ListenOptions,
  MD5_MAX_KEY_LENGTH,
  type SocketScope,
  TcpListener,
} from "./socket.ts";

/** A BGP neighbour, as MetalLB's BGPPeer and `--bgp-peer` describe one. */
export interface PeerConfig {
  /** Unique name (MetalLB: the BGPPeer's name); default the address. */
  readonly name?: string;
  /** The peer's address. */
  readonly address: string;
  /** The peer's AS number. */
  readonly asn: number;
  /** The peer's port; default 179. */
  readonly port?: number;
  /** Our AS number towards this peer; default the speaker's. */
  readonly localAsn?: number;
  /** Our BGP identifier towards this peer; default the speaker's. */
  readonly routerId?: string;
  /** Address to connect from. */
  readonly sourceAddress?: string;
  /** Hold time to propose, seconds: 0 or 3-65535; default 90 (MetalLB's default). */
  readonly holdTime?: number;
  /** Keepalive interval, seconds; default a third of the negotiated hold time. */
  readonly keepaliveTime?: number;
  /** Wait for the peer to connect instead of connecting. */
  readonly passive?: boolean;
  /** TCP MD5 password (RFC 2385). */
  readonly password?: string;
  /** eBGP peer not directly connected: TTL 255 instead of 1 (MetalLB's `ebgpMultiHop`). */
  readonly ebgpMultihop?: boolean;
  /** Exact TTL of our packets; overrides the eBGP default of 1 (or 255 with multihop/GTSM). */
  readonly ttl?: number;
  /** Smallest TTL accepted from the peer (GTSM, RFC 5082): e.g. 255 for a directly connected peer. */
  readonly minTtl?: number;
  /** Advertise graceful restart (RFC 4724), as MetalLB's `enableGracefulRestart`. */
  readonly gracefulRestart?: boolean;
  /** Families to negotiate; default both. */
  readonly families?: readonly ("ipv4" | "ipv6")[];
  /** IPv4 next hop for IPv4 routes when the session runs over IPv6. */
  readonly nextHopV4?: string;
  /** IPv6 next hop for IPv6 routes when the session runs over IPv4. */
  readonly nextHopV6?: string;
  /** IPv6 link-local next hop to add. */
  readonly linkLocalNextHop?: string;
  /** Reconnect backoff: first wait, seconds; default 1. */
  readonly retryMinSeconds?: number;
  /** Reconnect backoff: longest wait, seconds; default 60. */
  readonly retryMaxSeconds?: number;
  /** Give up a TCP connect after this long; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Run single-hop BFD with the peer (MetalLB's BFDProfile). When the BFD session falls from Up to Down the BGP
   * session is dropped at once (RFC 5882 §4.2) and then reconnects with the usual backoff.
   */
  readonly bfd?: BfdProfile;
}

/** How connections are made; the default uses libc sockets, tests may pass in-memory ones. */
export interface Transport {
  /** Connects to a peer. */
  dial(options: DialOptions): Promise<BgpConnection>;
  /** Listens for peers. */
  listen(options: ListenOptions): Listener;
}

/** A listening socket as the speaker uses it. */
export interface Listener {
  /** Sets or removes a peer's MD5 key. */
  setPassword(peerAddress: string, password: string | undefined): void;
  /** Stops listening. */
  close(): Promise<void>;
  /** Bound port. */
  readonly port: number;
}

/** The real transport: {@link dialTcp} and {@link TcpListener}. */
export const libcTransport: Transport = {
  dial: dialTcp,
  listen: (options) => TcpListener.open(options),
};

/** Options for {@link createSpeaker}. */
export interface SpeakerOptions {
  /** Our AS number. */
  readonly asn: number;
  /** Our BGP identifier, dotted quad (MetalLB: the node's IPv4 address unless set). */
  readonly routerId: string;
  /** Port to listen on for passive peers (and collisions); default 179. */
  readonly listenPort?: number;
  /** Also accept connections from active peers (RFC 4271 collision handling); default only for passive peers. */
  readonly acceptIncoming?: boolean;
  /** We are coming back from a restart: set the graceful restart R bit (RFC 4724 §3). */
  readonly restarting?: boolean;
  /** Seconds a graceful-restart helper keeps our routes; default 120. */
  readonly gracefulRestartTime?: number;
  /** Timers; default the system clock. */
  readonly clock?: Clock;
  /** Logs; default a text logger at info. */
  readonly logger?: Logger;
  /** Connections; default {@link libcTransport}. */
  readonly transport?: Transport;
  /** Where sockets are created (tests: a namespace). */
  readonly scope?: SocketScope;
  /** Prometheus registry for the metallite_bgp_* metrics (updated by {@link Speaker.collectMetrics}). */
  readonly metrics?: Registry;
  /** Receives session and BFD events. */
  readonly onEvent?: (event: SpeakerEvent) => void;
  /** BFD sessions for peers with a profile; default one made on first use with this clock and scope. */
  readonly bfd?: BfdManager;
}

/** Something that happened to a peer: a session event, or a BFD state change. */
export type SpeakerEvent =
  | SessionEvent
  | {
    readonly type: "bfd";
    readonly peer: string;
    readonly state: BfdChange["state"];
    readonly previous: BfdChange["state"];
    readonly diag: number;
  };

/** A peer's state, for status output and metrics. */
export interface PeerStatus {
  /** Peer name. */
  readonly name: string;
  /** Peer address. */
  readonly address: string;
  /** RFC 4271 state. */
  readonly state: SessionState;
  /** Our address on the session, when connected. */
  readonly localAddress: string;
  /** What was negotiated, once OpenConfirm was reached. */
  readonly negotiated?: Negotiated;
  /** Counters. */
  readonly stats: Readonly<SessionStats>;
  /** Last reason the session went down. */
  readonly lastError?: string;
  /** BFD session state, for peers with a BFD profile. */
  readonly bfdState?: "AdminDown" | "Down" | "Init" | "Up";
}

/** The speaker's interface to the daemon. */
export interface Speaker {
  /** Adds a peer and starts its session; throws `TypeError`/`RangeError` on a bad configuration. */
  addPeer(peer: PeerConfig): void;
  /** Stops a peer's session (Cease / Peer De-configured, RFC 4486) and forgets it. */
  removePeer(name: string): Promise<void>;
  /**
   * The routes one peer should have; the difference is sent at once (or when the session comes up). Throws
   * `SyntaxError`/`RangeError` for a malformed route (nothing is changed then).
   */
  setRoutes(peer: string, routes: readonly Route[]): void;
  /** Tells the session of a peer that BFD saw the path go down. */
  bfdDown(peer: string): void;
  /** Every peer's state. */
  peers(): PeerStatus[];
  /** Copies counters into the metrics registry. */
  collectMetrics(): void;
  /**
   * Stops every session. Default: Cease / Administrative Shutdown, so routers drop our routes at once. With
   * `restart: true`, sessions that negotiated graceful restart are closed without a NOTIFICATION, so the router
   * keeps forwarding to us for the restart time while a new process comes up (RFC 4724 §4.2).
   */
  shutdown(options?: { restart?: boolean; message?: string }): Promise<void>;
}

interface PeerEntry {
  readonly config: PeerConfig;
  readonly name: string;
  readonly session: PeerSession;
  routes: readonly Route[];
  lastError?: string;
}

function checkInt(what: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
    throw new RangeError(`${what} ${v} is outside ${min}-${max}`);
  }
}

function validatePeer(peer: PeerConfig): void {
  const name = peer.name ?? peer.address;
  const ip = tryParseIp(peer.address);
  if (!ip) throw new TypeError(`Peer "${name}": address "${peer.address}" is not an IP address`);
  checkInt(`Peer "${name}": AS number`, peer.asn, 1, 0xffffffff);
  checkInt(`Peer "${name}": local AS number`, peer.localAsn, 1, 0xffffffff);
  checkInt(`Peer "${name}": port`, peer.port, 1, 65535);
  checkInt(`Peer "${name}": keepalive time`, peer.keepaliveTime, 1, 21845);
  checkInt(`Peer "${name}": TTL`, peer.ttl, 1, 255);
  checkInt(`Peer "${name}": minimum TTL`, peer.minTtl, 1, 255);
  if (peer.holdTime !== undefined && peer.holdTime !== 0) {
    checkInt(`Peer "${name}": hold time`, peer.holdTime, 3, 65535);
  }
  if (peer.routerId !== undefined && parseBgpId(peer.routerId) === undefined) {
    throw new TypeError(`Peer "${name}": router ID "${peer.routerId}" is not a dotted-quad IPv4 address`);
  }
  if (peer.sourceAddress !== undefined && tryParseIp(peer.sourceAddress)?.family !== ip.family) {
    throw new TypeError(`Peer "${name}": source address "${peer.sourceAddress}" is not an IPv${ip.family} address`);
  }
  if (peer.password !== undefined && new TextEncoder().encode(peer.password).length > MD5_MAX_KEY_LENGTH) {
    throw new RangeError(`Peer "${name}": password is longer than ${MD5_MAX_KEY_LENGTH} bytes`);
  }
}

/**
 * Creates a speaker. Peers are added with {@link Speaker.addPeer}; sessions start at once.
 *
 * @example
 * ```ts
 * const speaker = createSpeaker({ asn: 64500, routerId: "198.51.100.10" });
 * speaker.addPeer({ address: "198.51.100.1", asn: 64501 });
 * speaker.setRoutes("198.51.100.1", [{ prefix: "203.0.113.10/32", communities: ["64500:100"] }]);
 * await speaker.shutdown();
 * ```
 */
export function createSpeaker(options: SpeakerOptions): Speaker {
  const bgpId = parseBgpId(options.routerId);
  if (bgpId === undefined || bgpId === 0) {
    throw new TypeError(`Router ID "${options.routerId}" is not a non-zero dotted-quad IPv4 address`);
  }
  checkInt("Speaker AS number", options.asn, 1, 0xffffffff);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const transport = options.transport ?? libcTransport;
  const port = options.listenPort ?? 179;
  const peers = new Map<string, PeerEntry>();
  const listeners = new Map<4 | 6, Listener>();
  const lastCollected = new Map<string, { sent: number; received: number; prefixes: number; resets: number }>();
  const downCount = new Map<string, number>();
  let closed = false;
  let bfd = options.bfd;
  const ownBfd = options.bfd === undefined;

  function bfdManager(): BfdManager {
    bfd ??= new BfdManager({
      clock,
      logger: logger.with({ part: "bfd" }),
      ...(options.scope ? { scope: options.scope } : {}),
    });
    return bfd;
  }

  function onBfdChange(name: string, change: BfdChange): void {
    options.onEvent?.({ type: "bfd", peer: name, state: change.state, previous: change.previous, diag: change.diag });
    if (change.previous === "Up" && change.state !== "Up") {
      logger.warn("BFD session went down: dropping the BGP session", { peer: name, diag: change.diag });
      peers.get(name)?.session.bfdDown();
    }
  }

  const m = options.metrics;
  const up = m?.gauge("metallite_bgp_session_up", "1 when the BGP session with the peer is Established", ["peer"]);
  const announced = m?.gauge("metallite_bgp_announced_prefixes", "Prefixes announced to the peer", ["peer"]);
  const sentTotal = m?.counter("metallite_bgp_messages_sent_total", "BGP messages sent", ["peer"]);
  const receivedTotal = m?.counter("metallite_bgp_messages_received_total", "BGP messages received", ["peer"]);
  const prefixesIn = m?.counter(
    "metallite_bgp_received_prefixes_total",
    "Prefixes peers announced to us (never installed)",
    ["peer"],
  );
  const resets = m?.counter("metallite_bgp_session_resets_total", "Times an Established or opening session went down", [
    "peer",
  ]);

  function peerFor(address: string): PeerEntry | undefined {
    for (const p of peers.values()) if (tryParseIp(p.config.address)?.value === tryParseIp(address)?.value) return p;
    return undefined;
  }

  function ttlFor(peer: PeerConfig, localAsn: number): number | undefined {
    if (peer.ttl !== undefined) return peer.ttl;
    if (peer.minTtl !== undefined || peer.ebgpMultihop) return 255;
    // eBGP peers are directly connected unless told otherwise: TTL 1, as BIRD and FRR send and expect.
    return peer.asn !== localAsn ? 1 : undefined;
  }

  function screen(remote: string): AcceptDecision | undefined {
    const p = peerFor(remote);
    if (!p || closed) {
      logger.warnOnce(`bgp-unknown-peer:${remote}`, "refused a BGP connection from an address that is not a peer", {
        remote,
      });
      return undefined;
    }
    const localAsn = p.config.localAsn ?? options.asn;
    const ttl = ttlFor(p.config, localAsn);
    return {
      ...(ttl !== undefined ? { ttl } : {}),
      ...(p.config.minTtl !== undefined ? { minTtl: p.config.minTtl } : {}),
    };
  }

  function ensureListener(family: 4 | 6): Listener | undefined {
    const existing = listeners.get(family);
    if (existing) return existing;
    try {
      const l = transport.listen({
        address: family === 4 ? "0.0.0.0" : "::",
        port,
        ...(options.scope ? { scope: options.scope } : {}),
        screen,
        onConnection: (conn) => {
          const p = peerFor(conn.remoteAddress);
          if (!p) {
            conn.start({ data: () => {}, closed: () => {} });
            conn.close();
            return;
          }
          p.session.acceptIncoming(conn);
        },
        onError: (error) => logger.warnOnce(`bgp-accept:${family}`, "accepting a BGP connection failed", { error }),
      });
      listeners.set(family, l);
      for (const p of peers.values()) {
        if (tryParseIp(p.config.address)?.family === family && p.config.password) {
          l.setPassword(p.config.address, p.config.password);
        }
      }
      return l;
    } catch (error) {
      logger.error("cannot listen for BGP connections", { port, family, error });
      return undefined;
    }
  }

  function onEvent(event: SessionEvent | SpeakerEvent): void {
    const entry = peers.get(event.peer);
    if (event.type === "down" && entry) {
      entry.lastError = event.notification
        ? `${event.reason}: ${describeNotification(event.notification.code, event.notification.subcode)}`
        : event.reason;
    }
    if (event.type === "state") {
      up?.set({ peer: event.peer }, event.to === "established" ? 1 : 0);
      if (event.from === "established" || event.from === "openConfirm" || event.from === "openSent") {
        if (event.to === "idle" || event.to === "active") {
          downCount.set(event.peer, (downCount.get(event.peer) ?? 0) + 1);
        }
      }
    }
    options.onEvent?.(event);
  }

  function addPeer(peer: PeerConfig): void {
    if (closed) throw new TypeError("The speaker is shut down");
    validatePeer(peer);
    const name = peer.name ?? peer.address;
    if (peers.has(name)) throw new TypeError(`Peer "${name}" is already configured`);
    const localAsn = peer.localAsn ?? options.asn;
    const families = peer.families ?? ["ipv4", "ipv6"];
    const multiprotocol = families.map((f) => ({ afi: f === "ipv4" ? Afi.IPV4 : Afi.IPV6, safi: SAFI_UNICAST }));
    const config: FsmConfig = {
      localAsn,
      peerAsn: peer.asn,
      bgpId: peer.routerId ? parseBgpId(peer.routerId)! : bgpId!,
      holdTime: peer.holdTime ?? 90,
      ...(peer.keepaliveTime !== undefined ? { keepaliveTime: peer.keepaliveTime } : {}),
      ...(peer.passive ? { passive: true } : {}),
      retryMinSeconds: peer.retryMinSeconds ?? 1,
      retryMaxSeconds: peer.retryMaxSeconds ?? 60,
      capabilities: {
        multiprotocol,
        routeRefresh: true,
        ...(peer.gracefulRestart
          ? {
            gracefulRestart: {
              restarting: options.restarting === true,
              restartTime: options.gracefulRestartTime ?? 120,
              // Forwarding survives our restart: the data path is the kernel's (kube-proxy), not this process.
              families: multiprotocol.map((f) => ({ ...f, forwardingPreserved: true })),
            },
          }
          : {}),
      },
    };
    const ttl = ttlFor(peer, localAsn);
    const entry: PeerEntry = {
      config: peer,
      name,
      routes: [],
      session: new PeerSession(config, {
        name,
        ...(peer.nextHopV4 ? { nextHopV4: peer.nextHopV4 } : {}),
        ...(peer.nextHopV6 ? { nextHopV6: peer.nextHopV6 } : {}),
        ...(peer.linkLocalNextHop ? { linkLocalNextHop: peer.linkLocalNextHop } : {}),
      }, {
        clock,
        logger: logger.with({ part: "bgp" }),
        routes: () => entry.routes,
        onEvent,
        dial: (signal) =>
          transport.dial({
            address: peer.address,
            port: peer.port ?? 179,
            signal,
            timeoutMs: peer.connectTimeoutMs ?? 5000,
            ...(peer.sourceAddress ? { sourceAddress: peer.sourceAddress } : {}),
            ...(ttl !== undefined ? { ttl } : {}),
            ...(peer.minTtl !== undefined ? { minTtl: peer.minTtl } : {}),
            ...(peer.password ? { password: peer.password } : {}),
            ...(options.scope ? { scope: options.scope } : {}),
          }),
      }),
    };
    peers.set(name, entry);
    if (peer.bfd) bfdManager().add(peer.address, peer.bfd, (change) => onBfdChange(name, change));
    const family = tryParseIp(peer.address)!.family;
    const l = peer.passive || options.acceptIncoming ? ensureListener(family) : listeners.get(family);
    if (l && peer.password) l.setPassword(peer.address, peer.password);
    entry.session.start();
  }

  async function removePeer(name: string): Promise<void> {
    const entry = peers.get(name);
    if (!entry) return;
    peers.delete(name);
    if (entry.config.bfd) bfd?.remove(entry.config.address);
    await entry.session.stop({
      notification: {
        type: "notification",
        code: ErrorCode.CEASE,
        subcode: CeaseSubcode.PEER_DECONFIGURED,
        data: new Uint8Array(0),
      },
    });
    const l = listeners.get(tryParseIp(entry.config.address)!.family);
    if (l && entry.config.password) {
      try {
        l.setPassword(entry.config.address, undefined);
      } catch (error) {
        logger.warn("cannot remove a peer's MD5 key", { peer: name, error });
      }
    }
    up?.set({ peer: name }, 0);
    announced?.set({ peer: name }, 0);
  }

  function setRoutes(peer: string, routes: readonly Route[]): void {
    const entry = peers.get(peer);
    if (!entry) throw new TypeError(`Peer "${peer}" is not configured`);
    validateRoutes(routes);
    entry.routes = routes;
    entry.session.syncRoutes();
  }

  function peersStatus(): PeerStatus[] {
    return [...peers.values()].map((p) => {
      const negotiated = p.session.negotiated;
      return {
        name: p.name,
        address: p.config.address,
        state: p.session.state,
        localAddress: p.session.localAddress,
        stats: p.session.stats,
        ...(negotiated && p.session.state !== "idle" ? { negotiated } : {}),
        ...(p.lastError ? { lastError: p.lastError } : {}),
        ...(p.config.bfd && bfd?.state(p.config.address) ? { bfdState: bfd.state(p.config.address)! } : {}),
      };
    });
  }

  function collectMetrics(): void {
    for (const p of peers.values()) {
      const s = p.session.stats;
      const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
      const now = {
        sent: sum(s.sent),
        received: sum(s.received),
        prefixes: s.prefixesReceived,
        resets: downCount.get(p.name) ?? 0,
      };
      const last = lastCollected.get(p.name) ?? { sent: 0, received: 0, prefixes: 0, resets: 0 };
      const labels = { peer: p.name };
      sentTotal?.inc(labels, now.sent - last.sent);
      receivedTotal?.inc(labels, now.received - last.received);
      prefixesIn?.inc(labels, now.prefixes - last.prefixes);
      resets?.inc(labels, now.resets - last.resets);
      announced?.set(labels, s.announced);
      up?.set(labels, p.session.state === "established" ? 1 : 0);
      lastCollected.set(p.name, now);
    }
  }

  async function shutdown(opts: { restart?: boolean; message?: string } = {}): Promise<void> {
    closed = true;
    const data = opts.message ? shutdownCommunication(opts.message) : new Uint8Array(0);
    await Promise.all([...peers.values()].map((p) => {
      const gr = p.session.negotiated?.peerGracefulRestart !== undefined && p.config.gracefulRestart === true;
      return p.session.stop(
        opts.restart && gr ? { silent: true } : {
          notification: {
            type: "notification",
            code: ErrorCode.CEASE,
            subcode: CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
            data,
          },
        },
      );
    }));
    await Promise.all([...listeners.values()].map((l) => l.close()));
    listeners.clear();
    for (const p of peers.values()) if (p.config.bfd) bfd?.remove(p.config.address);
    if (ownBfd) await bfd?.close();
  }

  return {
    addPeer,
    removePeer,
    setRoutes,
    bfdDown: (name) => peers.get(name)?.session.bfdDown(),
    peers: peersStatus,
    collectMetrics,
    shutdown,
  };
}
