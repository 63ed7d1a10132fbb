/**
 * One peer's session at run time: drives the pure state machine (`fsm.ts`) with a real or fake connection and an
 * injected clock, reads and frames messages, keeps the peer's Adj-RIB-Out in step with the routes it should have,
 * and resolves connection collisions (RFC 4271 §6.8). Nothing here touches another peer's session.
 */
import type { Clock } from "../net/clock.ts";
import type { Logger } from "../log/mod.ts";
import { Afi, CeaseSubcode, ErrorCode, SAFI_UNICAST } from "./constants.ts";
import { describeNotification } from "./errors.ts";
import {
  type FsmAction,
  type FsmConfig,
  type FsmEvent,
  type FsmState,
  initialFsmState,
  type Negotiated,
  resolveCollision,
  type SessionState,
  stepFsm,
  type TimerName,
} from "./fsm.ts";
import {
  type BgpMessage,
  decodeMessage,
  encodeMessage,
  KEEPALIVE_BYTES,
  MessageFramer,
  type NotificationMessage,
} from "./message.ts";
import { AdjRibOut, planRoutes, type Route } from "./rib_out.ts";
import type { BgpConnection } from "./socket.ts";
import { endOfRib, endOfRibFamily, type UpdateMessage } from "./update.ts";

/** Counters one session keeps; all since the session object was created. */
export interface SessionStats {
  /** Times the session reached Established. */
  establishedTransitions: number;
  /** Messages sent, by type. */
  sent: Record<BgpMessage["type"], number>;
  /** Messages received, by type. */
  received: Record<BgpMessage["type"], number>;
  /** Prefixes the peer announced to us (counted, never installed). */
  prefixesReceived: number;
  /** Prefixes the peer withdrew. */
  prefixesWithdrawn: number;
  /** UPDATEs handled as withdrawals per RFC 7606. */
  treatAsWithdraw: number;
  /** Attributes discarded per RFC 7606. */
  attributesDiscarded: number;
  /** End-of-RIB markers received. */
  endOfRibReceived: number;
  /** Prefixes the peer currently holds from us. */
  announced: number;
  /** Routes we could not send on this session (family not negotiated, no next hop). */
  skipped: number;
}

/** Something that happened to a session, for the speaker's owner. */
export type SessionEvent =
  | {
    readonly type: "established";
    readonly peer: string;
    readonly negotiated: Negotiated;
    readonly localAddress: string;
  }
  | {
    readonly type: "down";
    readonly peer: string;
    readonly reason: string;
    readonly notification?: NotificationMessage;
    readonly sent?: boolean;
  }
  | { readonly type: "state"; readonly peer: string; readonly from: SessionState; readonly to: SessionState };

/** What a session is given by the speaker. */
export interface SessionDeps {
  /** Timers. */
  readonly clock: Clock;
  /** Opens a connection to the peer (only active sessions dial). */
  readonly dial: (signal: AbortSignal) => Promise<BgpConnection>;
  /** Logs. */
  readonly logger: Logger;
  /** The routes this peer should have now. */
  readonly routes: () => readonly Route[];
  /** Receives events. */
  readonly onEvent: (event: SessionEvent) => void;
}

/** Per-session options that are not part of the state machine. */
export interface SessionOptions {
  /** Peer name used in logs and events. */
  readonly name: string;
  /** IPv4 next hop for IPv4 routes on an IPv6 session. */
  readonly nextHopV4?: string;
  /** IPv6 next hop for IPv6 routes on an IPv4 session. */
  readonly nextHopV6?: string;
  /** IPv6 link-local next hop added to MP_REACH_NLRI. */
  readonly linkLocalNextHop?: string;
}

function emptyCounts(): Record<BgpMessage["type"], number> {
  return { open: 0, update: 0, notification: 0, keepalive: 0, "route-refresh": 0 };
}

interface Attached {
  readonly conn: BgpConnection;
  readonly framer: MessageFramer;
  readonly outgoing: boolean;
}

