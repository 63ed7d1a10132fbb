/**
 * ARP for IPv4 over Ethernet (RFC 826), inside an Ethernet II frame: a pure decoder that returns a typed reason for
 * every frame it refuses, and encoders for replies, gratuitous ARP and RFC 5227 probes.
 * @module
 */

import {
  BROADCAST_MAC,
  encodeEthernet,
  ETHERNET_HEADER_BYTES,
  ETHERNET_MAX_FRAME_BYTES,
  formatMac,
  macBytes,
  ZERO_MAC,
} from "../net/mod.ts";

/** Ethertype of ARP, RFC 826 / IEEE registry. */
export const ETHERTYPE_ARP = 0x0806;
/** ar$hrd for Ethernet, RFC 826 (IANA "Hardware Types"). */
export const ARP_HARDWARE_ETHERNET = 1;
/** ar$pro for IPv4: the IPv4 ethertype. */
export const ARP_PROTOCOL_IPV4 = 0x0800;
/** ar$op of a request, RFC 826. */
export const ARP_REQUEST = 1;
/** ar$op of a reply, RFC 826. */
export const ARP_REPLY = 2;
/** Bytes of an ARP packet for Ethernet/IPv4: 8 fixed + 2 × (6 + 4). */
export const ARP_PACKET_BYTES = 28;

/** An ARP packet (Ethernet hardware, IPv4 protocol), addresses as text. */
export interface ArpPacket {
  /** ARP_REQUEST (1) or ARP_REPLY (2). */
  operation: typeof ARP_REQUEST | typeof ARP_REPLY;
  /** Sender hardware address, "aa:bb:cc:dd:ee:ff". */
  senderMac: string;
  /** Sender protocol address, dotted quad; "0.0.0.0" in an RFC 5227 probe. */
  senderIp: string;
  /** Target hardware address (ignored in requests, usually zero). */
  targetMac: string;
  /** Target protocol address, the one asked about in a request. */
  targetIp: string;
}

/** A decoded ARP frame: the Ethernet addresses and the ARP packet. */
export interface ArpFrame {
  /** Ethernet destination, "ff:ff:ff:ff:ff:ff" for a broadcast request. */
  destination: string;
  /** Ethernet source. */
  source: string;
  /** The ARP packet. */
  packet: ArpPacket;
}

/** Why a frame is not a usable ARP packet. */
export type ArpErrorReason =
  | "truncated"
  | "oversized"
  | "not_arp"
  | "unsupported_hardware"
  | "unsupported_protocol"
  | "bad_address_length"
  | "unsupported_operation"
  | "bad_sender";

/** A refused frame: the reason (usable as a metric label) and a one-line message with the offending value. */
export interface ArpDecodeError {
  /** Machine-readable reason. */
  reason: ArpErrorReason;
  /** Human-readable message naming the value. */
  message: string;
}

/** Outcome of {@link decodeArp}. */
export type ArpDecodeResult = { ok: true; frame: ArpFrame } | { ok: false; error: ArpDecodeError };

function u16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

/**
 * A validated ARP frame read without building strings, for the responder's hot path: the numbers it compares and
 * the frame itself, whose fields sit at fixed offsets (sender MAC at 22, sender IP at 28, target IP at 38).
 */
export interface ArpView {
  /** ARP_REQUEST or ARP_REPLY. */
  operation: typeof ARP_REQUEST | typeof ARP_REPLY;
  /** Sender IP as an unsigned 32-bit number. */
  senderIp: number;
  /** Target IP as an unsigned 32-bit number. */
  targetIp: number;
  /** The whole frame. */
  bytes: Uint8Array;
}

/** Outcome of {@link readArp}. */
export type ArpReadResult = { ok: true; view: ArpView } | { ok: false; error: ArpDecodeError };

function failRead(reason: ArpErrorReason, message: string): ArpReadResult {
  return { ok: false, error: { reason, message } };
}

function u32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * Validates an Ethernet frame holding an ARP packet, as {@link decodeArp} does, and returns the numbers the
 * responder needs without formatting any address. Never throws.
 */
