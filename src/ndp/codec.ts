/**
 * ICMPv6 Neighbor Solicitation and Advertisement (RFC 4861 §4.3, §4.4) inside IPv6 inside Ethernet: a pure decoder
 * that validates as RFC 4861 §7.1.1 and §7.1.2 require and returns a typed reason for every frame it refuses,
 * encoders with the ICMPv6 checksum over the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1), and the
 * solicited-node multicast helpers (RFC 4291 §2.7.1, RFC 2464 §7).
 * @module
 */

import { formatIp, ipFromBytes, ipToBytes, tryParseIp } from "../ip/mod.ts";
import { encodeEthernet, ETHERNET_HEADER_BYTES, ETHERNET_MAX_FRAME_BYTES, formatMac, macBytes } from "../net/mod.ts";

/** Ethertype of IPv6, RFC 2464 §3. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** IPv6 next-header value of ICMPv6, RFC 4443. */
export const NEXT_HEADER_ICMPV6 = 58;
/** ICMPv6 type of a Neighbor Solicitation, RFC 4861 §4.3. */
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
/** ICMPv6 type of a Neighbor Advertisement, RFC 4861 §4.4. */
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** Hop limit every ND message carries, so off-link senders are detected (RFC 4861 §7.1.1). */
export const NDP_HOP_LIMIT = 255;
/** Option type: source link-layer address, RFC 4861 §4.6.1. */
export const OPTION_SOURCE_LINK_LAYER = 1;
/** Option type: target link-layer address, RFC 4861 §4.6.1. */
export const OPTION_TARGET_LINK_LAYER = 2;
/** Option type: nonce, RFC 3971 §5.3.2 (used for DAD loop detection by RFC 7527). */
export const OPTION_NONCE = 14;
/** IPv6 fixed header length, RFC 8200 §3. */
export const IPV6_HEADER_BYTES = 40;
/** Smallest NS/NA: type, code, checksum, 4 bytes of flags/reserved, 16 bytes of target (RFC 4861 §7.1.1). */
export const NDP_MIN_ICMP_BYTES = 24;
/** The link-local all-nodes address, RFC 4291 §2.7.1. */
export const ALL_NODES = "ff02::1";

const ICMP_OFFSET = ETHERNET_HEADER_BYTES + IPV6_HEADER_BYTES;

/** A Neighbor Solicitation. */
export interface NeighborSolicitation {
  /** Discriminator. */
  type: "solicitation";
  /** The address whose link-layer address is asked for. */
  target: string;
  /** Source link-layer address option, "aa:bb:cc:dd:ee:ff", if present. */
  sourceLinkLayer?: string;
  /** Nonce option bytes (RFC 3971 §5.3.2), if present. */
  nonce?: Uint8Array;
}

/** A Neighbor Advertisement. */
export interface NeighborAdvertisement {
  /** Discriminator. */
  type: "advertisement";
  /** The address advertised. */
  target: string;
  /** R flag: the sender is a router. */
  router: boolean;
  /** S flag: sent in response to a solicitation. */
  solicited: boolean;
  /** O flag: override an existing cache entry. */
  override: boolean;
  /** Target link-layer address option, if present. */
  targetLinkLayer?: string;
}

/** A decoded NDP frame. */
export interface NdpFrame {
  /** Ethernet destination. */
  destinationMac: string;
  /** Ethernet source. */
  sourceMac: string;
  /** IPv6 source ("::" in a duplicate address detection probe). */
  sourceIp: string;
  /** IPv6 destination. */
  destinationIp: string;
  /** The message. */
  message: NeighborSolicitation | NeighborAdvertisement;
}

/** Why a frame is not a valid NS or NA (also usable as a metric label). */
export type NdpErrorReason =
  | "truncated"
  | "oversized"
  | "not_ipv6"
  | "bad_ip_header"
  | "not_icmpv6"
  | "not_ndp"
  | "bad_hop_limit"
  | "bad_code"
  | "bad_length"
  | "bad_checksum"
  | "bad_source"
  | "multicast_target"
  | "bad_option"
  | "bad_dad_destination"
  | "dad_with_link_layer"
  | "solicited_to_multicast";

