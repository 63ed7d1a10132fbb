/**
 * The NDP responder: answers neighbor solicitations for the IPv6 VIPs this node owns, only on the interfaces allowed
 * for each VIP, from the interface that received them; joins the solicited-node group of each owned VIP, sends
 * unsolicited advertisements on takeover, and stops answering the moment an address is withdrawn.
 * @module
 */

import { canonicalIp, ipToBytes, parseIp } from "../ip/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Logger } from "../log/mod.ts";
import { type Counter, Registry } from "../metrics/mod.ts";
import {
  type Clock,
  endOfTaskRunner,
  formatMac,
  FrameReaders,
  type FrameSocket,
  parseMac,
  scheduleBurst,
  systemClock,
} from "../net/mod.ts";
import {
  encodeSolicitationReplyFromView,
  encodeUnsolicitedAdvertisement,
  ICMPV6_NEIGHBOR_SOLICITATION,
  NDP_DESTINATION_AT,
  NDP_TARGET_AT,
  readNdp,
  solicitedNodeMac,
} from "./codec.ts";
import { ndpSolicitationFilter } from "./filter.ts";

/**
 * When unsolicited advertisements go out after a takeover, in ms. As for ARP: MetalLB sends at once and then every
 * 1.1 s for 5 s; we front-load the repeats so a lost first advertisement is made good within half a second.
 */
export const DEFAULT_NDP_ANNOUNCE_DELAYS_MS: readonly number[] = [0, 500, 1000, 2000, 4000];

/** Options for {@link NdpResponder}. */
export interface NdpResponderOptions {
  /** One socket per interface (e.g. from `openNdpSocket`); more can be added with `addSocket`. */
  sockets?: readonly FrameSocket[];
  /** Clock for the advertisement burst; default the real one. */
  clock?: Clock;
  /** Where the counters go; default a private registry. */
  registry?: Registry;
  /** Logger; default silent. */
  logger?: Logger;
  /** Delays of the unsolicited advertisement burst; default {@link DEFAULT_NDP_ANNOUNCE_DELAYS_MS}. */
  announceDelaysMs?: readonly number[];
  /** Narrow each socket's kernel filter to the VIPs owned on its interface; default true. */
  filterTargets?: boolean;
}

/** Options for {@link NdpResponder.announce}. */
export interface NdpAnnounceOptions {
  /** Interfaces the VIP may be announced on; omitted means every interface of the responder. */
  interfaces?: readonly string[];
}

/** Why a valid solicitation was not answered (the `reason` label of `metallite_ndp_ignored_total`). */
export type NdpIgnoreReason = "not_solicitation" | "not_for_us" | "own_frame" | "not_owned" | "interface_not_allowed";

/** What the responder did with one frame. */
export type NdpOutcome =
  | { action: "answered"; ip: string; dad: boolean }
  | { action: "ignored"; reason: NdpIgnoreReason }
  | { action: "malformed"; reason: string }
  | { action: "send_failed"; ip: string };

interface Ownership {
  /** The VIP in canonical text. */
  ip: string;
  interfaces: ReadonlySet<string> | undefined;
  cancelBurst: () => void;
}

/**
 * Answers neighbor solicitations for owned IPv6 VIPs.
 * @example
 * const responder = new NdpResponder({ sockets: [openNdpSocket("eth0")], registry, logger });
 * responder.announce("2001:db8::10");
 * responder.withdraw("2001:db8::10");
 * await responder.close();
 */