export function readArp(bytes: Uint8Array): ArpReadResult {
  if (bytes.length < ETHERNET_HEADER_BYTES + ARP_PACKET_BYTES) {
    return failRead(
      "truncated",
      `ARP frame of ${bytes.length} bytes is shorter than ${ETHERNET_HEADER_BYTES + ARP_PACKET_BYTES}`,
    );
  }
  if (bytes.length > ETHERNET_MAX_FRAME_BYTES) {
    return failRead("oversized", `ARP frame of ${bytes.length} bytes is longer than ${ETHERNET_MAX_FRAME_BYTES}`);
  }
  const ethertype = u16(bytes, 12);
  if (ethertype !== ETHERTYPE_ARP) return failRead("not_arp", `Ethertype 0x${ethertype.toString(16)} is not ARP`);
  const p = ETHERNET_HEADER_BYTES;
  const hardware = u16(bytes, p);
  if (hardware !== ARP_HARDWARE_ETHERNET) {
    return failRead("unsupported_hardware", `ARP hardware type ${hardware} is not Ethernet`);
  }
  const protocol = u16(bytes, p + 2);
  if (protocol !== ARP_PROTOCOL_IPV4) {
    return failRead("unsupported_protocol", `ARP protocol type 0x${protocol.toString(16)} is not IPv4`);
  }
  if (bytes[p + 4] !== 6 || bytes[p + 5] !== 4) {
    return failRead("bad_address_length", `ARP address lengths ${bytes[p + 4]}/${bytes[p + 5]} are not 6/4`);
  }
  const operation = u16(bytes, p + 6);
  if (operation !== ARP_REQUEST && operation !== ARP_REPLY) {
    return failRead("unsupported_operation", `ARP operation ${operation} is neither request (1) nor reply (2)`);
  }
  // A group address as sender would make us unicast a reply to a multicast or broadcast MAC: refuse it.
  const s = p + 8;
  const zero = (bytes[s]! | bytes[s + 1]! | bytes[s + 2]! | bytes[s + 3]! | bytes[s + 4]! | bytes[s + 5]!) === 0;
  if ((bytes[s]! & 1) === 1 || zero) {
    const mac = formatMac(bytes.subarray(s, s + 6));
    return failRead("bad_sender", `ARP sender hardware address ${mac} is not a unicast MAC`);
  }
  return {
    ok: true,
    view: {
      operation: operation as ArpView["operation"],
      senderIp: u32(bytes, p + 14),
      targetIp: u32(bytes, p + 24),
      bytes,
    },
  };
}

/**
 * Decodes an Ethernet frame holding an ARP packet. Never throws: any frame that is not Ethernet/IPv4 ARP with
 * operation 1 or 2 gives a typed reason. Trailing bytes (Ethernet padding) are allowed up to a 1518-byte frame.
 * @example
 * const result = decodeArp(frame);
 * if (result.ok && result.frame.packet.operation === ARP_REQUEST) answer(result.frame.packet.targetIp);
 */
export function decodeArp(bytes: Uint8Array): ArpDecodeResult {
  const read = readArp(bytes);
  if (!read.ok) return read;
  const p = ETHERNET_HEADER_BYTES;
  return {
    ok: true,
    frame: {
      destination: formatMac(bytes.subarray(0, 6)),
      source: formatMac(bytes.subarray(6, 12)),
      packet: {
        operation: read.view.operation,
        senderMac: formatMac(bytes.subarray(p + 8, p + 14)),
        senderIp: formatIpv4(read.view.senderIp),
        targetMac: formatMac(bytes.subarray(p + 18, p + 24)),
        targetIp: formatIpv4(read.view.targetIp),
      },
    },
  };
}

