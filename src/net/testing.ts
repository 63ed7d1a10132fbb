/**
 * Test support for src/net, src/arp and src/ndp: opening a socket inside a lab namespace (tests/lab) from the test
 * process itself, a fake socket and a manual clock for state-machine tests, and seeded fuzzing helpers. Not part of
 * the program; only tests and benchmarks import it.
 * @module
 */

import type { BpfInstruction } from "./bpf.ts";
import { runBpf } from "./bpf.ts";
import { formatMac, parseMac } from "./mac.ts";
import type { FrameSocket, FramesOptions, ReceivedFrame } from "./packet_socket.ts";
import { check, CLONE_NEWNET, cString, libc, O_CLOEXEC, O_RDONLY } from "./libc.ts";

/** Why this process cannot use FFI (needed to open raw sockets), or undefined when it can. */
export function ffiSkipReason(): string | undefined {
  if (Deno.build.os !== "linux") return "needs Linux (libc bindings, AF_PACKET)";
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return "needs --allow-ffi (libc bindings)";
  return undefined;
}

/**
 * Runs `fn` with the calling thread switched into namespace `netns`, then switches back. Sockets created inside
 * keep that namespace for life, so a test can open a raw socket in a lab namespace from its own process. `fn` must
 * be synchronous: the thread must not run anything else while it is in the other namespace.
 */
export function inNetns<T>(netns: string, fn: () => T): T {
  const lib = libc();
  const home = check("open", lib.open(cString("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC), "own namespace");
  try {
    const target = check("open", lib.open(cString(`/run/netns/${netns}`), O_RDONLY | O_CLOEXEC), netns);
    try {
      check("setns", lib.setns(target, CLONE_NEWNET), netns);
    } finally {
      lib.close(target);
    }
    try {
      const result = fn();
      if (result instanceof Promise) throw new TypeError("inNetns() needs a synchronous function");
      return result;
    } finally {
      check("setns", lib.setns(home, CLONE_NEWNET), "back to own namespace");
    }
  } finally {
    lib.close(home);
  }
}

/** The shared fake clock (src/clock/fake.ts), and the helper that lets queued promise callbacks run. */
export { FakeClock as ManualClock, settle } from "../clock/fake.ts";

/**
 * A seeded pseudo-random generator (mulberry32) returning floats in [0, 1), so a fuzz failure can be replayed from
 * the seed it prints.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for fuzz tests: `FUZZ_SEED` from the environment when set (to replay a failure), else a fixed one. */
export function fuzzSeed(fallback = 0x6d6c74): number {
  try {
    const text = Deno.env.get("FUZZ_SEED");
    if (text !== undefined && /^\d+$/.test(text)) return Number(text);
  } catch {
    // No --allow-env: use the fixed seed.
  }
  return fallback;
}

/**
 * A mutation of `frame`: flipped bits, overwritten bytes, truncation, extension or spliced random bytes, chosen by
 * `random`.
 */
export function mutateFrame(frame: Uint8Array, random: () => number): Uint8Array {
  let out = frame.slice();
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    const kind = Math.floor(random() * 5);
    const at = Math.floor(random() * Math.max(1, out.length));
    if (kind === 0 && out.length > 0) out[at] = out[at]! ^ (1 << Math.floor(random() * 8));
    else if (kind === 1 && out.length > 0) out[at] = Math.floor(random() * 256);
    else if (kind === 2) out = out.slice(0, Math.floor(random() * out.length));
    else if (kind === 3) {
      const longer = new Uint8Array(out.length + Math.floor(random() * 1600));
      longer.set(out);
      for (let i = out.length; i < longer.length; i++) longer[i] = Math.floor(random() * 256);
      out = longer;
    } else if (out.length > 0) {
      // Interesting values at an interesting place: 0, 0xff, small numbers.
      out[at] = [0, 0xff, 1, 2, 0x80, 0x7f][Math.floor(random() * 6)]!;
    }
  }
  return out;
}

/**
 * A `FrameSocket` for state-machine tests: `deliver()` feeds frames through the current filter (run by `runBpf`,
 * as the kernel would), sent frames are kept in `sent`, memberships in `groups`.
 */
export class FakeFrameSocket implements FrameSocket {
  readonly interfaceName: string;
  readonly interfaceIndex: number;
  readonly mac: Uint8Array;
  /** Frames sent, in order. */
  readonly sent: Uint8Array[] = [];
  /** Joined multicast groups, as MAC text. */
  readonly groups = new Set<string>();
  /** The current filter, if any. */
  filter: readonly BpfInstruction[] | undefined;
  /** How many times a filter was set. */
  filterSets = 0;
  /** Make `send` throw this, to test error paths. */
  failSends: Error | undefined;
  /** True once closed. */
  closed = false;
  readonly #queue: ReceivedFrame[] = [];
  #notify: (() => void) | undefined;

  /** A fake on `interfaceName` with `mac` (text). */
  constructor(interfaceName: string, mac: string, interfaceIndex = 2) {
    this.interfaceName = interfaceName;
    this.interfaceIndex = interfaceIndex;
    this.mac = parseMac(mac);
  }

  /** Queues a frame for the reader if the filter accepts it; returns whether it did. */
  deliver(bytes: Uint8Array, pktType = 0): boolean {
    if (this.filter !== undefined && runBpf(this.filter, bytes, { pktType }) === 0) return false;
    this.#queue.push({ bytes, length: bytes.length, truncated: false, pktType });
    this.#notify?.();
    return true;
  }

  send(frame: Uint8Array): void {
    if (this.failSends) throw this.failSends;
    this.sent.push(frame);
  }

  setFilter(program: readonly BpfInstruction[]): void {
    this.filter = program;
    this.filterSets++;
  }

  addMembership(mac: Uint8Array): void {
    this.groups.add(formatMac(mac));
  }

  dropMembership(mac: Uint8Array): void {
    this.groups.delete(formatMac(mac));
  }

  async *frames(options: FramesOptions = {}): AsyncGenerator<ReceivedFrame, void, undefined> {
    const signal = options.signal;
    const wake = (): void => this.#notify?.();
    signal?.addEventListener("abort", wake);
    try {
      while (!this.closed && !signal?.aborted) {
        const next = this.#queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => this.#notify = resolve);
        this.#notify = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", wake);
    }
  }

  close(): Promise<void> {
    this.closed = true;
    this.#notify?.();
    return Promise.resolve();
  }
}
