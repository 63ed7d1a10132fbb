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
