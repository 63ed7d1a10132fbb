/**
 * BFD sessions at run time: one per peer address, sharing one UDP socket pair per address family, with timers on
 * an injected clock. The BGP speaker asks for a session per peer that has a BFDProfile and hears when it goes down.
 */
import { type Clock, systemClock } from "../net/clock.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import { formatIp, tryParseIp } from "../ip/mod.ts";
import { BfdDiag, BfdState, bfdStateName, decodeBfdPacket, encodeBfdPacket } from "./packet.ts";
import {
  type BfdProfile,
  type BfdSessionState,
  detectionExpired,
  detectionTimeMs,
  newBfdSession,
  receive,
  txIntervalMs,
  txPacket,
} from "./session.ts";
import { type BfdSocket, type BfdSocketOptions, type BfdSocketScope, openBfdSocket } from "./socket.ts";

/** A change of a session's state. */
export interface BfdChange {
  /** Peer address. */
  readonly peer: string;
  /** New state name. */
  readonly state: "AdminDown" | "Down" | "Init" | "Up";
  /** Previous state name. */
  readonly previous: "AdminDown" | "Down" | "Init" | "Up";
  /** Our diagnostic code (why we went down). */
  readonly diag: number;
}

/** Options for {@link BfdManager}. */
export interface BfdManagerOptions {
  /** Timers; default the system clock. */
  readonly clock?: Clock;
  /** Logs. */
  readonly logger?: Logger;
  /** Where sockets are created (tests: a namespace). */
  readonly scope?: BfdSocketScope;
  /** Jitter and discriminators; default Math.random. */
  readonly random?: () => number;
  /** Opens the sockets of a family; default {@link openBfdSocket}. */
  readonly openSocket?: (options: BfdSocketOptions) => BfdSocket;
}

interface Entry {
  /** Map key: family and numeric value, so "2001:db8::1" and "2001:DB8::0:1" meet. */
  readonly key: string;
  /** The address in canonical text. */
  readonly address: string;
  readonly family: 4 | 6;
  session: BfdSessionState;
  readonly onChange: (change: BfdChange) => void;
  cancelTx: (() => void) | undefined;
  cancelDetect: (() => void) | undefined;
}

/** Runs the BFD sessions of one process (or one namespace, in tests). */
export class BfdManager {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #options: BfdManagerOptions;
  readonly #byAddress = new Map<string, Entry>();
  readonly #byDiscr = new Map<number, Entry>();
  readonly #sockets = new Map<4 | 6, BfdSocket>();
  /** Packets dropped by validation, for metrics. */
  discarded = 0;

  constructor(options: BfdManagerOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
  }

  /** Starts a session with a peer; `onChange` hears every state change. Replaces an existing one. */
  add(address: string, profile: BfdProfile, onChange: (change: BfdChange) => void): void {
    const ip = tryParseIp(address);
    if (!ip) throw new TypeError(`BFD peer "${address}" is not an IP address`);
    for (
      const [name, v, min, max] of [
        ["receive interval", profile.receiveInterval, 10, 60000],
        ["transmit interval", profile.transmitInterval, 10, 60000],
        ["detect multiplier", profile.detectMultiplier, 2, 255],
      ] as const
    ) {
      if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
        throw new RangeError(`BFD ${name} ${v} is outside ${min}-${max}`);
      }
    }
    this.remove(address);
    const key = this.#key(address);
    this.#socket(ip.family);
    let discr = 0;
    while (discr === 0 || this.#byDiscr.has(discr)) discr = 1 + Math.floor(this.#random() * 0xfffffffe);
    const entry: Entry = {
      key,
      address: formatIp(ip),
      family: ip.family,
      session: newBfdSession(discr, profile),
      onChange,
      cancelTx: undefined,
      cancelDetect: undefined,
    };
    this.#byAddress.set(key, entry);
    this.#byDiscr.set(discr, entry);
    this.#scheduleTx(entry);
  }

  /** The state of a peer's session, if any. */
  state(address: string): "AdminDown" | "Down" | "Init" | "Up" | undefined {
    const e = this.#byAddress.get(this.#key(address));
    return e && bfdStateName(e.session.state);
  }

