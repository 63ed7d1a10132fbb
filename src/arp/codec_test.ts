import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { runBpf } from "../net/bpf.ts";
import {
  ARP_REPLY,
  ARP_REQUEST,
  type ArpErrorReason,
  decodeArp,
  encodeArpFrame,
  encodeArpProbe,
  encodeArpReply,
  encodeGratuitousArp,
} from "./codec.ts";
import { arpProbeFilter, arpRequestFilter, MAX_FILTER_TARGETS } from "./filter.ts";

/** Bytes from tcpdump -xx style hex. */
function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return new Uint8Array(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

// Captured with tcpdump -xx on veth-b in a namespace pair (veth-a 02:6d:6c:74:00:01 / 192.0.2.1, veth-b
// 02:6d:6c:74:00:02 / 192.0.2.2), Linux 6.18, arping 2.23 (Thomas Habets).
/** `arping -c 1 -I veth-b 192.0.2.1`: broadcast request, padded by arping to 58 bytes. */
const REQUEST = hex(`
  ffff ffff ffff 026d 6c74 0002 0806 0001 0800 0604 0001 026d 6c74 0002 c000 0202
  0000 0000 0000 c000 0201 0000 0000 0000 0000 0000 0000 0000 0000`);
/** The kernel's reply to it: 42 bytes, unpadded (veth does not pad). */
const KERNEL_REPLY = hex(`
  026d 6c74 0002 026d 6c74 0001 0806 0001 0800 0604 0002 026d 6c74 0001 c000 0201
  026d 6c74 0002 c000 0202`);
/** `arping -c 1 -0 -I veth-b 192.0.2.1`: an RFC 5227 probe (sender IP 0.0.0.0). */
const PROBE = hex(`
  ffff ffff ffff 026d 6c74 0002 0806 0001 0800 0604 0001 026d 6c74 0002 0000 0000
  0000 0000 0000 c000 0201 0000 0000 0000 0000 0000 0000 0000 0000`);
/** The kernel's reply to the probe: target IP 0.0.0.0. */
const KERNEL_PROBE_REPLY = hex(`
  026d 6c74 0002 026d 6c74 0001 0806 0001 0800 0604 0002 026d 6c74 0001 c000 0201
  026d 6c74 0002 0000 0000`);
/** `arping -c 1 -U -I veth-b 192.0.2.2`: gratuitous request, target MAC broadcast. */
const GRATUITOUS = hex(`
  ffff ffff ffff 026d 6c74 0002 0806 0001 0800 0604 0001 026d 6c74 0002 c000 0202
  ffff ffff ffff c000 0202 0000 0000 0000 0000 0000 0000 0000 0000`);

/** Pads to the 60-byte Ethernet minimum as our encoder does. */
function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(60, bytes.length));
  out.set(bytes);
  return out;
}

Deno.test("decodeArp() reads captured frames", async (t) => {
  await t.step("a request", () => {
    assertEquals(decodeArp(REQUEST), {
      ok: true,
      frame: {
        destination: "ff:ff:ff:ff:ff:ff",
        source: "02:6d:6c:74:00:02",
        packet: {
          operation: ARP_REQUEST,
          senderMac: "02:6d:6c:74:00:02",
          senderIp: "192.0.2.2",
          targetMac: "00:00:00:00:00:00",
          targetIp: "192.0.2.1",
        },
      },
    });
  });
  await t.step("an unpadded 42-byte reply", () => {
    const result = decodeArp(KERNEL_REPLY);
    assert(result.ok);
    assertEquals(result.frame.packet.operation, ARP_REPLY);
    assertEquals(result.frame.packet.senderIp, "192.0.2.1");
  });
  await t.step("a probe", () => {
    const result = decodeArp(PROBE);
    assert(result.ok);
    assertEquals(result.frame.packet.senderIp, "0.0.0.0");
  });
});

Deno.test("encodeArpReply() produces the kernel's reply bytes (padded to 60)", async (t) => {
  await t.step("to a request", () => {
    const request = decodeArp(REQUEST);
    assert(request.ok);
    assertEquals(encodeArpReply({ request: request.frame.packet, mac: "02:6d:6c:74:00:01" }), padded(KERNEL_REPLY));
  });
  await t.step("to a probe", () => {
    const probe = decodeArp(PROBE);
    assert(probe.ok);
    assertEquals(encodeArpReply({ request: probe.frame.packet, mac: "02:6d:6c:74:00:01" }), padded(KERNEL_PROBE_REPLY));
  });
});

Deno.test("encodeArpProbe() matches arping -0", () => {
  assertEquals(encodeArpProbe({ mac: "02:6d:6c:74:00:02", ip: "192.0.2.1" }), padded(PROBE.subarray(0, 42)));
});

Deno.test("encodeGratuitousArp() sends sender IP = target IP, zero target MAC in requests", () => {
  const request = decodeArp(encodeGratuitousArp({ mac: "02:6d:6c:74:00:02", ip: "192.0.2.2", operation: "request" }));
  assert(request.ok);
  assertEquals(request.frame.destination, "ff:ff:ff:ff:ff:ff");
  assertEquals(request.frame.packet, {
    operation: ARP_REQUEST,
    senderMac: "02:6d:6c:74:00:02",
    senderIp: "192.0.2.2",
    targetMac: "00:00:00:00:00:00",
    targetIp: "192.0.2.2",
  });
  const reply = decodeArp(encodeGratuitousArp({ mac: "02:6d:6c:74:00:02", ip: "192.0.2.2", operation: "reply" }));
  assert(reply.ok);
  assertEquals(reply.frame.packet.operation, ARP_REPLY);
  // arping -U differs only in the target MAC (broadcast, which RFC 5227 §2.3 says is ignored).
  const arping = decodeArp(GRATUITOUS);
  assert(arping.ok);
  assertEquals(arping.frame.packet.senderIp, arping.frame.packet.targetIp);
});

