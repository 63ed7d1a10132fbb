/**
 * The `bpf(2)` system call through libc's `syscall`, for the few commands metallite's kernel fast paths need: maps
 * (create, update, lookup, delete), program load (with the verifier's log on refusal), test runs, and links, which
 * detach by themselves when their file descriptor closes (so a killed daemon leaves nothing behind in the kernel).
 *
 * Command numbers, `union bpf_attr` offsets and type numbers are from uapi/linux/bpf.h (Linux 6.6; tcx attach types
 * appeared in 6.6). Every call is synchronous so that errno is read on the calling thread.
 * @module
 */

import { check, libc, LibcError } from "./libc.ts";

// enum bpf_cmd
const BPF_MAP_CREATE = 0;
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;
const BPF_PROG_LOAD = 5;
const BPF_PROG_TEST_RUN = 10;
const BPF_LINK_CREATE = 28;

/** enum bpf_map_type: hash table. */
export const BPF_MAP_TYPE_HASH = 1;
/** enum bpf_map_type: array indexed by a u32. */
export const BPF_MAP_TYPE_ARRAY = 2;
/** enum bpf_prog_type: a tc classifier (what tcx runs). */
export const BPF_PROG_TYPE_SCHED_CLS = 3;
/** enum bpf_attach_type: tcx ingress hook (Linux 6.6+). */
export const BPF_TCX_INGRESS = 46;
/** Map update flag: create or replace. */
export const BPF_ANY = 0;
/** Map update flag: create only (EEXIST if present). */
export const BPF_NOEXIST = 1;

/** tcx verdicts (enum tcx_action_base): run the next program, or accept now, drop, redirect. */
export const TCX_NEXT = -1;
/** tcx verdict: the packet went elsewhere (`bpf_redirect`). */
export const TCX_REDIRECT = 7;

/** Helper ids (uapi/linux/bpf.h `__BPF_FUNC_MAPPER` order). */
export const BPF_HELPER = { mapLookupElem: 1, ktimeGetNs: 5, redirect: 23 } as const;

/** __NR_bpf per architecture (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h). */
const SYSCALL_NUMBERS: Partial<Record<typeof Deno.build.arch, number>> = { x86_64: 321, aarch64: 280 };
/** The size passed for `union bpf_attr`: larger than any command here uses; the kernel wants the rest zero. */
const ATTR_BYTES = 128;
const OBJECT_NAME_BYTES = 16;
const LOG_BYTES = 64 * 1024;

/** Why the kernel fast path cannot run here, or undefined when `bpf(2)` can at least be called. */
export function bpfUnsupportedReason(): string | undefined {
  if (Deno.build.os !== "linux") return `bpf(2) needs Linux, not ${Deno.build.os}`;
  if (SYSCALL_NUMBERS[Deno.build.arch] === undefined) return `bpf(2) is not wired for ${Deno.build.arch}`;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) return "the kernel fast path assumes a little-endian CPU";
  return undefined;
}

function address(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

function bpf(command: number, attr: Uint8Array<ArrayBuffer>, call: string): number {
  const number = SYSCALL_NUMBERS[Deno.build.arch];
  if (number === undefined) throw new Error(bpfUnsupportedReason());
  return check(call, libc().syscall(BigInt(number), BigInt(command), attr, BigInt(attr.length)));
}

/** Zeroed bytes with a view over them. */
function viewedBytes(size: number): { bytes: Uint8Array<ArrayBuffer>; view: DataView } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}

function newAttr(): { bytes: Uint8Array<ArrayBuffer>; view: DataView } {
  return viewedBytes(ATTR_BYTES);
}

function writeName(bytes: Uint8Array, offset: number, name: string): void {
  const encoded = new TextEncoder().encode(name.replace(/[^A-Za-z0-9_.]/g, "_")).subarray(0, OBJECT_NAME_BYTES - 1);
  bytes.set(encoded, offset);
}

/** Options for {@link createBpfMap}. */
export interface BpfMapOptions {
  /** `BPF_MAP_TYPE_*`. */
  type: number;
  /** Key size in bytes. */
  keyBytes: number;
  /** Value size in bytes. */
  valueBytes: number;
  /** Most entries. */
  maxEntries: number;
  /** Name shown by bpftool (15 characters at most). */
  name: string;
}

