/**
 * Process metrics read at scrape time (memory, CPU, start time) and metallite's build info.
 * @module
 */
import type { Registry } from "../metrics/mod.ts";
import { check, libc } from "../net/mod.ts";
import { VERSION } from "../version.ts";

/** Reads what {@link ProcessMetrics} reports; injected so tests see fixed numbers. */
export interface ProcessProbe {
  /** Resident set size and V8 heap in bytes, as `Deno.memoryUsage()` reports them. */
  memory(): { rss: number; heapUsed: number };
  /** User plus system CPU time in seconds since the process started. */
  cpuSeconds(): number;
  /** When the process started, in seconds since the Unix epoch. */
  startTimeSeconds(): number;
}

// getrusage(2): RUSAGE_SELF (include/uapi/linux/resource.h) covers every thread of the process. struct rusage
// starts with ru_utime and ru_stime, two struct timevals of (tv_sec, tv_usec) as 64-bit longs on 64-bit Linux; the
// whole struct is 144 bytes.
const RUSAGE_SELF = 0;
const RUSAGE_SIZE = 144;
const usage = new Uint8Array(RUSAGE_SIZE);
const usageView = new DataView(usage.buffer);

function timevalSeconds(at: number): number {
  return Number(usageView.getBigInt64(at, true)) + Number(usageView.getBigInt64(at + 8, true)) / 1e6;
}

function rusageCpuSeconds(): number {
  check("getrusage", libc().getrusage(RUSAGE_SELF, usage));
  return timevalSeconds(0) + timevalSeconds(16);
}

/**
 * The probe of this process. CPU time comes from getrusage(2) through libc FFI (the daemon has `--allow-ffi`):
 * reading /proc/self/stat, as other exporters do, makes Deno ask for --allow-all, and `node:process` `cpuUsage()`
 * would load Deno's Node compatibility layer (about 7 MB) for one number.
 */
export const denoProcessProbe: ProcessProbe = {
  memory: () => Deno.memoryUsage(),
  cpuSeconds: rusageCpuSeconds,
  startTimeSeconds: () => performance.timeOrigin / 1000,
};

/** Registers the process metrics and returns a function that refreshes them; call it before each render. */
export function registerProcessMetrics(registry: Registry, probe: ProcessProbe = denoProcessProbe): () => void {
  const rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes");
  const heap = registry.gauge("process_heap_bytes", "V8 heap in use in bytes");
  const cpu = registry.counter("process_cpu_seconds_total", "User and system CPU time spent in seconds");
  const start = registry.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch");
  const build = registry.gauge(
    "metallite_build_info",
    "A constant 1, labelled with metallite's version and the Deno runtime",
    ["version", "deno"],
  );
  build.set({ version: VERSION, deno: Deno.version.deno }, 1);
  start.set(undefined, probe.startTimeSeconds());
  return () => {
    const memory = probe.memory();
    rss.set(undefined, memory.rss);
    heap.set(undefined, memory.heapUsed);
    // The registry's counters only go up: add what was spent since the last refresh.
    const spent = probe.cpuSeconds() - cpu.get();
    if (spent > 0) cpu.inc(undefined, spent);
  };
}
