import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { runBpf } from "../net/bpf.ts";
import { formatMac } from "../net/mac.ts";
import {
  decodeNdp,
  encodeDadProbe,
  encodeNeighborSolicitation,
  encodeSolicitationReply,
  encodeUnsolicitedAdvertisement,
  icmpv6Checksum,
  type NdpErrorReason,
  type NdpFrame,
  type NeighborSolicitation,
  solicitedNodeAddress,
  solicitedNodeMac,
} from "./codec.ts";
import { MAX_NDP_FILTER_TARGETS, ndpProbeFilter, ndpSolicitationFilter } from "./filter.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return new Uint8Array(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

// Captured with tcpdump -xx on veth-b in a namespace pair (veth-a 02:6d:6c:74:00:01 / 2001:db8::1, veth-b
// 02:6d:6c:74:00:02 / 2001:db8::2), Linux 6.18, ndisc6 from the ndisc6 package.
/** `ndisc6 -1 -r 1 2001:db8::1 veth-b`: NS from the link-local address to the solicited-node group, with SLLA. */
const SOLICITATION = hex(`
  3333 ff00 0001 026d 6c74 0002 86dd 600a 5750 0020 3aff fe80 0000 0000 0000 006d
  6cff fe74 0002 ff02 0000 0000 0000 0000 0001 ff00 0001 8700 729c 0000 0000 2001
  0db8 0000 0000 0000 0000 0000 0001 0101 026d 6c74 0002`);
/** The kernel's answer: NA from the target, Solicited and Override, target link-layer option. */
const KERNEL_ADVERTISEMENT = hex(`
  026d 6c74 0002 026d 6c74 0001 86dd 6000 0000 0020 3aff 2001 0db8 0000 0000 0000
  0000 0000 0001 fe80 0000 0000 0000 006d 6cff fe74 0002 8800 e0e8 6000 0000 2001
  0db8 0000 0000 0000 0000 0000 0001 0201 026d 6c74 0001`);
/** The kernel's own duplicate address detection for its link-local address: from ::, with a nonce option. */
const DAD = hex(`
  3333 ff74 0002 026d 6c74 0002 86dd 6000 0000 0020 3aff 0000 0000 0000 0000 0000
  0000 0000 0000 ff02 0000 0000 0000 0000 0001 ff74 0002 8700 c937 0000 0000 fe80
  0000 0000 0000 006d 6cff fe74 0002 0e01 57e1 b059 3052`);
/** A router solicitation from the same capture: ICMPv6, but not ND neighbor traffic. */
const ROUTER_SOLICITATION = hex(`
  3333 0000 0002 026d 6c74 0001 86dd 6000 0000 0010 3aff fe80 0000 0000 0000 006d
  6cff fe74 0001 ff02 0000 0000 0000 0000 0000 0000 0002 8500 a169 0000 0000 0101
  026d 6c74 0001`);

function decodeOk(frame: Uint8Array): NdpFrame {
  const result = decodeNdp(frame);
  if (!result.ok) throw new Error(result.error.message);
  return result.frame;
}

function asSolicitation(frame: NdpFrame): NdpFrame & { message: NeighborSolicitation } {
  assert(frame.message.type === "solicitation");
  return frame as NdpFrame & { message: NeighborSolicitation };
}

Deno.test("decodeNdp() reads captured solicitations and advertisements", () => {
  assertEquals(decodeOk(SOLICITATION), {
    destinationMac: "33:33:ff:00:00:01",
    sourceMac: "02:6d:6c:74:00:02",
    sourceIp: "fe80::6d:6cff:fe74:2",
    destinationIp: "ff02::1:ff00:1",
    message: { type: "solicitation", target: "2001:db8::1", sourceLinkLayer: "02:6d:6c:74:00:02" },
  });
  assertEquals(decodeOk(KERNEL_ADVERTISEMENT).message, {
    type: "advertisement",
    target: "2001:db8::1",
    router: false,
    solicited: true,
    override: true,
    targetLinkLayer: "02:6d:6c:74:00:01",
  });
  const dad = decodeOk(DAD);
  assertEquals(dad.sourceIp, "::");
  assertEquals(dad.message, { type: "solicitation", target: "fe80::6d:6cff:fe74:2", nonce: hex("57e1 b059 3052") });
});

Deno.test("encodeSolicitationReply() answers a unicast-source NS exactly as the kernel did", () => {
  const reply = encodeSolicitationReply({ request: asSolicitation(decodeOk(SOLICITATION)), mac: "02:6d:6c:74:00:01" });
  assertEquals(reply, KERNEL_ADVERTISEMENT);
});