/** Creates a map; returns its file descriptor (close it with libc `close`). */
export function createBpfMap(options: BpfMapOptions): number {
  const { bytes, view } = newAttr();
  view.setUint32(0, options.type, true);
  view.setUint32(4, options.keyBytes, true);
  view.setUint32(8, options.valueBytes, true);
  view.setUint32(12, options.maxEntries, true);
  writeName(bytes, 28, options.name);
  return bpf(BPF_MAP_CREATE, bytes, `bpf(BPF_MAP_CREATE ${options.name})`);
}

/**
 * The attribute of the map element calls, written afresh for each call: they run often (the ARP fast path's lease is
 * refreshed every 200 ms) and synchronously, so one buffer serves them all and an idle daemon makes no garbage here.
 */
const elementAttrBuffer = newAttr();

function elementAttr(mapFd: number, key: Uint8Array<ArrayBuffer>, value?: Uint8Array<ArrayBuffer>, flags = 0) {
  const { bytes, view } = elementAttrBuffer;
  bytes.fill(0);
  view.setUint32(0, mapFd, true);
  view.setBigUint64(8, address(key), true);
  if (value !== undefined) view.setBigUint64(16, address(value), true);
  view.setBigUint64(24, BigInt(flags), true);
  return bytes;
}

/** Sets `key` to `value` in a map (`flags`: {@link BPF_ANY} or {@link BPF_NOEXIST}). */
export function updateBpfMap(
  mapFd: number,
  key: Uint8Array<ArrayBuffer>,
  value: Uint8Array<ArrayBuffer>,
  flags = BPF_ANY,
): void {
  bpf(BPF_MAP_UPDATE_ELEM, elementAttr(mapFd, key, value, flags), "bpf(BPF_MAP_UPDATE_ELEM)");
}

/** Reads `key` into `value`; false when the map has no such key. */
export function lookupBpfMap(mapFd: number, key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): boolean {
  return unlessNoSuchKey(() => bpf(BPF_MAP_LOOKUP_ELEM, elementAttr(mapFd, key, value), "bpf(BPF_MAP_LOOKUP_ELEM)"));
}

/** Removes `key` from a map; false when it was not there. */
export function deleteBpfMap(mapFd: number, key: Uint8Array<ArrayBuffer>): boolean {
  return unlessNoSuchKey(() => bpf(BPF_MAP_DELETE_ELEM, elementAttr(mapFd, key), "bpf(BPF_MAP_DELETE_ELEM)"));
}

/** Runs a map command; true when it succeeded, false when the map has no such key (ENOENT), else it throws. */
function unlessNoSuchKey(command: () => void): boolean {
  try {
    command();
    return true;
  } catch (error) {
    if (error instanceof LibcError && error.errno === ENOENT) return false;
    throw error;
  }
}

/** ENOENT, uapi/asm-generic/errno-base.h */
const ENOENT = 2;

/** Options for {@link loadBpfProgram}. */
export interface BpfProgramOptions {
  /** `BPF_PROG_TYPE_*`. */
  type: number;
  /** Assembled instructions (see `assembleEbpf`). */
  instructions: Uint8Array<ArrayBuffer>;
  /** Name shown by bpftool (15 characters at most). */
  name: string;
  /** `expected_attach_type`, e.g. {@link BPF_TCX_INGRESS}. */
  expectedAttachType?: number;
  /** License string; helpers marked GPL-only need a GPL-compatible one. */
  license?: string;
}

/** The verifier refused a program: `log` holds its explanation. */
export class BpfVerifierError extends Error {
  /** The verifier's log (last lines are the reason). */
  readonly log: string;
  /** errno of the refusal (EACCES or EINVAL for verifier failures, EPERM without privileges). */
  readonly errno: number;

  /** Builds the error from the load's errno and the verifier log. */
  constructor(name: string, errno: number, log: string) {
    const reason = log.trim().split("\n").slice(-2).join(" / ");
    super(`bpf(BPF_PROG_LOAD ${name}) failed (errno ${errno})${reason === "" ? "" : `: ${reason}`}`);
    this.name = "BpfVerifierError";
    this.log = log;
    this.errno = errno;
  }
}

