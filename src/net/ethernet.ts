/**
 * Ethernet II framing: the 14-byte header (destination, source, ethertype) that ARP and NDP frames share.
 * @module
 */

import { macBytes } from "./mac.ts";

/** Ethernet header length: 6 + 6 + 2 bytes. */
export const ETHERNET_HEADER_BYTES = 14;
/** Smallest frame on the wire without the FCS (IEEE 802.3 §3.2.8: 64 bytes with it); shorter ones are padded. */
export const ETHERNET_MIN_FRAME_BYTES = 60;
/** Largest untagged frame without FCS for a 1500-byte MTU, plus 4 bytes for one 802.1Q tag. */
export const ETHERNET_MAX_FRAME_BYTES = 1518;
/** 802.1Q VLAN tag ethertype: such frames carry a tag the socket did not strip, and are not ours to answer. */
export const ETHERTYPE_VLAN = 0x8100;

/** Fields of an Ethernet header. */
export interface EthernetHeader {
  /** Destination MAC (6 bytes). */
  destination: Uint8Array;
  /** Source MAC (6 bytes). */
  source: Uint8Array;
  /** Ethertype, e.g. 0x0806 for ARP. */
  ethertype: number;
}

/** Reads the header of a frame of at least 14 bytes (the caller checks the length); views, no copies. */
export function readEthernetHeader(frame: Uint8Array): EthernetHeader {
  return {
    destination: frame.subarray(0, 6),
    source: frame.subarray(6, 12),
    ethertype: ((frame[12] ?? 0) << 8) | (frame[13] ?? 0),
  };
}

/**
 * Builds a frame: header then payload, zero-padded to the 60-byte minimum (some drivers do not pad short frames).
 * @example
 * encodeEthernet({ destination: "ff:ff:ff:ff:ff:ff", source: mac, ethertype: 0x0806 }, arpPayload);
 */
export function encodeEthernet(
  header: { destination: Uint8Array | string; source: Uint8Array | string; ethertype: number },
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(Math.max(ETHERNET_MIN_FRAME_BYTES, ETHERNET_HEADER_BYTES + payload.length));
  out.set(macBytes(header.destination), 0);
  out.set(macBytes(header.source), 6);
  out[12] = (header.ethertype >> 8) & 0xff;
  out[13] = header.ethertype & 0xff;
  out.set(payload, ETHERNET_HEADER_BYTES);
  return out;
}
