import { formatIp, type IpRange, parseRange, tryParseIp } from "../ip/mod.ts";
import { LOG_LEVELS, type LogFormat, type LogLevel } from "../log/mod.ts";
import { type FlagSpec, type FlagValues, readFlags } from "./_args.ts";

/** A bad command line: main prints the message on one line and exits with status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A pool given with `--pool`, with the text the user wrote. */
export interface FlagPool {
  /** What the user wrote, for messages. */
  readonly text: string;
  /** The parsed range. */
  readonly range: IpRange;
}

/** A BGP neighbour given with `--bgp-peer ADDR,asn=N[,port=P][,password=S][,source=IP][,hold-time=S][,multihop=N]`. */
export interface FlagBgpPeer {
  /** Peer address, canonical text. */
  readonly address: string;
  /** Peer AS number. */
  readonly asn: number;
  /** TCP port; default 179. */
  readonly port: number;
  /** TCP MD5 password (RFC 2385), when set. */
  readonly password?: string;
  /** Local address to bind, when set. */
  readonly sourceAddress?: string;
  /** Hold time in seconds to offer; default 90. */
  readonly holdTime: number;
  /** eBGP multihop TTL; undefined means directly connected (TTL 1 for eBGP). */
  readonly ebgpMultihop?: number;
}

/** Options of `metallite run`. */
export interface RunOptions {
  /** Path of a kubeconfig; undefined means in-cluster, then $KUBECONFIG, then ~/.kube/config. */
  readonly kubeconfig?: string;
  /** This node's name. */
  readonly nodeName: string;
  /** Pools from `--pool`, announced over Layer 2. */
  readonly pools: readonly FlagPool[];
  /** Interfaces to announce on (Layer 2); empty means all. */
  readonly interfaces: readonly string[];
  /** Namespace of the MetalLB objects. */
  readonly namespace: string;
  /** YAML files of MetalLB objects. */
  readonly configFiles: readonly string[];
  /** BGP neighbours from `--bgp-peer`. */
  readonly bgpPeers: readonly FlagBgpPeer[];
  /** Our AS number for `--bgp-peer` sessions. */
  readonly asn?: number;
  /** Where metrics and health endpoints listen; undefined when disabled with `--metrics-addr off`. */
  readonly metricsAddr?: { readonly hostname: string; readonly port: number };
  /** Our `spec.loadBalancerClass`; undefined serves Services without a class. */
  readonly lbClass?: string;
  /** UDP port of the Layer 2 heartbeats between instances. */
  readonly heartbeatPort: number;
  /** "auto": answer plain ARP requests from the kernel (tc eBPF) where it can; "off": user space only. */
  readonly arpOffload: "auto" | "off";
  /**
   * "auto": after start-up and after bursts of work, hand back the pages of code no longer running (madvise
   * MADV_PAGEOUT; Linux 5.4+); "off": keep them resident.
   */
  readonly pageOut: "auto" | "off";
  /** Log level. */
  readonly logLevel: LogLevel;
  /** Log format. */
  readonly logFormat: LogFormat;
}

/** Options of `metallite status`. */
export interface StatusOptions {
  /** Path of a kubeconfig, as for run. */
  readonly kubeconfig?: string;
  /** Namespace of the MetalLB objects. */
  readonly namespace: string;
  /** "text" table or "json". */
  readonly output: "text" | "json";
  /** YAML files of MetalLB objects the daemons were started with, so their pools can be explained. */
  readonly configFiles: readonly string[];
}

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "run"; readonly options: RunOptions }
  | { readonly kind: "status"; readonly options: StatusOptions };

/** Where defaults come from; injected so parsing is pure. */
export interface FlagEnvironment {
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** The machine's host name. */
  hostname(): string;
}

/** Default metrics port, the one MetalLB's speaker uses. */
export const DEFAULT_METRICS_PORT = 7472;
/** Default namespace of MetalLB objects. */
export const DEFAULT_NAMESPACE = "metallb-system";
/** Default heartbeat port: one above MetalLB's memberlist (7946), so both can run during a migration. */
export const DEFAULT_HEARTBEAT_PORT = 7947;

