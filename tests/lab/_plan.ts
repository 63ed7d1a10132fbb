/**
 * The shape of a lab as plain data: names, addresses, MACs and the `ip -batch` scripts that build it. Pure, so the
 * layout is tested without root.
 */

/** Options for {@linkcode createLab}. */
export interface LabOptions {
  /** Number of node namespaces, `node1`..`nodeN` at 198.51.100.11.. (default 3, at most 80). */
  nodes?: number;
  /** Add a `client` namespace at 198.51.100.100 (default true). */
  client?: boolean;
  /** Add a `router` at 198.51.100.1 with 203.0.113.1/24 on `wan0` and forwarding on (default false). */
  router?: boolean;
  /** Add an `api` namespace at 198.51.100.2, where {@linkcode startUnixForward} exposes the fake API server (default false). */
  api?: boolean;
  /** Aborts creation between steps; whatever was created is deleted and createLab rejects. */
  signal?: AbortSignal;
  /** Called after each creation step, for progress output or for tests that abort half way. */
  onStep?: (step: LabStep, lab: { id: string; namespaces: string[] }) => void;
  /** How long close() waits after SIGTERM before it sends SIGKILL (default 1500 ms). */
  killGraceMs?: number;
}

/** The creation steps, in order. */
export type LabStep = "namespaces" | "lan" | "hosts";

/** What a host is for. */
export type HostRole = "node" | "client" | "router" | "api";

/** One planned host namespace. */
export interface HostPlan {
  name: string;
  role: HostRole;
  netns: string;
  /** Last octet of its LAN IPv4 address, also the last byte of its MACs. */
  octet: number;
  ipv4: string;
  ipv6: string;
  /** MAC of `eth0` inside the host. */
  mac: string;
  /** MAC of the bridge-side veth end (named like the host) in the LAN namespace. */
  bridgeMac: string;
}

/** A whole planned lab. */
export interface LabPlan {
  id: string;
  lanNetns: string;
  hosts: HostPlan[];
}

/** Name every lab namespace starts with, followed by the run id's hex digits. */
export const LAB_PREFIX = "mlt";
/** Matches lab namespace names and captures the run id: `mlt3f2a9c-node1` → `mlt3f2a9c`. */
export const LAB_NETNS_PATTERN: RegExp = /^(mlt[0-9a-f]{4,6})-([a-z0-9-]+)$/;

/** The LAN every host is on (RFC 5737 TEST-NET-2); hosts use .1, .2, .11-.90 and .100, the rest is free for pools. */
export const LAN_IPV4_CIDR = "198.51.100.0/24";
/** The LAN's IPv6 prefix (RFC 3849 documentation range); hosts use ::1, ::2, ::11-::90 and ::100. */
export const LAN_IPV6_CIDR = "2001:db8:100::/64";
/** The prefix behind the router (RFC 5737 TEST-NET-3), for routed (BGP) pools; the router holds .1. */
export const ROUTED_IPV4_CIDR = "203.0.113.0/24";
const LAN_IPV4_PREFIX = "198.51.100.";
const LAN_IPV6_PREFIX = "2001:db8:100::";
const ROUTED_IPV4 = "203.0.113.1/24";

const MAX_NODES = 80;
const NODE_FIRST_OCTET = 11;

/** Returns a fresh run id: "mlt" and 6 random hex digits. */
export function newLabId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return LAB_PREFIX + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Lays out a lab: which hosts, their namespaces, addresses and MACs. */
export function planLab(id: string, options: LabOptions = {}): LabPlan {
  const nodes = options.nodes ?? 3;
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > MAX_NODES) {
    throw new RangeError(`A lab has 0 to ${MAX_NODES} nodes, not ${nodes}`);
  }
  if (!LAB_NETNS_PATTERN.test(`${id}-lan`)) throw new TypeError(`Lab id "${id}" is not "mlt" and 4 to 6 hex digits`);
  // The id's second byte makes MACs of concurrent labs differ, which keeps captures readable.
  const idByte = parseInt(id.slice(3, 5), 16);
  const host = (name: string, role: HostRole, octet: number): HostPlan => ({
    name,
    role,
    netns: `${id}-${name}`,
    octet,
    ipv4: `${LAN_IPV4_PREFIX}${octet}`,
    ipv6: `${LAN_IPV6_PREFIX}${octet.toString(10)}`,
    mac: `02:00:00:00:${hex2(idByte)}:${hex2(octet)}`,
    bridgeMac: `02:00:00:01:${hex2(idByte)}:${hex2(octet)}`,
  });
  const hosts: HostPlan[] = [];
  if (options.router) hosts.push(host("router", "router", 1));
  if (options.api) hosts.push(host("api", "api", 2));
  for (let i = 0; i < nodes; i++) hosts.push(host(`node${i + 1}`, "node", NODE_FIRST_OCTET + i));
  if (options.client ?? true) hosts.push(host("client", "client", 100));
  return { id, lanNetns: `${id}-lan`, hosts };
}

