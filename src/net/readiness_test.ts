// The watched descriptor is an eventfd: readable while its counter is above zero, so no network is needed.
import { assert, assertEquals, assertRejects, waitFor, waitForTimerTicks } from "../../tests/assert.ts";
import { check, EFD_CLOEXEC, EFD_NONBLOCK, F_GETFL, libc } from "./libc.ts";
import { Readiness, type ReadOutcome } from "./readiness.ts";
import { ffiSkipReason } from "./testing.ts";

const skip = ffiSkipReason();
// deno-lint-ignore no-console
if (skip !== undefined) console.log(`Skipping Readiness tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process (see libc.ts)

/** An eventfd to watch (the Readiness closes it). */
function counter(): { fd: number; add(n?: number): void; take(): number } {
  const fd = check("eventfd", libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  return {
    fd,
    add(n = 1) {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true);
      libc().write(fd, bytes, 8n);
    },
    /** Reads and clears the counter; 0 when it was already 0 (EAGAIN). */
    take() {
      const bytes = new Uint8Array(8);
      return Number(libc().read(fd, bytes, 8n)) < 0 ? 0 : Number(new DataView(bytes.buffer).getBigUint64(0, true));
    },
  };
}

Deno.test({
  name: "Readiness: wait() resolves true once the descriptor is readable, and timers run meanwhile",
  ignore: skip !== undefined,
}, async () => {
  const watched = counter();
  await using readiness = new Readiness(watched.fd, "test descriptor");
  let done: boolean | undefined;
  const waiting = readiness.wait().then((ready) => (done = ready));
  await waitForTimerTicks("poll waits");
  assertEquals(done, undefined);
  watched.add();
  assertEquals(await waiting, true);
  await assertRejects(
    async () => {
      const first = readiness.wait();
      try {
        await readiness.wait();
      } finally {
        await first; // the counter is still set, so this returns at once
      }
    },
    Error,
    "test descriptor is already waiting in poll",
  );
});

Deno.test({
  name: "Readiness: wake() makes a waiting and the next wait() return false until reset()",
  ignore: skip !== undefined,
}, async () => {
  const watched = counter();
  await using readiness = new Readiness(watched.fd, "test descriptor");
  const waiting = readiness.wait();
  readiness.wake();
  assertEquals(await waiting, false);
  assertEquals(await readiness.wait(), false, "the wake-up stays until reset");
  readiness.reset();
  watched.add();
  assertEquals(await readiness.wait(), true);
});

Deno.test({
  name: "Readiness: close() returns a waiting poll, resolves after it, and later waits are false",
  ignore: skip !== undefined,
}, async () => {
  const watched = counter();
  const readiness = new Readiness(watched.fd, "test descriptor");
  const waiting = readiness.wait();
  const closing = readiness.close();
  assert(readiness.closed);
  assertEquals(readiness.close(), closing, "idempotent");
  await closing;
  assertEquals(await waiting, false);
  assertEquals(libc().fcntl(watched.fd, F_GETFL, 0), -1, "the descriptor is closed");
  assertEquals(await readiness.wait(), false);
  readiness.wake(); // no effect (and no write to a closed eventfd)
  readiness.reset();
});

Deno.test({
  name: "Readiness: a descriptor that is not open ends the wait (POLLNVAL)",
  ignore: skip !== undefined,
}, async () => {
  const readiness = new Readiness(1_000_000, "test descriptor");
  assertEquals(await readiness.wait(), false);
  await readiness.close(); // close(1000000) fails with EBADF, harmlessly
});

Deno.test({
  name: "Readiness: drain() reads in batches, waits on again, waits after errors in a row, and ends on close()",
  ignore: skip !== undefined,
}, async () => {
  const watched = counter();
  const readiness = new Readiness(watched.fd, "test descriptor");
  const queue: number[] = [];
  let calls = 0;
  let errors = 0;
  const receiveOne = (): ReadOutcome<{ n: number }> => {
    calls++;
    if (errors > 0) {
      errors--;
      return "error";
    }
    const n = queue.shift();
    if (n === undefined) {
      watched.take(); // drained: the descriptor is no longer readable
      return "again";
    }
    return { n };
  };
  const got: number[] = [];
  const reading = (async () => {
    for await (const item of readiness.drain(receiveOne, { batchSize: 3 })) got.push(item.n);
  })();
  await waitFor("the reader to wait", () => calls === 1);
  queue.push(1, 2, 3, 4, 5, 6, 7);
  watched.add();
  await waitFor("seven items", () => got.length === 7);
  assertEquals(got, [1, 2, 3, 4, 5, 6, 7]);
  // 3 + wait + 3 + wait + 1 + again: each batch of 3 went back to poll (readable at once) before reading on.
  assertEquals(calls, 1 + 3 + 3 + 1 + 1);
  // A read that keeps failing on a readable descriptor: every 8 failures the reader goes back to poll (which
  // answers at once), so the event loop still gets its turns.
  errors = Number.POSITIVE_INFINITY;
  watched.add();
  const before = calls;
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert(calls > before + 8, `the reader kept trying (${calls - before} reads)`);
  errors = 0;
  await waitFor("the reader to drain and wait again", () => watched.take() === 0);
  await readiness.close();
  await reading;
  assertEquals(got.length, 7);
});

Deno.test({
  name: "Readiness: aborting ends drain() and leaves it usable; only one reader at a time",
  ignore: skip !== undefined,
}, async () => {
  const watched = counter();
  await using readiness = new Readiness(watched.fd, "test descriptor");
  const receiveOne = (): ReadOutcome<{ n: number }> => (watched.take() > 0 ? { n: 1 } : "again");
  const stop = new AbortController();
  const first = readiness.drain(receiveOne, { batchSize: 8, signal: stop.signal });
  const pending = first.next();
  await assertRejects(
    () => readiness.drain(receiveOne, { batchSize: 8 }).next(),
    Error,
    "test descriptor already has a reader",
  );
  stop.abort();
  assertEquals(await pending, { value: undefined, done: true });
  const second = readiness.drain(receiveOne, { batchSize: 8 });
  const next = second.next();
  watched.add();
  assertEquals(await next, { value: { n: 1 }, done: false });
  await second.return();
});
