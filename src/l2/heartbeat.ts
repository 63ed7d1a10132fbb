/**
 * The heartbeat datagram metallite instances exchange over UDP to learn, without the API server, which peers are
 * alive. A pure codec: {@link encodeHeartbeat} and {@link decodeHeartbeat}, which never throws on hostile input.
 *
 * Layout (all integers big-endian; 829 bytes at most):
 *
 * | offset | size | field                                                                               |
 * | ------ | ---- | ----------------------------------------------------------------------------------- |
 * | 0      | 4    | magic "MLHB"                                                                        |
 * | 4      | 1    | version (1)                                                                         |
 * | 5      | 1    | flags: bit 0 leaving, bit 1 starting, bit 2 HMAC present; the others must be 0      |
 * | 6      | 2    | total length of the datagram, HMAC included                                         |
 * | 8      | 8    | cluster hash: first 8 bytes of sha256("metallite-heartbeat/" + namespace)           |
 * | 16     | 8    | incarnation: chosen once per process start, larger on a later start                 |
 * | 24     | 4    | sequence number, +1 per heartbeat within an incarnation                              |
 * | 28     | 2    | the sender's heartbeat interval in ms (10-10000)                                    |
 * | 30     | 1    | node name length n (1-253), then n bytes: a DNS-1123 subdomain, as Node names are    |
 * |        | 1    | interface count k (0-32), then k times: length (1-15) and name bytes                 |
 * |        | 32   | HMAC-SHA256 over every byte before it, when flag bit 2 is set                        |
 * @module
 */
import { constantTimeEqual, hmacSha256, sha256 } from "./_sha256.ts";

/** "MLHB". */
const MAGIC = [0x4d, 0x4c, 0x48, 0x42] as const;
/** The only version this codec reads and writes. */
export const HEARTBEAT_VERSION = 1;
const FLAG_LEAVING = 0x01;
const FLAG_STARTING = 0x02;
const FLAG_HMAC = 0x04;
const HEADER_LENGTH = 30;
const HMAC_LENGTH = 32;
/** Most interfaces one heartbeat may carry. */
export const MAX_HEARTBEAT_INTERFACES = 32;
/** Largest valid heartbeat, in bytes. */
export const MAX_HEARTBEAT_LENGTH = HEADER_LENGTH + 1 + 253 + 1 + MAX_HEARTBEAT_INTERFACES * 16 + HMAC_LENGTH;

// Kubernetes Node names are DNS-1123 subdomains.
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
// Linux dev_valid_name(): at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace, not "." or "..".
const INTERFACE_NAME = /^[\x21-\x2e\x30-\x39\x3b-\x7e]{1,15}$/;

/** One heartbeat. */
export interface Heartbeat {
  /** {@link clusterHash} of the namespace the sender runs in; receivers drop other clusters' heartbeats. */
  readonly cluster: Uint8Array;
  /** The sender's Node name. */
  readonly node: string;
  /** Chosen at process start (see {@link newIncarnation}); a larger one means the peer restarted. */
  readonly incarnation: bigint;
  /** Counts heartbeats within an incarnation (unsigned 32 bits). */
  readonly sequence: number;
  /** How often the sender sends, in ms. */
  readonly intervalMs: number;
  /** Sent on graceful shutdown: peers take over the sender's addresses at once. */
  readonly leaving: boolean;
  /** The sender is alive but not ready to announce yet (start-up window, caches not synced). */
  readonly starting: boolean;
  /** Interfaces the sender can announce on. */
  readonly interfaces: readonly string[];
}

/** Why a datagram was refused; each is counted under its name. */
export type HeartbeatErrorCode =
  | "too-short"
  | "too-long"
  | "bad-magic"
  | "bad-version"
  | "bad-flags"
  | "bad-length"
  | "bad-field"
  | "bad-name"
  | "bad-interface"
  | "missing-hmac"
  | "unexpected-hmac"
  | "bad-hmac";