/** Loads a program; returns its file descriptor. A refusal throws {@link BpfVerifierError} with the verifier's log. */
export function loadBpfProgram(options: BpfProgramOptions): number {
  const license = new TextEncoder().encode(`${options.license ?? "Dual MIT/GPL"}\0`);
  const log = new Uint8Array(LOG_BYTES);
  const load = (logLevel: number): number => {
    const { bytes, view } = newAttr();
    view.setUint32(0, options.type, true);
    view.setUint32(4, options.instructions.length / 8, true);
    view.setBigUint64(8, address(options.instructions), true);
    view.setBigUint64(16, address(license), true);
    if (logLevel > 0) {
      view.setUint32(24, logLevel, true);
      view.setUint32(28, log.length, true);
      view.setBigUint64(32, address(log), true);
    }
    writeName(bytes, 48, options.name);
    view.setUint32(68, options.expectedAttachType ?? 0, true);
    return bpf(BPF_PROG_LOAD, bytes, `bpf(BPF_PROG_LOAD ${options.name})`);
  };
  try {
    return load(0);
  } catch (error) {
    if (!(error instanceof LibcError) || error.errno === EPERM) throw error;
    // Load again with the log on, only to say why.
    try {
      return load(1);
    } catch (again) {
      const end = log.indexOf(0);
      const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end));
      throw new BpfVerifierError(options.name, again instanceof LibcError ? again.errno : error.errno, text);
    }
  }
}

/** EPERM, uapi/asm-generic/errno-base.h */
const EPERM = 1;

/** Options for {@link testRunBpfProgram}. */
export interface BpfTestRunOptions {
  /** The packet given to the program. */
  packet: Uint8Array<ArrayBuffer>;
  /** Optional context (`struct __sk_buff` for tc programs), e.g. to set `ifindex`. */
  context?: Uint8Array<ArrayBuffer>;
  /** Runs to average `durationNs` over; default 1. */
  repeat?: number;
}

/** What a test run returned. */
export interface BpfTestRunResult {
  /** The program's return value (a tc/tcx verdict), as a signed 32-bit number. */
  verdict: number;
  /** The packet after the program ran. */
  packet: Uint8Array;
  /** Mean nanoseconds per run, as the kernel measured it. */
  durationNs: number;
}

/** Runs a loaded program on one packet inside the kernel (`BPF_PROG_TEST_RUN`); nothing is sent anywhere. */
export function testRunBpfProgram(programFd: number, options: BpfTestRunOptions): BpfTestRunResult {
  const out = new Uint8Array(Math.max(options.packet.length + 256, 256));
  const { bytes, view } = newAttr();
  view.setUint32(0, programFd, true);
  view.setUint32(8, options.packet.length, true);
  view.setUint32(12, out.length, true);
  view.setBigUint64(16, address(options.packet), true);
  view.setBigUint64(24, address(out), true);
  view.setUint32(32, options.repeat ?? 1, true);
  if (options.context !== undefined) {
    view.setUint32(40, options.context.length, true);
    view.setBigUint64(48, address(options.context), true);
  }
  bpf(BPF_PROG_TEST_RUN, bytes, "bpf(BPF_PROG_TEST_RUN)");
  const size = view.getUint32(12, true);
  return { verdict: view.getInt32(4, true), packet: out.slice(0, size), durationNs: view.getUint32(36, true) };
}

/** Attaches a program to a hook with a link (e.g. {@link BPF_TCX_INGRESS} of an interface); returns the link's fd. */
export function createBpfLink(options: { programFd: number; ifindex: number; attachType: number }): number {
  const { view, bytes } = newAttr();
  view.setUint32(0, options.programFd, true);
  view.setUint32(4, options.ifindex, true);
  view.setUint32(8, options.attachType, true);
  return bpf(BPF_LINK_CREATE, bytes, `bpf(BPF_LINK_CREATE ifindex ${options.ifindex})`);
}

/** CLOCK_MONOTONIC now in nanoseconds: the clock `bpf_ktime_get_ns` reads. */
export function monotonicNs(): bigint {
  const { bytes, view } = timespecBuffer;
  check("clock_gettime", libc().clock_gettime(CLOCK_MONOTONIC, bytes));
  return view.getBigInt64(0, true) * 1_000_000_000n + view.getBigInt64(8, true);
}

/** struct timespec for {@link monotonicNs}, reused: it is read every 200 ms. */
const timespecBuffer = viewedBytes(16);

/** CLOCK_MONOTONIC, uapi/linux/time.h */
const CLOCK_MONOTONIC = 1;
