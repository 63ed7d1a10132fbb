/**
 * Reading `tcpdump -e -n -tt -xx` output into frames, and decoding the ARP and NDP fields Layer-2 tests assert
 * on. Pure: never throws on odd input; a frame too short for a layer simply lacks that layer's view.
 */
import { canonicalIp, formatIp, ipFromBytes } from "../../src/ip/mod.ts";

/** An ARP packet's fields (RFC 826). */
export interface ArpView {
  /** "request" (1), "reply" (2), or the raw operation code. */
  op: "request" | "reply" | number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
  /** Sender and target IP are equal: an announcement (RFC 5227 §3) or gratuitous ARP, request or reply form. */
  gratuitous: boolean;
  /** Sender IP 0.0.0.0: an RFC 5227 probe. */
  probe: boolean;
}

/** A Neighbour Discovery message's fields (RFC 4861 §4). */
export interface NdpView {
  kind: "rs" | "ra" | "ns" | "na" | "redirect";
  srcIp: string;
  dstIp: string;
  /** Must be 255 for the message to be valid (RFC 4861 §7.1). */
  hopLimit: number;
  /** Target address of an NS, NA or redirect. */
  target?: string;
  /** NA flags (RFC 4861 §4.4); false for other kinds. */
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** Source link-layer address option (type 1), lower-case. */
  sourceLinkAddress?: string;
  /** Target link-layer address option (type 2), lower-case. */
  targetLinkAddress?: string;
  /** The ICMPv6 checksum over the pseudo-header verifies. */
  checksumOk: boolean;
}

/** One frame seen by {@linkcode capture}. */
export interface CapturedPacket {
  /** Capture time in seconds since the epoch, microsecond precision. */
  time: number;
  /** tcpdump's one-line summary. */
  line: string;
  /** The whole frame, from the Ethernet header. */
  raw: Uint8Array;
  srcMac: string;
  dstMac: string;
  /** EtherType after any 802.1Q tag, e.g. 0x0806 for ARP, 0x86dd for IPv6. */
  ethertype: number;
  arp?: ArpView;
  ndp?: NdpView;
}

const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const NEXT_HEADER_ICMPV6 = 58;
// RFC 4861 §4: ICMPv6 types of Neighbour Discovery.
const NDP_KINDS: Record<number, NdpView["kind"]> = { 133: "rs", 134: "ra", 135: "ns", 136: "na", 137: "redirect" };

/** Formats bytes as a lower-case MAC, "aa:bb:cc:dd:ee:ff". */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

function u16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

/** Decodes an Ethernet/IPv4 ARP packet starting at `at`, or undefined when it is not one. */
export function decodeArp(frame: Uint8Array, at: number): ArpView | undefined {
  // RFC 826: htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, then op and the four addresses (28 bytes).
  if (frame.length < at + 28) return undefined;
  if (u16(frame, at) !== 1 || u16(frame, at + 2) !== 0x0800 || frame[at + 4] !== 6 || frame[at + 5] !== 4) {
    return undefined;
  }
  const code = u16(frame, at + 6);
  const senderIp = formatIp(ipFromBytes(frame.slice(at + 14, at + 18)));
  const targetIp = formatIp(ipFromBytes(frame.slice(at + 24, at + 28)));
  return {
    op: code === 1 ? "request" : code === 2 ? "reply" : code,
    senderMac: formatMac(frame.slice(at + 8, at + 14)),
    senderIp,
    targetMac: formatMac(frame.slice(at + 18, at + 24)),
    targetIp,
    gratuitous: senderIp === targetIp,
    probe: senderIp === "0.0.0.0",
  };
}

/** Ones'-complement sum check of an ICMPv6 message with its IPv6 pseudo-header (RFC 4443 §2.3). */
function icmpv6ChecksumOk(src: Uint8Array, dst: Uint8Array, message: Uint8Array): boolean {
  let sum = 0;
  const add = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  };
  add(src);
  add(dst);
  sum += message.length + NEXT_HEADER_ICMPV6;
  add(message);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/** Decodes an IPv6 packet at `at` that carries a Neighbour Discovery message, or undefined. */
export function decodeNdp(frame: Uint8Array, at: number): NdpView | undefined {
  if (frame.length < at + 40 + 4 || (frame[at]! >> 4) !== 6) return undefined;
  const payloadLength = u16(frame, at + 4);
  if (frame[at + 6] !== NEXT_HEADER_ICMPV6) return undefined; // extension headers: not an NDP message we check
  const end = Math.min(frame.length, at + 40 + payloadLength);
  const message = frame.slice(at + 40, end);
  const kind = NDP_KINDS[message[0]!];
  if (!kind) return undefined;
  const src = frame.slice(at + 8, at + 24);
  const dst = frame.slice(at + 24, at + 40);
  const view: NdpView = {
    kind,
    srcIp: formatIp(ipFromBytes(src)),
    dstIp: formatIp(ipFromBytes(dst)),
    hopLimit: frame[at + 7]!,
    router: false,
    solicited: false,
    override: false,
    checksumOk: message.length === payloadLength && icmpv6ChecksumOk(src, dst, message),
  };
  // RFC 4861 §4: fixed part before options is 8 bytes (RS), 16 (RA), 24 (NS, NA), 40 (redirect).
  const fixed = { rs: 8, ra: 16, ns: 24, na: 24, redirect: 40 }[kind];
  if (kind === "ns" || kind === "na" || kind === "redirect") {
    if (message.length < 24) return view;
    view.target = formatIp(ipFromBytes(message.slice(8, 24)));
  }
  if (kind === "na") {
    const flags = message[4]!;
    view.router = (flags & 0x80) !== 0;
    view.solicited = (flags & 0x40) !== 0;
    view.override = (flags & 0x20) !== 0;
  }
  for (let i = fixed; i + 2 <= message.length;) {
    const type = message[i]!;
    const length = message[i + 1]! * 8;
    if (length === 0 || i + length > message.length) break; // RFC 4861 §4.6: length 0 is invalid
    if (length >= 8 && (type === 1 || type === 2)) {
      const mac = formatMac(message.slice(i + 2, i + 8));
      if (type === 1) view.sourceLinkAddress = mac;
      else view.targetLinkAddress = mac;
    }
    i += length;
  }
  return view;
}

