/** How long a lab takes to build and tear down: `scripts/deno bench -A tests/lab/lab_bench.ts` (root). */
import { createLab, labSkipReason } from "./mod.ts";

const ignore = labSkipReason() !== undefined;

Deno.bench({ name: "createLab({ nodes: 3 }) + close()", ignore, n: 20, warmup: 2 }, async () => {
  const lab = await createLab({ nodes: 3 });
  await lab.close();
});

Deno.bench({ name: "createLab({ nodes: 3, router, api }) + close()", ignore, n: 20, warmup: 2 }, async () => {
  const lab = await createLab({ nodes: 3, router: true, api: true });
  await lab.close();
});

Deno.bench(
  { name: "createLab({ nodes: 3 }) only (closed outside the timing)", ignore, n: 20, warmup: 2 },
  async (b) => {
    b.start();
    const lab = await createLab({ nodes: 3 });
    b.end();
    await lab.close();
  },
);