Deno.test("encodeArpFrame() rejects malformed addresses", () => {
  const fields = {
    operation: ARP_REQUEST,
    destination: "ff:ff:ff:ff:ff:ff",
    senderMac: "02:00:00:00:00:01",
    senderIp: "192.0.2.1",
    targetMac: "00:00:00:00:00:00",
    targetIp: "192.0.2.2",
  } as const;
  assertThrows(() => encodeArpFrame({ ...fields, senderIp: "192.0.2.256" }), TypeError, "192.0.2.256");
  assertThrows(() => encodeArpFrame({ ...fields, senderIp: "2001:db8::1" }), TypeError);
  assertThrows(() => encodeArpFrame({ ...fields, senderMac: "02:00:00:00:00" }), SyntaxError);
  assertThrows(() => encodeArpFrame({ ...fields, senderMac: new Uint8Array(5) }), TypeError);
});

Deno.test("decodeArp() names the reason for each bad frame", async (t) => {
  const cases: [string, (b: Uint8Array) => Uint8Array, ArpErrorReason][] = [
    ["empty", () => new Uint8Array(0), "truncated"],
    ["41 bytes", (b) => b.slice(0, 41), "truncated"],
    ["1519 bytes", (b) => grow(b, 1519), "oversized"],
    ["IPv4 ethertype", (b) => set(b, 12, 0x08, 0x00), "not_arp"],
    ["hardware type 6", (b) => set(b, 14, 0, 6), "unsupported_hardware"],
    ["protocol IPv6", (b) => set(b, 16, 0x86, 0xdd), "unsupported_protocol"],
    ["hardware length 8", (b) => set(b, 18, 8), "bad_address_length"],
    ["protocol length 16", (b) => set(b, 19, 16), "bad_address_length"],
    ["operation 3 (RARP)", (b) => set(b, 20, 0, 3), "unsupported_operation"],
    ["operation 0", (b) => set(b, 20, 0, 0), "unsupported_operation"],
    ["broadcast sender", (b) => set(b, 22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "bad_sender"],
    ["multicast sender", (b) => set(b, 22, 0x01, 0x00, 0x5e, 0, 0, 1), "bad_sender"],
    ["zero sender", (b) => set(b, 22, 0, 0, 0, 0, 0, 0), "bad_sender"],
  ];
  for (const [name, mutate, reason] of cases) {
    await t.step(name, () => {
      const result = decodeArp(mutate(REQUEST));
      assert(!result.ok, `${name} was accepted`);
      assertEquals(result.error.reason, reason);
      assert(result.error.message.length > 0);
    });
  }
});

function grow(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

function set(bytes: Uint8Array, offset: number, ...values: number[]): Uint8Array {
  const out = bytes.slice();
  out.set(values, offset);
  return out;
}

Deno.test("arpRequestFilter() accepts requests only, and only for the listed targets", () => {
  const any = arpRequestFilter();
  assertEquals(runBpf(any, REQUEST), REQUEST.length);
  assertEquals(runBpf(any, PROBE), PROBE.length);
  assertEquals(runBpf(any, KERNEL_REPLY), 0);
  assertEquals(runBpf(any, REQUEST, { pktType: 4 }), 0, "our own frames are dropped");
  assertEquals(runBpf(any, REQUEST, { vlanTagPresent: true }), 0, "VLAN-tagged frames are dropped");
  assertEquals(runBpf(any, set(REQUEST, 12, 0x08, 0x00)), 0);
  assertEquals(runBpf(any, set(REQUEST, 18, 6, 16)), 0);
  const owned = arpRequestFilter({ targets: ["192.0.2.9", "192.0.2.1"] });
  assertEquals(runBpf(owned, REQUEST), REQUEST.length);
  assertEquals(runBpf(owned, set(REQUEST, 38, 192, 0, 2, 3)), 0);
  assertEquals(runBpf(arpRequestFilter({ targets: [] }), REQUEST), 0);
  // Up to MAX_FILTER_TARGETS addresses are checked in the kernel; past that every request is let through.
  const full = Array.from({ length: MAX_FILTER_TARGETS }, (_, i) => `203.0.${113 + (i >> 8)}.${i & 255}`);
  assertEquals(runBpf(arpRequestFilter({ targets: full }), REQUEST), 0);
  assertEquals(runBpf(arpRequestFilter({ targets: [...full.slice(1), "192.0.2.1"] }), REQUEST), REQUEST.length);
  assertEquals(runBpf(arpRequestFilter({ targets: [...full, "198.51.100.1"] }), REQUEST), REQUEST.length);
  assertThrows(() => arpRequestFilter({ targets: ["192.0.2.300"] }), TypeError);
});

Deno.test("arpProbeFilter() accepts requests and replies, not our own frames", () => {
  const probe = arpProbeFilter();
  assertEquals(runBpf(probe, KERNEL_REPLY), KERNEL_REPLY.length);
  assertEquals(runBpf(probe, REQUEST), REQUEST.length);
  assertEquals(runBpf(probe, KERNEL_REPLY, { pktType: 4 }), 0);
  assertEquals(runBpf(probe, set(REQUEST, 20, 0, 3)), 0);
});
