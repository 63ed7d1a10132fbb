import { assertEquals } from "../../tests/assert.ts";
import { endOfTaskRunner } from "./end_of_task.ts";

Deno.test("endOfTaskRunner runs once at the end of the task for many requests", async () => {
  let runs = 0;
  const runner = endOfTaskRunner(() => runs++);
  for (let i = 0; i < 50; i++) runner.request();
  assertEquals(runs, 0);
  await Promise.resolve();
  assertEquals(runs, 1);
  runner.request();
  await Promise.resolve();
  assertEquals(runs, 2);
});

Deno.test("endOfTaskRunner: now() runs at once and settles a pending request; skip() drops a deferred run", async () => {
  let runs = 0;
  let closed = false;
  const runner = endOfTaskRunner(() => runs++, { skip: () => closed });
  runner.request();
  runner.now();
  assertEquals(runs, 1);
  await Promise.resolve();
  assertEquals(runs, 1, "the request was done by now()");
  runner.request();
  closed = true;
  await Promise.resolve();
  assertEquals(runs, 1);
});
