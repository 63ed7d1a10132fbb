/**
 * The BGP session state machine (RFC 4271 §8) as a pure function from (state, event) to (state, actions). The
 * caller owns the TCP connection and the timers and performs the actions; tests drive time by feeding timer events.
 *
 * Departures from the RFC's optional machinery, on purpose: no DelayOpen, no passive TCP establishment option
 * beyond "passive" peers, and DampPeerOscillations is replaced by an exponential backoff on both the
 * ConnectRetry timer and an IdleHold timer that restarts a session after an error.
 */
import { Afi, AS_TRANS, CeaseSubcode, ErrorCode, FsmSubcode, OpenSubcode, SAFI_UNICAST } from "./constants.ts";
import { type BgpError, bgpError } from "./errors.ts";
import type { BgpMessage, NotificationMessage, RouteRefreshMessage } from "./message.ts";
import { type AfiSafi, type Capabilities, type GracefulRestartCapability, openAsn, type OpenMessage } from "./open.ts";
import type { UpdateMessage } from "./update.ts";

/** RFC 4271 §8.2.2 session states. */
export type SessionState = "idle" | "connect" | "active" | "openSent" | "openConfirm" | "established";

/** The timers a session runs. */
export type TimerName = "connectRetry" | "hold" | "keepalive" | "idleHold";

/** What the session is configured with; all times in seconds. */
export interface FsmConfig {
  /** Our AS number. */
  readonly localAsn: number;
  /** The AS number the peer must present (RFC 4271 §6.2 Bad Peer AS otherwise). */
  readonly peerAsn: number;
  /** Our BGP identifier as an unsigned 32-bit number. */
  readonly bgpId: number;
  /** Hold time we propose: 0 (no keepalives) or at least 3. */
  readonly holdTime: number;
  /** Keepalive interval we want; at most a third of the negotiated hold time. Default: a third of it. */
  readonly keepaliveTime?: number;
  /** Wait for the peer to connect instead of connecting (MetalLB's speaker always connects). */
  readonly passive?: boolean;
  /** First ConnectRetry / IdleHold interval; doubles per consecutive failure. */
  readonly retryMinSeconds: number;
  /** Largest ConnectRetry / IdleHold interval. */
  readonly retryMaxSeconds: number;
  /** Capabilities we advertise (the 4-octet AS capability is always added). */
  readonly capabilities: Capabilities;
}

/** What both sides agreed once the peer's OPEN was accepted. */
export interface Negotiated {
  /** Hold time in seconds: the smaller of both proposals; 0 means no keepalives and no hold timer. */
  readonly holdTime: number;
  /** Keepalive interval in seconds (0 when the hold time is 0). */
  readonly keepaliveTime: number;
  /** Both sides support 4-octet AS numbers (RFC 6793). */
  readonly fourOctetAs: boolean;
  /** Families both sides will exchange (RFC 4760 §6; IPv4 unicast alone when the peer sends no MP capability). */
  readonly families: readonly AfiSafi[];
  /** The peer accepts ROUTE-REFRESH. */
  readonly routeRefresh: boolean;
  /** The peer's graceful restart capability, if it sent one. */
  readonly peerGracefulRestart?: GracefulRestartCapability;
  /** The peer's OPEN. */
  readonly peerOpen: OpenMessage;
}

/** The machine's state. */
export interface FsmState {
  /** RFC 4271 state. */
  readonly state: SessionState;
  /** Consecutive failures since the last Established, which drives the backoff. */
  readonly connectRetryCounter: number;
  /** False after a manual stop: no automatic restart. */
  readonly enabled: boolean;
  /** Set from OpenConfirm on. */
  readonly negotiated?: Negotiated;
}

/** Inputs to the machine. */
export type FsmEvent =
  /** ManualStart (RFC 4271 event 1). */
  | { readonly type: "start" }
  /**
   * ManualStop (event 2): send a Cease (default Administrative Shutdown) and stay down. `silent` closes the
   * connection without a NOTIFICATION, so a graceful-restart helper keeps our routes (RFC 4724 §4.2).
   */
  | { readonly type: "stop"; readonly notification?: NotificationMessage; readonly silent?: boolean }
  /** A timer fired. */
  | { readonly type: "timer"; readonly timer: TimerName }
  /** A TCP connection is up, dialled or accepted (events 16/17). */
  | { readonly type: "connected" }
  /** The TCP connection failed or closed (event 18). */
  | { readonly type: "connectionFailed"; readonly reason: string }
  /** A message arrived and decoded. */
  | { readonly type: "message"; readonly message: BgpMessage }
  /** A message failed to decode (events 21, 22, 28): answer with its NOTIFICATION. */
  | { readonly type: "decodeError"; readonly error: BgpError }
  /** BFD declared the path down (RFC 5882 §4.2): drop the session at once. */
  | { readonly type: "bfdDown" };

