/**
 * Classic BPF (the `SO_ATTACH_FILTER` kind): a tiny assembler with labels, the `sock_fprog` encoding, and an
 * interpreter for the same subset so tests can prove what a filter accepts without a socket.
 *
 * Opcodes are from uapi/linux/bpf_common.h and uapi/linux/filter.h.
 * @module
 */

/** One `struct sock_filter`: 16-bit opcode, jump-if-true and jump-if-false offsets, 32-bit constant. */
export interface BpfInstruction {
  /** Opcode (class | size | mode, or class | op | source). */
  code: number;
  /** Instructions to skip when a conditional jump holds. */
  jt: number;
  /** Instructions to skip when it does not. */
  jf: number;
  /** The constant operand. */
  k: number;
}

/** A step of a filter before assembly: an instruction whose jumps name labels, or a label. */
export type BpfStep =
  | { op: "ld"; size: "byte" | "half" | "word"; offset: number }
  | { op: "ld"; ancillary: "pktType" | "vlanTagPresent" | "length" }
  | { op: "jeq" | "jgt" | "jge" | "jset"; value: number; then: string; else: string }
  | { op: "ret"; value: number }
  | { op: "label"; name: string };

// uapi/linux/bpf_common.h
const BPF_LD = 0x00;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00;
const BPF_H = 0x08;
const BPF_B = 0x10;
const BPF_ABS = 0x20;
const BPF_LEN = 0x80;
const BPF_JEQ = 0x10;
const BPF_JGT = 0x20;
const BPF_JGE = 0x30;
const BPF_JSET = 0x40;
const BPF_K = 0x00;
// uapi/linux/filter.h: ancillary data is read by loading from SKF_AD_OFF (-0x1000) + the field's offset.
const SKF_AD_OFF = -0x1000;
const SKF_AD_PKTTYPE = 4;
const SKF_AD_VLAN_TAG_PRESENT = 48;
/** BPF_MAXINSNS, uapi/linux/bpf_common.h */
export const BPF_MAX_INSTRUCTIONS = 4096;
/** Return value that keeps the whole frame. */
export const BPF_ACCEPT = 0xffffffff;
/** Return value that drops the frame. */
export const BPF_DROP = 0;

const SIZES = { byte: BPF_B, half: BPF_H, word: BPF_W } as const;
const JUMPS = { jeq: BPF_JEQ, jgt: BPF_JGT, jge: BPF_JGE, jset: BPF_JSET } as const;
const ANCILLARY = { pktType: SKF_AD_PKTTYPE, vlanTagPresent: SKF_AD_VLAN_TAG_PRESENT } as const;

/**
 * Assembles steps into instructions, resolving label names into forward jump offsets.
 * @example
 * assembleBpf([
 *   { op: "ld", size: "half", offset: 12 },
 *   { op: "jeq", value: 0x0806, then: "yes", else: "no" },
 *   { op: "label", name: "yes" }, { op: "ret", value: BPF_ACCEPT },
 *   { op: "label", name: "no" }, { op: "ret", value: BPF_DROP },
 * ]);
 */
export function assembleBpf(steps: readonly BpfStep[]): BpfInstruction[] {
  const labels = new Map<string, number>();
  let pc = 0;
  for (const step of steps) {
    if (step.op !== "label") {
      pc++;
      continue;
    }
    if (labels.has(step.name)) throw new TypeError(`BPF label "${step.name}" is defined twice`);
    labels.set(step.name, pc);
  }
  const out: BpfInstruction[] = [];
  for (const step of steps) {
    switch (step.op) {
      case "label":
        break;
      case "ld":
        if ("size" in step) {
          out.push({ code: BPF_LD | SIZES[step.size] | BPF_ABS, jt: 0, jf: 0, k: step.offset >>> 0 });
        } else if (step.ancillary === "length") {
          out.push({ code: BPF_LD | BPF_W | BPF_LEN, jt: 0, jf: 0, k: 0 });
        } else {
          out.push({ code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k: (SKF_AD_OFF + ANCILLARY[step.ancillary]) >>> 0 });
        }
        break;
      case "ret":
        out.push({ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: step.value >>> 0 });
        break;
      default: {
        const here = out.length + 1;
        const offset = (name: string): number => {
          const target = labels.get(name);
          if (target === undefined) throw new TypeError(`BPF label "${name}" is not defined`);
          const distance = target - here;
          if (distance < 0 || distance > 255) throw new RangeError(`BPF jump to "${name}" is out of reach`);
          return distance;
        };
        out.push({
          code: BPF_JMP | JUMPS[step.op] | BPF_K,
          jt: offset(step.then),
          jf: offset(step.else),
          k: step.value >>> 0,
        });
      }
    }
  }
  if (out.length === 0 || out.length > BPF_MAX_INSTRUCTIONS) {
    throw new RangeError(`A BPF program has 1 to ${BPF_MAX_INSTRUCTIONS} instructions, not ${out.length}`);
  }
  return out;
}

