/**
 * Classic BPF programs for ARP sockets, so the kernel drops what the responder would ignore and a small node is not
 * woken for every frame on a busy LAN.
 * @module
 */

import {
  assembleBpf,
  BPF_DROP,
  type BpfInstruction,
  type BpfStep,
  bpfTargetSteps,
  bpfVerdictSteps,
  PACKET_OUTGOING,
} from "../net/mod.ts";
import { ARP_HARDWARE_ETHERNET, ARP_PROTOCOL_IPV4, ARP_REPLY, ARP_REQUEST, ETHERTYPE_ARP } from "./codec.ts";

/** Most target addresses a filter checks (2 instructions each, within BPF_MAXINSNS); past this it accepts every request. */
export const MAX_FILTER_TARGETS = 1000;

// Offsets in an Ethernet frame: ethertype at 12, then the ARP packet from 14 (RFC 826 field order).
const OFFSET_ETHERTYPE = 12;
const OFFSET_HARDWARE = 14;
const OFFSET_PROTOCOL = 16;
const OFFSET_LENGTHS = 18;
const OFFSET_OPERATION = 20;
const OFFSET_TARGET_IP = 38;

function ipv4Word(text: string): number {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new TypeError(`"${text}" is not an IPv4 address`);
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Steps shared by the ARP filters: not sent by us, no VLAN tag left in metadata, Ethernet/IPv4 ARP. */
function arpHeaderChecks(): BpfStep[] {
  return [
    // Frames this host sent show up on other packet sockets of the interface as PACKET_OUTGOING.
    { op: "ld", ancillary: "pktType" },
    { op: "jeq", value: PACKET_OUTGOING, then: "drop", else: "vlan" },
    { op: "label", name: "vlan" },
    // With VLAN offload the tag of a frame for a VLAN sub-interface is moved to metadata and the frame also reaches
    // sockets on the parent: answering it there, untagged, would answer on the wrong network.
    { op: "ld", ancillary: "vlanTagPresent" },
    { op: "jeq", value: 0, then: "ethertype", else: "drop" },
    { op: "label", name: "ethertype" },
    { op: "ld", size: "half", offset: OFFSET_ETHERTYPE },
    { op: "jeq", value: ETHERTYPE_ARP, then: "hardware", else: "drop" },
    { op: "label", name: "hardware" },
    { op: "ld", size: "half", offset: OFFSET_HARDWARE },
    { op: "jeq", value: ARP_HARDWARE_ETHERNET, then: "protocol", else: "drop" },
    { op: "label", name: "protocol" },
    { op: "ld", size: "half", offset: OFFSET_PROTOCOL },
    { op: "jeq", value: ARP_PROTOCOL_IPV4, then: "lengths", else: "drop" },
    { op: "label", name: "lengths" },
    { op: "ld", size: "half", offset: OFFSET_LENGTHS },
    { op: "jeq", value: 0x0604, then: "operation", else: "drop" },
    { op: "label", name: "operation" },
    { op: "ld", size: "half", offset: OFFSET_OPERATION },
  ];
}

/** Options for {@link arpRequestFilter}. */
export interface ArpRequestFilterOptions {
  /**
   * Accept only requests for these IPv4 addresses (the VIPs owned on this interface); an empty list accepts none.
   * Omitted, or more than {@link MAX_FILTER_TARGETS}: every request is accepted.
   */
  targets?: readonly string[];
}

/**
 * A filter accepting only ARP requests (ethertype 0x0806, Ethernet/IPv4, operation 1) that this host did not send,
 * optionally only those asking for the given addresses.
 * @example
 * socket.setFilter(arpRequestFilter({ targets: ["192.0.2.10"] }));
 */
export function arpRequestFilter(options: ArpRequestFilterOptions = {}): BpfInstruction[] {
  const targets = options.targets === undefined
    ? undefined
    : [...new Set(options.targets.map(ipv4Word))].sort((a, b) => a - b);
  const steps = arpHeaderChecks();
  if (targets === undefined || targets.length > MAX_FILTER_TARGETS) {
    steps.push({ op: "jeq", value: ARP_REQUEST, then: "accept", else: "drop" }, ...bpfVerdictSteps());
    return assembleBpf(steps);
  }
  // The early checks drop through a nearby "drop"; the targets follow (see bpfTargetSteps).
  steps.push(
    { op: "jeq", value: ARP_REQUEST, then: "targets", else: "drop" },
    { op: "label", name: "drop" },
    { op: "ret", value: BPF_DROP },
    ...bpfTargetSteps(OFFSET_TARGET_IP, targets.map((word) => [word])),
  );
  return assembleBpf(steps);
}

/**
 * A filter accepting ARP requests and replies this host did not send, for address-conflict probes (RFC 5227 §2.1.1:
 * a reply, an announcement, or another host's probe for the same address all reveal a conflict).
 */
export function arpProbeFilter(): BpfInstruction[] {
  return assembleBpf([
    ...arpHeaderChecks(),
    { op: "jeq", value: ARP_REQUEST, then: "accept", else: "reply" },
    { op: "label", name: "reply" },
    { op: "jeq", value: ARP_REPLY, then: "accept", else: "drop" },
    ...bpfVerdictSteps(),
  ]);
}