export class NdpResponder {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #delays: readonly number[];
  readonly #filterTargets: boolean;
  /** Groups and filters follow the owned set: at the end of the task after announces, at once on withdrawal. */
  readonly #syncAll = endOfTaskRunner(() => {
    for (const socket of this.#readers.sockets()) this.#sync(socket);
  }, { skip: () => this.#closed });
  readonly #readers: FrameReaders;
  /** Solicited-node group MACs joined, by interface. */
  readonly #groups = new Map<string, Set<string>>();
  /** Owned VIPs by the hex of their 16 bytes, so a solicitation's target is matched without formatting it. */
  readonly #owned = new Map<string, Ownership>();
  readonly #replies: Counter;
  readonly #ignored: Counter;
  readonly #malformed: Counter;
  readonly #unsolicited: Counter;
  #closed = false;

  /** Starts reading on the given sockets at once. */
  constructor(options: NdpResponderOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? silentLogger).with({ part: "ndp" });
    this.#delays = options.announceDelaysMs ?? DEFAULT_NDP_ANNOUNCE_DELAYS_MS;
    this.#filterTargets = options.filterTargets ?? true;
    const registry = options.registry ?? new Registry();
    this.#replies = registry.counter("metallite_ndp_replies_total", "Neighbor advertisements sent in reply", [
      "interface",
    ]);
    this.#ignored = registry.counter(
      "metallite_ndp_ignored_total",
      "Valid neighbor solicitations not answered (e.g. reason=not_owned)",
      ["interface", "reason"],
    );
    this.#malformed = registry.counter(
      "metallite_ndp_malformed_total",
      "NDP frames refused by RFC 4861 validation or as malformed",
      ["interface", "reason"],
    );
    this.#unsolicited = registry.counter(
      "metallite_ndp_unsolicited_total",
      "Unsolicited neighbor advertisements sent on takeover",
      ["interface"],
    );
    this.#readers = new FrameReaders({
      owner: "NdpResponder",
      protocol: "NDP",
      logger: this.#logger,
      sendErrors: registry.counter("metallite_ndp_send_errors_total", "NDP frames that could not be sent", [
        "interface",
      ]),
      onFrame: (socket, bytes) => this.handleFrame(socket, bytes),
      onOversized: (socket) => this.#malformed.inc({ interface: socket.interfaceName, reason: "oversized" }),
    });
    for (const socket of options.sockets ?? []) this.addSocket(socket);
  }

  /** Starts answering on one more interface; the responder owns the socket from now on and closes it. */
  addSocket(socket: FrameSocket): void {
    if (this.#closed) throw new Error("NdpResponder is closed");
    this.#readers.add(socket);
    this.#sync(socket);
  }

  /** Stops answering on an interface, leaves its groups, and closes its socket. */
  async removeSocket(interfaceName: string): Promise<void> {
    await this.#readers.remove(interfaceName, (socket) => {
      for (const group of [...this.#groupsOf(socket)]) this.#leave(socket, group);
      this.#groups.delete(interfaceName);
    });
  }

  /** Interfaces the responder reads from. */
  interfaces(): string[] {
    return this.#readers.names();
  }

  /** The owned VIPs (canonical text) and the interfaces each may be answered on (undefined = all). */
  owned(): Map<string, readonly string[] | undefined> {
    return new Map([...this.#owned.values()].map((o) => [o.ip, o.interfaces && [...o.interfaces]]));
  }

  /**
   * Takes ownership of an IPv6 VIP: joins its solicited-node group, answers solicitations for it, and sends
   * unsolicited advertisements on the allowed interfaces. Idempotent; widening the interfaces sends a new burst.
   * Throws a `TypeError` for text that is not an IPv6 address.
   */
  announce(ip: string, options: NdpAnnounceOptions = {}): void {
    const text = canonicalIpv6(ip);
    const key = hexKey(text);
    if (this.#closed) return;
    const interfaces = options.interfaces && new Set(options.interfaces);
    const previous = this.#owned.get(key);
    const widened = previous !== undefined && previous.interfaces !== undefined &&
      (interfaces === undefined || [...interfaces].some((name) => !previous.interfaces!.has(name)));
    if (previous !== undefined && !widened) {
      this.#owned.set(key, { ...previous, interfaces });
      this.#syncAll.request();
      return;
    }
    previous?.cancelBurst();
    const ownership: Ownership = { ip: text, interfaces, cancelBurst: () => {} };
    this.#owned.set(key, ownership);
    this.#syncAll.request();
    ownership.cancelBurst = this.#burst(key);
    this.#logger.info("Announcing VIP", { ip: text, interfaces: interfaces ? [...interfaces] : "all" });
  }

  /**
   * Sends a fresh unsolicited burst for every owned VIP (or just `ip`), e.g. after an interface came back up or a
   * socket was added.
   */
  reannounce(ip?: string): void {
    const only = ip === undefined ? undefined : canonicalIp(ip) ?? ip;
    for (const [key, ownership] of this.#owned) {
      if (only !== undefined && ownership.ip !== only) continue;
      ownership.cancelBurst();
      ownership.cancelBurst = this.#burst(key);
    }
  }

  /** Gives up an IPv6 VIP: nothing more is answered for it after this returns; its group is left. */
  withdraw(ip: string): void {
    const text = canonicalIp(ip);
    if (text === undefined || !text.includes(":")) return;
    const key = hexKey(text);
    const ownership = this.#owned.get(key);
    if (ownership === undefined) return;
    this.#owned.delete(key);
    ownership.cancelBurst();
    this.#syncAll.now();
    this.#logger.info("Withdrew VIP", { ip: text });
  }

  /** Decides about one received frame and sends the advertisement if one is due. */
  handleFrame(socket: FrameSocket, bytes: Uint8Array): NdpOutcome {
    // The hot path compares bytes and looks the target up by its hex form; no address is parsed or formatted.
    const iface = socket.interfaceName;
    const read = readNdp(bytes);
    if (!read.ok) {
      const { reason, message } = read.error;
      this.#malformed.inc({ interface: iface, reason });
      this.#logger.warnOnce(`ndp-malformed:${iface}:${reason}`, "Ignoring invalid NDP frames", {
        interface: iface,
        reason,
        example: message,
      });
      return { action: "malformed", reason };
    }
    const view = read.view;
    if (view.type !== ICMPV6_NEIGHBOR_SOLICITATION) return this.#ignore(iface, "not_solicitation");
    const mac = socket.mac;
    if ((bytes[0]! & 1) === 0 && !sameBytesAt(bytes, 0, mac, 6)) return this.#ignore(iface, "not_for_us");
    // To a group, a solicitation goes to the target's solicited-node address; unicast, to the target itself.
    if (bytes[NDP_DESTINATION_AT] === 0xff && !toSolicitedNodeOfTarget(bytes)) return this.#ignore(iface, "not_for_us");
    if (sameBytesAt(bytes, 6, mac, 6)) return this.#ignore(iface, "own_frame");
    const ownership = this.#owned.get(hexAt(bytes, NDP_TARGET_AT));
    if (ownership === undefined) return this.#ignore(iface, "not_owned");
    if (ownership.interfaces !== undefined && !ownership.interfaces.has(iface)) {
      return this.#ignore(iface, "interface_not_allowed");
    }
    const dad = view.sourceUnspecified;
    if (dad) {
      // Another host wants our VIP for itself: defend it (RFC 4861 §7.2.4), and say so once.
      const sender = formatMac(bytes.subarray(6, 12));
      this.#logger.warnOnce(`ndp-dad:${ownership.ip}:${sender}`, "Another host probes a VIP we own", {
        ip: ownership.ip,
        mac: sender,
        interface: iface,
      });
    }
    if (!this.#send(socket, encodeSolicitationReplyFromView(view, mac))) {
      return { action: "send_failed", ip: ownership.ip };
    }
    this.#replies.inc({ interface: iface });
    return { action: "answered", ip: ownership.ip, dad };
  }

  #ignore(iface: string, reason: NdpIgnoreReason): NdpOutcome {
    this.#ignored.inc({ interface: iface, reason });
    return { action: "ignored", reason };
  }

  /** Stops answering, cancels bursts, leaves groups, and closes every socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ownership of this.#owned.values()) ownership.cancelBurst();
    this.#owned.clear();
    await Promise.all(this.interfaces().map((name) => this.removeSocket(name)));
  }

  #allowed(ownership: Ownership, iface: string): boolean {
    return ownership.interfaces === undefined || ownership.interfaces.has(iface);
  }

  /** Brings one socket's groups and kernel filter in line with the owned VIPs allowed on its interface. */
  #sync(socket: FrameSocket): void {
    const iface = socket.interfaceName;
    const groups = this.#groupsOf(socket);
    const ips = [...this.#owned.values()].filter((o) => this.#allowed(o, iface)).map((o) => o.ip);
    // Join before narrowing the filter, leave after, so no solicitation for a VIP kept is missed in between.
    const wanted = new Set(ips.map((ip) => formatMac(solicitedNodeMac(ip))));
    for (const group of wanted) if (!groups.has(group)) this.#join(socket, group);
    try {
      socket.setFilter(ndpSolicitationFilter(this.#filterTargets ? { targets: ips } : {}));
    } catch (error) {
      this.#logger.warnOnce(`ndp-filter:${iface}`, "Cannot update the NDP socket filter", { interface: iface, error });
    }
    for (const group of [...groups]) if (!wanted.has(group)) this.#leave(socket, group);
  }

  /** The groups joined on a socket's interface. */
  #groupsOf(socket: FrameSocket): Set<string> {
    let groups = this.#groups.get(socket.interfaceName);
    if (groups === undefined) this.#groups.set(socket.interfaceName, groups = new Set());
    return groups;
  }

  #join(socket: FrameSocket, group: string): void {
    try {
      socket.addMembership(parseMac(group));
      this.#groupsOf(socket).add(group);
    } catch (error) {
      this.#logger.warnOnce(`ndp-join:${socket.interfaceName}:${group}`, "Cannot join a solicited-node group", {
        interface: socket.interfaceName,
        group,
        error,
      });
    }
  }

  #leave(socket: FrameSocket, group: string): void {
    this.#groupsOf(socket).delete(group);
    try {
      socket.dropMembership(parseMac(group));
    } catch (error) {
      this.#logger.warnOnce(
        `ndp-leave:${socket.interfaceName}:${group}`,
        "Cannot leave a solicited-node group",
        {
          interface: socket.interfaceName,
          group,
          error,
        },
      );
    }
  }

  #burst(key: string): () => void {
    return scheduleBurst(this.#clock, this.#delays, () => {
      const ownership = this.#owned.get(key);
      if (ownership === undefined) return;
      for (const socket of this.#readers.sockets()) {
        if (!this.#allowed(ownership, socket.interfaceName)) continue;
        if (this.#send(socket, encodeUnsolicitedAdvertisement({ mac: socket.mac, ip: ownership.ip }))) {
          this.#unsolicited.inc({ interface: socket.interfaceName });
        }
      }
    });
  }

  #send(socket: FrameSocket, frame: Uint8Array): boolean {
    return this.#readers.send(socket, frame);
  }
}

