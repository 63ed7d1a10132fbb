/**
 * The ARP responder: answers requests for the IPv4 VIPs this node owns, only on the interfaces allowed for each VIP,
 * from the interface that received the request; sends a burst of gratuitous ARPs on takeover and stops answering the
 * moment an address is withdrawn.
 * @module
 */

import { silentLogger } from "../log/mod.ts";
import type { Logger } from "../log/mod.ts";
import { type Counter, type Gauge, Registry } from "../metrics/mod.ts";
import {
  type Clock,
  endOfTaskRunner,
  formatMac,
  FrameReaders,
  type FrameSocket,
  scheduleBurst,
  systemClock,
} from "../net/mod.ts";
import { ARP_REQUEST, encodeArpReplyFromView, encodeGratuitousArp, formatIpv4, ipv4Word, readArp } from "./codec.ts";
import { arpRequestFilter } from "./filter.ts";
import type { ArpOffload, ArpOffloadEntry } from "./offload.ts";

/**
 * When gratuitous ARPs go out after a takeover, in ms from the takeover. MetalLB (internal/layer2/announcer.go) sends
 * one at once, then every 1.1 s for 5 s. We front-load the repeats: a client that missed the first one (a lost frame,
 * a switch still learning) is corrected within half a second, and the burst still covers about four seconds.
 */
export const DEFAULT_ANNOUNCE_DELAYS_MS: readonly number[] = [0, 500, 1000, 2000, 4000];

/** Options for {@link ArpResponder}. */
export interface ArpResponderOptions {
  /** One socket per interface to answer on (e.g. from `openArpSocket`); more can be added with `addSocket`. */
  sockets?: readonly FrameSocket[];
  /** Clock for the gratuitous ARP burst; default the real one. */
  clock?: Clock;
  /** Where the counters go; default a private registry. */
  registry?: Registry;
  /** Logger; default silent. */
  logger?: Logger;
  /** Delays of the gratuitous ARP burst; default {@link DEFAULT_ANNOUNCE_DELAYS_MS}. */
  announceDelaysMs?: readonly number[];
  /**
   * Narrow each socket's kernel filter to the VIPs owned on its interface, so requests for other addresses never
   * reach user space. Default true; false leaves a filter accepting all ARP requests.
   */
  filterTargets?: boolean;
  /**
   * The kernel fast path (`ArpOffload.open()`): plain requests for owned VIPs are answered by a tc program on each
   * interface it attaches to; everything else still reaches this responder. The responder owns it and closes it.
   */
  offload?: ArpOffload;
}

/** Shortest time between two defences of one VIP against another host's announcements. */
export const DEFEND_INTERVAL_MS = 1000;

/** How often the kernel fast path's reply counts are added to `metallite_arp_replies_total`. */
const OFFLOAD_COUNT_INTERVAL_MS = 5000;

/** Options for {@link ArpResponder.announce}. */
export interface AnnounceOptions {
  /** Interfaces the VIP may be announced on; omitted means every interface of the responder. */
  interfaces?: readonly string[];
}

/** What the responder did with one frame. */
export type ArpOutcome =
  | { action: "answered"; ip: string }
  | { action: "ignored"; reason: ArpIgnoreReason }
  | { action: "malformed"; reason: string }
  | { action: "send_failed"; ip: string };

/** Why a well-formed ARP frame was not answered (also the `reason` label of `metallite_arp_ignored_total`). */
export type ArpIgnoreReason =
  | "not_request"
  | "not_for_us"
  | "own_frame"
  | "not_owned"
  | "interface_not_allowed"
  | "announcement";

interface Ownership {
  /** The VIP as text. */
  ip: string;
  /** When we last defended it against another host's announcement (clock ms). */
  defendedAt?: number;
  /** Allowed interfaces, or undefined for all. */
  interfaces: ReadonlySet<string> | undefined;
  /** Cancels the pending timers of the gratuitous burst. */
  cancelBurst: () => void;
}

/**
 * Answers ARP requests for owned VIPs.
 * @example
 * const responder = new ArpResponder({ sockets: [openArpSocket("eth0")], registry, logger });
 * responder.announce("192.0.2.10");      // takeover: answer and send gratuitous ARPs
 * responder.withdraw("192.0.2.10");      // lost it: stop answering now
 * await responder.close();
 */
