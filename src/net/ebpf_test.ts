import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { assembleEbpf } from "./ebpf.ts";

function hex(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    out.push([...bytes.subarray(i, i + 8)].map((b) => b.toString(16).padStart(2, "0")).join(""));
  }
  return out;
}

Deno.test("assembleEbpf encodes instructions as the kernel's instruction-set document lays them out", () => {
  // Expected bytes worked out by hand from Documentation/bpf/standardization/instruction-set.rst.
  assertEquals(
    hex(assembleEbpf([
      { op: "mov", dst: 0, imm: 2 }, // BPF_ALU64 | BPF_MOV | BPF_K = 0xb7
      { op: "movReg", dst: 6, src: 1 }, // 0xbf, src 1 in the high nibble
      { op: "load", size: "u32", dst: 2, src: 6, off: 76 }, // BPF_LDX | BPF_MEM | BPF_W = 0x61
      { op: "store", size: "u16", dst: 2, off: 4, src: 5 }, // BPF_STX | BPF_MEM | BPF_H = 0x6b
      { op: "storeImm", size: "u16", dst: 2, off: 20, imm: 0x0200 }, // BPF_ST | BPF_MEM | BPF_H = 0x6a
      { op: "atomicAdd64", dst: 7, off: 8, src: 4 }, // BPF_STX | BPF_ATOMIC | BPF_DW = 0xdb, imm BPF_ADD
      { op: "mov", dst: 0, imm: -1 },
      { op: "call", helper: 23 }, // 0x85
      { op: "exit" }, // 0x95
    ])),
    [
      "b700000002000000",
      "bf16000000000000",
      "61624c0000000000",
      "6b52040000000000",
      "6a02140000020000",
      "db47080000000000",
      "b7000000ffffffff",
      "8500000017000000",
      "9500000000000000",
    ],
  );
});

Deno.test("assembleEbpf resolves labels forward and backward, and a map load takes two slots", () => {
  const bytes = assembleEbpf([
    { op: "label", name: "top" },
    { op: "jump", cond: "ne32", dst: 4, imm: 0x0608, to: "end" }, // BPF_JMP32 | BPF_JNE | BPF_K = 0x56
    { op: "loadMap", dst: 1, fd: 7 }, // 0x18 with src 1 (BPF_PSEUDO_MAP_FD), then a zero slot
    { op: "jumpReg", cond: "gt", dst: 4, src: 3, to: "top" }, // BPF_JMP | BPF_JGT | BPF_X = 0x2d
    { op: "label", name: "end" },
    { op: "exit" },
  ]);
  assertEquals(hex(bytes), [
    "5604030008060000", // skips the two map slots and the jump back: +3
    "1811000007000000",
    "0000000000000000",
    "2d34fcff00000000", // back to the first instruction: -4
    "9500000000000000",
  ]);
});

Deno.test("assembleEbpf refuses unknown or repeated labels, bad registers and immediates", () => {
  assertThrows(() => assembleEbpf([{ op: "goto", to: "nowhere" }]), RangeError, "not defined");
  assertThrows(
    () => assembleEbpf([{ op: "label", name: "a" }, { op: "label", name: "a" }]),
    RangeError,
    "defined twice",
  );
  assertThrows(() => assembleEbpf([{ op: "mov", dst: 11 as 0, imm: 0 }]), RangeError, "register");
  assertThrows(() => assembleEbpf([{ op: "mov", dst: 0, imm: 2 ** 33 }]), RangeError, "32 bits");
});
