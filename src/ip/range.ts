import { FAMILY_BITS, formatIp, type IpAddress, type IpFamily, maxValue, parseIp, tryParseIp } from "./address.ts";

/** An inclusive range of addresses of one family. */
export interface IpRange {
  /** 4 or 6. */
  readonly family: IpFamily;
  /** First address, inclusive. */
  readonly first: bigint;
  /** Last address, inclusive. */
  readonly last: bigint;
}

/** An address with a prefix length, as in 192.0.2.0/24. */
export interface IpCidr {
  /** The network address (host bits cleared). */
  readonly address: IpAddress;
  /** Prefix length in bits. */
  readonly prefixLength: number;
}

/** Parses "a.b.c.d/n" or "x::/n", clearing host bits. */
export function parseCidr(text: string): IpCidr {
  const slash = text.indexOf("/");
  if (slash < 0) throw new SyntaxError(`Cannot parse CIDR "${text}": expected address/prefix-length`);
  const ip = tryParseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip) throw new SyntaxError(`Cannot parse CIDR "${text}": "${text.slice(0, slash)}" is not an IP address`);
  const bits = FAMILY_BITS[ip.family];
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > bits) {
    throw new SyntaxError(`Cannot parse CIDR "${text}": prefix length must be 0 to ${bits}`);
  }
  const prefixLength = Number(lenText);
  const hostMask = (1n << BigInt(bits - prefixLength)) - 1n;
  return { address: { family: ip.family, value: ip.value & ~hostMask }, prefixLength };
}

/** The range a CIDR covers. */
export function cidrToRange(cidr: IpCidr): IpRange {
  const bits = FAMILY_BITS[cidr.address.family];
  const hostMask = (1n << BigInt(bits - cidr.prefixLength)) - 1n;
  return { family: cidr.address.family, first: cidr.address.value, last: cidr.address.value | hostMask };
}

/**
 * Parses a pool range in any form users write:
 * `192.0.2.10-20` (IPv4 last-octet shorthand), `192.0.2.10-192.0.2.20`, `192.0.2.0/28`,
 * `2001:db8::10-2001:db8::20`, `2001:db8::/120`, or a single address.
 *
 * @example
 * ```ts
 * parseRange("192.168.1.200-240"); // 41 addresses, .200 through .240
 * ```
 */
export function parseRange(input: string): IpRange {
  const text = input.trim();
  if (text === "") throw new SyntaxError(`Cannot parse range "": it is empty`);
  if (text.includes("/")) return cidrToRange(parseCidr(text));
  const dash = text.indexOf("-");
  if (dash < 0) {
    const ip = tryParseIp(text);
    if (!ip) throw new SyntaxError(`Cannot parse range "${text}": expected an address, a CIDR or first-last`);
    return { family: ip.family, first: ip.value, last: ip.value };
  }
  const startText = text.slice(0, dash).trim();
  const endText = text.slice(dash + 1).trim();
  const start = tryParseIp(startText);
  if (!start) throw new SyntaxError(`Cannot parse range "${text}": "${startText}" is not an IP address`);
  let end: IpAddress | undefined;
  if (start.family === 4 && /^\d{1,3}$/.test(endText)) {
    // Last-octet shorthand: 192.168.1.200-240 means 192.168.1.200 to 192.168.1.240.
    const octet = Number(endText);
    if (octet > 255 || (endText.length > 1 && endText.startsWith("0"))) {
      throw new SyntaxError(`Cannot parse range "${text}": "${endText}" is not an octet (0-255)`);
    }
    end = { family: 4, value: (start.value & ~0xffn) | BigInt(octet) };
  } else {
    end = tryParseIp(endText);
  }
  if (!end) throw new SyntaxError(`Cannot parse range "${text}": "${endText}" is not an IP address`);
  if (end.family !== start.family) {
    throw new SyntaxError(`Cannot parse range "${text}": it mixes IPv${start.family} and IPv${end.family}`);
  }
  if (end.value < start.value) throw new RangeError(`Cannot parse range "${text}": range end is below its start`);
  return { family: start.family, first: start.value, last: end.value };
}

/** Number of addresses in a range. */
export function rangeSize(range: IpRange): bigint {
  return range.last - range.first + 1n;
}

/** True when the address lies in the range. */
export function rangeContains(range: IpRange, ip: IpAddress): boolean {
  return ip.family === range.family && ip.value >= range.first && ip.value <= range.last;
}

/** True when two ranges share at least one address. */
export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** Formats a range as a CIDR when it is exactly one, else as first-last. */
export function formatRange(range: IpRange): string {
  const first = formatIp({ family: range.family, value: range.first });
  if (range.first === range.last) return first;
  const size = rangeSize(range);
  const bits = FAMILY_BITS[range.family];
  const hostBits = size.toString(2).length - 1;
  if ((size & (size - 1n)) === 0n && (range.first & (size - 1n)) === 0n) return `${first}/${bits - hostBits}`;
  return `${first}-${formatIp({ family: range.family, value: range.last })}`;
}

/** The prefix of the given length that contains the address (for route aggregation). */
export function containingPrefix(ip: IpAddress, prefixLength: number): IpCidr {
  const bits = FAMILY_BITS[ip.family];
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits) {
    throw new RangeError(`Prefix length ${prefixLength} is outside 0-${bits}`);
  }
  const hostMask = (1n << BigInt(bits - prefixLength)) - 1n;
  return { address: { family: ip.family, value: ip.value & ~hostMask & maxValue(ip.family) }, prefixLength };
}

/** Formats a CIDR as text. */
export function formatCidr(cidr: IpCidr): string {
  return `${formatIp(cidr.address)}/${cidr.prefixLength}`;
}

/**
 * True for the addresses MetalLB's `avoidBuggyIPs` skips: those whose last octet is .0 or .255, which some
 * old client stacks treat as network or broadcast addresses. IPv6 addresses are never buggy.
 */
export function isBuggyIp(ip: IpAddress): boolean {
  if (ip.family !== 4) return false;
  const last = ip.value & 0xffn;
  return last === 0n || last === 255n;
}

/** Parses an address and returns it with its range of one, for callers that treat single IPs as ranges. */
export function singleAddressRange(text: string): IpRange {
  const ip = parseIp(text);
  return { family: ip.family, first: ip.value, last: ip.value };
}
