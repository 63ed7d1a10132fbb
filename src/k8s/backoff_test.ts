import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { Backoff } from "./backoff.ts";

Deno.test("Backoff doubles from 200 ms to a 30 s cap, jittered within the upper half", () => {
  const high = new Backoff({ random: () => 0.999999 });
  assertEquals(Array.from({ length: 10 }, () => high.next()), [
    200,
    400,
    800,
    1600,
    3200,
    6400,
    12800,
    25600,
    30000,
    30000,
  ]);
  const low = new Backoff({ random: () => 0 });
  assertEquals(Array.from({ length: 3 }, () => low.next()), [100, 200, 400]);
  low.reset();
  assertEquals(low.next(), 100);
});

Deno.test("Backoff never returns less than half the initial delay, whatever the random source says", () => {
  const b = new Backoff({ random: () => -5 });
  assertEquals(b.next(), 100);
});

Deno.test("Backoff rejects nonsense settings", () => {
  assertThrows(() => new Backoff({ initialMs: 0 }), RangeError, "Invalid backoff");
  assertThrows(() => new Backoff({ initialMs: 100, maxMs: 10 }), RangeError, "Invalid backoff");
});
