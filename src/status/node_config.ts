/**
 * What an instance publishes about its own command line, so `metallite status` can see configuration that lives
 * only in flags: the quick start's `--pool` ranges, `--interface`, `--bgp-peer` (never its password), `--asn`,
 * `--lb-class`, the paths of `--config` files, and the interfaces the node can announce on (the Layer 2 election's
 * interface rule needs them; otherwise only the heartbeats carry them).
 *
 * It travels as one JSON annotation, {@link NODE_CONFIG_ANNOTATION}, on the instance's node Lease
 * (`metallite-node-<node>` in `--namespace`), which the instance writes anyway: no extra object and no extra write.
 * {@link encodeNodeConfig} builds the value; {@link decodeNodeConfig} validates it and never throws.
 * @module
 */
import type { RunOptions } from "../config/flags.ts";

/** The annotation on a node Lease carrying {@link NodeConfig} as JSON. */
export const NODE_CONFIG_ANNOTATION = "metallite.io/node-config";

/** Version of the annotation's JSON shape. */
export const NODE_CONFIG_VERSION = 1;

// Bounds keep a hostile annotation cheap to read; Kubernetes caps all annotations together at 256 KiB.
const MAX_ITEMS = 256;
const MAX_TEXT = 512;
const MAX_JSON = 64 * 1024;

/** A `--bgp-peer` as published: no password, ever. */
export interface PublishedBgpPeer {
  /** Peer address. */
  readonly address: string;
  /** Peer AS number. */
  readonly asn: number;
  /** TCP port. */
  readonly port: number;
  /** Hold time offered, seconds. */
  readonly holdTime: number;
  /** eBGP multihop TTL, when set. */
  readonly multihop?: number;
  /** True when a TCP MD5 password is set (the password itself is not published). */
  readonly hasPassword: boolean;
}

/** The flag configuration of one instance. */
export interface NodeConfig {
  /** {@link NODE_CONFIG_VERSION}. */
  readonly v: number;
  /** metallite's version. */
  readonly version: string;
  /** `--pool` values as written. */
  readonly pools: readonly string[];
  /** `--interface` values. */
  readonly interfaces: readonly string[];
  /** `--bgp-peer` values, without passwords. */
  readonly bgpPeers: readonly PublishedBgpPeer[];
  /** `--asn`. */
  readonly asn?: number;
  /** `--lb-class`. */
  readonly lbClass?: string;
  /** `--config` paths (their content stays on the node). */
  readonly configFiles: readonly string[];
  /** Interfaces this node can announce on now (what its heartbeats carry); undefined when not known. */
  readonly announceInterfaces?: readonly string[];
}

/** Options of {@link encodeNodeConfig}. */
export interface EncodeNodeConfigOptions {
  /** metallite's version. */
  readonly version: string;
  /** Interfaces this node can announce on now; omit when not known. */
  readonly announceInterfaces?: readonly string[];
}

/**
 * The annotation value for an instance's node Lease. The daemon sets it when it creates or renews the Lease (and
 * again when its usable interfaces change).
 *
 * @example
 * ```ts
 * const annotations = { [NODE_CONFIG_ANNOTATION]: encodeNodeConfig(run, { version: VERSION, announceInterfaces: ["eth0"] }) };
 * ```
 */
export function encodeNodeConfig(
  run: Pick<RunOptions, "pools" | "interfaces" | "bgpPeers" | "asn" | "lbClass" | "configFiles">,
  options: EncodeNodeConfigOptions,
): string {
  const config: NodeConfig = {
    v: NODE_CONFIG_VERSION,
    version: options.version,
    pools: run.pools.map((p) => p.text),
    interfaces: [...run.interfaces],
    bgpPeers: run.bgpPeers.map((p) => ({
      address: p.address,
      asn: p.asn,
      port: p.port,
      holdTime: p.holdTime,
      ...(p.ebgpMultihop === undefined ? {} : { multihop: p.ebgpMultihop }),
      hasPassword: p.password !== undefined,
    })),
    ...(run.asn === undefined ? {} : { asn: run.asn }),
    ...(run.lbClass === undefined ? {} : { lbClass: run.lbClass }),
    configFiles: [...run.configFiles],
    ...(options.announceInterfaces === undefined ? {} : { announceInterfaces: [...options.announceInterfaces] }),
  };
  return JSON.stringify(config);
}