/** The result of {@link decodeHeartbeat}. */
export type HeartbeatDecodeResult =
  | { readonly ok: true; readonly heartbeat: Heartbeat }
  | { readonly ok: false; readonly error: HeartbeatErrorCode; readonly detail: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The 8-byte cluster tag for a namespace, so two clusters sharing a LAN and a port ignore each other. */
export function clusterHash(namespace: string): Uint8Array {
  return sha256(encoder.encode(`metallite-heartbeat/${namespace}`)).slice(0, 8);
}

/**
 * A fresh incarnation: the start time in ms in the high 48 bits and 16 random bits, so a restart (even within the same
 * millisecond on another clock) almost surely picks a larger, different value.
 */
export function newIncarnation(nowMs: number, random: () => number = Math.random): bigint {
  const low = BigInt(Math.floor(random() * 0x10000) & 0xffff);
  return (BigInt(Math.max(0, Math.floor(nowMs))) << 16n) | low;
}

/**
 * Encodes a heartbeat; with a key, appends an HMAC-SHA256 over the rest. Throws TypeError or RangeError on a value
 * our own code should never produce (a bad name, too many interfaces).
 *
 * @example
 * ```ts
 * const bytes = encodeHeartbeat({ cluster: clusterHash("metallb-system"), node: "node-a", incarnation: 1n,
 *   sequence: 1, intervalMs: 200, leaving: false, starting: false, interfaces: ["eth0"] });
 * ```
 */
export function encodeHeartbeat(heartbeat: Heartbeat, key?: Uint8Array): Uint8Array {
  if (heartbeat.cluster.length !== 8) {
    throw new RangeError(`Cluster hash must be 8 bytes, not ${heartbeat.cluster.length}`);
  }
  if (!NODE_NAME.test(heartbeat.node) || heartbeat.node.length > 253) {
    throw new TypeError(`Invalid node name "${heartbeat.node}" for a heartbeat`);
  }
  if (heartbeat.interfaces.length > MAX_HEARTBEAT_INTERFACES) {
    throw new RangeError(
      `A heartbeat carries at most ${MAX_HEARTBEAT_INTERFACES} interfaces, not ${heartbeat.interfaces.length}`,
    );
  }
  for (const name of heartbeat.interfaces) {
    if (!validInterface(name)) throw new TypeError(`Invalid interface name "${name}" for a heartbeat`);
  }
  if (!Number.isInteger(heartbeat.intervalMs) || heartbeat.intervalMs < 10 || heartbeat.intervalMs > 10_000) {
    throw new RangeError(`Heartbeat interval ${heartbeat.intervalMs} ms is outside 10-10000`);
  }
  if (heartbeat.incarnation < 0n || heartbeat.incarnation >= 1n << 64n) {
    throw new RangeError(`Incarnation ${heartbeat.incarnation} does not fit 64 bits`);
  }
  const name = encoder.encode(heartbeat.node);
  const ifaces = heartbeat.interfaces.map((i) => encoder.encode(i));
  const length = HEADER_LENGTH + 1 + name.length + 1 + ifaces.reduce((n, i) => n + 1 + i.length, 0) +
    (key ? HMAC_LENGTH : 0);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = HEARTBEAT_VERSION;
  out[5] = (heartbeat.leaving ? FLAG_LEAVING : 0) | (heartbeat.starting ? FLAG_STARTING : 0) | (key ? FLAG_HMAC : 0);
  view.setUint16(6, length);
  out.set(heartbeat.cluster, 8);
  view.setBigUint64(16, heartbeat.incarnation);
  view.setUint32(24, heartbeat.sequence >>> 0);
  view.setUint16(28, heartbeat.intervalMs);
  let at = HEADER_LENGTH;
  out[at++] = name.length;
  out.set(name, at);
  at += name.length;
  out[at++] = ifaces.length;
  for (const i of ifaces) {
    out[at++] = i.length;
    out.set(i, at);
    at += i.length;
  }
  if (key) out.set(hmacSha256(key, out.subarray(0, at)), at);
  return out;
}

function validInterface(name: string): boolean {
  return INTERFACE_NAME.test(name) && name !== "." && name !== "..";
}

function fail(error: HeartbeatErrorCode, detail: string): HeartbeatDecodeResult {
  return { ok: false, error, detail };
}

/** Options for {@link decodeHeartbeat}. */
export interface DecodeHeartbeatOptions {
  /** The shared key: when set, a heartbeat without a valid HMAC is refused; when unset, one with an HMAC is. */
  readonly key?: Uint8Array;
}

/**
 * Decodes and validates a heartbeat datagram. Never throws: hostile input gives `{ ok: false, error, detail }`.
 * The caller still checks the cluster hash, that the node is one it knows, and the incarnation/sequence order.
 */
export function decodeHeartbeat(bytes: Uint8Array, options: DecodeHeartbeatOptions = {}): HeartbeatDecodeResult {
  if (bytes.length < HEADER_LENGTH + 2) return fail("too-short", `${bytes.length} bytes`);
  if (bytes.length > MAX_HEARTBEAT_LENGTH) return fail("too-long", `${bytes.length} bytes`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) return fail("bad-magic", "not a metallite heartbeat");
  if (bytes[4] !== HEARTBEAT_VERSION) return fail("bad-version", `version ${bytes[4]}`);
  const flags = bytes[5]!;
  if ((flags & ~(FLAG_LEAVING | FLAG_STARTING | FLAG_HMAC)) !== 0) {
    return fail("bad-flags", `flags 0x${flags.toString(16)}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint16(6);
  if (length !== bytes.length) return fail("bad-length", `header says ${length} bytes, datagram has ${bytes.length}`);
  const hasHmac = (flags & FLAG_HMAC) !== 0;
  if (options.key && !hasHmac) return fail("missing-hmac", "a key is configured and the heartbeat is not signed");
  if (!options.key && hasHmac) return fail("unexpected-hmac", "the heartbeat is signed and no key is configured");
  const bodyEnd = bytes.length - (hasHmac ? HMAC_LENGTH : 0);
  if (bodyEnd < HEADER_LENGTH + 2) return fail("too-short", `${bytes.length} bytes`);
  if (options.key) {
    const expected = hmacSha256(options.key, bytes.subarray(0, bodyEnd));
    if (!constantTimeEqual(expected, bytes.subarray(bodyEnd))) return fail("bad-hmac", "HMAC does not match");
  }
  const intervalMs = view.getUint16(28);
  if (intervalMs < 10 || intervalMs > 10_000) return fail("bad-field", `interval ${intervalMs} ms`);
  let at = HEADER_LENGTH;
  const nameLength = bytes[at++]!;
  if (nameLength === 0 || at + nameLength + 1 > bodyEnd) return fail("bad-name", `name length ${nameLength}`);
  const node = text(bytes.subarray(at, at + nameLength));
  if (node === undefined || !NODE_NAME.test(node)) return fail("bad-name", "not a DNS-1123 subdomain");
  at += nameLength;
  const count = bytes[at++]!;
  if (count > MAX_HEARTBEAT_INTERFACES) return fail("bad-interface", `${count} interfaces`);
  const interfaces: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at >= bodyEnd) return fail("bad-interface", "truncated interface list");
    const len = bytes[at++]!;
    if (len === 0 || len > 15 || at + len > bodyEnd) return fail("bad-interface", `interface name length ${len}`);
    const name = text(bytes.subarray(at, at + len));
    if (name === undefined || !validInterface(name)) return fail("bad-interface", "invalid interface name");
    interfaces.push(name);
    at += len;
  }
  if (at !== bodyEnd) return fail("bad-length", `${bodyEnd - at} trailing bytes`);
  return {
    ok: true,
    heartbeat: {
      cluster: bytes.slice(8, 16),
      node,
      incarnation: view.getBigUint64(16),
      sequence: view.getUint32(24),
      intervalMs,
      leaving: (flags & FLAG_LEAVING) !== 0,
      starting: (flags & FLAG_STARTING) !== 0,
      interfaces,
    },
  };
}

function text(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
