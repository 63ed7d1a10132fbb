/**
 * The BFD session state machine (RFC 5880 §6.2 and §6.8), asynchronous mode only, as pure functions over a
 * session record: `receive()` applies a packet, `detectionExpired()` handles the detection timer, `txPacket()` and
 * `txIntervalMs()` say what to send and when. The runtime (`bfd.ts`) owns sockets and timers.
 *
 * Echo mode is not implemented (RFC 5880 allows it to be absent): we always advertise Required Min Echo RX 0, so
 * the peer never sends us echo packets, and a profile's echo settings are ignored. Demand mode is not used either.
 */
import { BfdDiag, type BfdPacket, BfdState, type BfdStateValue } from "./packet.ts";

/** MetalLB's BFDProfile fields that apply to single-hop asynchronous BFD; times in milliseconds. */
export interface BfdProfile {
  /** Required Min RX Interval we announce; default 300 ms (MetalLB's default). */
  readonly receiveInterval?: number;
  /** Desired Min TX Interval once Up; default 300 ms. */
  readonly transmitInterval?: number;
  /** Detect Mult; default 3. */
  readonly detectMultiplier?: number;
  /** Wait for the peer to speak first (RFC 5880 §6.1 passive role). */
  readonly passiveMode?: boolean;
  /** Accepted for compatibility; echo mode is not implemented and this is ignored. */
  readonly echoMode?: boolean;
  /** Accepted for compatibility; ignored. */
  readonly echoInterval?: number;
  /** Ignored for single-hop sessions, which require TTL 255 (RFC 5881 §5). */
  readonly minimumTtl?: number;
}

/** RFC 5880 §6.8.3: while not Up, transmit no faster than once a second. */
export const SLOW_TX_US = 1_000_000;

/** A session's variables (RFC 5880 §6.8.1), times in µs. */
export interface BfdSessionState {
  readonly state: BfdStateValue;
  readonly remoteState: BfdStateValue;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  readonly localDiag: number;
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
  readonly remoteMinRxUs: number;
  readonly remoteDesiredMinTxUs: number;
  readonly remoteDetectMult: number;
  readonly detectMult: number;
  readonly passive: boolean;
  /** A Poll Sequence is in progress: our packets carry P until the peer answers with F. */
  readonly polling: boolean;
  /** The profile's TX interval, used once Up. */
  readonly upTxUs: number;
}

/** Creates a session in Down with a local discriminator (non-zero, unique per process). */
export function newBfdSession(localDiscr: number, profile: BfdProfile = {}): BfdSessionState {
  const rx = (profile.receiveInterval ?? 300) * 1000;
  const tx = (profile.transmitInterval ?? 300) * 1000;
  return {
    state: BfdState.DOWN,
    remoteState: BfdState.DOWN,
    localDiscr,
    remoteDiscr: 0,
    localDiag: BfdDiag.NONE,
    desiredMinTxUs: Math.max(SLOW_TX_US, tx),
    requiredMinRxUs: rx,
    remoteMinRxUs: 1,
    remoteDesiredMinTxUs: 0,
    remoteDetectMult: 0,
    detectMult: profile.detectMultiplier ?? 3,
    passive: profile.passiveMode === true,
    polling: false,
    upTxUs: tx,
  };
}

/** What one step produced. */
export interface BfdStep {
  /** The new session. */
  readonly session: BfdSessionState;
  /** Send a packet now (state change, or the F answering a P). */
  readonly sendNow: boolean;
  /** The packet asked for an answer with F set. */
  readonly final: boolean;
  /** The session changed state. */
  readonly changed?: { readonly from: BfdStateValue; readonly to: BfdStateValue };
  /** Re-arm the detection timer (a valid packet arrived). */
  readonly resetDetection: boolean;
}

function to(s: BfdSessionState, state: BfdStateValue, diag: number): BfdSessionState {
  if (state === BfdState.UP) {
    // Leave the slow rate of RFC 5880 §6.8.3 with a Poll Sequence announcing the new interval.
    return { ...s, state, localDiag: diag, desiredMinTxUs: s.upTxUs, polling: true };
  }
  return { ...s, state, localDiag: diag, desiredMinTxUs: Math.max(SLOW_TX_US, s.upTxUs), polling: false };
}

