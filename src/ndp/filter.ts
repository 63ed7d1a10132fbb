/**
 * Classic BPF programs for NDP sockets: the kernel passes only neighbor solicitations (and, for probes,
 * advertisements) so the node is not woken for every IPv6 frame.
 * @module
 */

import { ipToBytes, tryParseIp } from "../ip/mod.ts";
import {
  assembleBpf,
  BPF_DROP,
  type BpfInstruction,
  type BpfStep,
  bpfTargetSteps,
  bpfVerdictSteps,
  PACKET_OUTGOING,
} from "../net/mod.ts";
import {
  ETHERTYPE_IPV6,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  NDP_HOP_LIMIT,
  NEXT_HEADER_ICMPV6,
} from "./codec.ts";

/** Most targets a filter checks (9 instructions each, within BPF_MAXINSNS); past this every NS is accepted. */
export const MAX_NDP_FILTER_TARGETS = 400;

// Offsets in an Ethernet frame: IPv6 header from 14 (next header at 20, hop limit at 21), ICMPv6 from 54,
// NS target address from 62.
const OFFSET_ETHERTYPE = 12;
const OFFSET_NEXT_HEADER = 20;
const OFFSET_HOP_LIMIT = 21;
const OFFSET_ICMP_TYPE = 54;
const OFFSET_TARGET = 62;

function words(ip: string): number[] {
  const parsed = tryParseIp(ip);
  if (parsed === undefined || parsed.family !== 6) throw new TypeError(`"${ip}" is not an IPv6 address`);
  const bytes = ipToBytes(parsed);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  return [0, 4, 8, 12].map((at) => view.getUint32(at));
}

/** Not ours, no VLAN tag in metadata, IPv6 with ICMPv6 directly after the fixed header, hop limit 255. */
function ipv6Checks(): BpfStep[] {
  return [
    { op: "ld", ancillary: "pktType" },
    { op: "jeq", value: PACKET_OUTGOING, then: "drop", else: "vlan" },
    { op: "label", name: "vlan" },
    { op: "ld", ancillary: "vlanTagPresent" },
    { op: "jeq", value: 0, then: "ethertype", else: "drop" },
    { op: "label", name: "ethertype" },
    { op: "ld", size: "half", offset: OFFSET_ETHERTYPE },
    { op: "jeq", value: ETHERTYPE_IPV6, then: "next", else: "drop" },
    { op: "label", name: "next" },
    // Only next header 58: ND messages never carry extension headers, and any frame that does is dropped here.
    { op: "ld", size: "byte", offset: OFFSET_NEXT_HEADER },
    { op: "jeq", value: NEXT_HEADER_ICMPV6, then: "hops", else: "drop" },
    { op: "label", name: "hops" },
    { op: "ld", size: "byte", offset: OFFSET_HOP_LIMIT },
    { op: "jeq", value: NDP_HOP_LIMIT, then: "type", else: "drop" },
    { op: "label", name: "type" },
    { op: "ld", size: "byte", offset: OFFSET_ICMP_TYPE },
  ];
}

/** Options for {@link ndpSolicitationFilter}. */
export interface NdpSolicitationFilterOptions {
  /**
   * Accept only solicitations for these IPv6 addresses; an empty list accepts none. Omitted, or more than
   * {@link MAX_NDP_FILTER_TARGETS}: every solicitation is accepted.
   */
  targets?: readonly string[];
}

/** A filter accepting only neighbor solicitations (ICMPv6 type 135) that this host did not send. */
export function ndpSolicitationFilter(options: NdpSolicitationFilterOptions = {}): BpfInstruction[] {
  const targets = options.targets === undefined ? undefined : [...new Set(options.targets)].map(words);
  const steps = ipv6Checks();
  if (targets === undefined || targets.length > MAX_NDP_FILTER_TARGETS) {
    steps.push({ op: "jeq", value: ICMPV6_NEIGHBOR_SOLICITATION, then: "accept", else: "drop" });
    steps.push(...bpfVerdictSteps());
    return assembleBpf(steps);
  }
  // The early checks drop through a nearby "drop"; the targets follow (see bpfTargetSteps).
  steps.push(
    { op: "jeq", value: ICMPV6_NEIGHBOR_SOLICITATION, then: "targets", else: "drop" },
    { op: "label", name: "drop" },
    { op: "ret", value: BPF_DROP },
    ...bpfTargetSteps(OFFSET_TARGET, targets),
  );
  return assembleBpf(steps);
}

/** A filter accepting neighbor solicitations and advertisements from other hosts, for duplicate address probes. */
export function ndpProbeFilter(): BpfInstruction[] {
  return assembleBpf([
    ...ipv6Checks(),
    { op: "jeq", value: ICMPV6_NEIGHBOR_SOLICITATION, then: "accept", else: "na" },
    { op: "label", name: "na" },
    { op: "jeq", value: ICMPV6_NEIGHBOR_ADVERTISEMENT, then: "accept", else: "drop" },
    ...bpfVerdictSteps(),
  ]);
}
