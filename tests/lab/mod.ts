/**
 * Throwaway network-namespace labs for integration tests: a LAN bridge, node namespaces that look like kube-proxy
 * IPVS nodes, a client, an optional router and API host; real `arping`, `ndisc6` and `tcpdump` run inside them.
 * Only documentation ranges are used (198.51.100.0/24, 2001:db8:100::/64, 203.0.113.0/24), every namespace name
 * starts with "mlt" and a per-run id, and labs are deleted on close(), on failure, on SIGINT/SIGTERM and at exit.
 *
 * @example
 * ```ts
 * import { arping, createLab, labSkipReason, toolSkipReason } from "../lab/mod.ts";
 * const skip = labSkipReason() ?? toolSkipReason("arping");
 * Deno.test({ name: "client reaches node1", ignore: skip !== undefined, fn: async () => {
 *   await using lab = await createLab({ nodes: 1 });
 *   const { replies } = await arping(lab, lab.client, lab.nodes[0]!.ipv4);
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
