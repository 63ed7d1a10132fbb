import { assertEquals } from "../../tests/assert.ts";
import { FakeClock } from "./fake.ts";
import { type Clock, monotonicClock, repeat } from "./mod.ts";

Deno.test("repeat() on a clock without interval timers chains one-shot timers until cancelled", async () => {
  const clock = new FakeClock(0);
  const at: number[] = [];
  const cancel = repeat(clock, 200, () => at.push(clock.now()));
  await clock.advance(650);
  assertEquals(at, [200, 400, 600]);
  cancel();
  await clock.advance(1000);
  assertEquals(at.length, 3);
});

Deno.test("repeat() uses the clock's interval timer when it has one, and its cancel", () => {
  const calls: string[] = [];
  const clock: Clock = {
    now: () => 0,
    setTimer: () => {
      calls.push("timer");
      return () => {};
    },
    setRepeating: (ms) => {
      calls.push(`repeating ${ms}`);
      return () => calls.push("cancelled");
    },
  };
  repeat(clock, 200, () => {})();
  assertEquals(calls, ["repeating 200", "cancelled"]);
});

Deno.test("repeat() on the real clock calls back until cancelled", async () => {
  let n = 0;
  let cancel = () => {};
  await new Promise<void>((resolve) => {
    cancel = repeat(monotonicClock, 5, () => {
      if (++n === 3) resolve();
    });
  });
  cancel();
  const seen = n;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assertEquals(n, seen, "no call after cancel");
});
