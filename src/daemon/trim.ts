/**
 * Gives memory back to the system once a burst of work is over, in three steps:
 *
 * 1. a full V8 garbage collection, when V8 exposes one (`--expose-gc`): an idle daemon allocates too little for V8
 *    to collect the garbage start-up left in the old generation on its own;
 * 2. `malloc_trim(0)`: glibc keeps the memory a burst freed (TLS buffers of API requests, parsed lists) in its heap
 *    for reuse, so without a trim a daemon that once started with 1,000 Services keeps its peak footprint for good
 *    (about 200 -> 120 MB at 1,000 Services when measured);
 * 3. optionally, page-out of code (`pageOut`, see src/net/page_out.ts): the pages of the runtime's own executable
 *    that start-up touched once stay resident for good; the kernel drops them and faults back what is used again.
 *    Once the daemon has been quiet for two more minutes it pages out a second time (`settlePageOutMs`): settling
 *    into its idle loop (V8 optimizing that loop's code, the first idle collections) touches code once too.
 *
 * It runs a moment after the last sign of work (a cache or model change) and only when no API request is running or
 * queued, at most once per `minIntervalMs`. An idle daemon also runs steps 1 and 2 every `idleIntervalMs`: its I/O
 * (API requests, heartbeats, bpf(2) calls) leaves short-lived ArrayBuffers whose memory lives in the C heap, outside
 * V8's heap; V8 schedules collections by its own heap's growth, which an idle daemon hardly has, so without this
 * the C heap grew by about 30 KB/s while idle (20 -> 28 MB anonymous over 5 minutes, with 1.5 to 8.7 MB of such
 * garbage waiting). A step that fails (no `--allow-ffi`, no glibc, a kernel without MADV_PAGEOUT) is switched off
 * for good and that is logged once; the other steps go on.
 * @module
 */
import type { Clock } from "../k8s/mod.ts";
import { systemClock } from "../k8s/mod.ts";
import type { Logger } from "../log/mod.ts";
import { libc } from "../net/mod.ts";

/** Options for {@link createHeapTrimmer}. */
export interface HeapTrimmerOptions {
  /**
   * Returns freed memory; default glibc's `malloc_trim(0)` through FFI. When it throws (no `--allow-ffi`, a C
   * library without `malloc_trim`), trimming is switched off for good and that is logged once.
   */
  trim?: () => void;
  /** Full garbage collection before the trim; default V8's `gc()` when `--expose-gc` exposes it, else none. */
  collectGarbage?: (() => void) | undefined;
  /**
   * Pages out code after the trim and returns the bytes of address space advised; default none (the daemon passes
   * `pageOutCode` unless `--page-out off`).
   */
  pageOut?: (() => { bytes: number }) | undefined;
  /** True while work is still under way (API requests in flight or queued): the trim waits. */
  busy?: () => boolean;
  /** Quiet time after the last activity before trimming; default 2,000 ms. */
  quietMs?: number;
  /** Least time between two trims; default 30,000 ms. */
  minIntervalMs?: number;
  /** While idle, collect and trim (no page-out) this long after the last trim; default 30,000 ms; Infinity: never. */
  idleIntervalMs?: number;
  /**
   * The first idle pass this long after a page-out that followed work pages out once more; default 120,000 ms. What
   * the daemon ran only while settling after that page-out (V8 optimizing the code of its idle loop, the first idle
   * collections) is handed back too; what the idle loop still runs faults back in once.
   */
  settlePageOutMs?: number;
  /** Clock; default the system clock. */
  clock?: Clock;
  /** Logger. */
  log: Logger;
}

/** The trimmer: tell it about work with `activity()`. */
export interface HeapTrimmer {
  /** Something happened that allocates (a cache, the model, a burst of writes): trim once it has quieted down. */
  activity(): void;
  /** Trims done so far (after work and idle passes). */
  readonly trims: number;
  /** Cancels pending trims. */
  stop(): void;
}

function glibcTrim(): void {
  libc().malloc_trim(0n);
}

/** V8's `gc()` when the runtime was started with `--expose-gc`. */
function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === "function" ? () => gc() : undefined;
}

/**
 * Creates a trimmer. The first trim after work waits for the first `activity()`; the idle pass is armed at once.
 *
 * @example
 * ```ts
 * const trimmer = createHeapTrimmer({ busy: () => api.client.queue.waiting > 0, log });
 * caches.onAnyChange(() => trimmer.activity());
 * ```
 */