Deno.test("encodeSolicitationReply() answers a DAD probe to all-nodes with Solicited clear (RFC 4861 §7.2.4)", () => {
  const request = asSolicitation(decodeOk(encodeDadProbe({ mac: "02:6d:6c:74:00:02", ip: "2001:db8::10" })));
  const reply = decodeOk(encodeSolicitationReply({ request, mac: "02:6d:6c:74:00:01" }));
  assertEquals(reply, {
    destinationMac: "33:33:00:00:00:01",
    sourceMac: "02:6d:6c:74:00:01",
    sourceIp: "2001:db8::10",
    destinationIp: "ff02::1",
    message: {
      type: "advertisement",
      target: "2001:db8::10",
      router: false,
      solicited: false,
      override: true,
      targetLinkLayer: "02:6d:6c:74:00:01",
    },
  });
});

Deno.test("encodeSolicitationReply() without a source link-layer option replies to the Ethernet source", () => {
  const frame = encodeNeighborSolicitation({
    sourceMac: "02:6d:6c:74:00:02",
    sourceIp: "2001:db8::2",
    target: "2001:db8::10",
    destinationIp: "2001:db8::10",
    destinationMac: "02:6d:6c:74:00:01",
  });
  const reply = decodeOk(
    encodeSolicitationReply({ request: asSolicitation(decodeOk(frame)), mac: "02:6d:6c:74:00:01" }),
  );
  assertEquals([reply.destinationMac, reply.destinationIp], ["02:6d:6c:74:00:02", "2001:db8::2"]);
  assert(reply.message.type === "advertisement" && reply.message.solicited);
});

Deno.test("encodeUnsolicitedAdvertisement() goes to all-nodes with Override and the target link-layer option", () => {
  const frame = decodeOk(encodeUnsolicitedAdvertisement({ mac: "02:6d:6c:74:00:01", ip: "2001:db8::10" }));
  assertEquals([frame.destinationMac, frame.sourceIp, frame.destinationIp], [
    "33:33:00:00:00:01",
    "2001:db8::10",
    "ff02::1",
  ]);
  assertEquals(frame.message, {
    type: "advertisement",
    target: "2001:db8::10",
    router: false,
    solicited: false,
    override: true,
    targetLinkLayer: "02:6d:6c:74:00:01",
  });
});

Deno.test("encodeDadProbe() matches the kernel's DAD probe byte for byte", () => {
  const probe = encodeDadProbe({ mac: "02:6d:6c:74:00:02", ip: "fe80::6d:6cff:fe74:2", nonce: hex("57e1 b059 3052") });
  assertEquals(probe, DAD);
  assertThrows(
    () => encodeDadProbe({ mac: "02:6d:6c:74:00:02", ip: "2001:db8::1", nonce: new Uint8Array(5) }),
    TypeError,
  );
  assertThrows(() => encodeDadProbe({ mac: "02:6d:6c:74:00:02", ip: "192.0.2.1" }), TypeError);
});

Deno.test("solicited-node helpers follow RFC 4291 §2.7.1 and RFC 2464 §7", () => {
  assertEquals(solicitedNodeAddress("2001:db8::1"), "ff02::1:ff00:1");
  assertEquals(solicitedNodeAddress("fe80::6d:6cff:fe74:2"), "ff02::1:ff74:2");
  assertEquals(formatMac(solicitedNodeMac("2001:db8::abcd:ef12")), "33:33:ff:cd:ef:12");
});

Deno.test("icmpv6Checksum() reproduces captured checksums", () => {
  for (const frame of [SOLICITATION, KERNEL_ADVERTISEMENT, DAD]) {
    const message = frame.slice(54);
    const sent = (message[2]! << 8) | message[3]!;
    message[2] = message[3] = 0;
    assertEquals(icmpv6Checksum(frame.subarray(22, 38), frame.subarray(38, 54), message), sent);
  }
});

/** Copies `frame`, applies `change`, and recomputes the ICMPv6 checksum so that later checks are reached. */
function altered(frame: Uint8Array, change: (b: Uint8Array) => void, fixChecksum = true): Uint8Array {
  const out = frame.slice();
  change(out);
  if (fixChecksum && out.length >= 58) {
    const length = (out[18]! << 8) | out[19]!;
    const message = out.slice(54, 54 + length);
    message[2] = message[3] = 0;
    const sum = icmpv6Checksum(out.subarray(22, 38), out.subarray(38, 54), message);
    out[56] = sum >> 8;
    out[57] = sum & 0xff;
  }
  return out;
}