  /** Ends a peer's session, telling the peer with one AdminDown packet (RFC 5880 §6.8.16). */
  remove(address: string): void {
    const e = this.#byAddress.get(this.#key(address));
    if (!e) return;
    e.cancelTx?.();
    e.cancelDetect?.();
    this.#byAddress.delete(e.key);
    this.#byDiscr.delete(e.session.localDiscr);
    const bye = {
      ...e.session,
      state: BfdState.ADMIN_DOWN,
      localDiag: BfdDiag.ADMINISTRATIVELY_DOWN,
    } as BfdSessionState;
    this.#sockets.get(e.family)?.send(e.address, encodeBfdPacket(txPacket(bye)));
  }

  /** Ends every session and closes the sockets. */
  async close(): Promise<void> {
    for (const address of [...this.#byAddress.keys()]) this.remove(address);
    await Promise.all([...this.#sockets.values()].map((s) => s.close()));
    this.#sockets.clear();
  }

  #key(address: string): string {
    const ip = tryParseIp(address);
    return ip ? `${ip.family}:${ip.value}` : address;
  }

  #socket(family: 4 | 6): BfdSocket {
    let s = this.#sockets.get(family);
    if (!s) {
      const open = this.#options.openSocket ?? openBfdSocket;
      s = open({
        family,
        onPacket: (from, bytes) => this.#onPacket(from, bytes),
        ...(this.#options.scope ? { scope: this.#options.scope } : {}),
        random: this.#random,
      });
      this.#sockets.set(family, s);
    }
    return s;
  }

  #send(e: Entry, final = false): void {
    this.#sockets.get(e.family)?.send(e.address, encodeBfdPacket(txPacket(e.session, final)));
  }

  #scheduleTx(e: Entry): void {
    e.cancelTx?.();
    e.cancelTx = undefined;
    const ms = txIntervalMs(e.session, this.#random);
    if (ms === undefined) return;
    e.cancelTx = this.#clock.setTimer(ms, () => {
      e.cancelTx = undefined;
      if (this.#byAddress.get(e.key) !== e) return;
      this.#send(e);
      this.#scheduleTx(e);
    });
  }

  #armDetection(e: Entry): void {
    e.cancelDetect?.();
    e.cancelDetect = undefined;
    const ms = detectionTimeMs(e.session);
    if (ms <= 0) return;
    e.cancelDetect = this.#clock.setTimer(ms, () => {
      e.cancelDetect = undefined;
      if (this.#byAddress.get(e.key) !== e) return;
      this.#apply(e, detectionExpired(e.session));
    });
  }

  #apply(e: Entry, step: ReturnType<typeof receive>): void {
    const wasSilent = txIntervalMs(e.session, () => 0) === undefined;
    e.session = step.session;
    if (step.resetDetection) this.#armDetection(e);
    if (step.sendNow) this.#send(e, step.final);
    // Re-plan transmission when the rate may have changed or a passive session just heard its peer.
    if (step.changed || wasSilent || step.sendNow) this.#scheduleTx(e);
    if (step.changed) {
      const change: BfdChange = {
        peer: e.address,
        state: bfdStateName(step.changed.to),
        previous: bfdStateName(step.changed.from),
        diag: e.session.localDiag,
      };
      this.#logger.info("BFD session changed state", { peer: change.peer, from: change.previous, to: change.state });
      e.onChange(change);
    }
  }

  #onPacket(from: string, bytes: Uint8Array): void {
    const p = decodeBfdPacket(bytes);
    if (typeof p === "string") {
      this.discarded++;
      this.#logger.warnOnce(`bfd-bad:${from}:${p}`, "discarded a BFD packet", { from, reason: p });
      return;
    }
    const e = p.yourDiscriminator !== 0 ? this.#byDiscr.get(p.yourDiscriminator) : this.#byAddress.get(this.#key(from));
    if (!e || e.key !== this.#key(from)) {
      this.discarded++;
      return;
    }
    this.#apply(e, receive(e.session, p));
  }
}
