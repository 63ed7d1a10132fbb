import { assertEquals } from "../../tests/assert.ts";
import { FakeClock } from "../clock/fake.ts";
import { createTurns } from "./turns.ts";

// The heavy tasks below are instantaneous on a fake clock; what is checked is when each one is allowed to start.

Deno.test("turns: a heavy task due right after another waits for a quiet moment of the loop", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const election = turns.clock(clock);
  const allocator = turns.clock(clock);
  const ran: string[] = [];
  election.setTimer(0, () => ran.push(`election ${clock.now() - 1_000_000}`));
  allocator.setTimer(10, () => ran.push(`pass ${clock.now() - 1_000_000}`));
  await clock.advance(10);
  assertEquals(ran, ["election 0"], "the pass waits: the loop serves I/O (/readyz) first");
  await clock.advance(10);
  assertEquals(ran, ["election 0", "pass 20"]);
  assertEquals(turns.deferred, 1);
  await clock.advance(100);
  assertEquals(clock.pending, 0);
});

Deno.test("turns: a heavy task due while the loop is quiet runs at once", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const tasks = turns.clock(clock);
  const ran: number[] = [];
  tasks.setTimer(0, () => ran.push(clock.now() - 1_000_000));
  tasks.setTimer(50, () => ran.push(clock.now() - 1_000_000));
  await clock.advance(100);
  assertEquals(ran, [0, 50]);
  assertEquals(turns.deferred, 0);
  assertEquals(tasks.now(), clock.now());
});

/** Two heavy tasks queued at once (gap 20 ms, at most 3 waits); the first has run. */
async function twoTasksQueued(): Promise<{ clock: FakeClock; ran: string[] }> {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20, maxWaits: 3 });
  const tasks = turns.clock(clock);
  const ran: string[] = [];
  tasks.setTimer(0, () => ran.push("first"));
  tasks.setTimer(0, () => ran.push("second"));
  await clock.advance(0);
  return { clock, ran };
}

Deno.test("turns: a moment that comes late means the loop was busy, and the next task waits another", async () => {
  const { clock, ran } = await twoTasksQueued();
  // The loop is held 100 ms by other work: the quiet-moment timer fires 80 ms late.
  await clock.stall(100);
  assertEquals(ran, ["first"]);
  await clock.advance(20);
  assertEquals(ran, ["first", "second"]);
});

Deno.test("turns: a loop that never calms down still lets the next task run after a few moments", async () => {
  const { clock, ran } = await twoTasksQueued();
  await clock.stall(100);
  await clock.stall(100);
  assertEquals(ran, ["first"]);
  await clock.stall(100);
  assertEquals(ran, ["first", "second"], "the third late moment hands the turn over anyway");
  await clock.advance(100);
});

Deno.test("turns: waiting tasks keep their order, one per turn", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const tasks = turns.clock(clock);
  const ran: string[] = [];
  for (const name of ["a", "b", "c"]) tasks.setTimer(0, () => ran.push(`${name} ${clock.now() - 1_000_000}`));
  await clock.advance(100);
  assertEquals(ran, ["a 0", "b 20", "c 40"]);
});

Deno.test("turns: a cancelled task never runs, and the next one still gets its turn", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const tasks = turns.clock(clock);
  const ran: string[] = [];
  tasks.setTimer(0, () => ran.push("first"));
  const cancel = tasks.setTimer(0, () => ran.push("cancelled"));
  tasks.setTimer(0, () => ran.push("third"));
  await clock.advance(0);
  cancel();
  await clock.advance(100);
  assertEquals(ran, ["first", "third"]);
  assertEquals(clock.pending, 0);
});

Deno.test("turns: heavy work outside the timers (a big listing) makes the next task wait its turn", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const tasks = turns.clock(clock);
  const ran: number[] = [];
  turns.ran();
  tasks.setTimer(0, () => ran.push(clock.now() - 1_000_000));
  await clock.advance(0);
  assertEquals(ran, []);
  await clock.advance(20);
  assertEquals(ran, [20]);
});

Deno.test("turns: a task that throws still ends its turn", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const tasks = turns.clock(clock);
  const ran: string[] = [];
  tasks.setTimer(0, () => {
    throw new Error("reconcile failed");
  });
  // A fake clock lets a throwing timer reject advance(); a real timer would only report it.
  await clock.advance(0).catch(() => {});
  tasks.setTimer(0, () => ran.push("next"));
  await clock.advance(0);
  assertEquals(ran, [], "the failed task's turn is not over yet");
  await clock.advance(20);
  assertEquals(ran, ["next"]);
});

Deno.test("turns: stop() drops waiting tasks and its timer", async () => {
  const clock = new FakeClock();
  const turns = createTurns({ clock, gapMs: 20 });
  const tasks = turns.clock(clock);
  const ran: string[] = [];
  tasks.setTimer(0, () => ran.push("first"));
  tasks.setTimer(0, () => ran.push("dropped"));
  await clock.advance(0);
  turns.stop();
  assertEquals(clock.pending, 0);
  await clock.advance(100);
  assertEquals(ran, ["first"]);
  // The caches' sync promise also settles when they stop, after this: no timer is left behind.
  turns.ran();
  tasks.setTimer(0, () => ran.push("after stop"));
  await clock.advance(0);
  assertEquals(ran, ["first", "after stop"]);
  assertEquals(clock.pending, 0);
});