/** A connection that arrived while another was already exchanging OPENs (RFC 4271 §6.8). */
interface Pending extends Attached {
  cancelTimer: () => void;
}

/** The run-time session of one peer. */
export class PeerSession {
  readonly #config: FsmConfig;
  readonly #options: SessionOptions;
  readonly #deps: SessionDeps;
  readonly #rib = new AdjRibOut();
  readonly #timers = new Map<TimerName, () => void>();
  // The hold timer is re-armed on every message; instead of re-creating a timer each time, remember when it was last
  // re-armed and let a firing timer check whether the deadline has really passed.
  #holdDeadline = 0;
  #holdFiresAt = 0;
  #fsm: FsmState = initialFsmState();
  #attached: Attached | undefined;
  #pending: Pending | undefined;
  #dialAbort: AbortController | undefined;
  #dialing: Promise<void> | undefined;
  #closing = new Set<Promise<void>>();
  #localAddress = "";
  readonly stats: SessionStats = {
    establishedTransitions: 0,
    sent: emptyCounts(),
    received: emptyCounts(),
    prefixesReceived: 0,
    prefixesWithdrawn: 0,
    treatAsWithdraw: 0,
    attributesDiscarded: 0,
    endOfRibReceived: 0,
    announced: 0,
    skipped: 0,
  };

  constructor(config: FsmConfig, options: SessionOptions, deps: SessionDeps) {
    this.#config = config;
    this.#options = options;
    this.#deps = deps;
  }

  /** RFC 4271 state. */
  get state(): SessionState {
    return this.#fsm.state;
  }

  /** What was negotiated, once the peer's OPEN was accepted. */
  get negotiated(): Negotiated | undefined {
    return this.#fsm.negotiated;
  }

  /** Our address on the current connection ("" when none). */
  get localAddress(): string {
    return this.#localAddress;
  }

  /** Prefixes the peer currently holds from us. */
  announcedPrefixes(): string[] {
    return this.#rib.prefixes();
  }

  /** Starts the session (ManualStart). */
  start(): void {
    this.#dispatch({ type: "start" });
  }

  /**
   * Stops the session: sends the NOTIFICATION (Cease / Administrative Shutdown unless given, none when `silent`),
   * closes the connection and resolves once every socket of this session is closed.
   */
  async stop(options: { notification?: NotificationMessage; silent?: boolean } = {}): Promise<void> {
    this.#dispatch({ type: "stop", ...options });
    this.#dropPending(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN);
    this.#abortDial();
    await this.#dialing;
    await Promise.all([...this.#closing]);
  }

  /** BFD reports the path down (RFC 5882 §4.2). */
  bfdDown(): void {
    this.#dispatch({ type: "bfdDown" });
  }

  /** Recomputes this peer's routes and sends the difference (when Established). */
  syncRoutes(): void {
    if (this.#fsm.state !== "established") return;
    this.#sendAll(this.#syncUpdates());
    this.stats.announced = this.#rib.size;
  }

  /** Hands over a connection the listener accepted from this peer's address. */
  acceptIncoming(conn: BgpConnection): void {
    const s = this.#fsm.state;
    if (!this.#fsm.enabled && s === "idle") {
      this.#closeConn(conn);
      return;
    }
    if (s === "idle" || s === "connect" || s === "active") {
      this.#abortDial();
      this.#attach(conn, false);
      this.#dispatch({ type: "connected" });
      return;
    }
    if (s === "established") {
      // RFC 4271 §6.8: a collision with an Established session always closes the newcomer.
      this.#rejectCollision(conn);
      return;
    }
    // OpenSent or OpenConfirm: keep the newcomer until its OPEN shows the peer's identifier.
    this.#dropPending(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
    const framer = new MessageFramer();
    const pending: Pending = {
      conn,
      framer,
      outgoing: false,
      cancelTimer: this.#deps.clock.setTimer(30_000, () => {
        if (this.#pending === pending) this.#dropPending(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
      }),
    };
    this.#pending = pending;
    conn.start({
      data: (chunk) => this.#onPendingData(pending, chunk),
      closed: () => {
        if (this.#pending === pending) {
          pending.cancelTimer();
          this.#pending = undefined;
        }
      },
    });
  }

  #rejectCollision(conn: BgpConnection): void {
    conn.start({ data: () => {}, closed: () => {} });
    conn.write(encodeMessage(ceaseMessage(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)));
    this.stats.sent.notification++;
    this.#closeConn(conn);
  }

  #dropPending(subcode: number): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    p.cancelTimer();
    p.conn.write(encodeMessage(ceaseMessage(subcode)));
    this.#closeConn(p.conn);
  }

