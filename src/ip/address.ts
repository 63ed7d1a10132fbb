/** Address family: 4 for IPv4, 6 for IPv6. */
export type IpFamily = 4 | 6;

/** An IPv4 or IPv6 address as a number, so ranges and arithmetic are exact. */
export interface IpAddress {
  /** 4 or 6. */
  readonly family: IpFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

/** Width in bits of each family's addresses. */
export const FAMILY_BITS: Readonly<Record<IpFamily, number>> = { 4: 32, 6: 128 };

/** Largest address value of a family. */
export function maxValue(family: IpFamily): bigint {
  return (1n << BigInt(FAMILY_BITS[family])) - 1n;
}

const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4Value(text: string): bigint | undefined {
  const m = IPV4_PATTERN.exec(text);
  if (!m) return undefined;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // Leading zeros are ambiguous (octal in some parsers), so they are refused as Go's net.ParseIP does.
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseGroups(text: string): number[] | undefined {
  if (text === "") return [];
  const groups: number[] = [];
  for (const group of text.split(":")) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    groups.push(parseInt(group, 16));
  }
  return groups;
}

function parseIpv6Value(input: string): bigint | undefined {
  let text = input;
  if (text.includes("%")) return undefined; // zones are link-local only; never a pool address
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    // Embedded IPv4 in the last 32 bits, as in ::ffff:192.0.2.1 (RFC 4291 §2.2 form 3).
    const v4 = parseIpv4Value(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    text = text.slice(0, lastColon + 1) + "0";
    tail.length = 2;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  let groups: number[];
  const width = 8;
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!);
    const rest = parseGroups(halves[1]!);
    if (!head || !rest) return undefined;
    if (tail.length) rest.pop();
    const fill = width - head.length - rest.length - tail.length;
    if (fill < 1) return undefined;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  } else {
    const all = parseGroups(text);
    if (!all) return undefined;
    if (tail.length) all.pop();
    groups = [...all, ...tail];
    if (groups.length !== width) return undefined;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses an address, returning undefined when the text is not a valid IPv4 or IPv6 address. */
export function tryParseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4Value(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  if (!text.includes(":")) return undefined;
  const v6 = parseIpv6Value(text);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/**
 * Parses an IPv4 or IPv6 address.
 *
 * @example
 * ```ts
 * parseIp("192.0.2.1"); // { family: 4, value: 3221225985n }
 * ```
 */
export function parseIp(text: string): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) throw new SyntaxError(`Cannot parse IP address "${text}": expected IPv4 (a.b.c.d) or IPv6`);
  return ip;
}

/** Builds an address from a family and value, checking the value fits the family. */
export function ipFromValue(family: IpFamily, value: bigint): IpAddress {
  if (value < 0n || value > maxValue(family)) {
    throw new RangeError(`Value ${value} does not fit an IPv${family} address`);
  }
  return { family, value };
}

function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Formats an address in its canonical text form (RFC 5952 for IPv6). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 6) return formatIpv6(ip.value);
  const v = Number(ip.value);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Returns the canonical form of an address text, or undefined when it is not an address. */
export function canonicalIp(text: string): string | undefined {
  const ip = tryParseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/** Network-order bytes of an address (4 or 16 of them). */
export function ipToBytes(ip: IpAddress): Uint8Array {
  const len = ip.family === 4 ? 4 : 16;
  const out = new Uint8Array(len);
  let v = ip.value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Reads an address from 4 (IPv4) or 16 (IPv6) network-order bytes. */
export function ipFromBytes(bytes: Uint8Array): IpAddress {
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new RangeError(`An IP address has 4 or 16 bytes, not ${bytes.length}`);
  }
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family: bytes.length === 4 ? 4 : 6, value };
}

/** Orders addresses: IPv4 before IPv6, then numerically. */
export function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** True when both denote the same address. */
export function ipEquals(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}
