/**
 * Process metrics read at scrape time (memory, CPU, start time) and metallite's build info.
 * @module
 */
import process from "node:process";
import type { Registry } from "../metrics/mod.ts";
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

/**
 * The probe of this process. CPU time comes from `node:process` `cpuUsage()` (getrusage(2) inside Deno): it needs no
 * permission, whereas reading /proc/self/stat, as other exporters do, makes Deno ask for --allow-all.
 */
export const denoProcessProbe: ProcessProbe = {
  memory: () => Deno.memoryUsage(),
  cpuSeconds() {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  },
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