/** Outputs the caller performs, in order. */
export type FsmAction =
  | { readonly type: "connect" }
  | { readonly type: "send"; readonly message: BgpMessage }
  | { readonly type: "close" }
  | { readonly type: "startTimer"; readonly timer: TimerName; readonly seconds: number }
  | { readonly type: "stopTimer"; readonly timer: TimerName }
  | { readonly type: "established"; readonly negotiated: Negotiated }
  | { readonly type: "down"; readonly reason: string; readonly notification?: NotificationMessage }
  | { readonly type: "update"; readonly message: UpdateMessage }
  | { readonly type: "routeRefresh"; readonly message: RouteRefreshMessage };

/** The result of one step. */
export interface FsmResult {
  /** The next state. */
  readonly state: FsmState;
  /** Actions to perform, in order. */
  readonly actions: readonly FsmAction[];
}

/** RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN ("a large value", suggested 4 minutes). */
export const OPEN_HOLD_SECONDS = 240;

/** BFD Down Cease subcode (RFC 9384). */
const CEASE_BFD_DOWN = 10;

/** The state a new session starts in. */
export function initialFsmState(): FsmState {
  return { state: "idle", connectRetryCounter: 0, enabled: false };
}

/** The retry interval after `failures` consecutive failures: min × 2^(failures-1), capped at max. */
export function backoffSeconds(config: FsmConfig, failures: number): number {
  const n = Math.max(0, failures - 1);
  return Math.min(config.retryMaxSeconds, config.retryMinSeconds * 2 ** Math.min(n, 30));
}

/** The OPEN we send. */
export function buildOpen(config: FsmConfig): OpenMessage {
  return {
    type: "open",
    version: 4,
    myAs: config.localAsn > 0xffff ? AS_TRANS : config.localAsn,
    holdTime: config.holdTime,
    bgpId: config.bgpId,
    capabilities: { ...config.capabilities, fourOctetAs: config.localAsn },
  };
}

const IPV4_UNICAST: AfiSafi = { afi: Afi.IPV4, safi: SAFI_UNICAST };

/**
 * Checks the peer's OPEN against the configuration (RFC 4271 §6.2, RFC 6793, RFC 6286) and negotiates the session.
 * Returns the error to send when the OPEN is unacceptable.
 */