Deno.test("decodeNdp() refuses what RFC 4861 §7.1.1/§7.1.2 says to drop, naming the reason", async (t) => {
  const cases: [string, Uint8Array, NdpErrorReason][] = [
    ["empty", new Uint8Array(0), "truncated"],
    ["77 bytes", SOLICITATION.slice(0, 77), "truncated"],
    ["payload length past the frame", altered(SOLICITATION, (b) => void (b[19] = 0x40), false), "truncated"],
    [
      "1519 bytes",
      (() => {
        const b = new Uint8Array(1519);
        b.set(SOLICITATION);
        return b;
      })(),
      "oversized",
    ],
    ["IPv4 ethertype", altered(SOLICITATION, (b) => void (b[12] = 0x08, b[13] = 0x00)), "not_ipv6"],
    ["IP version 4", altered(SOLICITATION, (b) => void (b[14] = 0x40)), "bad_ip_header"],
    ["hop-by-hop header", altered(SOLICITATION, (b) => void (b[20] = 0)), "not_icmpv6"],
    [
      "router solicitation (padded)",
      (() => {
        const b = new Uint8Array(78);
        b.set(ROUTER_SOLICITATION);
        return b;
      })(),
      "not_ndp",
    ],
    ["hop limit 64", altered(SOLICITATION, (b) => void (b[21] = 64)), "bad_hop_limit"],
    ["code 1", altered(SOLICITATION, (b) => void (b[55] = 1)), "bad_code"],
    ["ICMP length 16", altered(SOLICITATION, (b) => void (b[19] = 16)), "bad_length"],
    ["bad checksum", altered(SOLICITATION, (b) => void (b[57] = b[57]! ^ 1), false), "bad_checksum"],
    ["changed byte, stale checksum", altered(SOLICITATION, (b) => void (b[77] = b[77]! ^ 1), false), "bad_checksum"],
    ["multicast source", altered(SOLICITATION, (b) => void (b[22] = 0xff)), "bad_source"],
    ["group Ethernet source", altered(SOLICITATION, (b) => void (b[6] = 0x03)), "bad_source"],
    ["group source link-layer option", altered(SOLICITATION, (b) => void (b[80] = 0x33)), "bad_option"],
    ["multicast target", altered(SOLICITATION, (b) => void (b[62] = 0xff)), "multicast_target"],
    ["option of length 0", altered(SOLICITATION, (b) => void (b[79] = 0)), "bad_option"],
    ["option past the end", altered(SOLICITATION, (b) => void (b[79] = 2)), "bad_option"],
    [
      "DAD to a unicast destination",
      altered(DAD, (b) => void b.set(hex("2001 0db8 0000 0000 0000 0000 0000 0001"), 38)),
      "bad_dad_destination",
    ],
    [
      "DAD with a source link-layer option",
      altered(DAD, (b) => void b.set([1, 1, 2, 0, 0, 0, 0, 9], 78)),
      "dad_with_link_layer",
    ],
    [
      "solicited NA to a multicast group",
      altered(KERNEL_ADVERTISEMENT, (b) => void (b[38] = 0xff)),
      "solicited_to_multicast",
    ],
  ];
  for (const [name, frame, reason] of cases) {
    await t.step(name, () => {
      const result = decodeNdp(frame);
      assert(!result.ok, `${name} was accepted`);
      assertEquals(result.error.reason, reason, result.error.message);
    });
  }
});

Deno.test("ndpSolicitationFilter() passes solicitations only, only for listed targets, never extension headers", () => {
  const any = ndpSolicitationFilter();
  assert(runBpf(any, SOLICITATION) > 0);
  assert(runBpf(any, DAD) > 0);
  assertEquals(runBpf(any, KERNEL_ADVERTISEMENT), 0);
  assertEquals(runBpf(any, ROUTER_SOLICITATION), 0);
  assertEquals(runBpf(any, altered(SOLICITATION, (b) => void (b[20] = 0))), 0, "hop-by-hop header");
  assertEquals(runBpf(any, altered(SOLICITATION, (b) => void (b[21] = 64))), 0, "hop limit");
  assertEquals(runBpf(any, SOLICITATION, { pktType: 4 }), 0, "our own");
  assertEquals(runBpf(any, SOLICITATION, { vlanTagPresent: true }), 0, "VLAN");
  const owned = ndpSolicitationFilter({ targets: ["2001:db8::7", "2001:db8::1"] });
  assert(runBpf(owned, SOLICITATION) > 0);
  assertEquals(runBpf(owned, DAD), 0);
  assertEquals(runBpf(ndpSolicitationFilter({ targets: ["2001:db8::1:0:0:1"] }), SOLICITATION), 0, "same low bits");
  assertEquals(runBpf(ndpSolicitationFilter({ targets: [] }), SOLICITATION), 0);
  const many = Array.from({ length: MAX_NDP_FILTER_TARGETS }, (_, i) => `2001:db8::1:${i.toString(16)}`);
  assertEquals(runBpf(ndpSolicitationFilter({ targets: many }), SOLICITATION), 0);
  assert(runBpf(ndpSolicitationFilter({ targets: [...many.slice(1), "2001:db8::1"] }), SOLICITATION) > 0);
  assertThrows(() => ndpSolicitationFilter({ targets: ["192.0.2.1"] }), TypeError);
});

Deno.test("ndpProbeFilter() passes solicitations and advertisements", () => {
  const probe = ndpProbeFilter();
  assert(runBpf(probe, KERNEL_ADVERTISEMENT) > 0);
  assert(runBpf(probe, DAD) > 0);
  assertEquals(runBpf(probe, ROUTER_SOLICITATION), 0);
});
