/** NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5): a length octet and just enough octets to hold that many bits. */
import { FAMILY_BITS, formatCidr, type IpCidr, type IpFamily, parseCidr } from "../ip/mod.ts";
import type { ByteWriter } from "./_bytes.ts";

/** Octets a prefix takes on the wire. */
export function prefixWireLength(prefix: IpCidr): number {
  return 1 + ((prefix.prefixLength + 7) >> 3);
}

/** Appends one prefix in NLRI encoding. */
export function writePrefix(w: ByteWriter, prefix: IpCidr): void {
  const bits = FAMILY_BITS[prefix.address.family];
  const octets = (prefix.prefixLength + 7) >> 3;
  w.u8(prefix.prefixLength);
  const value = prefix.address.value;
  for (let i = 0; i < octets; i++) w.u8(Number((value >> BigInt(bits - 8 - 8 * i)) & 0xffn));
}

/**
 * Reads a run of prefixes of one family that must fill `bytes` exactly; returns the reason when a length exceeds
 * the family's width or a prefix runs past the end (RFC 7606 §5.3: the caller resets the session).
 */
export function readPrefixes(bytes: Uint8Array, family: IpFamily): IpCidr[] | string {
  const bits = FAMILY_BITS[family];
  const out: IpCidr[] = [];
  let i = 0;
  while (i < bytes.length) {
    const length = bytes[i]!;
    if (length > bits) return `prefix length ${length} exceeds ${bits} for IPv${family}`;
    const octets = (length + 7) >> 3;
    if (i + 1 + octets > bytes.length) return `prefix /${length} at offset ${i} runs past the end of its field`;
    let value = 0n;
    for (let k = 0; k < octets; k++) value = (value << 8n) | BigInt(bytes[i + 1 + k]!);
    value <<= BigInt(bits - 8 * octets);
    // Bits beyond the prefix length are irrelevant (RFC 4271 §4.3): clear them so equal prefixes compare equal.
    const hostBits = BigInt(bits - length);
    value = (value >> hostBits) << hostBits;
    out.push({ address: { family, value }, prefixLength: length });
    i += 1 + octets;
  }
  return out;
}

/** A stable text key for a prefix, as in "192.0.2.1/32". */
export function prefixKey(prefix: IpCidr): string {
  return formatCidr(prefix);
}

/** Parses "192.0.2.1/32" or "2001:db8::1/128" (a bare address means a host route). */
export function parsePrefix(text: string): IpCidr {
  if (text.includes("/")) return parseCidr(text);
  const family: IpFamily = text.includes(":") ? 6 : 4;
  return parseCidr(`${text}/${FAMILY_BITS[family]}`);
}