/** The `--help` text. */
export const HELP_TEXT = `metallite: a bare-metal LoadBalancer for Kubernetes, in one small process per node

Usage:
  metallite [run] [flags]       run the daemon (the default)
  metallite status [flags]      show every LoadBalancer Service, its IPs and who announces it, and why
  metallite version             print the version
  metallite --help              print this help

Flags for run:
  --pool RANGE            address pool, announced over Layer 2; repeatable. Forms: 192.168.1.200-240,
                          192.168.1.200-192.168.1.240, 192.168.1.192/27, 2001:db8::10-2001:db8::ff, 2001:db8::/120
  --interface IF          announce only on this interface; repeatable (default: every interface)
  --config FILE           YAML file of MetalLB objects (IPAddressPool, L2Advertisement, BGPPeer, ...); repeatable
  --bgp-peer SPEC         BGP neighbour: ADDR,asn=N[,port=P][,password=S][,source=IP][,hold-time=S][,multihop=N];
                          repeatable; needs --asn
  --asn N                 our AS number for --bgp-peer sessions
  --kubeconfig PATH       kubeconfig (default: in-cluster service account, then $KUBECONFIG, then ~/.kube/config)
  --node-name NAME        this node's name (default: $NODE_NAME, then the host name)
  --namespace NS          namespace of MetalLB objects (default: ${DEFAULT_NAMESPACE})
  --lb-class NAME         serve only Services with this spec.loadBalancerClass (default: Services without one)
  --heartbeat-port N      UDP port for Layer 2 heartbeats between instances (default: ${DEFAULT_HEARTBEAT_PORT})
  --arp-offload MODE      auto: the kernel answers ARP for owned VIPs (tc eBPF; Linux 6.6+, CAP_BPF and
                          CAP_NET_ADMIN), falling back to user space; off: user space only (default: auto)
  --page-out MODE         auto: once work quiets down, hand start-up code pages back to the kernel (Linux 5.4+);
                          off: keep them resident, for storage too slow to fault code back in (default: auto)
  --metrics-addr HOST:PORT  Prometheus metrics, /healthz and /readyz (default: 0.0.0.0:${DEFAULT_METRICS_PORT}; "off" disables)
  --log-level LEVEL       debug, info, warn or error (default: info)
  --log-format FORMAT     text or json (default: text)

Flags for status:
  --kubeconfig PATH, --namespace NS, --config FILE as above; --output text|json
`;