export class ArpResponder {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #delays: readonly number[];
  readonly #filterTargets: boolean;
  readonly #readers: FrameReaders;
  /** Owned VIPs by their 32-bit number, so a request is matched without formatting its address. */
  readonly #owned = new Map<number, Ownership>();
  readonly #replies: Counter;
  readonly #ignored: Counter;
  readonly #malformed: Counter;
  readonly #gratuitous: Counter;
  readonly #offload: ArpOffload | undefined;
  readonly #offloaded: Gauge;
  #cancelOffloadCount: () => void = () => {};
  #closed = false;
  /** Filters and the fast path follow the owned set: at the end of the task after announces, at once on withdrawal. */
  readonly #filters = endOfTaskRunner(() => this.#applyFilters(), { skip: () => this.#closed });

  /** Starts reading on the given sockets at once. */
  constructor(options: ArpResponderOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? silentLogger).with({ part: "arp" });
    this.#delays = options.announceDelaysMs ?? DEFAULT_ANNOUNCE_DELAYS_MS;
    this.#filterTargets = options.filterTargets ?? true;
    const registry = options.registry ?? new Registry();
    this.#replies = registry.counter("metallite_arp_replies_total", "ARP replies sent for owned VIPs", ["interface"]);
    this.#ignored = registry.counter(
      "metallite_arp_ignored_total",
      "ARP frames seen but not answered (e.g. reason=not_owned)",
      ["interface", "reason"],
    );
    this.#malformed = registry.counter("metallite_arp_malformed_total", "ARP frames refused as malformed", [
      "interface",
      "reason",
    ]);
    this.#gratuitous = registry.counter("metallite_arp_gratuitous_total", "Gratuitous ARP frames sent", ["interface"]);
    this.#readers = new FrameReaders({
      owner: "ArpResponder",
      protocol: "ARP",
      logger: this.#logger,
      sendErrors: registry.counter("metallite_arp_send_errors_total", "ARP frames that could not be sent", [
        "interface",
      ]),
      onFrame: (socket, bytes) => this.handleFrame(socket, bytes),
      onOversized: (socket) => this.#malformed.inc({ interface: socket.interfaceName, reason: "oversized" }),
    });
    this.#offloaded = registry.gauge(
      "metallite_arp_offload_interfaces",
      "Interfaces where the kernel (tc eBPF) answers ARP requests for owned VIPs",
    );
    this.#offload = options.offload;
    if (this.#offload !== undefined) this.#countOffloaded();
    for (const socket of options.sockets ?? []) this.addSocket(socket);
  }

  /** Starts answering on one more interface; the responder owns the socket from now on and closes it. */
  addSocket(socket: FrameSocket): void {
    if (this.#closed) throw new Error("ArpResponder is closed");
    this.#readers.add(socket);
    this.#applyFilter(socket);
    this.#attachOffload(socket);
  }

  /** Stops answering on an interface (e.g. it disappeared) and closes its socket. */
  async removeSocket(interfaceName: string): Promise<void> {
    if (this.#readers.get(interfaceName) === undefined) return;
    // Detached first, the interface's VIPs leave the kernel fast path before its socket stops being read.
    this.#offload?.detach(interfaceName);
    this.#offloaded.set({}, this.#offload?.interfaces().length ?? 0);
    this.#syncOffload();
    await this.#readers.remove(interfaceName);
  }

  /** Interfaces the responder reads from. */
  interfaces(): string[] {
    return this.#readers.names();
  }

  /** The owned VIPs and the interfaces each may be answered on (undefined = all). */
  owned(): Map<string, readonly string[] | undefined> {
    return new Map([...this.#owned.values()].map((o) => [o.ip, o.interfaces && [...o.interfaces]]));
  }

  /**
   * Takes ownership of an IPv4 VIP: requests for it are answered from now on, and gratuitous ARPs go out on the
   * allowed interfaces. Calling it again for an owned VIP only updates its interfaces (a burst goes out when that
   * adds an interface).
   */
  announce(ip: string, options: AnnounceOptions = {}): void {
    const word = ipv4Word(ip);
    if (this.#closed) return;
    const text = formatIpv4(word);
    const interfaces = options.interfaces && new Set(options.interfaces);
    const previous = this.#owned.get(word);
    const widened = previous !== undefined && previous.interfaces !== undefined &&
      (interfaces === undefined || [...interfaces].some((name) => !previous.interfaces!.has(name)));
    if (previous !== undefined && !widened) {
      this.#owned.set(word, { ...previous, interfaces });
      this.#filters.request();
      return;
    }
    previous?.cancelBurst();
    const ownership: Ownership = { ip: text, interfaces, cancelBurst: () => {} };
    this.#owned.set(word, ownership);
    this.#filters.request();
    ownership.cancelBurst = this.#burst(word);
    this.#logger.info("Announcing VIP", { ip: text, interfaces: interfaces ? [...interfaces] : "all" });
  }

  /**
   * Sends a fresh gratuitous burst for every owned VIP (or just `ip`), e.g. after an interface came back up or a
   * socket was added: switches and neighbours that forgot us learn again without waiting for a request.
   */
  reannounce(ip?: string): void {
    for (const [word, ownership] of this.#owned) {
      if (ip !== undefined && ownership.ip !== ip) continue;
      ownership.cancelBurst();
      ownership.cancelBurst = this.#burst(word);
    }
  }

  /** Gives up an IPv4 VIP: no request for it is answered after this returns, and its burst stops. */
  withdraw(ip: string): void {
    let word: number;
    try {
      word = ipv4Word(ip);
    } catch {
      return;
    }
    const ownership = this.#owned.get(word);
    if (ownership === undefined) return;
    this.#owned.delete(word);
    ownership.cancelBurst();
    this.#filters.now();
    this.#logger.info("Withdrew VIP", { ip: ownership.ip });
  }

  /**
   * Decides about one received frame and sends the reply if one is due. The read loop calls it for every frame;
   * tests and benchmarks may call it directly.
   */
  handleFrame(socket: FrameSocket, bytes: Uint8Array): ArpOutcome {
    // The hot path works on numbers and bytes only: it runs for every request on the LAN when the kernel filter
    // cannot narrow (too many VIPs, or filtering off), and mostly cold, so it must be cheap even before the JIT.
    const iface = socket.interfaceName;
    const read = readArp(bytes);
    if (!read.ok) {
      const { reason, message } = read.error;
      this.#malformed.inc({ interface: iface, reason });
      this.#logger.warnOnce(`arp-malformed:${iface}:${reason}`, "Ignoring malformed ARP frames", {
        interface: iface,
        reason,
        example: message,
      });
      return { action: "malformed", reason };
    }
    const view = read.view;
    if (view.operation !== ARP_REQUEST) return this.#ignore(iface, "not_request");
    // Requests are broadcast, or unicast to our MAC when a neighbour refreshes its cache entry.
    const mac = socket.mac;
    if (!isBroadcast(bytes) && !sameBytesAt(bytes, 0, mac)) return this.#ignore(iface, "not_for_us");
    if (sameBytesAt(bytes, 22, mac)) return this.#ignore(iface, "own_frame");
    const ownership = this.#owned.get(view.targetIp);
    if (ownership === undefined) return this.#ignore(iface, "not_owned");
    if (ownership.interfaces !== undefined && !ownership.interfaces.has(iface)) {
      return this.#ignore(iface, "interface_not_allowed");
    }
    if (view.senderIp === view.targetIp) {
      // Another host announces an address we own: a conflict, or the previous owner's last words after a failover.
      const sender = formatMac(bytes.subarray(22, 28));
      this.#logger.warnOnce(`arp-announcement:${ownership.ip}:${sender}`, "Another host announces a VIP we own", {
        ip: ownership.ip,
        mac: sender,
        interface: iface,
      });
      this.#defend(socket, ownership);
      return this.#ignore(iface, "announcement");
    }
    if (!this.#send(socket, encodeArpReplyFromView(view, mac))) return { action: "send_failed", ip: ownership.ip };
    this.#replies.inc({ interface: iface });
    return { action: "answered", ip: ownership.ip };
  }

  /**
   * Answers another host's announcement of a VIP we own with our own gratuitous ARP, at most once per
   * {@link DEFEND_INTERVAL_MS} per VIP (RFC 5227 §2.4 (b)). Two instances can both believe they own a VIP for a moment
   * (a node whose link just came back elects itself until it hears its peers); the last announcement a client hears
   * wins, so the owner that is still there must have the last word. When the other instance is the rightful owner,
   * heartbeats settle it within a second and the loser withdraws.
   */
  #defend(socket: FrameSocket, ownership: Ownership): void {
    const now = this.#clock.now();
    if (ownership.defendedAt !== undefined && now - ownership.defendedAt < DEFEND_INTERVAL_MS) return;
    ownership.defendedAt = now;
    this.#sendGratuitous(socket, ownership.ip);
  }

  #ignore(iface: string, reason: ArpIgnoreReason): ArpOutcome {
    this.#ignored.inc({ interface: iface, reason });
    return { action: "ignored", reason };
  }

  /** Stops answering, cancels bursts, and closes every socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ownership of this.#owned.values()) ownership.cancelBurst();
    this.#owned.clear();
    if (this.#offload !== undefined) {
      this.#cancelOffloadCount();
      this.#addOffloadedReplies(this.#offload);
      this.#offload.close();
      this.#offloaded.set({}, 0);
    }
    await Promise.all(this.interfaces().map((name) => this.removeSocket(name)));
  }

  #allowed(ownership: Ownership, iface: string): boolean {
    return ownership.interfaces === undefined || ownership.interfaces.has(iface);
  }

  #applyFilters(): void {
    for (const socket of this.#readers.sockets()) this.#applyFilter(socket);
    this.#syncOffload();
  }

  #attachOffload(socket: FrameSocket): void {
    if (this.#offload === undefined) return;
    try {
      this.#offload.attach(socket);
    } catch (error) {
      this.#logger.warnOnce(
        `arp-offload:${socket.interfaceName}`,
        "Kernel fast path unavailable; answering ARP from user space",
        {
          interface: socket.interfaceName,
          error,
        },
      );
    }
    this.#offloaded.set({}, this.#offload.interfaces().length);
    this.#syncOffload();
  }

  /** Makes the kernel fast path answer exactly the owned VIPs on their allowed, attached interfaces. */
  #syncOffload(): void {
    const offload = this.#offload;
    if (offload === undefined || this.#closed) return;
    const attached = new Set(offload.interfaces());
    const entries: ArpOffloadEntry[] = [];
    for (const socket of this.#readers.sockets()) {
      if (!attached.has(socket.interfaceName)) continue;
      for (const [word, ownership] of this.#owned) {
        if (this.#allowed(ownership, socket.interfaceName)) {
          entries.push({ ip: word, interfaceIndex: socket.interfaceIndex, mac: socket.mac });
        }
      }
    }
    try {
      offload.sync(entries);
    } catch (error) {
      // A map that cannot be changed must not keep answering for VIPs we gave up: detach everywhere.
      this.#logger.error("Cannot update the kernel fast path; answering ARP from user space", { error });
      for (const name of attached) offload.detach(name);
      this.#offloaded.set({}, 0);
    }
  }

  /** Adds the kernel's replies to the reply counter now and every few seconds. */
  #countOffloaded(): void {
    const offload = this.#offload;
    if (offload === undefined || this.#closed) return;
    this.#addOffloadedReplies(offload);
    this.#cancelOffloadCount = this.#clock.setTimer(OFFLOAD_COUNT_INTERVAL_MS, () => this.#countOffloaded());
  }

  #addOffloadedReplies(offload: ArpOffload): void {
    let counts: Map<number, number>;
    try {
      counts = offload.takeReplies();
    } catch {
      return;
    }
    for (const [index, count] of counts) {
      const socket = this.#readers.sockets().find((s) => s.interfaceIndex === index);
      this.#replies.inc({ interface: socket?.interfaceName ?? String(index) }, count);
    }
  }

  #applyFilter(socket: FrameSocket): void {
    const iface = socket.interfaceName;
    const targets = this.#filterTargets
      ? [...this.#owned.values()].filter((o) => this.#allowed(o, iface)).map((o) => o.ip)
      : undefined;
    try {
      socket.setFilter(arpRequestFilter(targets === undefined ? {} : { targets }));
    } catch (error) {
      // The user-space checks still hold; only the kernel-side saving is lost.
      this.#logger.warnOnce(`arp-filter:${iface}`, "Cannot update the ARP socket filter", { interface: iface, error });
    }
  }

  /** Sends the gratuitous ARPs for `ip` now and at each later delay; returns the cancel function. */
  #burst(word: number): () => void {
    return scheduleBurst(this.#clock, this.#delays, () => {
      const ownership = this.#owned.get(word);
      if (ownership === undefined) return;
      for (const socket of this.#readers.sockets()) {
        if (!this.#allowed(ownership, socket.interfaceName)) continue;
        this.#sendGratuitous(socket, ownership.ip);
      }
    });
  }

  /** One gratuitous ARP request and one reply for `ip` from `socket`'s MAC. */
  #sendGratuitous(socket: FrameSocket, ip: string): void {
    for (const operation of ["request", "reply"] as const) {
      if (this.#send(socket, encodeGratuitousArp({ mac: socket.mac, ip, operation }))) {
        this.#gratuitous.inc({ interface: socket.interfaceName });
      }
    }
  }

  #send(socket: FrameSocket, frame: Uint8Array): boolean {
    return this.#readers.send(socket, frame);
  }
}

function isBroadcast(bytes: Uint8Array): boolean {
  return (bytes[0]! & bytes[1]! & bytes[2]! & bytes[3]! & bytes[4]! & bytes[5]!) === 0xff;
}

function sameBytesAt(bytes: Uint8Array, offset: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (bytes[offset + i] !== mac[i]) return false;
  return true;
}
