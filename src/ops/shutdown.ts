/**
 * Graceful shutdown: the daemon registers cleanup steps (withdraw BGP routes, stop answering ARP/NDP, release the
 * allocator Lease) as it starts parts; on SIGTERM or SIGINT they run in reverse order, each under a deadline, so
 * shutdown always finishes within a fixed budget. A second signal exits at once.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";

/** The signals that start a shutdown. */
export type ShutdownSignalName = "SIGTERM" | "SIGINT";

/** Where signals come from; injected so tests need no real signals. */
export interface SignalSource {
  /** Calls `handler` for every SIGTERM and SIGINT until the returned function is called. */
  listen(handler: (signal: ShutdownSignalName) => void): () => void;
}

/** Clock with one-shot timers, the same shape as the Kubernetes client's `Clock`; injected so tests drive time. */
export interface ShutdownClock {
  /** Milliseconds. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** A cleanup step: gets a signal that aborts when its deadline passes. */
export type ShutdownStepFn = (signal: AbortSignal) => Promise<void> | void;

/** Options for {@link Shutdown}. */
export interface ShutdownOptions {
  /** Signal source; default the process's SIGTERM and SIGINT. */
  signals?: SignalSource;
  /** Logger; default silent. */
  log?: Logger;
  /** Budget for all steps together, in ms. Default 5000. */
  totalTimeoutMs?: number;
  /** Deadline of a step that names none, in ms. Default 2000. */
  stepTimeoutMs?: number;
  /** Exits the process after a second signal; default `Deno.exit`. */
  exit?: (code: number) => void;
  /** Clock; default `performance.now` and `setTimeout`. */
  clock?: ShutdownClock;
}

/** How one step ended. */
export interface StepOutcome {
  /** The step's name. */
  name: string;
  /** "ok"; "failed" (threw); "timed out" (deadline passed, abandoned); "skipped" (no budget left). */
  outcome: "ok" | "failed" | "timed out" | "skipped";
  /** Milliseconds it took. */
  ms: number;
  /** The error's message when it failed. */
  error?: string;
}

/** What a shutdown did. */
export interface ShutdownReport {
  /** Why it started, e.g. "SIGTERM". */
  reason: string;
  /** Steps in the order they ran (the reverse of registration). */
  steps: StepOutcome[];
  /** Milliseconds the whole shutdown took. */
  ms: number;
}

/** Defaults of {@link ShutdownOptions}, in one place. */
export const SHUTDOWN_DEFAULTS = { totalTimeoutMs: 5000, stepTimeoutMs: 2000 } as const;

// Shell convention for "killed by signal N": 128 + N (SIGINT is 2, SIGTERM is 15).
const SIGNAL_EXIT_CODE: Readonly<Record<ShutdownSignalName, number>> = { SIGINT: 130, SIGTERM: 143 };

/** The process's own SIGTERM and SIGINT. */
export const denoSignalSource: SignalSource = {
  listen(handler) {
    const onTerm = () => handler("SIGTERM");
    const onInt = () => handler("SIGINT");
    Deno.addSignalListener("SIGTERM", onTerm);
    Deno.addSignalListener("SIGINT", onInt);
    return () => {
      Deno.removeSignalListener("SIGTERM", onTerm);
      Deno.removeSignalListener("SIGINT", onInt);
    };
  },
};

const realClock: ShutdownClock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};

interface Step {
  name: string;
  run: ShutdownStepFn;
  timeoutMs: number;
}

/**
 * Runs registered cleanup steps once, in reverse order of registration, on the first SIGTERM/SIGINT (or
 * {@link Shutdown.start}); a second signal calls `exit` at once.
 *
 * @example
 * ```ts
 * const shutdown = new Shutdown({ log });
 * shutdown.add("release allocator lease", (signal) => lease.release({ signal }));
 * shutdown.add("stop answering ARP", () => responder.close());
 * shutdown.add("withdraw BGP routes", (signal) => speaker.withdrawAll({ signal }), { timeoutMs: 3000 });
 * await shutdown.done; // the process may exit now
 * ```
 */
export class Shutdown {
  readonly #log: Logger;
  readonly #clock: ShutdownClock;
  readonly #exit: (code: number) => void;
  readonly #totalTimeoutMs: number;
  readonly #stepTimeoutMs: number;
  readonly #steps: Step[] = [];
  readonly #stop = new AbortController();
  readonly #unlisten: () => void;
  #running: Promise<ShutdownReport> | undefined;
  #resolveDone!: (report: ShutdownReport) => void;

  /** Resolves with the report when every step has ended (or was abandoned at its deadline). */
  readonly done: Promise<ShutdownReport>;