/** Decodes a frame's Ethernet header and, for ARP and NDP, the message inside. */
export function decodeFrame(raw: Uint8Array): Omit<CapturedPacket, "time" | "line"> {
  let ethertype = u16(raw, 12);
  let at = 14;
  if (ethertype === ETHERTYPE_VLAN) {
    ethertype = u16(raw, 16);
    at = 18;
  }
  const packet: Omit<CapturedPacket, "time" | "line"> = {
    raw,
    dstMac: formatMac(raw.slice(0, 6)),
    srcMac: formatMac(raw.slice(6, 12)),
    ethertype: raw.length >= at ? ethertype : 0,
  };
  if (ethertype === ETHERTYPE_ARP) {
    const arp = decodeArp(raw, at);
    if (arp) packet.arp = arp;
  } else if (ethertype === ETHERTYPE_IPV6) {
    const ndp = decodeNdp(raw, at);
    if (ndp) packet.ndp = ndp;
  }
  return packet;
}

const HEADER_LINE = /^(\d+\.\d+) /;
const HEX_LINE = /^\s+0x[0-9a-f]+:\s+(.*)$/;

/**
 * Parses `tcpdump -e -n -tt -xx` output: a summary line per frame, then its bytes as hex lines. While tcpdump still
 * runs, the last frame counts only once all the bytes its summary announces ("length N:") are there; with
 * `complete` (tcpdump has exited) it counts as it is.
 */
export function parseTcpdump(text: string, complete = false): CapturedPacket[] {
  const lines = text.split("\n");
  if (!complete) lines.pop(); // the text after the last newline may still be growing
  const packets: CapturedPacket[] = [];
  let current: { time: number; line: string; length: number; hex: string[] } | undefined;
  const finish = () => {
    if (!current) return;
    const bytes = Uint8Array.from(current.hex.map((h) => parseInt(h, 16)));
    packets.push({ time: current.time, line: current.line, ...decodeFrame(bytes) });
    current = undefined;
  };
  for (const line of lines) {
    const header = HEADER_LINE.exec(line);
    if (header) {
      finish();
      const length = Number(/, length (\d+):/.exec(line)?.[1] ?? Infinity);
      current = { time: Number(header[1]), line, length, hex: [] };
      continue;
    }
    const hex = HEX_LINE.exec(line);
    if (hex && current) {
      for (const group of hex[1]!.trim().split(/\s+/)) {
        if (!/^[0-9a-f]{2}(?:[0-9a-f]{2})?$/.test(group)) break;
        current.hex.push(group.slice(0, 2));
        if (group.length === 4) current.hex.push(group.slice(2, 4));
      }
    }
  }
  if (complete || (current && current.hex.length >= current.length)) finish();
  return packets;
}

/** Criteria for {@linkcode gratuitousArps}. */
export interface GratuitousArpQuery {
  /** The announced address. */
  ip?: string;
  /** The MAC it is announced at (ARP sender hardware address and Ethernet source). */
  mac?: string;
}

/** Gratuitous ARPs (sender IP = target IP, request or reply form, not probes), optionally for one IP and MAC. */
export function gratuitousArps(packets: readonly CapturedPacket[], query: GratuitousArpQuery = {}): CapturedPacket[] {
  const mac = query.mac?.toLowerCase();
  const ip = query.ip === undefined ? undefined : canonicalIp(query.ip) ?? query.ip;
  return packets.filter((p) =>
    p.arp !== undefined && p.arp.gratuitous && !p.arp.probe &&
    (ip === undefined || p.arp.senderIp === ip) &&
    (mac === undefined || (p.arp.senderMac === mac && p.srcMac === mac))
  );
}

/** Criteria for {@linkcode unsolicitedNas}. */
export interface UnsolicitedNaQuery {
  /** The advertised target address (compared in canonical form, e.g. "2001:db8:100::50"). */
  target?: string;
  /** The MAC in the target link-layer address option. */
  mac?: string;
  /** Required value of the Override flag. */
  override?: boolean;
}

/** Neighbour advertisements without the Solicited flag, optionally for one target, MAC and Override value. */
export function unsolicitedNas(packets: readonly CapturedPacket[], query: UnsolicitedNaQuery = {}): CapturedPacket[] {
  const mac = query.mac?.toLowerCase();
  const target = query.target === undefined ? undefined : canonicalIp(query.target) ?? query.target;
  return packets.filter((p) =>
    p.ndp?.kind === "na" && !p.ndp.solicited &&
    (target === undefined || p.ndp.target === target) &&
    (mac === undefined || p.ndp.targetLinkAddress === mac) &&
    (query.override === undefined || p.ndp.override === query.override)
  );
}
