import { assert, assertEquals } from "../../tests/assert.ts";
import { createLogger } from "../log/mod.ts";
import { Shutdown, type ShutdownClock, type ShutdownSignalName, type SignalSource } from "./shutdown.ts";

/** A signal source the test fires by hand. */
class FakeSignals implements SignalSource {
  handler: ((signal: ShutdownSignalName) => void) | undefined;
  listen(handler: (signal: ShutdownSignalName) => void): () => void {
    this.handler = handler;
    return () => this.handler = undefined;
  }
  fire(signal: ShutdownSignalName): void {
    this.handler?.(signal);
  }
}

/** Virtual time: `settle()` lets pending promises run, then jumps to the next timer, until none is left. */
class FakeTimers implements ShutdownClock {
  time = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  setTimer(ms: number, fn: () => void): () => void {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.time + ms, fn });
    return () => this.#timers.delete(id);
  }
  now(): number {
    return this.time;
  }
  /** Advances time by `ms`, firing due timers. */
  advance(ms: number): void {
    this.time += ms;
    for (const [id, t] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at > this.time) break;
      this.#timers.delete(id);
      t.fn();
    }
  }
  /** Runs microtasks, then fires the earliest timer, until `done` settles. */
  async settle(done: Promise<unknown>): Promise<void> {
    let finished = false;
    void done.then(() => finished = true);
    for (let i = 0; i < 1000 && !finished; i++) {
      for (let j = 0; j < 20; j++) await Promise.resolve();
      if (finished) break;
      const next = Math.min(...[...this.#timers.values()].map((t) => t.at));
      if (Number.isFinite(next)) this.advance(next - this.time);
    }
  }
}

function setup(options: { totalTimeoutMs?: number; stepTimeoutMs?: number } = {}) {
  const signals = new FakeSignals();
  const timers = new FakeTimers();
  const exits: number[] = [];
  const lines: string[] = [];
  const shutdown = new Shutdown({
    signals,
    clock: timers,
    exit: (code) => exits.push(code),
    log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    ...options,
  });
  return { shutdown, signals, timers, exits, lines };
}

Deno.test("Shutdown runs steps in reverse order on SIGTERM and aborts its signal first", async () => {
  const { shutdown, signals, timers } = setup();
  const order: string[] = [];
  shutdown.add("release allocator lease", () => {
    order.push("lease");
  });
  shutdown.add("stop answering ARP", async () => {
    await Promise.resolve();
    order.push("arp");
  });
  shutdown.add("withdraw BGP routes", () => {
    assert(shutdown.signal.aborted, "stop signal aborted before the steps run");
    order.push("bgp");
  });
  assert(!shutdown.signal.aborted);
  signals.fire("SIGTERM");
  await timers.settle(shutdown.done);
  const report = await shutdown.done;
  assertEquals(order, ["bgp", "arp", "lease"]);
  assertEquals(report.reason, "SIGTERM");
  assertEquals(report.steps.map((s) => s.outcome), ["ok", "ok", "ok"]);
});

Deno.test("Shutdown abandons a step at its deadline, aborts its signal and goes on", async () => {
  const { shutdown, signals, timers, lines } = setup();
  let stepSignal: AbortSignal | undefined;
  const ran: string[] = [];
  shutdown.add("release allocator lease", () => {
    ran.push("lease");
  });
  shutdown.add("withdraw BGP routes", (signal) => {
    stepSignal = signal;
    return new Promise(() => {}); // a peer that never answers
  }, { timeoutMs: 3000 });
  signals.fire("SIGINT");
  await timers.settle(shutdown.done);
  const report = await shutdown.done;
  assertEquals(report.steps.map((s) => [s.name, s.outcome, s.ms]), [
    ["withdraw BGP routes", "timed out", 3000],
    ["release allocator lease", "ok", 0],
  ]);
  assert(stepSignal?.aborted, "the step's signal aborted at its deadline");
  assertEquals(ran, ["lease"]);
  assert(lines.some((l) => l.includes("cleanup step timed out") && l.includes("withdraw")), lines.join("\n"));
});

Deno.test("Shutdown keeps going after a failing step and reports its error", async () => {
  const { shutdown, timers } = setup();
  shutdown.add("release allocator lease", () => {});
  shutdown.add("stop answering ARP", () => {
    throw new Error("socket already closed");
  });
  shutdown.add("withdraw BGP routes", () => Promise.reject(new Error("peer reset\nmore")));
  const run = shutdown.start("fatal error");
  await timers.settle(run);
  assertEquals((await run).steps.map((s) => [s.outcome, s.error]), [
    ["failed", "peer reset"],
    ["failed", "socket already closed"],
    ["ok", undefined],
  ]);
});

Deno.test("Shutdown finishes within its total budget and skips what no longer fits", async () => {
  const { shutdown, signals, timers } = setup({ totalTimeoutMs: 5000, stepTimeoutMs: 2000 });
  const hang = () => new Promise<void>(() => {});
  shutdown.add("release allocator lease", hang);
  shutdown.add("stop answering NDP", hang);
  shutdown.add("stop answering ARP", hang);
  shutdown.add("withdraw BGP routes", hang);
  signals.fire("SIGTERM");
  await timers.settle(shutdown.done);
  const report = await shutdown.done;
  assertEquals(report.steps.map((s) => [s.outcome, s.ms]), [
    ["timed out", 2000],
    ["timed out", 2000],
    ["timed out", 1000],
    ["skipped", 0],
  ]);
  assertEquals(report.ms, 5000);
});

Deno.test("Shutdown exits at once on a second signal with 128 + the signal number", async () => {
  const { shutdown, signals, timers, exits } = setup();
  shutdown.add("withdraw BGP routes", () => new Promise<void>(() => {}));
  signals.fire("SIGTERM");
  signals.fire("SIGINT");
  assertEquals(exits, [130]);
  // Once the first shutdown ends, nothing else happens.
  await timers.settle(shutdown.done);
  assertEquals(exits, [130]);
});

Deno.test("Shutdown runs once; removed and late steps are not run", async () => {
  const { shutdown, timers, lines } = setup();
  const ran: string[] = [];
  shutdown.add("a", () => {
    ran.push("a");
  });
  const remove = shutdown.add("b", () => {
    ran.push("b");
  });
  remove();
  const first = shutdown.start("one");
  const second = shutdown.start("two");
  assertEquals(first, second);
  shutdown.add("late", () => {
    ran.push("late");
  });
  await timers.settle(first);
  assertEquals(ran, ["a"]);
  assertEquals((await first).reason, "one");
  assert(lines.some((l) => l.includes("registered during shutdown")));
});

Deno.test("Shutdown listens to real signals only through its source and stops on dispose()", () => {
  const signals = new FakeSignals();
  const shutdown = new Shutdown({ signals });
  assert(signals.handler !== undefined);
  shutdown.dispose();
  assertEquals(signals.handler, undefined);
});

Deno.test("Shutdown with the real clock cancels its deadline timers", async () => {
  const signals = new FakeSignals();
  const shutdown = new Shutdown({ signals, stepTimeoutMs: 20, exit: () => {} });
  shutdown.add("quick", () => {});
  shutdown.add("hangs", () => new Promise<void>(() => {}));
  signals.fire("SIGTERM");
  const report = await shutdown.done;
  assertEquals(report.steps.map((s) => s.outcome), ["timed out", "ok"]);
  assert(report.ms < 1000, `${report.ms} ms`);
  shutdown.dispose();
});