/** Dotted-quad text of an unsigned 32-bit IPv4 address. */
export function formatIpv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 255}.${(word >>> 8) & 255}.${word & 255}`;
}

/** The unsigned 32-bit number of a dotted-quad IPv4 address; throws a `TypeError` for anything else. */
export function ipv4Word(text: string): number {
  const b = ipv4Bytes(text);
  return u32(b, 0);
}

/**
 * The reply to a validated request, built straight from the request's bytes: the same frame as
 * {@link encodeArpReply}, without parsing or formatting any address (the responder's hot path).
 */
export function encodeArpReplyFromView(view: ArpView, mac: Uint8Array): Uint8Array {
  const request = view.bytes;
  const out = new Uint8Array(60);
  out.set(request.subarray(22, 28), 0); // Ethernet destination: the requester's hardware address
  out.set(mac, 6);
  out.set(request.subarray(12, 20), 12); // ethertype, hardware and protocol types, address lengths
  out[21] = ARP_REPLY;
  out.set(mac, 22); // sender: us, with the address asked about
  out.set(request.subarray(38, 42), 28);
  out.set(request.subarray(22, 32), 32); // target: the requester's hardware and protocol addresses
  return out;
}

function ipv4Bytes(text: string): Uint8Array {
  const parts = text.split(".");
  const out = new Uint8Array(4);
  if (parts.length !== 4) throw new TypeError(`"${text}" is not an IPv4 address`);
  parts.forEach((part, i) => {
    const n = Number(part);
    if (!/^\d{1,3}$/.test(part) || n > 255) throw new TypeError(`"${text}" is not an IPv4 address`);
    out[i] = n;
  });
  return out;
}

/** Fields of {@link encodeArpFrame}; MACs as bytes or text, IPv4 addresses as dotted quads. */
export interface ArpFrameFields {
  /** ARP_REQUEST or ARP_REPLY. */
  operation: typeof ARP_REQUEST | typeof ARP_REPLY;
  /** Ethernet destination. */
  destination: Uint8Array | string;
  /** Ethernet source; default `senderMac`. */
  source?: Uint8Array | string;
  /** ARP sender hardware address. */
  senderMac: Uint8Array | string;
  /** ARP sender protocol address. */
  senderIp: string;
  /** ARP target hardware address. */
  targetMac: Uint8Array | string;
  /** ARP target protocol address. */
  targetIp: string;
}

/** Encodes any Ethernet/IPv4 ARP frame (padded to 60 bytes); throws a `TypeError` for a malformed address. */
export function encodeArpFrame(fields: ArpFrameFields): Uint8Array {
  const payload = new Uint8Array(ARP_PACKET_BYTES);
  payload[1] = ARP_HARDWARE_ETHERNET;
  payload[2] = ARP_PROTOCOL_IPV4 >> 8;
  payload[4] = 6;
  payload[5] = 4;
  payload[7] = fields.operation;
  payload.set(macBytes(fields.senderMac), 8);
  payload.set(ipv4Bytes(fields.senderIp), 14);
  payload.set(macBytes(fields.targetMac), 18);
  payload.set(ipv4Bytes(fields.targetIp), 24);
  return encodeEthernet(
    { destination: fields.destination, source: fields.source ?? fields.senderMac, ethertype: ETHERTYPE_ARP },
    payload,
  );
}

/** Options for {@link encodeArpReply}. */
export interface ArpReplyOptions {
  /** The request being answered. */
  request: ArpPacket;
  /** Our MAC on the interface that received the request. */
  mac: Uint8Array | string;
}

/**
 * The reply to a request for an address we own (RFC 826): sender = our MAC and the asked-for IP, target = the
 * requester, sent unicast to the requester's hardware address. A probe (sender 0.0.0.0) gets the same reply, so the
 * prober sees the conflict, as Linux does.
 */
export function encodeArpReply(options: ArpReplyOptions): Uint8Array {
  const { request, mac } = options;
  return encodeArpFrame({
    operation: ARP_REPLY,
    destination: request.senderMac,
    senderMac: mac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  });
}

/** Options for {@link encodeGratuitousArp}. */
export interface GratuitousArpOptions {
  /** Our MAC. */
  mac: Uint8Array | string;
  /** The address we now own. */
  ip: string;
  /** "request" (an RFC 5227 §2.3 announcement) or "reply"; MetalLB sends both, since some hosts heed only one. */
  operation: "request" | "reply";
}

/** A broadcast gratuitous ARP: sender and target IP are both the announced address. */
export function encodeGratuitousArp(options: GratuitousArpOptions): Uint8Array {
  const request = options.operation === "request";
  return encodeArpFrame({
    operation: request ? ARP_REQUEST : ARP_REPLY,
    destination: BROADCAST_MAC,
    senderMac: options.mac,
    senderIp: options.ip,
    // RFC 5227 §2.3: the target hardware address of an announcement is ignored and SHOULD be zero.
    targetMac: request ? ZERO_MAC : BROADCAST_MAC,
    targetIp: options.ip,
  });
}

/** Options for {@link encodeArpProbe}. */
export interface ArpProbeOptions {
  /** Our MAC. */
  mac: Uint8Array | string;
  /** The address to probe. */
  ip: string;
}

/** An RFC 5227 §2.1.1 probe: a broadcast request with sender IP 0.0.0.0 and target hardware address zero. */
export function encodeArpProbe(options: ArpProbeOptions): Uint8Array {
  return encodeArpFrame({
    operation: ARP_REQUEST,
    destination: BROADCAST_MAC,
    senderMac: options.mac,
    senderIp: "0.0.0.0",
    targetMac: ZERO_MAC,
    targetIp: options.ip,
  });
}
