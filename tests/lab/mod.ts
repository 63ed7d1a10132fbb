/**
 * Throwaway network-namespace labs for integration tests, with real `arping`, `ndisc6` and `tcpdump` inside.
 *
 * Layout of a lab with id `mltXXXXXX` (6 random hex digits; every namespace is `mltXXXXXX-<host>`):
 *
 * | host     | eth0 IPv4       | eth0 IPv6          | eth0 MAC            | extras                                    |
 * | -------- | --------------- | ------------------ | ------------------- | ----------------------------------------- |
 * | router   | 198.51.100.1    | 2001:db8:100::1    | 02:00:00:00:II:01   | wan0 203.0.113.1/24, IPv4/IPv6 forwarding |
 * | api      | 198.51.100.2    | 2001:db8:100::2    | 02:00:00:00:II:02   | where startUnixForward() listens          |
 * | node1    | 198.51.100.11   | 2001:db8:100::11   | 02:00:00:00:II:0b   | kube-lb0 (ifb, down), strict-ARP sysctls  |
 * | node2    | 198.51.100.12   | 2001:db8:100::12   | 02:00:00:00:II:0c   | and so on up to node80 (.90, ::90)        |
 * | client   | 198.51.100.100  | 2001:db8:100::100  | 02:00:00:00:II:64   | 203.0.113.0/24 via the router, if any     |
 *
 * The IPv6 suffix repeats the IPv4 last octet's digits; the MAC's last byte is that octet in hex. Nodes have
 * `net.ipv4.conf.all.arp_ignore=1` and `arp_announce=2`, as kube-proxy's IPVS mode with strictARP leaves a node.
 * `II` is the id's first byte. Each host's `eth0` is a veth whose peer (named like the host) is a port of bridge
 * `br0` in `mltXXXXXX-lan` (no addresses, no IPv6, multicast snooping off: a dumb switch). IPv6 addresses skip
 * DAD and hosts send no router solicitations, so the wire carries only what a test causes.
 *
 * Labs are deleted by close() (or `await using`), when creation fails, on SIGINT/SIGTERM, at exit and on uncaught
 * errors; {@linkcode cleanupStaleLabs} removes labs whose owning process was SIGKILLed. Create and close a lab
 * within one `Deno.test` (share it between cases with `t.step`): it holds signal listeners, which the resource
 * sanitizer counts.
 *
 * @example
 * ```ts
 * import { arping, createLab, labSkipReason, toolSkipReason } from "../lab/mod.ts";
 * const skip = labSkipReason() ?? toolSkipReason("arping");
 * Deno.test({ name: "client reaches node1", ignore: skip !== undefined, fn: async () => {
 *   await using lab = await createLab({ nodes: 1 });
 *   const { macs } = await arping(lab, lab.client, lab.nodes[0]!.ipv4);
 * } });
 * ```
 * @module
 */
export { createLab, type Lab, type LabHost } from "./_lab.ts";
export {
  type HostRole,
  type LabOptions,
  type LabStep,
  LAN_IPV4_CIDR,
  LAN_IPV6_CIDR,
  ROUTED_IPV4_CIDR,
} from "./_plan.ts";
export { type ExecOptions, type ExecResult, type LabProcess, type SpawnOptions } from "./_process.ts";
export { labSkipReason, toolSkipReason } from "./_skip.ts";
export { type CleanupOptions, type CleanupReport, cleanupStaleLabs } from "./_cleanup.ts";
export { capture, type CaptureOptions } from "./_capture.ts";
export {
  type ArpView,
  type CapturedPacket,
  formatMac,
  type GratuitousArpQuery,
  gratuitousArps,
  type NdpView,
  parseTcpdump,
  type UnsolicitedNaQuery,
  unsolicitedNas,
} from "./_packets.ts";
export {
  arping,
  type ArpingOptions,
  type ArpingResult,
  type ArpReply,
  ndisc,
  type NdiscOptions,
  type NdiscResult,
  neighbour,
  type NeighbourEntry,
} from "./_tools.ts";
export { startUnixForward, type UnixForwardOptions } from "./_forward.ts";
