/**
 * The kernel fast path for ARP replies: loads the tc program of `kernel_program.ts`, attaches it to each interface
 * with a tcx link, and keeps its VIP map equal to what the responder owns. Replies then leave from the kernel's
 * receive path, as fast as the kernel's own ARP, while user space keeps every other case.
 *
 * Safety:
 * - Links detach when their file descriptor closes: a killed daemon answers nothing (no stale program keeps a VIP).
 * - The program answers only while the lease this class moves forward from the event loop runs (default 800 ms,
 *   refreshed every 200 ms); a hung or stopped daemon falls silent before its peers (1 s) take over.
 * - tcx runs several programs per hook, so another tc program (Cilium, say) keeps working; frames we do not answer
 *   go on to it and to the kernel.
 *
 * Needs Linux 6.6+ (tcx), CAP_BPF and CAP_NET_ADMIN (root), and `--allow-ffi`; {@link ArpOffload.open} throws a
 * one-line reason otherwise and the responder answers from user space alone.
 * @module
 */

import { silentLogger } from "../log/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  assembleEbpf,
  BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_HASH,
  BPF_NOEXIST,
  BPF_PROG_TYPE_SCHED_CLS,
  BPF_TCX_INGRESS,
  bpfUnsupportedReason,
  type Clock,
  createBpfLink,
  createBpfMap,
  deleteBpfMap,
  libc,
  loadBpfProgram,
  lookupBpfMap,
  monotonicNs,
  repeat,
  systemClock,
  updateBpfMap,
} from "../net/mod.ts";
import {
  ARP_FAST_PATH_COUNTER_OFFSET,
  ARP_FAST_PATH_KEY_BYTES,
  ARP_FAST_PATH_VALUE_BYTES,
  arpFastPathProgram,
} from "./kernel_program.ts";

/** How long the kernel may answer after the last refresh; under the peers' 1 s dead-after. */
export const DEFAULT_OFFLOAD_LEASE_MS = 800;
/** How often the lease is moved forward (the heartbeat interval). */
export const DEFAULT_OFFLOAD_REFRESH_MS = 200;
const DEFAULT_MAX_ENTRIES = 8192;
/** The lease map's only key (index 0 of a one-element array map). */
const LEASE_KEY = new Uint8Array(4);

/** Options for {@link ArpOffload.open}. */
export interface ArpOffloadOptions {
  /** Timers for the lease refresh; default the real clock. */
  clock?: Clock;
  /** Lease length in ms; default {@link DEFAULT_OFFLOAD_LEASE_MS}. */
  leaseMs?: number;
  /** Refresh interval in ms; default {@link DEFAULT_OFFLOAD_REFRESH_MS}. */
  refreshMs?: number;
  /** Most (VIP, interface) pairs; default 8192. */
  maxEntries?: number;
  /** Logger; default silent. */
  logger?: Logger;
}

/** One (VIP, interface) pair the kernel answers for. */
export interface ArpOffloadEntry {
  /** The VIP as a 32-bit number (a.b.c.d = a << 24 | ...). */
  ip: number;
  /** Interface index. */
  interfaceIndex: number;
  /** The interface's MAC (6 bytes), the reply's sender. */
  mac: Uint8Array;
}

interface Installed {
  key: Uint8Array<ArrayBuffer>;
  interfaceIndex: number;
  /** Replies already reported by {@link ArpOffload.takeReplies}. */
  reported: bigint;
}

/**
 * Owns the program, its maps and links.
 * @example
 * const offload = ArpOffload.open({ logger });
 * offload.attach({ interfaceName: "eth0", interfaceIndex: 2 });
 * offload.sync([{ ip: 0xc0000a0a, interfaceIndex: 2, mac }]); // 192.0.2.10 on eth0
 * offload.close();
 */
export class ArpOffload {
  readonly #programFd: number;
  readonly #vipMapFd: number;
  readonly #leaseMapFd: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #leaseNs: bigint;
  readonly #refreshMs: number;
  readonly #links = new Map<string, { fd: number; index: number }>();
  readonly #installed = new Map<string, Installed>();
  /** Replies of pairs removed since the last {@link takeReplies}, by interface index. */
  #unreported = new Map<number, number>();
  #cancelRefresh: () => void = () => {};
  #closed = false;
  /** The lease map's value (the deadline), reused by every refresh. */
  readonly #leaseValue = new Uint8Array(8);
  readonly #leaseView = new DataView(this.#leaseValue.buffer);

