/**
 * The ARP fast path that runs inside the kernel: a tc (tcx ingress) eBPF program that turns a request for an owned
 * VIP into the reply, in place, and sends it back out of the interface it came in on, without waking user space.
 * Pure: it builds the program's steps; `offload.ts` loads and attaches it.
 *
 * It answers only the plain case, and only what the user-space responder would answer the same way: a well-formed
 * Ethernet/IPv4 ARP request (no VLAN tag), broadcast or unicast to the interface's MAC, from a unicast sender other
 * than us, that is neither a probe (sender IP 0.0.0.0) nor an announcement (sender IP = target IP), for a
 * (VIP, interface) pair in the VIP map, while the daemon's lease on the fast path has not run out. Everything else
 * goes on (`TCX_NEXT`) to the kernel and to the user-space responder, which keeps the full rules, the logs and the
 * counters of ignored and malformed frames.
 *
 * Maps:
 * - VIPs: key {IPv4 address in network byte order (4 bytes), ifindex (u32, host order)}, value {interface MAC
 *   (6 bytes), 2 bytes padding, replies sent (u64, host order)}.
 * - Lease: an array of one u64, CLOCK_MONOTONIC nanoseconds until which the program may answer. The daemon moves it
 *   forward from its event loop; a daemon that hangs or is stopped stops answering when it runs out, before its peers
 *   declare it dead and take over, as the user-space responder would.
 *
 * Offsets: Ethernet header 14 bytes, then ARP (RFC 826): hardware type 14, protocol type 16, lengths 18-19,
 * operation 20, sender MAC 22, sender IP 28, target MAC 32, target IP 38. `struct __sk_buff` fields (uapi/linux/bpf.h):
 * len 0, vlan_present 20, ifindex 40, data 76, data_end 80. Loads are little-endian, so the constants below are the wire
 * bytes read as little-endian numbers.
 * @module
 */

import { BPF_HELPER, type EbpfStep, TCX_NEXT } from "../net/mod.ts";

/** Size of a VIP map key: IPv4 address (4) + ifindex (4). */
export const ARP_FAST_PATH_KEY_BYTES = 8;
/** Size of a VIP map value: MAC (6) + padding (2) + reply counter (8). */
export const ARP_FAST_PATH_VALUE_BYTES = 16;
/** Offset of the reply counter in a VIP map value. */
export const ARP_FAST_PATH_COUNTER_OFFSET = 8;

const SKB_LEN = 0;
const SKB_VLAN_PRESENT = 20;
const SKB_IFINDEX = 40;
const SKB_DATA = 76;
const SKB_DATA_END = 80;
const FRAME_BYTES = 42;
/** The longest frame the user-space codec accepts (ETHERNET_MAX_FRAME_BYTES). */
const MAX_FRAME_BYTES = 1518;
/** Ethertype 0x0806 as bytes 08 06 read little-endian. */
const ETHERTYPE_ARP_LE = 0x0608;
/** Hardware type 1, protocol type 0x0800: bytes 00 01 08 00. */
const TYPES_LE = 0x00080100;
/** Address lengths 6 and 4, operation 1 (request): bytes 06 04 00 01. */
const LENGTHS_REQUEST_LE = 0x01000406;
/** Operation 2 (reply): bytes 00 02. */
const OPERATION_REPLY_LE = 0x0200;

/** File descriptors of the maps the program reads. */
export interface ArpFastPathMaps {
  /** The VIP map (hash). */
  vipMapFd: number;
  /** The lease map (array of one u64). */
  leaseMapFd: number;
}

/** Steps that leave r2 = packet start, r3 = packet end, with 42 bytes checked, or jump to "next". */
function loadPacket(): EbpfStep[] {
  return [
    { op: "load", size: "u32", dst: 2, src: 6, off: SKB_DATA },
    { op: "load", size: "u32", dst: 3, src: 6, off: SKB_DATA_END },
    { op: "movReg", dst: 4, src: 2 },
    { op: "add", dst: 4, imm: FRAME_BYTES },
    { op: "jumpReg", cond: "gt", dst: 4, src: 3, to: "next" },
  ];
}

