/**
 * Ethernet (EUI-48) MAC addresses: parsing, formatting and the multicast and broadcast tests.
 * @module
 */

/** The broadcast MAC ff:ff:ff:ff:ff:ff. */
export const BROADCAST_MAC: Readonly<Uint8Array> = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** The all-zero MAC, used as "unknown" in ARP requests (RFC 5227 §2.1.1). */
export const ZERO_MAC: Readonly<Uint8Array> = new Uint8Array(6);

const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** Formats 6 bytes as lowercase "aa:bb:cc:dd:ee:ff". */
export function formatMac(mac: Uint8Array): string {
  let out = "";
  for (let i = 0; i < mac.length; i++) out += (i === 0 ? "" : ":") + (mac[i]! < 16 ? "0" : "") + mac[i]!.toString(16);
  return out;
}

/** Parses "aa:bb:cc:dd:ee:ff" (either case); throws a `SyntaxError` naming the text otherwise. */
export function parseMac(text: string): Uint8Array {
  if (!MAC_PATTERN.test(text)) throw new SyntaxError(`Cannot parse MAC address "${text}": expected aa:bb:cc:dd:ee:ff`);
  return new Uint8Array(text.split(":").map((part) => parseInt(part, 16)));
}

/** Accepts a MAC as bytes or text and returns 6 bytes; throws a `TypeError` for any other length. */
export function macBytes(mac: Uint8Array | string): Uint8Array {
  const bytes = typeof mac === "string" ? parseMac(mac) : mac;
  if (bytes.length !== 6) throw new TypeError(`A MAC address has 6 bytes, not ${bytes.length}`);
  return bytes;
}

/** True for group (multicast or broadcast) addresses: the I/G bit, the lowest bit of the first byte, is set. */
export function isMulticastMac(mac: Uint8Array): boolean {
  return ((mac[0] ?? 0) & 1) === 1;
}

/** True when both hold the same bytes. */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
