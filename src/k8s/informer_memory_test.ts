// deno-lint-ignore-file no-console
import { assert, assertEquals } from "../../tests/assert.ts";

Deno.test("Informer keeps 10,000 Services in well under 40 MB of heap", async () => {
  const probe = new URL("./_heap_probe.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", probe, "10000"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  assert(output.success, new TextDecoder().decode(output.stderr));
  const result = JSON.parse(text) as { services: number; heapBytes: number; perServiceBytes: number };
  console.log(`informer heap: ${(result.heapBytes / 1e6).toFixed(1)} MB for ${result.services} Services`);
  assertEquals(result.services, 10_000);
  assert(result.heapBytes < 20e6, `heap grew ${result.heapBytes} bytes, want under 20 MB (budget 40 MB)`);
});