/** RFC 5880 §6.8.6: applies a received, already validated packet to the session. */
export function receive(s0: BfdSessionState, p: BfdPacket): BfdStep {
  const none = { session: s0, sendNow: false, final: false, resetDetection: false };
  if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s0.localDiscr) return none;
  let s: BfdSessionState = {
    ...s0,
    remoteDiscr: p.myDiscriminator,
    remoteState: p.state,
    remoteMinRxUs: p.requiredMinRxUs,
    remoteDesiredMinTxUs: p.desiredMinTxUs,
    remoteDetectMult: p.detectMult,
  };
  if (p.final && s.polling) s = { ...s, polling: false };
  if (s.state === BfdState.ADMIN_DOWN) return { ...none, session: s };
  const from = s.state;
  if (p.state === BfdState.ADMIN_DOWN) {
    if (s.state !== BfdState.DOWN) s = to(s, BfdState.DOWN, BfdDiag.NEIGHBOR_SIGNALED_DOWN);
  } else if (s.state === BfdState.DOWN) {
    if (p.state === BfdState.DOWN) s = to(s, BfdState.INIT, BfdDiag.NONE);
    else if (p.state === BfdState.INIT) s = to(s, BfdState.UP, BfdDiag.NONE);
  } else if (s.state === BfdState.INIT) {
    if (p.state === BfdState.INIT || p.state === BfdState.UP) s = to(s, BfdState.UP, BfdDiag.NONE);
  } else if (p.state === BfdState.DOWN) {
    s = to(s, BfdState.DOWN, BfdDiag.NEIGHBOR_SIGNALED_DOWN);
  }
  const changed = s.state !== from ? { from, to: s.state } : undefined;
  return {
    session: s,
    sendNow: changed !== undefined || p.poll,
    final: p.poll,
    resetDetection: true,
    ...(changed ? { changed } : {}),
  };
}

/** RFC 5880 §6.8.4: no packet within the detection time: Init or Up goes Down. */
export function detectionExpired(s: BfdSessionState): BfdStep {
  if (s.state !== BfdState.INIT && s.state !== BfdState.UP) {
    return { session: { ...s, remoteDiscr: 0 }, sendNow: false, final: false, resetDetection: false };
  }
  const next = { ...to(s, BfdState.DOWN, BfdDiag.CONTROL_DETECTION_TIME_EXPIRED), remoteDiscr: 0 };
  return {
    session: next,
    sendNow: true,
    final: false,
    resetDetection: false,
    changed: { from: s.state, to: BfdState.DOWN },
  };
}

/** RFC 5880 §6.8.4: the detection time in milliseconds (0 when not yet known). */
export function detectionTimeMs(s: BfdSessionState): number {
  if (s.remoteDetectMult === 0) return 0;
  return (s.remoteDetectMult * Math.max(s.requiredMinRxUs, s.remoteDesiredMinTxUs)) / 1000;
}

/**
 * RFC 5880 §6.8.7: the interval to the next periodic packet in milliseconds, reduced by a random 0-25% (10-25%
 * when Detect Mult is 1), or undefined when nothing is to be sent (passive and the peer has not spoken yet, or the
 * peer asked for a Required Min RX Interval of 0).
 */
export function txIntervalMs(s: BfdSessionState, random: () => number = Math.random): number | undefined {
  if (s.passive && s.remoteDiscr === 0) return undefined;
  if (s.remoteMinRxUs === 0) return undefined;
  const base = Math.max(s.desiredMinTxUs, s.remoteMinRxUs) / 1000;
  const jitter = s.detectMult === 1 ? 0.75 + random() * 0.15 : 0.75 + random() * 0.25;
  return base * jitter;
}

/** The Control packet to send now. */
export function txPacket(s: BfdSessionState, final = false): BfdPacket {
  return {
    version: 1,
    diag: s.localDiag,
    state: s.state,
    // RFC 5880 §6.5: P and F are never both set.
    poll: s.polling && !final,
    final,
    controlPlaneIndependent: false,
    authenticationPresent: false,
    demand: false,
    multipoint: false,
    detectMult: s.detectMult,
    myDiscriminator: s.localDiscr,
    yourDiscriminator: s.remoteDiscr,
    desiredMinTxUs: s.desiredMinTxUs,
    requiredMinRxUs: s.requiredMinRxUs,
    requiredMinEchoRxUs: 0,
  };
}