/** A refused frame: the reason and a one-line message naming the value. */
export interface NdpDecodeError {
  /** Machine-readable reason. */
  reason: NdpErrorReason;
  /** Human-readable message. */
  message: string;
}

/** Outcome of {@link decodeNdp}. */
export type NdpDecodeResult = { ok: true; frame: NdpFrame } | { ok: false; error: NdpDecodeError };

function ipv6At(bytes: Uint8Array, offset: number): string {
  return formatIp(ipFromBytes(bytes.subarray(offset, offset + 16)));
}

function isUnspecified(bytes: Uint8Array, offset: number): boolean {
  for (let i = offset; i < offset + 16; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The ICMPv6 checksum of `message` (checksum field included as it is) between `source` and `destination`. */
function icmpv6Sum(source: Uint8Array, destination: Uint8Array, message: Uint8Array): number {
  // RFC 8200 §8.1 pseudo-header: source, destination, upper-layer length (32 bits), 3 zero bytes, next header.
  let sum = 0;
  for (let i = 0; i < 16; i += 2) sum += (source[i]! << 8) | source[i + 1]!;
  for (let i = 0; i < 16; i += 2) sum += (destination[i]! << 8) | destination[i + 1]!;
  sum += (message.length >>> 16) + (message.length & 0xffff) + NEXT_HEADER_ICMPV6;
  for (let i = 0; i < message.length; i += 2) sum += (message[i]! << 8) | (message[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum to put in an ICMPv6 message whose checksum field is zero (RFC 4443 §2.3). */
export function icmpv6Checksum(source: Uint8Array, destination: Uint8Array, message: Uint8Array): number {
  return ~icmpv6Sum(source, destination, message) & 0xffff;
}

/**
 * A validated NS or NA read without building strings, for the responder's hot path. Addresses sit at fixed offsets
 * of `bytes`: IPv6 source at 22, destination at 38, target at 62; option positions are frame offsets, -1 if absent.
 */
export interface NdpView {
  /** ICMPV6_NEIGHBOR_SOLICITATION or ICMPV6_NEIGHBOR_ADVERTISEMENT. */
  type: typeof ICMPV6_NEIGHBOR_SOLICITATION | typeof ICMPV6_NEIGHBOR_ADVERTISEMENT;
  /** The whole frame. */
  bytes: Uint8Array;
  /** The NA flags byte (R 0x80, S 0x40, O 0x20); 0 for an NS. */
  flags: number;
  /** True when the IPv6 source is "::" (duplicate address detection). */
  sourceUnspecified: boolean;
  /** Frame offset of the 6-byte source link-layer address, or -1. */
  sourceLinkLayerAt: number;
  /** Frame offset of the 6-byte target link-layer address, or -1. */
  targetLinkLayerAt: number;
  /** Frame offset of the nonce option's data, or -1. */
  nonceAt: number;
  /** Length of the nonce option's data. */
  nonceBytes: number;
}

/** Outcome of {@link readNdp}. */
export type NdpReadResult = { ok: true; view: NdpView } | { ok: false; error: NdpDecodeError };

function failRead(reason: NdpErrorReason, message: string): NdpReadResult {
  return { ok: false, error: { reason, message } };
}

/** Frame offsets of the IPv6 source, destination and NS/NA target addresses. */
export const NDP_SOURCE_AT = ETHERNET_HEADER_BYTES + 8;
/** Frame offset of the IPv6 destination address. */
export const NDP_DESTINATION_AT = ETHERNET_HEADER_BYTES + 24;
/** Frame offset of the NS/NA target address. */
export const NDP_TARGET_AT = ICMP_OFFSET + 8;

/**
 * Validates an Ethernet frame holding an NS or NA, as {@link decodeNdp} does, without formatting any address.
 * Never throws.
 */
export function readNdp(bytes: Uint8Array): NdpReadResult {
  if (bytes.length < ICMP_OFFSET + NDP_MIN_ICMP_BYTES) {
    return failRead(
      "truncated",
      `NDP frame of ${bytes.length} bytes is shorter than ${ICMP_OFFSET + NDP_MIN_ICMP_BYTES}`,
    );
  }
  if (bytes.length > ETHERNET_MAX_FRAME_BYTES) {
    return failRead("oversized", `NDP frame of ${bytes.length} bytes is longer than ${ETHERNET_MAX_FRAME_BYTES}`);
  }
  const ethertype = (bytes[12]! << 8) | bytes[13]!;
  if (ethertype !== ETHERTYPE_IPV6) return failRead("not_ipv6", `Ethertype 0x${ethertype.toString(16)} is not IPv6`);
  const ip = ETHERNET_HEADER_BYTES;
  if (bytes[ip]! >> 4 !== 6) return failRead("bad_ip_header", `IP version ${bytes[ip]! >> 4} is not 6`);
  const payloadLength = (bytes[ip + 4]! << 8) | bytes[ip + 5]!;
  if (ICMP_OFFSET + payloadLength > bytes.length) {
    return failRead("truncated", `IPv6 payload length ${payloadLength} runs past the ${bytes.length}-byte frame`);
  }
  const nextHeader = bytes[ip + 6]!;
  if (nextHeader !== NEXT_HEADER_ICMPV6) return failRead("not_icmpv6", `IPv6 next header ${nextHeader} is not ICMPv6`);
  const type = bytes[ICMP_OFFSET]!;
  if (type !== ICMPV6_NEIGHBOR_SOLICITATION && type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    return failRead("not_ndp", `ICMPv6 type ${type} is not a neighbor solicitation or advertisement`);
  }
  const hopLimit = bytes[ip + 7]!;
  if (hopLimit !== NDP_HOP_LIMIT) return failRead("bad_hop_limit", `IPv6 hop limit ${hopLimit} is not 255`);
  const code = bytes[ICMP_OFFSET + 1]!;
  if (code !== 0) return failRead("bad_code", `ICMPv6 code ${code} is not 0`);
  if (payloadLength < NDP_MIN_ICMP_BYTES) {
    return failRead("bad_length", `ICMPv6 length ${payloadLength} is shorter than ${NDP_MIN_ICMP_BYTES}`);
  }
  const source = bytes.subarray(NDP_SOURCE_AT, NDP_SOURCE_AT + 16);
  const destination = bytes.subarray(NDP_DESTINATION_AT, NDP_DESTINATION_AT + 16);
  const message = bytes.subarray(ICMP_OFFSET, ICMP_OFFSET + payloadLength);
  if (icmpv6Sum(source, destination, message) !== 0xffff) {
    const sent = (message[2]! << 8) | message[3]!;
    return failRead("bad_checksum", `ICMPv6 checksum 0x${sent.toString(16)} does not match the message`);
  }
  if (source[0] === 0xff) return failRead("bad_source", `IPv6 source ${ipv6At(bytes, NDP_SOURCE_AT)} is multicast`);
  // A reply may go to the Ethernet source: a group address there would turn it into a multicast.
  if ((bytes[6]! & 1) === 1) {
    return failRead("bad_source", `Ethernet source ${formatMac(bytes.subarray(6, 12))} is a group address`);
  }
  if (message[8] === 0xff) return failRead("multicast_target", `Target ${ipv6At(bytes, NDP_TARGET_AT)} is multicast`);
  // Options: type, length in units of 8 bytes (never 0), data; they must fill the message exactly.
  let sourceLinkLayerAt = -1;
  let targetLinkLayerAt = -1;
  let nonceAt = -1;
  let nonceBytes = 0;
  for (let at = NDP_MIN_ICMP_BYTES; at < message.length;) {
    if (at + 2 > message.length) return failRead("bad_option", `Option header at byte ${at} is cut short`);
    const optionType = message[at]!;
    const optionBytes = message[at + 1]! * 8;
    if (optionBytes === 0) return failRead("bad_option", `Option ${optionType} at byte ${at} has length 0`);
    if (at + optionBytes > message.length) {
      return failRead("bad_option", `Option ${optionType} at byte ${at} runs past the message`);
    }
    // Link-layer options for Ethernet are 8 bytes: type, length 1, 6-byte MAC (RFC 2464 §6); longer ones are
    // for other link types and are ignored like unknown options (RFC 4861 §4.6).
    if (optionType === OPTION_SOURCE_LINK_LAYER && optionBytes === 8) {
      if ((message[at + 2]! & 1) === 1) {
        const mac = formatMac(message.subarray(at + 2, at + 8));
        return failRead("bad_option", `Source link-layer address ${mac} is a group address`);
      }
      sourceLinkLayerAt = ICMP_OFFSET + at + 2;
    } else if (optionType === OPTION_TARGET_LINK_LAYER && optionBytes === 8) {
      targetLinkLayerAt = ICMP_OFFSET + at + 2;
    } else if (optionType === OPTION_NONCE) {
      nonceAt = ICMP_OFFSET + at + 2;
      nonceBytes = optionBytes - 2;
    }
    at += optionBytes;
  }
  const sourceUnspecified = isUnspecified(bytes, NDP_SOURCE_AT);
  const flags = type === ICMPV6_NEIGHBOR_ADVERTISEMENT ? message[4]! : 0;
  if (type === ICMPV6_NEIGHBOR_SOLICITATION && sourceUnspecified) {
    if (!isSolicitedNodeBytes(destination)) {
      const to = ipv6At(bytes, NDP_DESTINATION_AT);
      return failRead("bad_dad_destination", `Solicitation from :: to ${to}, not a solicited-node address`);
    }
    if (sourceLinkLayerAt >= 0) {
      return failRead("dad_with_link_layer", "Solicitation from :: carries a source link-layer address option");
    }
  }
  if ((flags & 0x40) !== 0 && destination[0] === 0xff) {
    const to = ipv6At(bytes, NDP_DESTINATION_AT);
    return failRead("solicited_to_multicast", `Advertisement to multicast ${to} has the Solicited flag`);
  }
  return {
    ok: true,
    view: { type, bytes, flags, sourceUnspecified, sourceLinkLayerAt, targetLinkLayerAt, nonceAt, nonceBytes },
  };
}

/**
 * Decodes and validates an Ethernet frame holding an NS or NA. Never throws. Validation follows RFC 4861 §7.1.1
 * (NS) and §7.1.2 (NA): hop limit 255, checksum, code 0, ICMP length of at least 24, target not multicast, options
 * of non-zero length that fit; for an NS from "::" the destination must be a solicited-node address and there must
 * be no source link-layer option; an NA to a multicast destination must not have the Solicited flag. Frames with
 * IPv6 extension headers are refused as "not_icmpv6" (ND never needs them; RFC 6980 forbids fragmenting ND).
 */
export function decodeNdp(bytes: Uint8Array): NdpDecodeResult {
  const read = readNdp(bytes);
  if (!read.ok) return read;
  const view = read.view;
  const frame = {
    destinationMac: formatMac(bytes.subarray(0, 6)),
    sourceMac: formatMac(bytes.subarray(6, 12)),
    sourceIp: ipv6At(bytes, NDP_SOURCE_AT),
    destinationIp: ipv6At(bytes, NDP_DESTINATION_AT),
  };
  const target = ipv6At(bytes, NDP_TARGET_AT);
  if (view.type === ICMPV6_NEIGHBOR_SOLICITATION) {
    const solicitation: NeighborSolicitation = { type: "solicitation", target };
    if (view.sourceLinkLayerAt >= 0) {
      solicitation.sourceLinkLayer = formatMac(bytes.subarray(view.sourceLinkLayerAt, view.sourceLinkLayerAt + 6));
    }
    if (view.nonceAt >= 0) solicitation.nonce = bytes.slice(view.nonceAt, view.nonceAt + view.nonceBytes);
    return { ok: true, frame: { ...frame, message: solicitation } };
  }
  const advertisement: NeighborAdvertisement = {
    type: "advertisement",
    target,
    router: (view.flags & 0x80) !== 0,
    solicited: (view.flags & 0x40) !== 0,
    override: (view.flags & 0x20) !== 0,
  };
  if (view.targetLinkLayerAt >= 0) {
    advertisement.targetLinkLayer = formatMac(bytes.subarray(view.targetLinkLayerAt, view.targetLinkLayerAt + 6));
  }
  return { ok: true, frame: { ...frame, message: advertisement } };
}

const ALL_NODES_BYTES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);

/**
 * The advertisement answering a validated solicitation, built straight from its bytes: the same frame as
 * {@link encodeSolicitationReply}, without parsing or formatting an address (the responder's hot path).
 */
export function encodeSolicitationReplyFromView(view: NdpView, mac: Uint8Array): Uint8Array {
  const request = view.bytes;
  const dad = view.sourceUnspecified;
  const out = new Uint8Array(ICMP_OFFSET + NDP_MIN_ICMP_BYTES + 8);
  const sll = view.sourceLinkLayerAt;
  out.set(dad ? ALL_NODES_MAC : sll >= 0 ? request.subarray(sll, sll + 6) : request.subarray(6, 12), 0);
  out.set(mac, 6);
  out[12] = ETHERTYPE_IPV6 >> 8;
  out[13] = ETHERTYPE_IPV6 & 0xff;
  out[14] = 0x60;
  out[19] = NDP_MIN_ICMP_BYTES + 8;
  out[20] = NEXT_HEADER_ICMPV6;
  out[21] = NDP_HOP_LIMIT;
  const target = request.subarray(NDP_TARGET_AT, NDP_TARGET_AT + 16);
  out.set(target, NDP_SOURCE_AT);
  out.set(dad ? ALL_NODES_BYTES : request.subarray(NDP_SOURCE_AT, NDP_SOURCE_AT + 16), NDP_DESTINATION_AT);
  out[ICMP_OFFSET] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  out[ICMP_OFFSET + 4] = dad ? 0x20 : 0x60;
  out.set(target, NDP_TARGET_AT);
  out[NDP_TARGET_AT + 16] = OPTION_TARGET_LINK_LAYER;
  out[NDP_TARGET_AT + 17] = 1;
  out.set(mac, NDP_TARGET_AT + 18);
  const message = out.subarray(ICMP_OFFSET);
  const checksum = icmpv6Checksum(
    out.subarray(NDP_SOURCE_AT, NDP_SOURCE_AT + 16),
    out.subarray(NDP_DESTINATION_AT, NDP_DESTINATION_AT + 16),
    message,
  );
  out[ICMP_OFFSET + 2] = checksum >> 8;
  out[ICMP_OFFSET + 3] = checksum & 0xff;
  return out;
}

function isSolicitedNodeBytes(address: Uint8Array): boolean {
  // ff02::1:ffXX:XXXX, RFC 4291 §2.7.1.
  const prefix = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff];
  return prefix.every((b, i) => address[i] === b);
}

function ipv6Bytes(text: string): Uint8Array {
  const ip = tryParseIp(text);
  if (ip === undefined || ip.family !== 6) throw new TypeError(`"${text}" is not an IPv6 address`);
  return ipToBytes(ip);
}

/** The solicited-node multicast address of an IPv6 address: ff02::1:ff00:0/104 + its low 24 bits (RFC 4291). */
export function solicitedNodeAddress(ip: string): string {
  const bytes = ipv6Bytes(ip);
  const out = new Uint8Array(16);
  out.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff], 0);
  out.set(bytes.subarray(13, 16), 13);
  return formatIp(ipFromBytes(out));
}

/** The Ethernet MAC of an IPv6 multicast address: 33:33 + its low 32 bits (RFC 2464 §7). */
export function multicastMac(ip: string): Uint8Array {
  const bytes = ipv6Bytes(ip);
  return new Uint8Array([0x33, 0x33, bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!]);
}

/** The MAC of the solicited-node group of `ip`, 33:33:ff:xx:xx:xx, to join so its solicitations reach us. */
export function solicitedNodeMac(ip: string): Uint8Array {
  return multicastMac(solicitedNodeAddress(ip));
}

/** Builds Ethernet + IPv6 + ICMPv6 with the checksum filled in. */
function encodeIcmpv6Frame(
  header: {
    sourceMac: Uint8Array | string;
    destinationMac: Uint8Array | string;
    sourceIp: string;
    destinationIp: string;
  },
  message: Uint8Array,
): Uint8Array {
  const source = ipv6Bytes(header.sourceIp);
  const destination = ipv6Bytes(header.destinationIp);
  const checksum = icmpv6Checksum(source, destination, message);
  message[2] = checksum >> 8;
  message[3] = checksum & 0xff;
  const packet = new Uint8Array(IPV6_HEADER_BYTES + message.length);
  packet[0] = 0x60;
  packet[4] = message.length >> 8;
  packet[5] = message.length & 0xff;
  packet[6] = NEXT_HEADER_ICMPV6;
  packet[7] = NDP_HOP_LIMIT;
  packet.set(source, 8);
  packet.set(destination, 24);
  packet.set(message, IPV6_HEADER_BYTES);
  return encodeEthernet(
    { destination: header.destinationMac, source: header.sourceMac, ethertype: ETHERTYPE_IPV6 },
    packet,
  );
}

/** Fields of {@link encodeNeighborAdvertisement}. */
export interface NeighborAdvertisementFields {
  /** Ethernet source: our MAC. */
  sourceMac: Uint8Array | string;
  /** Ethernet destination. */
  destinationMac: Uint8Array | string;
  /** IPv6 source. We use the target itself: ndisc6 and some stacks ignore advertisements from another address. */
  sourceIp: string;
  /** IPv6 destination. */
  destinationIp: string;
  /** The advertised address. */
  target: string;
  /** S flag. */
  solicited: boolean;
  /** O flag. */
  override: boolean;
  /** R flag; default false. */
  router?: boolean;
  /** Target link-layer address option; omitted when undefined. */
  targetLinkLayer?: Uint8Array | string;
}

/** Encodes a Neighbor Advertisement frame with the ICMPv6 checksum. Throws a `TypeError` for a bad address. */
export function encodeNeighborAdvertisement(fields: NeighborAdvertisementFields): Uint8Array {
  const message = new Uint8Array(NDP_MIN_ICMP_BYTES + (fields.targetLinkLayer === undefined ? 0 : 8));
  message[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  message[4] = (fields.router ? 0x80 : 0) | (fields.solicited ? 0x40 : 0) | (fields.override ? 0x20 : 0);
  message.set(ipv6Bytes(fields.target), 8);
  if (fields.targetLinkLayer !== undefined) {
    message.set([OPTION_TARGET_LINK_LAYER, 1], 24);
    message.set(macBytes(fields.targetLinkLayer), 26);
  }
  return encodeIcmpv6Frame(fields, message);
}

/** Fields of {@link encodeNeighborSolicitation}. */
export interface NeighborSolicitationFields {
  /** Ethernet source: our MAC. */
  sourceMac: Uint8Array | string;
  /** IPv6 source; "::" for duplicate address detection. */
  sourceIp: string;
  /** The address asked about. */
  target: string;
  /** IPv6 destination; default the target's solicited-node address. */
  destinationIp?: string;
  /** Ethernet destination; default the multicast MAC of the destination. */
  destinationMac?: Uint8Array | string;
  /** Source link-layer option; must be omitted when the source is "::" (RFC 4861 §4.3). */
  sourceLinkLayer?: Uint8Array | string;
  /** Nonce option data (6 bytes, or 14, 22...: the option is 8-byte aligned), RFC 3971 §5.3.2. */
  nonce?: Uint8Array;
}

/** Encodes a Neighbor Solicitation frame with the ICMPv6 checksum. Throws a `TypeError` for bad fields. */
export function encodeNeighborSolicitation(fields: NeighborSolicitationFields): Uint8Array {
  const nonce = fields.nonce;
  if (nonce !== undefined && (nonce.length + 2) % 8 !== 0) {
    throw new TypeError(`A nonce option holds 6, 14, 22... bytes, not ${nonce.length}`);
  }
  const options = (fields.sourceLinkLayer === undefined ? 0 : 8) + (nonce === undefined ? 0 : nonce.length + 2);
  const message = new Uint8Array(NDP_MIN_ICMP_BYTES + options);
  message[0] = ICMPV6_NEIGHBOR_SOLICITATION;
  message.set(ipv6Bytes(fields.target), 8);
  let at = NDP_MIN_ICMP_BYTES;
  if (fields.sourceLinkLayer !== undefined) {
    message.set([OPTION_SOURCE_LINK_LAYER, 1], at);
    message.set(macBytes(fields.sourceLinkLayer), at + 2);
    at += 8;
  }
  if (nonce !== undefined) {
    message.set([OPTION_NONCE, (nonce.length + 2) / 8], at);
    message.set(nonce, at + 2);
  }
  const destinationIp = fields.destinationIp ?? solicitedNodeAddress(fields.target);
  return encodeIcmpv6Frame({
    sourceMac: fields.sourceMac,
    destinationMac: fields.destinationMac ?? multicastMac(destinationIp),
    sourceIp: fields.sourceIp,
    destinationIp,
  }, message);
}

/** Options for {@link encodeSolicitationReply}. */
export interface SolicitationReplyOptions {
  /** The decoded solicitation being answered. */
  request: NdpFrame & { message: NeighborSolicitation };
  /** Our MAC on the interface that received it. */
  mac: Uint8Array | string;
}

/**
 * The advertisement answering a solicitation for an address we own (RFC 4861 §7.2.4): from the target address,
 * Override set (we are the owner, and after a failover the client must replace the old MAC), target link-layer
 * option. To a unicast source it goes back unicast with Solicited set, to the source link-layer address (or the
 * Ethernet source without that option); to a DAD probe (source "::") it goes to all-nodes with Solicited clear.
 */
export function encodeSolicitationReply(options: SolicitationReplyOptions): Uint8Array {
  const { request, mac } = options;
  const target = request.message.target;
  const dad = request.sourceIp === "::";
  return encodeNeighborAdvertisement({
    sourceMac: mac,
    destinationMac: dad ? multicastMac(ALL_NODES) : request.message.sourceLinkLayer ?? request.sourceMac,
    sourceIp: target,
    destinationIp: dad ? ALL_NODES : request.sourceIp,
    target,
    solicited: !dad,
    override: true,
    targetLinkLayer: mac,
  });
}

/** Options for {@link encodeUnsolicitedAdvertisement}. */
export interface UnsolicitedAdvertisementOptions {
  /** Our MAC. */
  mac: Uint8Array | string;
  /** The address we now own. */
  ip: string;
}

/** An unsolicited advertisement to all-nodes with Override set, sent on takeover (RFC 4861 §7.2.6). */
export function encodeUnsolicitedAdvertisement(options: UnsolicitedAdvertisementOptions): Uint8Array {
  return encodeNeighborAdvertisement({
    sourceMac: options.mac,
    destinationMac: multicastMac(ALL_NODES),
    sourceIp: options.ip,
    destinationIp: ALL_NODES,
    target: options.ip,
    solicited: false,
    override: true,
    targetLinkLayer: options.mac,
  });
}

/** Options for {@link encodeDadProbe}. */
export interface DadProbeOptions {
  /** Our MAC. */
  mac: Uint8Array | string;
  /** The address to probe. */
  ip: string;
  /** Nonce (6 bytes) to recognise our own probe if it loops back (RFC 7527). */
  nonce?: Uint8Array;
}

/** A duplicate address detection probe (RFC 4862 §5.4.2): an NS from "::" to the target's solicited-node group. */
export function encodeDadProbe(options: DadProbeOptions): Uint8Array {
  const fields: NeighborSolicitationFields = { sourceMac: options.mac, sourceIp: "::", target: options.ip };
  if (options.nonce !== undefined) fields.nonce = options.nonce;
  return encodeNeighborSolicitation(fields);
}
