/**
 * Extended BPF (the `bpf(2)` kind that tc and XDP run): a small assembler for the instructions metallite's kernel
 * fast paths use, with labels for forward jumps. Pure: it only builds the bytes `BPF_PROG_LOAD` takes; the kernel's
 * verifier is the judge of whether a program is safe.
 *
 * Encodings are from the kernel's Documentation/bpf/standardization/instruction-set.rst and uapi/linux/bpf.h: each
 * instruction is 8 bytes (opcode, dst and src register nibbles, signed 16-bit offset, signed 32-bit immediate);
 * a 64-bit immediate load takes two.
 * @module
 */

/** A register: r0 (return value), r1-r5 (arguments, clobbered by calls), r6-r9 (kept across calls), r10 (stack). */
export type Register = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;

/** Width of a memory access. */
export type AccessSize = "u8" | "u16" | "u32" | "u64";

/** Condition of a jump; `32` variants compare the low 32 bits only (BPF_JMP32). */
export type JumpCondition = "eq" | "ne" | "gt" | "ge" | "eq32" | "ne32";

/** One step of a program before assembly. */
export type EbpfStep =
  /** dst = imm (64-bit move of a sign-extended 32-bit immediate). */
  | { op: "mov"; dst: Register; imm: number }
  /** dst = src. */
  | { op: "movReg"; dst: Register; src: Register }
  /** dst += imm. */
  | { op: "add"; dst: Register; imm: number }
  /** dst &= imm. */
  | { op: "and"; dst: Register; imm: number }
  /** dst = *(size *)(src + off). */
  | { op: "load"; size: AccessSize; dst: Register; src: Register; off: number }
  /** *(size *)(dst + off) = src. */
  | { op: "store"; size: AccessSize; dst: Register; off: number; src: Register }
  /** *(size *)(dst + off) = imm. */
  | { op: "storeImm"; size: AccessSize; dst: Register; off: number; imm: number }
  /** Atomically *(u64 *)(dst + off) += src. */
  | { op: "atomicAdd64"; dst: Register; off: number; src: Register }
  /** dst = the map behind file descriptor `fd` (a pseudo 64-bit immediate the kernel resolves). */
  | { op: "loadMap"; dst: Register; fd: number }
  /** if (dst <cond> imm) goto label. */
  | { op: "jump"; cond: JumpCondition; dst: Register; imm: number; to: string }
  /** if (dst <cond> src) goto label. */
  | { op: "jumpReg"; cond: JumpCondition; dst: Register; src: Register; to: string }
  /** goto label. */
  | { op: "goto"; to: string }
  /** r0 = helper(r1..r5); helper ids are from uapi/linux/bpf.h's __BPF_FUNC_MAPPER. */
  | { op: "call"; helper: number }
  /** return r0. */
  | { op: "exit" }
  /** A jump target. */
  | { op: "label"; name: string };

// Instruction classes, sizes, modes and operations (instruction-set.rst).
const CLASS_LDX = 0x01;
const CLASS_ST = 0x02;
const CLASS_STX = 0x03;
const CLASS_JMP = 0x05;
const CLASS_JMP32 = 0x06;
const CLASS_ALU64 = 0x07;
const CLASS_LD = 0x00;
const MODE_IMM = 0x00;
const MODE_MEM = 0x60;
const MODE_ATOMIC = 0xc0;
const SOURCE_K = 0x00;
const SOURCE_X = 0x08;
const ALU_ADD = 0x00;
const ALU_AND = 0x50;
const ALU_MOV = 0xb0;
const JMP_JA = 0x00;
const JMP_JEQ = 0x10;
const JMP_JGT = 0x20;
const JMP_JGE = 0x30;
const JMP_JNE = 0x50;
const JMP_CALL = 0x80;
const JMP_EXIT = 0x90;
const SIZE_CODES: Record<AccessSize, number> = { u32: 0x00, u16: 0x08, u8: 0x10, u64: 0x18 };
const ATOMIC_ADD = 0x00;
/** src_reg value marking a 64-bit immediate load as "map by file descriptor" (uapi/linux/bpf.h). */
const PSEUDO_MAP_FD = 1;

const CONDITIONS: Record<JumpCondition, { code: number; cls: number }> = {
  eq: { code: JMP_JEQ, cls: CLASS_JMP },
  ne: { code: JMP_JNE, cls: CLASS_JMP },
  gt: { code: JMP_JGT, cls: CLASS_JMP },
  ge: { code: JMP_JGE, cls: CLASS_JMP },
  eq32: { code: JMP_JEQ, cls: CLASS_JMP32 },
  ne32: { code: JMP_JNE, cls: CLASS_JMP32 },
};

/** Size in bytes of one eBPF instruction. */
export const EBPF_INSTRUCTION_BYTES = 8;

