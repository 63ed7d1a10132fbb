import { assert, assertEquals } from "../../tests/assert.ts";
import { Registry } from "../metrics/mod.ts";
import { denoProcessProbe, registerProcessMetrics } from "./process_metrics.ts";

Deno.test("denoProcessProbe reads memory, CPU time and start time without extra permissions", () => {
  const memory = denoProcessProbe.memory();
  assert(memory.rss > 1_000_000 && memory.heapUsed > 0, JSON.stringify(memory));
  assert(denoProcessProbe.cpuSeconds() > 0);
  const start = denoProcessProbe.startTimeSeconds();
  assert(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600, String(start));
});

Deno.test("registerProcessMetrics() keeps the CPU counter equal to the probe's total", () => {
  const registry = new Registry();
  let cpu = 1.25;
  const refresh = registerProcessMetrics(registry, {
    memory: () => ({ rss: 2, heapUsed: 1 }),
    cpuSeconds: () => cpu,
    startTimeSeconds: () => 3,
  });
  refresh();
  cpu = 2;
  refresh();
  refresh();
  assertEquals(registry.find("process_cpu_seconds_total")!.get(), 2);
  assertEquals(registry.find("process_resident_memory_bytes")!.get(), 2);
  assertEquals(registry.find("process_start_time_seconds")!.get(), 3);
});