/** Canonical text of an IPv6 address, so "2001:DB8:0::10" and "2001:db8::10" are one VIP. */
function canonicalIpv6(ip: string): string {
  const canonical = canonicalIp(ip);
  if (canonical === undefined || !canonical.includes(":")) throw new TypeError(`"${ip}" is not an IPv6 address`);
  return canonical;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Hex of the 16 address bytes at `offset`. */
function hexAt(bytes: Uint8Array, offset: number): string {
  let out = "";
  for (let i = offset; i < offset + 16; i++) out += HEX[bytes[i]!];
  return out;
}

function hexKey(canonical: string): string {
  return hexAt(ipToBytes(parseIp(canonical)), 0);
}

function sameBytesAt(bytes: Uint8Array, offset: number, other: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (bytes[offset + i] !== other[i]) return false;
  return true;
}

/** Whether the IPv6 destination is ff02::1:ffXX:XXXX with the target's low 24 bits (RFC 4291 §2.7.1). */
function toSolicitedNodeOfTarget(bytes: Uint8Array): boolean {
  const d = NDP_DESTINATION_AT;
  for (let i = 0; i < 13; i++) if (bytes[d + i] !== SOLICITED_NODE_PREFIX[i]) return false;
  return bytes[d + 13] === bytes[NDP_TARGET_AT + 13] && bytes[d + 14] === bytes[NDP_TARGET_AT + 14] &&
    bytes[d + 15] === bytes[NDP_TARGET_AT + 15];
}

const SOLICITED_NODE_PREFIX = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff];