const RUN_FLAGS = {
  kubeconfig: { type: "string" },
  "node-name": { type: "string" },
  pool: { type: "string", multiple: true },
  interface: { type: "string", multiple: true },
  namespace: { type: "string" },
  config: { type: "string", multiple: true },
  "bgp-peer": { type: "string", multiple: true },
  asn: { type: "string" },
  "metrics-addr": { type: "string" },
  "lb-class": { type: "string" },
  "heartbeat-port": { type: "string" },
  "arp-offload": { type: "string" },
  "page-out": { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, FlagSpec>;

const STATUS_FLAGS = {
  kubeconfig: { type: "string" },
  config: { type: "string", multiple: true },
  namespace: { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, FlagSpec>;

// RFC 1123 names as Kubernetes validates them.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Linux: IFNAMSIZ is 16 including the NUL; no slash, colon-free names avoid alias confusion, no whitespace.
const INTERFACE_NAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const MAX_ASN = 4294967295;

function usage(message: string): never {
  throw new UsageError(message);
}

function parseInteger(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    usage(`${flag} "${text}" is not valid: expected a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

function parseBgpPeer(spec: string): FlagBgpPeer {
  const [addressText = "", ...pairs] = spec.split(",");
  const ip = tryParseIp(addressText.trim());
  if (!ip) usage(`--bgp-peer "${spec}" is not valid: "${addressText}" is not an IP address (expected ADDR,asn=N,...)`);
  const fields = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !["asn", "port", "password", "source", "hold-time", "multihop"].includes(key)) {
      usage(
        `--bgp-peer "${addressText},...": unknown part "${key}" (expected asn=, port=, password=, source=, hold-time=, multihop=)`,
      );
    }
    fields.set(key, pair.slice(eq + 1));
  }
  const asnText = fields.get("asn");
  if (asnText === undefined) usage(`--bgp-peer "${addressText},...": asn=N is required`);
  const source = fields.get("source");
  const sourceIp = source === undefined ? undefined : tryParseIp(source);
  if (source !== undefined && !sourceIp) {
    usage(`--bgp-peer "${addressText},...": source "${source}" is not an IP address`);
  }
  const holdTime = parseInteger("--bgp-peer hold-time", fields.get("hold-time") ?? "90", 0, 65535);
  // RFC 4271 §4.2: a hold time of 1 or 2 seconds is invalid.
  if (holdTime === 1 || holdTime === 2) {
    usage(`--bgp-peer hold-time "${holdTime}" is not valid: expected 0 or 3 to 65535`);
  }
  const password = fields.get("password");
  const multihop = fields.get("multihop");
  return {
    address: formatIp(ip),
    asn: parseInteger("--bgp-peer asn", asnText, 1, MAX_ASN),
    port: parseInteger("--bgp-peer port", fields.get("port") ?? "179", 1, 65535),
    holdTime,
    ...(password === undefined ? {} : { password }),
    ...(sourceIp ? { sourceAddress: formatIp(sourceIp) } : {}),
    ...(multihop === undefined ? {} : { ebgpMultihop: parseInteger("--bgp-peer multihop", multihop, 1, 255) }),
  };
}

function parseMetricsAddr(text: string): RunOptions["metricsAddr"] {
  if (text === "off") return undefined;
  const colon = text.lastIndexOf(":");
  if (colon < 0) usage(`--metrics-addr "${text}" is not valid: expected HOST:PORT, :PORT or off`);
  let host = text.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host !== "" && !tryParseIp(host) && host !== "localhost") {
    usage(`--metrics-addr "${text}" is not valid: "${host}" is not an IP address`);
  }
  const port = parseInteger("--metrics-addr port", text.slice(colon + 1), 0, 65535);
  return { hostname: host === "" ? "0.0.0.0" : host, port };
}

function parseChoice<T extends string>(flag: string, text: string | undefined, choices: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    usage(`${flag} "${text}" is not valid: expected one of ${choices.join(", ")}`);
  }
  return text as T;
}

function parseNamespace(text: string | undefined): string {
  const ns = text ?? DEFAULT_NAMESPACE;
  if (ns.length > 63 || !DNS_LABEL.test(ns)) {
    usage(`--namespace "${ns}" is not valid: expected a DNS label (a-z, 0-9, -)`);
  }
  return ns;
}

function parseFlags<T extends typeof RUN_FLAGS | typeof STATUS_FLAGS>(args: string[], flags: T): FlagValues<T> {
  const result = readFlags(args, flags);
  if (!result.ok) usage(`${result.error} (see metallite --help)`);
  return result.values;
}

function buildRunOptions(values: FlagValues<typeof RUN_FLAGS>, env: FlagEnvironment) {
  const pools = (values.pool ?? []).map((text): FlagPool => {
    try {
      return { text, range: parseRange(text) };
    } catch (error) {
      usage(`--pool "${text}" is not valid: ${(error as Error).message.replace(/^Cannot parse range "[^"]*": /, "")}`);
    }
  });
  const nodeName = values["node-name"] ?? env.env("NODE_NAME") ?? env.hostname();
  if (nodeName.length > 253 || !DNS_SUBDOMAIN.test(nodeName)) {
    usage(`--node-name "${nodeName}" is not valid: expected a lower-case DNS name (set --node-name or $NODE_NAME)`);
  }
  for (const name of values.interface ?? []) {
    if (!INTERFACE_NAME.test(name)) {
      usage(`--interface "${name}" is not valid: expected an interface name of 1 to 15 characters`);
    }
  }
  const bgpPeers = (values["bgp-peer"] ?? []).map(parseBgpPeer);
  const asn = values.asn === undefined ? undefined : parseInteger("--asn", values.asn, 1, MAX_ASN);
  if (bgpPeers.length > 0 && asn === undefined) usage(`--bgp-peer needs --asn N (our AS number)`);
  const lbClass = values["lb-class"];
  if (lbClass !== undefined && (lbClass === "" || lbClass.length > 316)) usage(`--lb-class "${lbClass}" is not valid`);
  const metricsAddr = parseMetricsAddr(values["metrics-addr"] ?? `0.0.0.0:${DEFAULT_METRICS_PORT}`);
  const options: RunOptions = {
    nodeName,
    pools,
    interfaces: values.interface ?? [],
    namespace: parseNamespace(values.namespace),
    configFiles: values.config ?? [],
    bgpPeers,
    heartbeatPort: parseInteger(
      "--heartbeat-port",
      values["heartbeat-port"] ?? String(DEFAULT_HEARTBEAT_PORT),
      1,
      65535,
    ),
    arpOffload: parseChoice("--arp-offload", values["arp-offload"], ["auto", "off"] as const, "auto"),
    pageOut: parseChoice("--page-out", values["page-out"], ["auto", "off"] as const, "auto"),
    logLevel: parseChoice("--log-level", values["log-level"], LOG_LEVELS, "info"),
    logFormat: parseChoice("--log-format", values["log-format"], ["text", "json"] as const, "text"),
    ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
    ...(asn === undefined ? {} : { asn }),
    ...(metricsAddr ? { metricsAddr } : {}),
    ...(lbClass === undefined ? {} : { lbClass }),
  };
  return options;
}

/**
 * Parses metallite's command line. Throws {@link UsageError} with a one-line message naming the bad value and what
 * was expected.
 *
 * @example
 * ```ts
 * parseCommandLine(["--pool", "192.168.1.200-240"], { env: Deno.env.get, hostname: Deno.hostname });
 * ```
 */
export function parseCommandLine(argv: readonly string[], environment: FlagEnvironment): Command {
  // `deno task start -- A` passes a literal "--" first.
  const args = argv[0] === "--" ? argv.slice(1) : [...argv];
  const first = args[0];
  if (first === "version" || first === "--version") {
    if (args.length > 1) usage(`version takes no arguments, got "${args[1]}"`);
    return { kind: "version" };
  }
  if (first === "help") return { kind: "help" };
  if (first === "status") {
    const values = parseFlags(args.slice(1), STATUS_FLAGS);
    if (values.help) return { kind: "help" };
    return {
      kind: "status",
      options: {
        namespace: parseNamespace(values.namespace),
        output: parseChoice("--output", values.output, ["text", "json"] as const, "text"),
        configFiles: values.config ?? [],
        ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
      },
    };
  }
  const rest = first === "run" ? args.slice(1) : args;
  if (rest[0] !== undefined && !rest[0].startsWith("-")) {
    usage(`unknown command "${rest[0]}": expected run, status, version or --help`);
  }
  const values = parseFlags(rest, RUN_FLAGS);
  if (values.help) return { kind: "help" };
  return { kind: "run", options: buildRunOptions(values, environment) };
}