  constructor(options: ShutdownOptions = {}) {
    this.#log = (options.log ?? silentLogger).with({ part: "shutdown" });
    this.#clock = options.clock ?? realClock;
    this.#exit = options.exit ?? ((code) => Deno.exit(code));
    this.#totalTimeoutMs = options.totalTimeoutMs ?? SHUTDOWN_DEFAULTS.totalTimeoutMs;
    this.#stepTimeoutMs = options.stepTimeoutMs ?? SHUTDOWN_DEFAULTS.stepTimeoutMs;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#unlisten = (options.signals ?? denoSignalSource).listen((signal) => this.#onSignal(signal));
  }

  /** Aborts when shutdown starts: parts stop starting new work (API writes, announcements) and pending ones end. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * Registers a cleanup step; returns a function that removes it (e.g. when a BGP peer is removed from the
   * configuration). Steps added after shutdown started are not run.
   */
  add(name: string, run: ShutdownStepFn, options: { timeoutMs?: number } = {}): () => void {
    if (this.#running) {
      this.#log.warn("cleanup step registered during shutdown is not run", { step: name });
      return () => {};
    }
    const step: Step = { name, run, timeoutMs: options.timeoutMs ?? this.#stepTimeoutMs };
    this.#steps.push(step);
    return () => {
      const i = this.#steps.indexOf(step);
      if (i >= 0 && !this.#running) this.#steps.splice(i, 1);
    };
  }

  /** Starts the shutdown (as a signal would); calling it again returns the same run. */
  start(reason: string): Promise<ShutdownReport> {
    this.#running ??= this.#run(reason);
    return this.#running;
  }

  /** Stops listening for signals without running anything, for a process that ends another way. */
  dispose(): void {
    this.#unlisten();
  }

  #onSignal(signal: ShutdownSignalName): void {
    if (this.#running) {
      this.#log.warn("second signal: exiting now, cleanup unfinished", { signal });
      this.#unlisten();
      this.#exit(SIGNAL_EXIT_CODE[signal]);
      return;
    }
    void this.start(signal);
  }

  async #run(reason: string): Promise<ShutdownReport> {
    const started = this.#clock.now();
    this.#log.info("shutting down", { reason, steps: this.#steps.length, budgetMs: this.#totalTimeoutMs });
    this.#stop.abort(new Error(`shutting down (${reason})`));
    const steps: StepOutcome[] = [];
    for (const step of [...this.#steps].reverse()) {
      const left = this.#totalTimeoutMs - (this.#clock.now() - started);
      const outcome = left <= 0
        ? { name: step.name, outcome: "skipped" as const, ms: 0 }
        : await this.#runStep(step, Math.min(step.timeoutMs, left));
      steps.push(outcome);
      const fields = {
        step: outcome.name,
        ms: Math.round(outcome.ms),
        ...(outcome.error ? { error: outcome.error } : {}),
      };
      if (outcome.outcome === "ok") this.#log.debug("cleanup step done", fields);
      else this.#log.warn(`cleanup step ${outcome.outcome}`, fields);
    }
    const report = { reason, steps, ms: this.#clock.now() - started };
    this.#log.info("shutdown complete", {
      ms: Math.round(report.ms),
      failed: steps.filter((s) => s.outcome !== "ok").map((s) => s.name),
    });
    // Signals stay handled until the process exits, so a second one can still force it.
    this.#resolveDone(report);
    return report;
  }

  async #runStep(step: Step, deadlineMs: number): Promise<StepOutcome> {
    const started = this.#clock.now();
    const controller = new AbortController();
    let cancel = () => {};
    const deadline = new Promise<{ kind: "timed out" }>((resolve) => {
      cancel = this.#clock.setTimer(deadlineMs, () => {
        controller.abort(new Error(`cleanup step "${step.name}" passed its ${deadlineMs} ms deadline`));
        resolve({ kind: "timed out" });
      });
    });
    // Never rejects: a step that fails after its deadline must not become an unhandled rejection.
    const work = Promise.resolve()
      .then(() => step.run(controller.signal))
      .then(() => ({ kind: "ok" as const }), (error: unknown) => ({ kind: "failed" as const, error }));
    const result = await Promise.race([work, deadline]);
    cancel();
    const ms = this.#clock.now() - started;
    if (result.kind === "failed") {
      const error = result.error instanceof Error ? result.error.message : String(result.error);
      return { name: step.name, outcome: "failed", ms, error: error.split("\n")[0]! };
    }
    return { name: step.name, outcome: result.kind, ms };
  }
}