export function validateOpen(open: OpenMessage, config: FsmConfig): Negotiated | BgpError {
  const asn = openAsn(open);
  if (asn !== config.peerAsn) {
    return bgpError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.BAD_PEER_AS,
      `peer AS ${asn} is not the configured ${config.peerAsn}`,
    );
  }
  if (
    open.capabilities.fourOctetAs !== undefined && open.myAs !== open.capabilities.fourOctetAs && open.myAs !== AS_TRANS
  ) {
    // RFC 6793 §4.1 says the 4-octet capability wins; a different non-AS_TRANS My AS is a misconfigured peer.
    return bgpError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.BAD_PEER_AS,
      `My AS ${open.myAs} disagrees with 4-octet AS ${asn}`,
    );
  }
  // RFC 6286 §2.2: identifiers must differ only within an AS.
  if (config.peerAsn === config.localAsn && open.bgpId === config.bgpId) {
    return bgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER, "iBGP peer uses our own BGP identifier");
  }
  if (open.holdTime === 1 || open.holdTime === 2) {
    return bgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${open.holdTime} s`);
  }
  const holdTime = Math.min(config.holdTime, open.holdTime);
  const third = Math.floor(holdTime / 3);
  const keepaliveTime = holdTime === 0 ? 0 : Math.max(1, Math.min(config.keepaliveTime ?? third, third));
  const ours = config.capabilities.multiprotocol ?? [IPV4_UNICAST];
  const theirs = open.capabilities.multiprotocol ?? [IPV4_UNICAST];
  const families = ours.filter((f) => theirs.some((t) => t.afi === f.afi && t.safi === f.safi));
  const negotiated: Negotiated = {
    holdTime,
    keepaliveTime,
    fourOctetAs: open.capabilities.fourOctetAs !== undefined,
    families,
    routeRefresh: open.capabilities.routeRefresh === true,
    peerOpen: open,
  };
  return open.capabilities.gracefulRestart
    ? { ...negotiated, peerGracefulRestart: open.capabilities.gracefulRestart }
    : negotiated;
}

function notification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): NotificationMessage {
  return { type: "notification", code, subcode, data };
}

const ALL_TIMERS: readonly TimerName[] = ["connectRetry", "hold", "keepalive", "idleHold"];

/**
 * Leaves the session for Idle after a failure: optionally send a NOTIFICATION, drop the connection, stop the
 * timers, count the failure and (unless stopped by hand) arm the IdleHold timer for an automatic restart.
 */
function toIdle(
  s: FsmState,
  config: FsmConfig,
  reason: string,
  opts: { send?: NotificationMessage; received?: NotificationMessage; enabled?: boolean; count?: boolean } = {},
): FsmResult {
  const enabled = opts.enabled ?? s.enabled;
  const counter = opts.count === false ? s.connectRetryCounter : s.connectRetryCounter + 1;
  const actions: FsmAction[] = [];
  if (opts.send) actions.push({ type: "send", message: opts.send });
  actions.push({ type: "close" });
  for (const timer of ALL_TIMERS) actions.push({ type: "stopTimer", timer });
  const note = opts.send ?? opts.received;
  actions.push(note ? { type: "down", reason, notification: note } : { type: "down", reason });
  if (enabled) {
    actions.push({ type: "startTimer", timer: "idleHold", seconds: backoffSeconds(config, Math.max(1, counter)) });
  }
  return { state: { state: "idle", connectRetryCounter: counter, enabled }, actions };
}

function openSent(s: FsmState, config: FsmConfig): FsmResult {
  return {
    state: { state: "openSent", connectRetryCounter: s.connectRetryCounter, enabled: s.enabled },
    actions: [
      { type: "stopTimer", timer: "connectRetry" },
      { type: "stopTimer", timer: "idleHold" },
      { type: "send", message: buildOpen(config) },
      { type: "startTimer", timer: "hold", seconds: OPEN_HOLD_SECONDS },
    ],
  };
}

function begin(s: FsmState, config: FsmConfig): FsmResult {
  const base = { connectRetryCounter: s.connectRetryCounter, enabled: true };
  if (config.passive) {
    return { state: { state: "active", ...base }, actions: [{ type: "stopTimer", timer: "idleHold" }] };
  }
  return {
    state: { state: "connect", ...base },
    actions: [
      { type: "stopTimer", timer: "idleHold" },
      {
        type: "startTimer",
        timer: "connectRetry",
        seconds: backoffSeconds(config, Math.max(1, s.connectRetryCounter)),
      },
      { type: "connect" },
    ],
  };
}

const FSM_SUBCODE: Partial<Record<SessionState, number>> = {
  openSent: FsmSubcode.UNEXPECTED_IN_OPEN_SENT,
  openConfirm: FsmSubcode.UNEXPECTED_IN_OPEN_CONFIRM,
  established: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
};

function onMessage(s: FsmState, config: FsmConfig, message: BgpMessage): FsmResult {
  const same = { state: s, actions: [] as FsmAction[] };
  if (message.type === "notification") {
    // Event 24/25: the peer ends the session. A version error is not the peer's fault, so it is not counted.
    const versionError = message.code === ErrorCode.OPEN_MESSAGE && message.subcode === OpenSubcode.UNSUPPORTED_VERSION;
    return toIdle(s, config, "peer sent NOTIFICATION", { received: message, count: !versionError });
  }
  const unexpected = () => {
    const sub = FSM_SUBCODE[s.state] ?? FsmSubcode.UNSPECIFIED;
    return toIdle(s, config, `unexpected ${message.type} in ${s.state}`, { send: notification(ErrorCode.FSM, sub) });
  };
  switch (s.state) {
    case "openSent": {
      if (message.type !== "open") return unexpected();
      const result = validateOpen(message, config);
      if ("code" in result) {
        return toIdle(s, config, result.reason, { send: notification(result.code, result.subcode, result.data) });
      }
      const actions: FsmAction[] = [{ type: "send", message: { type: "keepalive" } }];
      if (result.holdTime > 0) {
        actions.push({ type: "startTimer", timer: "keepalive", seconds: result.keepaliveTime });
        actions.push({ type: "startTimer", timer: "hold", seconds: result.holdTime });
      } else {
        actions.push({ type: "stopTimer", timer: "hold" });
      }
      return { state: { ...s, state: "openConfirm", negotiated: result }, actions };
    }
    case "openConfirm": {
      if (message.type !== "keepalive") return unexpected();
      const n = s.negotiated!;
      const actions: FsmAction[] = [];
      if (n.holdTime > 0) actions.push({ type: "startTimer", timer: "hold", seconds: n.holdTime });
      actions.push({ type: "established", negotiated: n });
      return { state: { ...s, state: "established", connectRetryCounter: 0 }, actions };
    }
    case "established": {
      const n = s.negotiated!;
      const restartHold: FsmAction[] = n.holdTime > 0
        ? [{ type: "startTimer", timer: "hold", seconds: n.holdTime }]
        : [];
      if (message.type === "keepalive") return { state: s, actions: restartHold };
      if (message.type === "update") return { state: s, actions: [...restartHold, { type: "update", message }] };
      if (message.type === "route-refresh") return { state: s, actions: [{ type: "routeRefresh", message }] };
      return unexpected();
    }
    default:
      // Messages cannot arrive without a connection; ignore stragglers from one we already dropped.
      return same;
  }
}

/** One step of the state machine. */
export function stepFsm(s: FsmState, event: FsmEvent, config: FsmConfig): FsmResult {
  const same: FsmResult = { state: s, actions: [] };
  const connected = s.state === "openSent" || s.state === "openConfirm" || s.state === "established";
  switch (event.type) {
    case "start":
      if (s.state !== "idle") return { state: { ...s, enabled: true }, actions: [] };
      return begin({ ...s, connectRetryCounter: 0 }, config);
    case "stop": {
      if (s.state === "idle") {
        return {
          state: { ...s, enabled: false },
          actions: ALL_TIMERS.map((timer) => ({ type: "stopTimer", timer }) as FsmAction),
        };
      }
      const send = connected && !event.silent
        ? event.notification ?? notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
        : undefined;
      return toIdle(
        s,
        config,
        "stopped",
        send ? { send, enabled: false, count: false } : { enabled: false, count: false },
      );
    }
    case "timer":
      switch (event.timer) {
        case "idleHold":
          return s.state === "idle" && s.enabled ? begin(s, config) : same;
        case "connectRetry":
          if (s.state === "connect" || s.state === "active") {
            if (config.passive) return same;
            // RFC 4271 event 9: dial again after a longer wait. A dial still in flight (Connect) is abandoned: that
            // is a failed attempt like a refused one, so it is counted (the backoff grows) and reported.
            const abandoned = s.state === "connect";
            const counter = abandoned ? s.connectRetryCounter + 1 : s.connectRetryCounter;
            return {
              state: { ...s, state: "connect", connectRetryCounter: counter },
              actions: [
                { type: "close" },
                {
                  type: "startTimer",
                  timer: "connectRetry",
                  seconds: backoffSeconds(config, abandoned ? counter : counter + 1),
                },
                { type: "connect" },
                ...(abandoned ? [{ type: "down", reason: "connection attempt timed out" } as FsmAction] : []),
              ],
            };
          }
          return same;
        case "hold":
          if (!connected) return same;
          return toIdle(s, config, "hold timer expired", { send: notification(ErrorCode.HOLD_TIMER_EXPIRED, 0) });
        case "keepalive":
          if (s.state !== "openConfirm" && s.state !== "established") return same;
          return {
            state: s,
            actions: [
              { type: "send", message: { type: "keepalive" } },
              { type: "startTimer", timer: "keepalive", seconds: s.negotiated!.keepaliveTime },
            ],
          };
      }
      return same;
    case "connected":
      if (s.state === "connect" || s.state === "active") return openSent(s, config);
      if (s.state === "idle" && s.enabled) return openSent(s, config);
      // A connection we cannot use: the caller drops it (collisions are resolved before this machine sees them).
      return { state: s, actions: [{ type: "close" }] };
    case "connectionFailed":
      if (s.state === "connect") {
        // RFC 4271 event 18 in Connect; we keep listening (Active) and dial again when ConnectRetry fires.
        const counter = s.connectRetryCounter + 1;
        return {
          state: { ...s, state: "active", connectRetryCounter: counter },
          actions: [
            { type: "close" },
            ...(config.passive
              ? []
              : [{ type: "startTimer", timer: "connectRetry", seconds: backoffSeconds(config, counter) } as FsmAction]),
            { type: "down", reason: event.reason },
          ],
        };
      }
      if (connected) return toIdle(s, config, event.reason);
      return same;
    case "message":
      return onMessage(s, config, event.message);
    case "decodeError":
      if (!connected) return same;
      return toIdle(s, config, event.error.reason, {
        send: notification(event.error.code, event.error.subcode, event.error.data),
      });
    case "bfdDown":
      if (!connected) return same;
      return toIdle(s, config, "BFD session down", { send: notification(ErrorCode.CEASE, CEASE_BFD_DOWN) });
  }
}

/**
 * RFC 4271 §6.8 collision resolution once both OPENs are known: the connection opened by the side with the higher
 * BGP identifier survives. Returns which of our two connections to keep.
 */
export function resolveCollision(localBgpId: number, remoteBgpId: number): "outgoing" | "incoming" {
  return localBgpId > remoteBgpId ? "outgoing" : "incoming";
}