interface Encoded {
  opcode: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Label of a jump, resolved once every position is known. */
  to?: string;
}

/**
 * Assembles steps into `struct bpf_insn` bytes. Jumps go forward or backward to labels; an unknown or repeated
 * label, an offset out of range or a bad register is a thrown `RangeError` (a programming error, not input).
 * @example
 * const bytes = assembleEbpf([{ op: "mov", dst: 0, imm: 2 }, { op: "exit" }]); // "return XDP_PASS"
 */
export function assembleEbpf(steps: readonly EbpfStep[]): Uint8Array<ArrayBuffer> {
  const encoded: Encoded[] = [];
  const labels = new Map<string, number>();
  for (const step of steps) {
    if (step.op === "label") {
      if (labels.has(step.name)) throw new RangeError(`eBPF label "${step.name}" is defined twice`);
      labels.set(step.name, encoded.length);
      continue;
    }
    encoded.push(...encodeStep(step));
  }
  const bytes = new Uint8Array(encoded.length * EBPF_INSTRUCTION_BYTES);
  const view = new DataView(bytes.buffer);
  encoded.forEach((insn, index) => {
    let off = insn.off;
    if (insn.to !== undefined) {
      const target = labels.get(insn.to);
      if (target === undefined) throw new RangeError(`eBPF label "${insn.to}" is not defined`);
      off = target - index - 1;
    }
    if (off < -0x8000 || off > 0x7fff) throw new RangeError(`eBPF offset ${off} does not fit 16 bits`);
    const at = index * EBPF_INSTRUCTION_BYTES;
    view.setUint8(at, insn.opcode);
    view.setUint8(at + 1, (insn.src << 4) | insn.dst);
    view.setInt16(at + 2, off, true);
    view.setInt32(at + 4, insn.imm, true);
  });
  return bytes;
}

function encodeStep(step: Exclude<EbpfStep, { op: "label" }>): Encoded[] {
  const one = (opcode: number, fields: Partial<Encoded>): Encoded[] => [{
    opcode,
    dst: register(fields.dst ?? 0),
    src: register(fields.src ?? 0),
    off: fields.off ?? 0,
    imm: immediate(fields.imm ?? 0),
    ...(fields.to === undefined ? {} : { to: fields.to }),
  }];
  switch (step.op) {
    case "mov":
      return one(CLASS_ALU64 | ALU_MOV | SOURCE_K, { dst: step.dst, imm: step.imm });
    case "movReg":
      return one(CLASS_ALU64 | ALU_MOV | SOURCE_X, { dst: step.dst, src: step.src });
    case "add":
      return one(CLASS_ALU64 | ALU_ADD | SOURCE_K, { dst: step.dst, imm: step.imm });
    case "and":
      return one(CLASS_ALU64 | ALU_AND | SOURCE_K, { dst: step.dst, imm: step.imm });
    case "load":
      return one(CLASS_LDX | MODE_MEM | SIZE_CODES[step.size], { dst: step.dst, src: step.src, off: step.off });
    case "store":
      return one(CLASS_STX | MODE_MEM | SIZE_CODES[step.size], { dst: step.dst, src: step.src, off: step.off });
    case "storeImm":
      return one(CLASS_ST | MODE_MEM | SIZE_CODES[step.size], { dst: step.dst, off: step.off, imm: step.imm });
    case "atomicAdd64":
      return one(CLASS_STX | MODE_ATOMIC | SIZE_CODES.u64, {
        dst: step.dst,
        src: step.src,
        off: step.off,
        imm: ATOMIC_ADD,
      });
    case "loadMap":
      // Two slots: the first holds the low 32 bits (the fd), the second the high 32 bits (zero).
      return [
        ...one(CLASS_LD | MODE_IMM | SIZE_CODES.u64, { dst: step.dst, src: PSEUDO_MAP_FD, imm: step.fd }),
        { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 },
      ];
    case "jump": {
      const { code, cls } = CONDITIONS[step.cond];
      return one(cls | code | SOURCE_K, { dst: step.dst, imm: step.imm, to: step.to });
    }
    case "jumpReg": {
      const { code, cls } = CONDITIONS[step.cond];
      return one(cls | code | SOURCE_X, { dst: step.dst, src: step.src, to: step.to });
    }
    case "goto":
      return one(CLASS_JMP | JMP_JA, { to: step.to });
    case "call":
      return one(CLASS_JMP | JMP_CALL, { imm: step.helper });
    case "exit":
      return one(CLASS_JMP | JMP_EXIT, {});
  }
}

function register(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 10) {
    throw new RangeError(`eBPF register r${value} is not r0-r10`);
  }
  return value;
}

function immediate(value: number): number {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new RangeError(`eBPF immediate ${value} does not fit 32 bits`);
  }
  return value | 0;
}