  #onPendingData(p: Pending, chunk: Uint8Array): void {
    if (this.#pending !== p) return;
    p.framer.push(chunk);
    const frame = p.framer.next();
    if (frame === undefined) return;
    const decoded = frame instanceof Uint8Array ? decodeMessage(frame) : undefined;
    if (!decoded?.ok || decoded.value.type !== "open") {
      this.#dropPending(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
      return;
    }
    const open = decoded.value;
    const current = this.#attached;
    const keep = resolveCollision(this.#config.bgpId, open.bgpId);
    // Keep the connection the side with the higher identifier opened; with two incoming ones, the newer.
    const newcomerWins = keep === "incoming" || !current?.outgoing;
    if (!newcomerWins || this.#fsm.state === "established") {
      this.#dropPending(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
      return;
    }
    this.#deps.logger.info("connection collision: keeping the peer's connection", { peer: this.#options.name });
    this.#pending = undefined;
    p.cancelTimer();
    if (current) {
      current.conn.write(encodeMessage(ceaseMessage(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)));
      this.stats.sent.notification++;
      this.#detach();
    }
    for (const timer of [...this.#timers.keys()]) this.#stopTimer(timer);
    // Restart the machine on the surviving connection, then feed it the OPEN already read, and anything after it.
    this.#fsm = { state: "active", connectRetryCounter: this.#fsm.connectRetryCounter, enabled: true };
    this.#attached = p;
    this.#localAddress = p.conn.localAddress;
    p.conn.start({ data: (c) => this.#onData(p, c), closed: (r) => this.#onClosed(p, r) });
    this.#dispatch({ type: "connected" });
    this.stats.received.open++;
    this.#dispatch({ type: "message", message: open });
    this.#drain(p);
  }

  #attach(conn: BgpConnection, outgoing: boolean): void {
    const a: Attached = { conn, framer: new MessageFramer(), outgoing };
    this.#attached = a;
    this.#localAddress = conn.localAddress;
    conn.start({ data: (c) => this.#onData(a, c), closed: (r) => this.#onClosed(a, r) });
  }

  #detach(): void {
    const a = this.#attached;
    if (!a) return;
    this.#attached = undefined;
    this.#closeConn(a.conn);
  }

  #closeConn(conn: BgpConnection): void {
    conn.close();
    const p = conn.closed.finally(() => this.#closing.delete(p));
    this.#closing.add(p);
  }

  #onClosed(a: Attached, reason: string): void {
    if (this.#attached !== a) return;
    this.#attached = undefined;
    this.#dispatch({ type: "connectionFailed", reason });
  }

  #onData(a: Attached, chunk: Uint8Array): void {
    if (this.#attached !== a) return;
    a.framer.push(chunk);
    this.#drain(a);
  }

  #drain(a: Attached): void {
    while (this.#attached === a) {
      const frame = a.framer.next();
      if (frame === undefined) return;
      if (!(frame instanceof Uint8Array)) {
        this.#dispatch({ type: "decodeError", error: frame });
        return;
      }
      const decoded = decodeMessage(frame, { fourOctetAs: this.#fsm.negotiated?.fourOctetAs ?? true });
      if (!decoded.ok) {
        this.#deps.logger.warnOnce(
          `bgp-decode:${this.#options.name}:${decoded.error.code}/${decoded.error.subcode}`,
          "malformed message from peer",
          {
            peer: this.#options.name,
            error: describeNotification(decoded.error.code, decoded.error.subcode),
            reason: decoded.error.reason,
          },
        );
        this.#dispatch({ type: "decodeError", error: decoded.error });
        return;
      }
      this.stats.received[decoded.value.type]++;
      this.#dispatch({ type: "message", message: decoded.value });
    }
  }

  #dispatch(event: FsmEvent): void {
    const from = this.#fsm.state;
    const result = stepFsm(this.#fsm, event, this.#config);
    this.#fsm = result.state;
    for (const action of result.actions) this.#perform(action);
    if (this.#fsm.state !== from) {
      this.#deps.onEvent({ type: "state", peer: this.#options.name, from, to: this.#fsm.state });
    }
  }

  #perform(action: FsmAction): void {
    switch (action.type) {
      case "connect":
        this.#connect();
        break;
      case "send":
        this.#send(action.message);
        break;
      case "close":
        this.#abortDial();
        this.#detach();
        break;
      case "startTimer":
        this.#startTimer(action.timer, action.seconds);
        break;
      case "stopTimer":
        this.#stopTimer(action.timer);
        break;
      case "established":
        this.#onEstablished(action.negotiated);
        break;
      case "down":
        this.#rib.clear();
        this.stats.announced = 0;
        this.#deps.onEvent({
          type: "down",
          peer: this.#options.name,
          reason: action.reason,
          ...(action.notification ? { notification: action.notification } : {}),
        });
        break;
      case "update":
        this.#onUpdate(action.message);
        break;
      case "routeRefresh":
        if (this.#fsm.state === "established") this.#sendAll(this.#rib.refresh());
        break;
    }
  }

  #connect(): void {
    this.#abortDial();
    const abort = new AbortController();
    this.#dialAbort = abort;
    this.#dialing = this.#deps.dial(abort.signal).then(
      (conn) => {
        if (this.#dialAbort !== abort || abort.signal.aborted || this.#fsm.state !== "connect") {
          conn.start({ data: () => {}, closed: () => {} });
          this.#closeConn(conn);
          return;
        }
        this.#dialAbort = undefined;
        this.#attach(conn, true);
        this.#dispatch({ type: "connected" });
      },
      (error: unknown) => {
        if (this.#dialAbort !== abort || abort.signal.aborted) return;
        this.#dialAbort = undefined;
        this.#dispatch({ type: "connectionFailed", reason: error instanceof Error ? error.message : String(error) });
      },
    );
  }

  #abortDial(): void {
    this.#dialAbort?.abort();
    this.#dialAbort = undefined;
  }

  #send(message: BgpMessage): void {
    const a = this.#attached;
    if (!a) return;
    a.conn.write(
      message.type === "keepalive"
        ? KEEPALIVE_BYTES
        : encodeMessage(message, { fourOctetAs: this.#fsm.negotiated?.fourOctetAs ?? true }),
    );
    this.stats.sent[message.type]++;
  }

  #sendAll(updates: readonly UpdateMessage[]): void {
    for (const u of updates) this.#send(u);
  }

  #startTimer(timer: TimerName, seconds: number): void {
    if (timer === "hold") {
      this.#holdDeadline = this.#deps.clock.now() + seconds * 1000;
      // A running timer that fires no later than the new deadline re-arms itself when it fires.
      if (this.#timers.has("hold") && this.#holdFiresAt <= this.#holdDeadline) return;
      this.#timers.get("hold")?.();
      this.#armHold();
      return;
    }
    this.#timers.get(timer)?.();
    this.#timers.set(
      timer,
      this.#deps.clock.setTimer(seconds * 1000, () => {
        this.#timers.delete(timer);
        this.#dispatch({ type: "timer", timer });
      }),
    );
  }

  #armHold(): void {
    const wait = Math.max(0, this.#holdDeadline - this.#deps.clock.now());
    this.#holdFiresAt = this.#deps.clock.now() + wait;
    this.#timers.set(
      "hold",
      this.#deps.clock.setTimer(wait, () => {
        this.#timers.delete("hold");
        if (this.#deps.clock.now() < this.#holdDeadline) {
          this.#armHold();
          return;
        }
        this.#dispatch({ type: "timer", timer: "hold" });
      }),
    );
  }

  #stopTimer(timer: TimerName): void {
    this.#timers.get(timer)?.();
    this.#timers.delete(timer);
  }

  /** Updates that bring the peer to the routes it should have; none (and an error log) if planning fails. */
  #syncUpdates(): UpdateMessage[] {
    try {
      return this.#rib.sync(this.#plan());
    } catch (error) {
      // The speaker validates routes before accepting them, so this is a bug; keep the session and what it has.
      this.#deps.logger.error("cannot plan routes for peer", { peer: this.#options.name, error });
      return [];
    }
  }

  #plan() {
    const n = this.#fsm.negotiated!;
    const { planned, skipped } = planRoutes(this.#deps.routes(), {
      localAsn: this.#config.localAsn,
      peerAsn: this.#config.peerAsn,
      localAddress: this.#localAddress,
      families: n.families,
      ...(this.#options.nextHopV4 ? { nextHopV4: this.#options.nextHopV4 } : {}),
      ...(this.#options.nextHopV6 ? { nextHopV6: this.#options.nextHopV6 } : {}),
      ...(this.#options.linkLocalNextHop ? { linkLocalNextHop: this.#options.linkLocalNextHop } : {}),
    });
    this.stats.skipped = skipped.length;
    for (const s of skipped) {
      this.#deps.logger.warnOnce(`bgp-skip:${this.#options.name}:${s.prefix}`, "route not announced to peer", {
        peer: this.#options.name,
        prefix: s.prefix,
        reason: s.reason,
      });
    }
    return planned;
  }

  #onEstablished(n: Negotiated): void {
    this.stats.establishedTransitions++;
    this.#deps.logger.info("BGP session established", {
      peer: this.#options.name,
      holdTime: n.holdTime,
      families: n.families.map((f) => (f.afi === Afi.IPV4 ? "ipv4" : "ipv6")).join(","),
    });
    this.#deps.onEvent({
      type: "established",
      peer: this.#options.name,
      negotiated: n,
      localAddress: this.#localAddress,
    });
    this.#rib.clear();
    this.#sendAll(this.#syncUpdates());
    this.stats.announced = this.#rib.size;
    // RFC 4724 §2: End-of-RIB after the initial table, per family.
    for (const f of n.families) if (f.safi === SAFI_UNICAST) this.#send(endOfRib(f));
  }

  #onUpdate(u: UpdateMessage): void {
    // Routes from peers are never installed (the speaker only announces); count them so operators can see them.
    if (endOfRibFamily(u)) {
      this.stats.endOfRibReceived++;
      return;
    }
    const reach = u.nlri.length + (u.attributes.mpReach?.nlri.length ?? 0);
    const unreach = u.withdrawn.length + (u.attributes.mpUnreach?.withdrawn.length ?? 0);
    if (u.treatAsWithdraw) {
      this.stats.treatAsWithdraw++;
      this.stats.prefixesWithdrawn += reach + unreach;
    } else {
      this.stats.prefixesReceived += reach;
      this.stats.prefixesWithdrawn += unreach;
    }
    for (const p of u.problems ?? []) {
      if (p.action === "attribute-discard") this.stats.attributesDiscarded++;
      this.#deps.logger.warnOnce(
        `bgp-attr:${this.#options.name}:${p.subcode}`,
        "malformed attribute from peer (RFC 7606)",
        {
          peer: this.#options.name,
          action: p.action,
          reason: p.reason,
        },
      );
    }
  }
}

function ceaseMessage(subcode: number): NotificationMessage {
  return { type: "notification", code: ErrorCode.CEASE, subcode, data: new Uint8Array(0) };
}
