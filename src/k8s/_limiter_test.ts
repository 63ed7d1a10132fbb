import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { Limiter, LimiterAbortedError } from "./_limiter.ts";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test("Limiter runs at most max tasks at once, the others in arrival order", async () => {
  const limiter = new Limiter(2);
  const gates = [deferred(), deferred(), deferred(), deferred()];
  const started: number[] = [];
  const runs = gates.map((gate, i) =>
    limiter.run(async () => {
      started.push(i);
      await gate.promise;
      return i;
    })
  );
  await Promise.resolve();
  assertEquals(started, [0, 1]);
  assertEquals([limiter.active, limiter.waiting], [2, 2]);
  gates[1]!.resolve();
  await runs[1];
  await Promise.resolve();
  assertEquals(started, [0, 1, 2]);
  gates[0]!.resolve();
  gates[2]!.resolve();
  gates[3]!.resolve();
  assertEquals(await Promise.all(runs), [0, 1, 2, 3]);
  assertEquals(started, [0, 1, 2, 3]);
  assertEquals([limiter.active, limiter.waiting], [0, 0]);
});

Deno.test("Limiter gives the turn back when a task throws, and a release called twice counts once", async () => {
  const limiter = new Limiter(1);
  await assertRejects(() => limiter.run(() => Promise.reject(new Error("boom"))), Error, "boom");
  const release = await limiter.acquire();
  release();
  release();
  assertEquals(limiter.active, 0);
  const again = await limiter.acquire();
  assertEquals(limiter.active, 1);
  again();
});

Deno.test("Limiter drops a waiter whose signal aborts, and refuses an aborted signal at once", async () => {
  const limiter = new Limiter(1);
  const first = await limiter.acquire();
  const controller = new AbortController();
  const waiting = limiter.acquire(controller.signal);
  const behind = limiter.acquire();
  assertEquals(limiter.waiting, 2);
  controller.abort();
  await assertRejects(() => waiting, LimiterAbortedError);
  assertEquals(limiter.waiting, 1);
  first();
  const second = await behind;
  assertEquals(limiter.active, 1);
  second();
  await assertRejects(() => limiter.acquire(controller.signal), LimiterAbortedError);
  assertEquals([limiter.active, limiter.waiting], [0, 0]);
});

Deno.test("Limiter keeps order through a long queue (compaction)", async () => {
  const limiter = new Limiter(1);
  const order: number[] = [];
  await Promise.all(Array.from({ length: 300 }, (_, i) => limiter.run(() => Promise.resolve(order.push(i)))));
  assertEquals(order, Array.from({ length: 300 }, (_, i) => i));
});