  private constructor(fds: { program: number; vipMap: number; leaseMap: number }, options: ArpOffloadOptions) {
    this.#programFd = fds.program;
    this.#vipMapFd = fds.vipMap;
    this.#leaseMapFd = fds.leaseMap;
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? silentLogger).with({ part: "arp-offload" });
    this.#leaseNs = BigInt(Math.round((options.leaseMs ?? DEFAULT_OFFLOAD_LEASE_MS) * 1e6));
    this.#refreshMs = options.refreshMs ?? DEFAULT_OFFLOAD_REFRESH_MS;
    this.#refresh();
    this.#cancelRefresh = repeat(this.#clock, this.#refreshMs, () => this.#refresh());
  }

  /** Creates the maps and loads the program; throws an Error with a one-line reason when the kernel refuses. */
  static open(options: ArpOffloadOptions = {}): ArpOffload {
    const unsupported = bpfUnsupportedReason();
    if (unsupported !== undefined) throw new Error(unsupported);
    const fds: number[] = [];
    try {
      const vipMap = createBpfMap({
        type: BPF_MAP_TYPE_HASH,
        keyBytes: ARP_FAST_PATH_KEY_BYTES,
        valueBytes: ARP_FAST_PATH_VALUE_BYTES,
        maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
        name: "mlt_arp_vips",
      });
      fds.push(vipMap);
      const leaseMap = createBpfMap({
        type: BPF_MAP_TYPE_ARRAY,
        keyBytes: 4,
        valueBytes: 8,
        maxEntries: 1,
        name: "mlt_arp_lease",
      });
      fds.push(leaseMap);
      const program = loadBpfProgram({
        type: BPF_PROG_TYPE_SCHED_CLS,
        expectedAttachType: BPF_TCX_INGRESS,
        name: "mlt_arp_reply",
        instructions: assembleEbpf(arpFastPathProgram({ vipMapFd: vipMap, leaseMapFd: leaseMap })),
      });
      return new ArpOffload({ program, vipMap, leaseMap }, options);
    } catch (error) {
      for (const fd of fds) libc().close(fd);
      throw error;
    }
  }

  /** The program's file descriptor (for test runs). */
  get programFd(): number {
    return this.#programFd;
  }

  /** Attaches the program to an interface's tcx ingress hook; throws when the kernel refuses (e.g. before 6.6). */
  attach(target: { interfaceName: string; interfaceIndex: number }): void {
    if (this.#closed) throw new Error("ArpOffload is closed");
    if (this.#links.has(target.interfaceName)) return;
    const fd = createBpfLink({
      programFd: this.#programFd,
      ifindex: target.interfaceIndex,
      attachType: BPF_TCX_INGRESS,
    });
    this.#links.set(target.interfaceName, { fd, index: target.interfaceIndex });
    this.#logger.info("ARP replies for owned VIPs now leave from the kernel (tc eBPF)", {
      interface: target.interfaceName,
    });
  }

  /** Detaches from an interface (its entries stay until the next {@link sync}). */
  detach(interfaceName: string): void {
    const link = this.#links.get(interfaceName);
    if (link === undefined) return;
    this.#links.delete(interfaceName);
    libc().close(link.fd);
  }

  /** Interfaces the program is attached to. */
  interfaces(): string[] {
    return [...this.#links.keys()];
  }

  /**
   * Makes the VIP map hold exactly `entries`: new pairs are answered from now on, missing ones stop being answered
   * before this returns. A full map leaves the extra pairs to user space (logged once).
   */
  sync(entries: readonly ArpOffloadEntry[]): void {
    if (this.#closed) return;
    const wanted = new Map<string, ArpOffloadEntry>();
    for (const entry of entries) wanted.set(`${entry.ip}/${entry.interfaceIndex}`, entry);
    for (const [id, installed] of this.#installed) {
      if (wanted.has(id)) continue;
      this.#installed.delete(id);
      this.#collect(installed, this.#unreported);
      deleteBpfMap(this.#vipMapFd, installed.key);
    }
    for (const [id, entry] of wanted) {
      if (this.#installed.has(id)) continue;
      const key = new Uint8Array(ARP_FAST_PATH_KEY_BYTES);
      const keyView = new DataView(key.buffer);
      keyView.setUint32(0, entry.ip >>> 0, false);
      keyView.setUint32(4, entry.interfaceIndex, true);
      const value = new Uint8Array(ARP_FAST_PATH_VALUE_BYTES);
      value.set(entry.mac.subarray(0, 6), 0);
      try {
        updateBpfMap(this.#vipMapFd, key, value, BPF_NOEXIST);
      } catch (error) {
        this.#logger.warnOnce("arp-offload-full", "Cannot add a VIP to the kernel fast path; user space answers it", {
          error,
        });
        continue;
      }
      this.#installed.set(id, { key, interfaceIndex: entry.interfaceIndex, reported: 0n });
    }
  }

  /** Replies the kernel sent since the last call, by interface index. */
  takeReplies(): Map<number, number> {
    const out = this.#unreported;
    this.#unreported = new Map();
    for (const installed of this.#installed.values()) this.#collect(installed, out);
    return out;
  }

  /** Adds the replies sent for one pair since it was last read to `into`. */
  #collect(installed: Installed, into: Map<number, number>): void {
    const value = new Uint8Array(ARP_FAST_PATH_VALUE_BYTES);
    if (!lookupBpfMap(this.#vipMapFd, installed.key, value)) return;
    const total = new DataView(value.buffer).getBigUint64(ARP_FAST_PATH_COUNTER_OFFSET, true);
    const delta = Number(total - installed.reported);
    installed.reported = total;
    if (delta > 0) into.set(installed.interfaceIndex, (into.get(installed.interfaceIndex) ?? 0) + delta);
  }

  /** Detaches everywhere and releases the program and maps; the kernel stops answering at once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelRefresh();
    for (const name of this.interfaces()) this.detach(name);
    this.#installed.clear();
    for (const fd of [this.#programFd, this.#vipMapFd, this.#leaseMapFd]) libc().close(fd);
  }

  /** Moves the lease forward now. */
  #refresh(): void {
    if (this.#closed) return;
    this.#leaseView.setBigUint64(0, monotonicNs() + this.#leaseNs, true);
    try {
      updateBpfMap(this.#leaseMapFd, LEASE_KEY, this.#leaseValue);
    } catch (error) {
      this.#logger.warnOnce("arp-offload-lease", "Cannot refresh the kernel fast path's lease", { error });
    }
  }
}