/** Encodes instructions as the array of `struct sock_filter` (8 bytes each, host byte order) the kernel reads. */
export function encodeBpf(program: readonly BpfInstruction[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k, true);
  });
  return bytes;
}

/** What the kernel knows about a frame beyond its bytes, for {@link runBpf}. */
export interface BpfContext {
  /** `sll_pkttype` (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing); default 0. */
  pktType?: number;
  /** Whether the frame arrived with a VLAN tag stripped into metadata; default false. */
  vlanTagPresent?: boolean;
}

/**
 * Runs a program over a frame as the kernel would for the subset {@link assembleBpf} emits, returning how many bytes
 * to keep (0 = drop). A load past the end of the frame drops it, as in the kernel.
 */
export function runBpf(program: readonly BpfInstruction[], frame: Uint8Array, context: BpfContext = {}): number {
  let a = 0;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  for (let pc = 0; pc < program.length;) {
    const insn = program[pc]!;
    pc++;
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS: {
        const k = insn.k | 0;
        if (k === SKF_AD_OFF + SKF_AD_PKTTYPE) a = context.pktType ?? 0;
        else if (k === SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT) a = context.vlanTagPresent ? 1 : 0;
        else if (insn.k + 4 > frame.length) return 0;
        else a = view.getUint32(insn.k);
        break;
      }
      case BPF_LD | BPF_H | BPF_ABS:
        if (insn.k + 2 > frame.length) return 0;
        a = view.getUint16(insn.k);
        break;
      case BPF_LD | BPF_B | BPF_ABS:
        if (insn.k + 1 > frame.length) return 0;
        a = view.getUint8(insn.k);
        break;
      case BPF_LD | BPF_W | BPF_LEN:
        a = frame.length;
        break;
      case BPF_RET | BPF_K:
        return Math.min(insn.k, frame.length);
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += a === insn.k ? insn.jt : insn.jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += a > insn.k ? insn.jt : insn.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += a >= insn.k ? insn.jt : insn.jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (a & insn.k) !== 0 ? insn.jt : insn.jf;
        break;
      default:
        throw new TypeError(`runBpf() does not know opcode 0x${insn.code.toString(16)}`);
    }
  }
  return 0;
}

/**
 * Steps that accept a frame whose 32-bit words at `offset` equal one of `targets` (each target one or more words,
 * e.g. an IPv4 or IPv6 address) and drop any other; jump to their entry label `"targets"`. Each target ends in its
 * own accept, so no jump is longer than a few steps however many targets there are (classic BPF jumps reach at most
 * 255 instructions). Labels used: `targets`, `t<i>`, `t<i>w<j>`, `a<i>`.
 */
export function bpfTargetSteps(offset: number, targets: readonly (readonly number[])[]): BpfStep[] {
  // With one-word targets, a failed comparison leaves the word loaded for the next: load it once.
  const oneWord = targets.length > 0 && targets.every((target) => target.length === 1);
  const steps: BpfStep[] = [{ op: "label", name: "targets" }];
  if (oneWord) steps.push({ op: "ld", size: "word", offset });
  targets.forEach((target, t) => {
    steps.push({ op: "label", name: `t${t}` });
    target.forEach((word, w) => {
      const last = w === target.length - 1;
      if (!oneWord) steps.push({ op: "ld", size: "word", offset: offset + 4 * w });
      steps.push({ op: "jeq", value: word, then: last ? `a${t}` : `t${t}w${w + 1}`, else: `t${t + 1}` });
      if (!last) steps.push({ op: "label", name: `t${t}w${w + 1}` });
    });
    steps.push({ op: "label", name: `a${t}` }, { op: "ret", value: BPF_ACCEPT });
  });
  steps.push({ op: "label", name: `t${targets.length}` }, { op: "ret", value: BPF_DROP });
  return steps;
}

/** The common tail of a filter: the labels `drop` and `accept`, each returning its verdict. */
export function bpfVerdictSteps(): BpfStep[] {
  return [
    { op: "label", name: "drop" },
    { op: "ret", value: BPF_DROP },
    { op: "label", name: "accept" },
    { op: "ret", value: BPF_ACCEPT },
  ];
}