/** The outcome of {@link decodeNodeConfig}. */
export type NodeConfigResult = { readonly ok: true; readonly config: NodeConfig } | {
  readonly ok: false;
  /** One line: what is wrong. */
  readonly error: string;
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function textList(value: unknown, field: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ITEMS) throw new TypeError(`${field} is not a list of texts`);
  for (const item of value) {
    if (typeof item !== "string" || item.length > MAX_TEXT) throw new TypeError(`${field} is not a list of texts`);
  }
  return value as string[];
}

function whole(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${field} is not a whole number from ${min} to ${max}`);
  }
  return value;
}

function readPeer(value: unknown, index: number): PublishedBgpPeer {
  const where = `bgpPeers[${index}]`;
  if (!isRecord(value)) throw new TypeError(`${where} is not an object`);
  if (typeof value.address !== "string" || value.address.length > MAX_TEXT) {
    throw new TypeError(`${where}.address is not a text`);
  }
  const multihop = value.multihop === undefined ? undefined : whole(value.multihop, `${where}.multihop`, 1, 255);
  return {
    address: value.address,
    asn: whole(value.asn, `${where}.asn`, 1, 4294967295),
    port: whole(value.port ?? 179, `${where}.port`, 1, 65535),
    holdTime: whole(value.holdTime ?? 90, `${where}.holdTime`, 0, 65535),
    ...(multihop === undefined ? {} : { multihop }),
    hasPassword: value.hasPassword === true,
  };
}

/**
 * Reads the annotation's value. Unknown fields are ignored (a newer instance may add some); a wrong type or an
 * unknown version is an error, never a throw.
 */
export function decodeNodeConfig(text: unknown): NodeConfigResult {
  if (typeof text !== "string") return { ok: false, error: "the annotation is not a text" };
  if (text.length > MAX_JSON) return { ok: false, error: `the annotation is longer than ${MAX_JSON} characters` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "the annotation is not JSON" };
  }
  if (!isRecord(value)) return { ok: false, error: "the annotation is not a JSON object" };
  if (value.v !== NODE_CONFIG_VERSION) {
    return { ok: false, error: `unknown version ${JSON.stringify(value.v)} (expected ${NODE_CONFIG_VERSION})` };
  }
  try {
    if (value.version !== undefined && typeof value.version !== "string") {
      throw new TypeError("version is not a text");
    }
    if (value.lbClass !== undefined && typeof value.lbClass !== "string") {
      throw new TypeError("lbClass is not a text");
    }
    const peers = value.bgpPeers === undefined ? [] : value.bgpPeers;
    if (!Array.isArray(peers) || peers.length > MAX_ITEMS) throw new TypeError("bgpPeers is not a list");
    const asn = value.asn === undefined ? undefined : whole(value.asn, "asn", 1, 4294967295);
    const config: NodeConfig = {
      v: NODE_CONFIG_VERSION,
      version: typeof value.version === "string" ? value.version.slice(0, MAX_TEXT) : "",
      pools: textList(value.pools, "pools"),
      interfaces: textList(value.interfaces, "interfaces"),
      bgpPeers: peers.map(readPeer),
      ...(asn === undefined ? {} : { asn }),
      ...(typeof value.lbClass === "string" ? { lbClass: value.lbClass.slice(0, MAX_TEXT) } : {}),
      configFiles: textList(value.configFiles, "configFiles"),
      ...(value.announceInterfaces === undefined
        ? {}
        : { announceInterfaces: textList(value.announceInterfaces, "announceInterfaces") }),
    };
    return { ok: true, config };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