/** Steps that leave r0 = the value for the key at r10 + `keyOffset` in a map, or jump to "next" when it has none. */
function lookupOrNext(mapFd: number, keyOffset: number): EbpfStep[] {
  return [
    { op: "loadMap", dst: 1, fd: mapFd },
    { op: "movReg", dst: 2, src: 10 },
    { op: "add", dst: 2, imm: keyOffset },
    { op: "call", helper: BPF_HELPER.mapLookupElem },
    { op: "jump", cond: "eq", dst: 0, imm: 0, to: "next" },
  ];
}

/** The program's steps, for `assembleEbpf`. */
export function arpFastPathProgram(maps: ArpFastPathMaps): EbpfStep[] {
  return [
    { op: "movReg", dst: 6, src: 1 }, // r6 = the __sk_buff, kept across helper calls
    ...loadPacket(),
    // Frames longer than Ethernet allows (jumbo frames) are for user space, which refuses them as oversized.
    { op: "load", size: "u32", dst: 4, src: 6, off: SKB_LEN },
    { op: "jump", cond: "gt", dst: 4, imm: MAX_FRAME_BYTES, to: "next" },
    { op: "load", size: "u32", dst: 4, src: 6, off: SKB_VLAN_PRESENT },
    { op: "jump", cond: "ne", dst: 4, imm: 0, to: "next" },
    { op: "load", size: "u16", dst: 4, src: 2, off: 12 },
    { op: "jump", cond: "ne", dst: 4, imm: ETHERTYPE_ARP_LE, to: "next" },
    { op: "load", size: "u32", dst: 4, src: 2, off: 14 },
    { op: "jump", cond: "ne32", dst: 4, imm: TYPES_LE, to: "next" },
    { op: "load", size: "u32", dst: 4, src: 2, off: 18 },
    { op: "jump", cond: "ne32", dst: 4, imm: LENGTHS_REQUEST_LE, to: "next" },
    // The sender MAC must be unicast (group bit clear) and not all zero.
    { op: "load", size: "u8", dst: 4, src: 2, off: 22 },
    { op: "and", dst: 4, imm: 1 },
    { op: "jump", cond: "ne", dst: 4, imm: 0, to: "next" },
    { op: "load", size: "u32", dst: 4, src: 2, off: 22 },
    { op: "jump", cond: "ne32", dst: 4, imm: 0, to: "senderMacSet" },
    { op: "load", size: "u16", dst: 4, src: 2, off: 26 },
    { op: "jump", cond: "eq", dst: 4, imm: 0, to: "next" },
    { op: "label", name: "senderMacSet" },
    // Probes (sender IP 0) and announcements (sender IP = target IP) are for user space to judge.
    { op: "load", size: "u32", dst: 4, src: 2, off: 28 },
    { op: "jump", cond: "eq", dst: 4, imm: 0, to: "next" },
    { op: "load", size: "u32", dst: 5, src: 2, off: 38 },
    { op: "jumpReg", cond: "eq", dst: 4, src: 5, to: "next" },
    // Key {target IP, ifindex} at r10-8.
    { op: "store", size: "u32", dst: 10, off: -8, src: 5 },
    { op: "load", size: "u32", dst: 4, src: 6, off: SKB_IFINDEX },
    { op: "store", size: "u32", dst: 10, off: -4, src: 4 },
    ...lookupOrNext(maps.vipMapFd, -8),
    { op: "movReg", dst: 7, src: 0 }, // r7 = the VIP's value: our MAC and the counter
    // The daemon's lease must still run.
    { op: "storeImm", size: "u32", dst: 10, off: -12, imm: 0 },
    ...lookupOrNext(maps.leaseMapFd, -12),
    { op: "load", size: "u64", dst: 8, src: 0, off: 0 },
    { op: "call", helper: BPF_HELPER.ktimeGetNs },
    { op: "jumpReg", cond: "ge", dst: 0, src: 8, to: "next" },
    // Helper calls forget what was checked about packet pointers: load and check again.
    ...loadPacket(),
    // Destination: broadcast, or our MAC (a neighbour refreshing its entry).
    { op: "load", size: "u32", dst: 4, src: 2, off: 0 },
    { op: "load", size: "u16", dst: 5, src: 2, off: 4 },
    { op: "jump", cond: "ne32", dst: 4, imm: -1, to: "unicast" },
    { op: "jump", cond: "eq", dst: 5, imm: 0xffff, to: "destinationOk" },
    { op: "label", name: "unicast" },
    { op: "load", size: "u32", dst: 8, src: 7, off: 0 },
    { op: "jumpReg", cond: "ne", dst: 4, src: 8, to: "next" },
    { op: "load", size: "u16", dst: 8, src: 7, off: 4 },
    { op: "jumpReg", cond: "ne", dst: 5, src: 8, to: "next" },
    { op: "label", name: "destinationOk" },
    // Not our own frame coming back.
    { op: "load", size: "u32", dst: 4, src: 2, off: 22 },
    { op: "load", size: "u32", dst: 8, src: 7, off: 0 },
    { op: "jumpReg", cond: "ne", dst: 4, src: 8, to: "notOwnFrame" },
    { op: "load", size: "u16", dst: 5, src: 2, off: 26 },
    { op: "load", size: "u16", dst: 8, src: 7, off: 4 },
    { op: "jumpReg", cond: "eq", dst: 5, src: 8, to: "next" },
    { op: "label", name: "notOwnFrame" },
    // Rewrite the request into the reply.
    { op: "load", size: "u32", dst: 4, src: 2, off: 22 }, // requester's MAC
    { op: "load", size: "u16", dst: 5, src: 2, off: 26 },
    { op: "load", size: "u32", dst: 8, src: 2, off: 28 }, // requester's IP
    { op: "store", size: "u32", dst: 2, off: 0, src: 4 }, // Ethernet destination = requester
    { op: "store", size: "u16", dst: 2, off: 4, src: 5 },
    { op: "store", size: "u32", dst: 2, off: 32, src: 4 }, // target MAC = requester
    { op: "store", size: "u16", dst: 2, off: 36, src: 5 },
    { op: "store", size: "u32", dst: 2, off: 38, src: 8 }, // target IP = requester
    { op: "load", size: "u32", dst: 4, src: 7, off: 0 }, // our MAC
    { op: "load", size: "u16", dst: 5, src: 7, off: 4 },
    { op: "store", size: "u32", dst: 2, off: 6, src: 4 }, // Ethernet source = us
    { op: "store", size: "u16", dst: 2, off: 10, src: 5 },
    { op: "store", size: "u32", dst: 2, off: 22, src: 4 }, // sender MAC = us
    { op: "store", size: "u16", dst: 2, off: 26, src: 5 },
    { op: "load", size: "u32", dst: 4, src: 10, off: -8 }, // sender IP = the VIP
    { op: "store", size: "u32", dst: 2, off: 28, src: 4 },
    { op: "storeImm", size: "u16", dst: 2, off: 20, imm: OPERATION_REPLY_LE },
    { op: "mov", dst: 4, imm: 1 },
    { op: "atomicAdd64", dst: 7, off: ARP_FAST_PATH_COUNTER_OFFSET, src: 4 },
    // Out of the interface it came in on.
    { op: "load", size: "u32", dst: 1, src: 6, off: SKB_IFINDEX },
    { op: "mov", dst: 2, imm: 0 },
    { op: "call", helper: BPF_HELPER.redirect },
    { op: "exit" },
    { op: "label", name: "next" },
    { op: "mov", dst: 0, imm: TCX_NEXT },
    { op: "exit" },
  ];
}
