/** Running commands inside a namespace: one-shot with a deadline, or long-lived with captured output. */

/** Result of {@linkcode Lab.exec}. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed at its deadline (its code is then 124, as timeout(1) reports). */
  timedOut: boolean;
}

/** Options for {@linkcode Lab.exec}. */
export interface ExecOptions {
  /** Kill the command with SIGKILL after this long (default 30 s). */
  timeoutMs?: number;
  /** Text written to the command's stdin, which is then closed. */
  stdin?: string;
}

/** Options for {@linkcode Lab.spawn}. */
export interface SpawnOptions {
  /** Extra environment variables (the test's environment is inherited). */
  env?: Record<string, string>;
  /** Capture stdout (default "piped") or drop it. */
  stdout?: "piped" | "null";
  /** Capture stderr (default "piped"), drop it, or pass it to the test's stderr. */
  stderr?: "piped" | "null" | "inherit";
}

/** A long-lived process in a namespace, started by {@linkcode Lab.spawn}. */
export interface LabProcess {
  /** Its pid, also its process group: kill() signals the whole group. */
  pid: number;
  /** Everything captured so far, stdout and stderr interleaved as they arrived. */
  output(): string;
  /** Captured stdout only. */
  stdout(): string;
  /** Captured stderr only. */
  stderr(): string;
  /**
   * Resolves with the first text matching `pattern` in output() (default deadline 10 s); rejects on the deadline
   * or when the process exits first, with the output's tail in the message.
   */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Like waitForOutput, resolving with the whole match so capture groups can be read. */
  waitForMatch(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends a signal (default SIGTERM) to the process group; does nothing once it has exited. */
  kill(signal?: Deno.Signal): void;
  /** Resolves when the process has exited and its output is fully read. */
  exited: Promise<Deno.CommandStatus>;
  /** True once `exited` has resolved. */
  readonly hasExited: boolean;
}

const DEFAULT_WAIT_MS = 10_000;
const TAIL_CHARS = 2000;

/** Program that runs the test's own binaries in a namespace. */
export const IP = "ip";

type Waiter = { check: () => boolean };

/** The {@linkcode LabProcess} behind spawn(). */
export class SpawnedProcess implements LabProcess {
  readonly pid: number;
  readonly exited: Promise<Deno.CommandStatus>;
  readonly #child: Deno.ChildProcess;
  readonly #label: string;
  #output = "";
  #stdout = "";
  #stderr = "";
  #status: Deno.CommandStatus | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];

  constructor(netns: string, cmd: string[], options: SpawnOptions = {}) {
    if (cmd.length === 0) throw new TypeError("spawn() needs a command");
    this.#label = `${cmd.join(" ")} in ${netns}`;
    // setsid makes the command lead its own process group (it execs, keeping the pid), so kill() reaches what
    // it forks too, and Ctrl-C in a terminal reaches only the test, whose handler then cleans up.
    this.#child = new Deno.Command(IP, {
      args: ["netns", "exec", netns, "setsid", ...cmd],
      stdin: "null",
      stdout: options.stdout ?? "piped",
      stderr: options.stderr ?? "piped",
      ...(options.env ? { env: options.env } : {}),
    }).spawn();
    this.pid = this.#child.pid;
    const reads: Promise<void>[] = [];
    if ((options.stdout ?? "piped") === "piped") reads.push(this.#read(this.#child.stdout, "stdout"));
    if ((options.stderr ?? "piped") === "piped") reads.push(this.#read(this.#child.stderr, "stderr"));
    this.exited = Promise.all([this.#child.status, ...reads]).then(([status]) => {
      this.#status = status;
      this.#notify();
      return status;
    });
  }

  get hasExited(): boolean {
    return this.#status !== undefined;
  }

  async #read(stream: ReadableStream<Uint8Array>, which: "stdout" | "stderr"): Promise<void> {
    const reader = stream.getReader();
    this.#readers.push(reader);
    const decoder = new TextDecoder();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        this.#output += text;
        if (which === "stdout") this.#stdout += text;
        else this.#stderr += text;
        this.#notify();
      }
    } catch {
      // Cancelled by stop(): the output so far is all there is.
    } finally {
      reader.releaseLock();
    }
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) {
      if (waiter.check()) this.#waiters.delete(waiter);
    }
  }

  output(): string {
    return this.#output;
  }

  stdout(): string {
    return this.#stdout;
  }

  stderr(): string {
    return this.#stderr;
  }

  async waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string> {
    return (await this.waitForMatch(pattern, timeoutMs))[0];
  }

  waitForMatch(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpExecArray> {
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
    return new Promise((resolve, reject) => {
      // Settles the promise when the output matches or the process has exited; true when it did.
      const settle = (): boolean => {
        const match = re.exec(this.#output);
        if (match) resolve(match);
        else if (this.#status) {
          reject(new Error(`${this.#label} exited (code ${this.#status.code}) before printing ${re}${this.#tail()}`));
        } else return false;
        return true;
      };
      if (settle()) return;
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.#label} did not print ${re} within ${timeoutMs} ms${this.#tail()}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          if (!settle()) return false;
          clearTimeout(timer);
          return true;
        },
      };
      this.#waiters.add(waiter);
    });
  }

  #tail(): string {
    const text = this.#output.length > TAIL_CHARS ? "…" + this.#output.slice(-TAIL_CHARS) : this.#output;
    return text ? `; output:\n${text}` : "; no output";
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#status) return;
    try {
      Deno.kill(-this.pid, signal);
    } catch {
      // The group is gone already (ESRCH) or setsid has not run yet: signal the process itself.
      try {
        this.#child.kill(signal);
      } catch {
        // Already exited.
      }
    }
  }

  /** SIGTERM, then SIGKILL once `graceMs` passes; resolves when it has exited. */
  async stop(graceMs: number): Promise<void> {
    if (this.#status) return;
    this.kill("SIGTERM");
    if (await settlesWithin(this.exited, graceMs)) return;
    this.kill("SIGKILL");
    if (await settlesWithin(this.exited, graceMs)) return;
    // Something outside the group still holds the pipes open: stop reading so exited can resolve.
    for (const reader of this.#readers) reader.cancel().catch(() => {});
    await this.exited;
  }
}

/** Resolves true when `promise` settles within `ms`, else false; leaves no timer behind. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion, killing it at its deadline; it sits in `running` meanwhile, so close() can end it. */
export async function execCommand(
  program: string,
  args: string[],
  options: ExecOptions & { running?: Set<Deno.ChildProcess> } = {},
): Promise<ExecResult> {
  const child = new Deno.Command(program, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  options.running?.add(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }, options.timeoutMs ?? 30_000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(options.stdin));
        await writer.close();
      } catch {
        // The command exited without reading its input; its status tells why. Release the pipe all the same.
        await writer.abort().catch(() => {});
      }
    }
    const out = await child.output();
    const decoder = new TextDecoder();
    const stderr = decoder.decode(out.stderr);
    return {
      code: timedOut ? 124 : out.code,
      stdout: decoder.decode(out.stdout),
      stderr: timedOut ? `${stderr}lab: killed after ${options.timeoutMs ?? 30_000} ms\n` : stderr,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    options.running?.delete(child);
  }
}
