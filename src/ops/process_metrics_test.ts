import process from "node:process";
import { assert, assertEquals } from "../../tests/assert.ts";
import { Registry } from "../metrics/mod.ts";
import { libc } from "../net/mod.ts";
import { ffiSkipReason } from "../net/testing.ts";
import { denoProcessProbe, registerProcessMetrics } from "./process_metrics.ts";

const skip = ffiSkipReason();
// deno-lint-ignore no-console
if (skip !== undefined) console.log(`Skipping the live probe tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process (see src/net/libc.ts)

Deno.test({
  name: "denoProcessProbe reads memory, CPU time (getrusage through FFI) and start time",
  ignore: skip !== undefined,
}, () => {
  const memory = denoProcessProbe.memory();
  assert(memory.rss > 1_000_000 && memory.heapUsed > 0, JSON.stringify(memory));
  assert(denoProcessProbe.cpuSeconds() > 0);
  const start = denoProcessProbe.startTimeSeconds();
  assert(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600, String(start));
});

Deno.test({
  name: "denoProcessProbe's CPU time agrees with node:process cpuUsage() (both read getrusage)",
  ignore: skip !== undefined,
}, () => {
  // Spend some CPU so that both clocks have moved well past their resolution.
  let x = 0;
  for (let i = 0; i < 3_000_000; i++) x = (x + i * 7) % 1_000_003;
  const before = process.cpuUsage();
  const ours = denoProcessProbe.cpuSeconds();
  const after = process.cpuUsage();
  const low = (before.user + before.system) / 1e6;
  const high = (after.user + after.system) / 1e6;
  assert(ours >= low - 0.001 && ours <= high + 0.001, `${low} <= ${ours} <= ${high} (x=${x})`);
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

Deno.test("the ops server and its process metrics work with metallite's own permission set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mlt-ops-" });
  try {
    const script = `${dir}/scrape.ts`;
    await Deno.writeTextFile(
      script,
      [
        `import { Registry } from "${new URL("../metrics/mod.ts", import.meta.url)}";`,
        `import { startOpsServer } from "${new URL("./mod.ts", import.meta.url)}";`,
        `const server = startOpsServer({ hostname: "127.0.0.1", port: 0, registry: new Registry(), ready: () => true });`,
        `const response = await fetch(\`http://127.0.0.1:\${server.port}/metrics\`);`,
        `await Deno.stdout.write(new TextEncoder().encode(await response.text()));`,
        `await server.close();`,
      ].join("\n"),
    );
    const { permissionFlags, ROOT } = await import("../../scripts/runtime.ts");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...permissionFlags(), script],
      cwd: ROOT,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    for (const name of ["process_resident_memory_bytes", "process_heap_bytes", "process_cpu_seconds_total"]) {
      const value = Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
      assert(value > 0, `${name} = ${value}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