export function createHeapTrimmer(options: HeapTrimmerOptions): HeapTrimmer {
  const clock = options.clock ?? systemClock;
  const trim = options.trim ?? glibcTrim;
  const collectGarbage = "collectGarbage" in options ? options.collectGarbage : exposedGc();
  let pageOut = options.pageOut;
  const quietMs = options.quietMs ?? 2_000;
  const minIntervalMs = options.minIntervalMs ?? 30_000;
  const idleIntervalMs = options.idleIntervalMs ?? 30_000;
  const settlePageOutMs = options.settlePageOutMs ?? 120_000;
  /** When the settling page-out is due (set by a page-out after work, cleared once done). */
  let settleDueAt: number | undefined;
  const log = options.log;
  let lastActivity = -Infinity;
  let lastTrim = -Infinity;
  /** Last trim or idle pass, or the start: the idle pass counts from here. */
  let lastRelease = clock.now();
  let cancel: (() => void) | undefined;
  let cancelIdle: (() => void) | undefined;
  let disabled = false;
  let stopped = false;
  let trims = 0;

  /** The idle pass: collect and trim once `idleIntervalMs` has gone by without a trim. */
  function armIdle(): void {
    cancelIdle?.();
    cancelIdle = undefined;
    if (disabled || stopped || !Number.isFinite(idleIntervalMs)) return;
    cancelIdle = clock.setTimer(Math.max(0, lastRelease + idleIntervalMs - clock.now()), () => {
      cancelIdle = undefined;
      if (disabled || stopped) return;
      if (cancel !== undefined || options.busy?.()) {
        // Work is under way; the trim after it comes first.
        lastRelease = clock.now();
        return armIdle();
      }
      release(settleDueAt !== undefined && clock.now() >= settleDueAt ? "settle" : "idle");
    });
  }
  armIdle();

  function arm(): void {
    if (disabled || stopped) return;
    const at = Math.max(lastActivity + quietMs, lastTrim + minIntervalMs);
    cancel = clock.setTimer(Math.max(0, at - clock.now()), fire);
  }

  function fire(): void {
    cancel = undefined;
    if (disabled || stopped) return;
    if (clock.now() < lastActivity + quietMs) return arm();
    if (options.busy?.()) {
      lastActivity = clock.now();
      return arm();
    }
    release("work");
  }

  /** Runs the steps; page-out after work and once when settled, not on the other idle passes. */
  function release(kind: "work" | "idle" | "settle"): void {
    const withPageOut = kind !== "idle";
    const before = Deno.memoryUsage().rss;
    const started = performance.now();
    collectGarbage?.();
    try {
      trim();
    } catch (error) {
      disabled = true;
      log.info("cannot return freed memory to the system (malloc_trim); going on without it", { error });
      return;
    }
    let pagedOutMiB: number | undefined;
    if (withPageOut && pageOut) {
      try {
        pagedOutMiB = Math.round(pageOut().bytes / 1048576);
      } catch (error) {
        pageOut = undefined;
        log.info("cannot page out start-up code (madvise MADV_PAGEOUT); going on without it", { error });
      }
    }
    trims++;
    if (kind === "work") {
      lastTrim = clock.now();
      settleDueAt = pagedOutMiB === undefined ? undefined : clock.now() + settlePageOutMs;
    } else if (kind === "settle") {
      settleDueAt = undefined;
    }
    lastRelease = clock.now();
    armIdle();
    log.debug("returned freed memory to the system", {
      rssBeforeMiB: Math.round(before / 1048576),
      rssAfterMiB: Math.round(Deno.memoryUsage().rss / 1048576),
      ...(pagedOutMiB === undefined ? {} : { codeAdvisedMiB: pagedOutMiB, pass: kind }),
      ms: Math.round(performance.now() - started),
    });
  }

  return {
    activity() {
      if (disabled || stopped) return;
      lastActivity = clock.now();
      // A pending trim looks at lastActivity when it fires, so a storm of changes costs no timer per change.
      if (cancel === undefined) arm();
    },
    get trims() {
      return trims;
    },
    stop() {
      stopped = true;
      cancel?.();
      cancel = undefined;
      cancelIdle?.();
      cancelIdle = undefined;
    },
  };
}
