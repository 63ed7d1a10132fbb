import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { assembleBpf, BPF_ACCEPT, BPF_DROP, encodeBpf, runBpf } from "./bpf.ts";

const program = assembleBpf([
  { op: "ld", ancillary: "pktType" },
  { op: "jeq", value: 4, then: "drop", else: "type" },
  { op: "label", name: "type" },
  { op: "ld", size: "half", offset: 12 },
  { op: "jeq", value: 0x0806, then: "accept", else: "drop" },
  { op: "label", name: "accept" },
  { op: "ret", value: BPF_ACCEPT },
  { op: "label", name: "drop" },
  { op: "ret", value: BPF_DROP },
]);

Deno.test("assembleBpf() resolves labels into forward jump offsets", () => {
  assertEquals(program, [
    { code: 0x20, jt: 0, jf: 0, k: 0xfffff004 }, // ld [SKF_AD_OFF + SKF_AD_PKTTYPE]
    { code: 0x15, jt: 3, jf: 0, k: 4 }, // jeq #4 (PACKET_OUTGOING)
    { code: 0x28, jt: 0, jf: 0, k: 12 }, // ldh [12]
    { code: 0x15, jt: 0, jf: 1, k: 0x0806 }, // jeq #0x806
    { code: 0x06, jt: 0, jf: 0, k: 0xffffffff }, // ret #-1
    { code: 0x06, jt: 0, jf: 0, k: 0 }, // ret #0
  ]);
});

Deno.test("assembleBpf() rejects unknown, duplicate and backward labels", () => {
  assertThrows(() => assembleBpf([{ op: "jeq", value: 1, then: "x", else: "x" }]), TypeError, "not defined");
  assertThrows(
    () => assembleBpf([{ op: "label", name: "x" }, { op: "label", name: "x" }, { op: "ret", value: 0 }]),
    TypeError,
    "twice",
  );
  assertThrows(
    () => assembleBpf([{ op: "label", name: "x" }, { op: "jeq", value: 1, then: "x", else: "x" }]),
    RangeError,
    "out of reach",
  );
  assertThrows(() => assembleBpf([]), RangeError);
});

Deno.test("encodeBpf() writes struct sock_filter in host (little-endian) order", () => {
  assertEquals([...encodeBpf([{ code: 0x15, jt: 3, jf: 1, k: 0x0806 }])], [0x15, 0, 3, 1, 0x06, 0x08, 0, 0]);
});

Deno.test("runBpf() follows jumps, ancillary data and drops on reads past the end", () => {
  const arp = new Uint8Array(60);
  arp[12] = 0x08;
  arp[13] = 0x06;
  assertEquals(runBpf(program, arp), 60);
  assertEquals(runBpf(program, arp, { pktType: 4 }), 0);
  arp[13] = 0x00;
  assertEquals(runBpf(program, arp), 0);
  assertEquals(runBpf(program, new Uint8Array(13)), 0);
});
