import { assertEquals } from "../../tests/assert.ts";
import { FakeClock } from "../k8s/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { createHeapTrimmer } from "./trim.ts";

Deno.test("HeapTrimmer trims once activity has been quiet for quietMs, and not before", async () => {
  const clock = new FakeClock();
  let trims = 0;
  const trimmer = createHeapTrimmer({
    trim: () => trims++,
    clock,
    log: silentLogger,
    idleIntervalMs: Infinity,
    quietMs: 2000,
  });
  await clock.advance(10_000);
  assertEquals(trims, 0); // nothing happened yet
  trimmer.activity();
  await clock.advance(1500);
  trimmer.activity(); // a storm keeps pushing it back
  await clock.advance(1500);
  assertEquals(trims, 0);
  await clock.advance(500);
  assertEquals(trims, 1);
  await clock.advance(60_000);
  assertEquals(trims, 1); // no activity, no trim
  trimmer.stop();
});

Deno.test("HeapTrimmer waits while work is busy and keeps minIntervalMs between trims", async () => {
  const clock = new FakeClock();
  let trims = 0;
  let busy = true;
  const trimmer = createHeapTrimmer({
    trim: () => trims++,
    busy: () => busy,
    clock,
    log: silentLogger,
    idleIntervalMs: Infinity,
    quietMs: 1000,
    minIntervalMs: 30_000,
  });
  trimmer.activity();
  await clock.advance(5000);
  assertEquals(trims, 0);
  busy = false;
  await clock.advance(1000);
  assertEquals(trims, 1);
  trimmer.activity();
  await clock.advance(5000);
  assertEquals(trims, 1);
  await clock.advance(25_000);
  assertEquals(trims, 2);
  assertEquals(trimmer.trims, 2);
  trimmer.stop();
});

Deno.test("HeapTrimmer switches itself off when trimming is impossible (no FFI, no glibc)", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const trimmer = createHeapTrimmer({
    trim: () => {
      calls++;
      throw new Deno.errors.NotCapable("Requires ffi access");
    },
    clock,
    log: silentLogger,
    idleIntervalMs: Infinity,
    quietMs: 10,
    minIntervalMs: 10,
  });
  trimmer.activity();
  await clock.advance(100);
  trimmer.activity();
  await clock.advance(100);
  assertEquals([calls, trimmer.trims], [1, 0]);
  trimmer.stop();
});

Deno.test("HeapTrimmer collects garbage, trims, then pages out code, in that order", async () => {
  const clock = new FakeClock();
  const steps: string[] = [];
  const trimmer = createHeapTrimmer({
    collectGarbage: () => steps.push("gc"),
    trim: () => steps.push("trim"),
    pageOut: () => (steps.push("pageOut"), { bytes: 4096 }),
    clock,
    log: silentLogger,
    idleIntervalMs: Infinity,
    quietMs: 10,
  });
  trimmer.activity();
  await clock.advance(100);
  assertEquals(steps, ["gc", "trim", "pageOut"]);
  trimmer.stop();
});

Deno.test("HeapTrimmer drops page-out for good when the kernel refuses it, and keeps trimming", async () => {
  const clock = new FakeClock();
  let trims = 0;
  let pageOuts = 0;
  const trimmer = createHeapTrimmer({
    collectGarbage: undefined,
    trim: () => trims++,
    pageOut: () => {
      pageOuts++;
      throw new Error("madvise(MADV_PAGEOUT) failed: Invalid argument (errno 22)");
    },
    clock,
    log: silentLogger,
    idleIntervalMs: Infinity,
    quietMs: 10,
    minIntervalMs: 10,
  });
  for (let i = 0; i < 3; i++) {
    trimmer.activity();
    await clock.advance(100);
  }
  assertEquals([trims, pageOuts], [3, 1]);
  trimmer.stop();
});

Deno.test("HeapTrimmer collects and trims every idleIntervalMs while idle, without page-out, and not while busy", async () => {
  const clock = new FakeClock();
  const steps: string[] = [];
  let busy = false;
  const trimmer = createHeapTrimmer({
    collectGarbage: () => steps.push("gc"),
    trim: () => steps.push("trim"),
    pageOut: () => (steps.push("pageOut"), { bytes: 1 }),
    busy: () => busy,
    clock,
    log: silentLogger,
    quietMs: 1000,
    idleIntervalMs: 30_000,
  });
  await clock.advance(29_000);
  assertEquals(steps, []);
  await clock.advance(1000);
  assertEquals(steps, ["gc", "trim"]);
  busy = true;
  await clock.advance(30_000);
  assertEquals(steps.length, 2); // put off while work is under way
  busy = false;
  await clock.advance(30_000);
  assertEquals(steps.length, 4);
  // Work: the trim after it pages out, and the idle pass counts from it.
  trimmer.activity();
  await clock.advance(1000);
  assertEquals(steps.slice(4), ["gc", "trim", "pageOut"]);
  await clock.advance(29_000);
  assertEquals(steps.length, 7);
  await clock.advance(1000);
  assertEquals(steps.slice(7), ["gc", "trim"]);
  assertEquals(trimmer.trims, 4);
  trimmer.stop();
  await clock.advance(120_000);
  assertEquals(steps.length, 9);
});

Deno.test("HeapTrimmer pages out once more when settled: the first idle pass settlePageOutMs after work's page-out", async () => {
  const clock = new FakeClock();
  const pageOuts: number[] = [];
  const trimmer = createHeapTrimmer({
    trim: () => {},
    pageOut: () => (pageOuts.push(clock.now()), { bytes: 1 }),
    clock,
    log: silentLogger,
    quietMs: 1000,
    idleIntervalMs: 30_000,
    settlePageOutMs: 100_000,
  });
  const start = clock.now();
  await clock.advance(60_000); // idle passes before any work: never a page-out
  assertEquals(pageOuts, []);
  trimmer.activity();
  await clock.advance(1000);
  assertEquals(pageOuts.map((t) => t - start), [61_000]); // after work
  await clock.advance(300_000);
  // Idle passes at +30, +60, +90 s do not page out; the one at +120 s (the first past +100 s) does, and no later one.
  assertEquals(pageOuts.map((t) => t - start), [61_000, 181_000]);
  assertEquals(trimmer.trims, 2 + 1 + 10); // idle passes at 30 and 60 s, the work trim, ten idle passes
  // New work starts it over.
  trimmer.activity();
  await clock.advance(1000 + 120_000);
  assertEquals(pageOuts.length, 4);
  trimmer.stop();
});