/** Every namespace of a plan, the LAN namespace first. */
export function planNamespaces(plan: LabPlan): string[] {
  return [plan.lanNetns, ...plan.hosts.map((h) => h.netns)];
}

/** `ip -batch` lines that add (or delete) every namespace of a plan. */
export function netnsBatch(names: readonly string[], verb: "add" | "del"): string {
  return names.map((n) => `netns ${verb} ${n}\n`).join("");
}

/**
 * Sysctl writes for the LAN namespace: no IPv6 on the bridge or its ports, so the only frames on the wire are the
 * hosts' own.
 */
export function lanSysctls(): [string, string][] {
  return [
    ["net/ipv6/conf/default/disable_ipv6", "1"],
    ["net/ipv6/conf/all/disable_ipv6", "1"],
  ];
}

/** `ip -batch` lines run in the LAN namespace: the bridge and one veth pair per host, the host end moved in. */
export function lanBatch(plan: LabPlan): string {
  // mcast_snooping 0: a dumb home switch floods multicast, so NDP solicitations to solicited-node groups reach
  // responders that joined them with PACKET_ADD_MEMBERSHIP only (no MLD report for the bridge to learn).
  const lines = ["link set lo up", "link add br0 type bridge mcast_snooping 0 stp_state 0", "link set br0 up"];
  for (const h of plan.hosts) {
    lines.push(
      `link add ${h.name} address ${h.bridgeMac} type veth peer name eth0 address ${h.mac} netns ${h.netns}`,
      `link set ${h.name} master br0 up`,
    );
  }
  return lines.map((l) => l + "\n").join("");
}

/** Sysctl writes inside one host namespace, before its link comes up. */
export function hostSysctls(host: HostPlan): [string, string][] {
  const writes: [string, string][] = [];
  for (const scope of ["all", "default", "eth0"]) {
    // No duplicate address detection and no router solicitations: addresses are usable at once and the wire
    // carries only what a test caused.
    writes.push([`net/ipv6/conf/${scope}/accept_dad`, "0"], [`net/ipv6/conf/${scope}/router_solicitations`, "0"]);
  }
  if (host.role === "node") {
    // kube-proxy in IPVS mode with strictARP sets exactly these, so VIPs on kube-lb0 are not answered by the kernel.
    writes.push(["net/ipv4/conf/all/arp_ignore", "1"], ["net/ipv4/conf/all/arp_announce", "2"]);
  }
  if (host.role === "router") {
    writes.push(["net/ipv4/ip_forward", "1"], ["net/ipv6/conf/all/forwarding", "1"]);
  }
  return writes;
}

/** `ip -batch` lines run in one host namespace: loopback, addresses, the link, and the role's extras. */
export function hostBatch(host: HostPlan, plan: LabPlan): string {
  const lines = [
    "link set lo up",
    `address add ${host.ipv4}/24 dev eth0`,
    `address add ${host.ipv6}/64 dev eth0 nodad`,
    "link set eth0 up",
  ];
  if (host.role === "node") {
    // Stand-in for kube-proxy's kube-ipvs0: the kernel has no dummy driver here, an ifb behaves alike (NOARP, and
    // left down as kube-proxy leaves its device; addresses on it still get local routes).
    lines.push("link add kube-lb0 type ifb");
  }
  if (host.role === "router") {
    // A veth pair to nowhere: both ends up so wan0 has carrier and 203.0.113.0/24 is a connected route.
    lines.push(
      "link add wan0 type veth peer name wan0-peer",
      "link set wan0-peer up",
      "link set wan0 up",
      `address add ${ROUTED_IPV4} dev wan0`,
    );
  }
  if (host.role === "client" && plan.hosts.some((h) => h.role === "router")) {
    lines.push(`route add ${ROUTED_IPV4_CIDR} via ${LAN_IPV4_PREFIX}1 dev eth0`);
  }
  return lines.map((l) => l + "\n").join("");
}

/**
 * A POSIX shell script that writes sysctls (through /proc/sys, which shows the namespace of the process that
 * opens it), then runs `ip -batch -` on its stdin and prints `ip -j address show dev eth0` when asked.
 */
export function setupScript(writes: [string, string][], showEth0: boolean): string {
  const parts = ["set -e"];
  for (const [key, value] of writes) parts.push(`echo ${value} > /proc/sys/${key}`);
  parts.push("ip -batch -");
  if (showEth0) parts.push("ip -j address show dev eth0");
  return parts.join("\n");
}
