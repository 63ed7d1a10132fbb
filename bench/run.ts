// deno-lint-ignore-file no-console -- a runner tells its user what ran
/**
 * `deno task bench`: builds the bundle (dist/metallite.js), then runs each benchmark as its own process, one after
 * the other, passing their output through, and ends with what ran, what was skipped and why, and what failed.
 *
 *   scripts/deno task bench [--only footprint,failover] [--quick] [--list] [--timeout-minutes 20]
 *
 * `--quick` passes each benchmark its own "fewer iterations" arguments (none for those without). A benchmark is
 * skipped, not run, when what it needs is missing here (root and network namespaces, tools such as arping or
 * BIRD), and counts as skipped when it exits with status 77 ("cannot run here"). Benchmarks print tables with a
 * reference measured in the same run; none asserts a timing, so "ok" means it ran to the end.
 * @module
 */
import { parseArgs } from "node:util";
import { ROOT } from "../scripts/runtime.ts";
import { labSkipReason, toolSkipReason } from "../tests/lab/mod.ts";

/** One benchmark script. */
interface Bench {
  /** Name for `--only`. */
  name: string;
  /** Path from the repository root. */
  file: string;
  /** Needs root and network namespaces (a lab). */
  lab: boolean;
  /** Programs it runs, besides Deno. */
  tools: string[];
  /** Its arguments under `--quick`. */
  quick: string[];
  /** Part of a plain `deno task bench`; otherwise only with `--only`. */
  byDefault: boolean;
}

const BENCHES: readonly Bench[] = [
  { name: "footprint", file: "bench/footprint.ts", lab: true, tools: ["curl"], quick: ["--quick"], byDefault: true },
  { name: "alloc", file: "bench/alloc.ts", lab: false, tools: [], quick: [], byDefault: true },
  {
    name: "failover",
    file: "bench/failover.ts",
    lab: true,
    tools: ["arping"],
    quick: ["--kills", "5"],
    byDefault: true,
  },
  {
    name: "arp_latency",
    file: "bench/arp_latency.ts",
    lab: true,
    tools: ["arping"],
    quick: ["--requests", "50"],
    byDefault: true,
  },
  {
    name: "arp_flood_cpu",
    file: "bench/arp_flood_cpu.ts",
    lab: true,
    tools: [],
    quick: ["--seconds", "2"],
    byDefault: true,
  },
  {
    name: "bgp_announce",
    file: "bench/bgp_announce.ts",
    lab: true,
    tools: ["bird", "birdc", "gobgpd", "gobgp"],
    quick: ["--count", "1000", "--rounds", "1"],
    byDefault: true,
  },
  {
    name: "bgp_fuzz",
    file: "bench/bgp_fuzz.ts",
    lab: false,
    tools: [],
    quick: ["--iterations", "100000"],
    byDefault: false,
  },
];

/** Exit status by which a benchmark says it cannot run here (automake's convention). */
const EXIT_SKIPPED = 77;

const { values } = parseArgs({
  options: {
    only: { type: "string", multiple: true },
    quick: { type: "boolean", default: false },
    list: { type: "boolean", default: false },
    "timeout-minutes": { type: "string", default: "20" },
  },
});

if (values.list) {
  for (const b of BENCHES) console.log(`${b.name.padEnd(14)} ${b.file}${b.byDefault ? "" : " (only with --only)"}`);
  Deno.exit(0);
}

const timeoutMinutes = Number(values["timeout-minutes"]);
if (!(timeoutMinutes > 0)) {
  console.error(`bench: --timeout-minutes "${values["timeout-minutes"]}" is not valid: expected a positive number`);
  Deno.exit(2);
}
const wanted = (values.only ?? []).flatMap((o) => o.split(",")).map((o) => o.trim()).filter((o) => o !== "");
const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
if (unknown.length > 0) {
  console.error(
    `bench: --only names unknown benchmarks: ${unknown.join(", ")} (known: ${BENCHES.map((b) => b.name).join(", ")})`,
  );
  Deno.exit(2);
}
const selected = wanted.length > 0
  ? BENCHES.filter((b) => wanted.includes(b.name))
  : BENCHES.filter((b) => b.byDefault);

/** How one benchmark ended. */
interface Outcome {
  bench: Bench;
  result: "ok" | "skipped" | "failed";
  detail: string;
  seconds: number;
}

/** Builds dist/metallite.js as `deno task bundle` does; the lab benchmarks run that bundle. */
async function buildBundle(): Promise<boolean> {
  const args = ["bundle", "--platform=deno", "--output=dist/metallite.js", "main.ts"];
  console.log(`bench: deno ${args.join(" ")}`);
  const { success } = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdin: "null" }).spawn().status;
  return success;
}

/** Why a benchmark cannot run here, or undefined. */
function skipReason(bench: Bench): string | undefined {
  return (bench.lab ? labSkipReason() : undefined) ??
    (bench.tools.length > 0 ? toolSkipReason(...bench.tools) : undefined);
}

/** Runs one benchmark with its output passed through; SIGTERM at the deadline, SIGKILL 30 s later. */
async function run(bench: Bench): Promise<Outcome> {
  const args = ["run", "-A", bench.file, ...(values.quick ? bench.quick : [])];
  console.log(`\n===== ${bench.name}: deno ${args.join(" ")}\n`);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdin: "null" }).spawn();
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const deadline = setTimeout(() => {
    timedOut = true;
    // SIGTERM first: the lab benchmarks delete their namespaces on it.
    child.kill("SIGTERM");
    killTimer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  }, timeoutMinutes * 60_000);
  const status = await child.status;
  clearTimeout(deadline);
  clearTimeout(killTimer);
  const seconds = (performance.now() - started) / 1000;
  if (timedOut) return { bench, result: "failed", detail: `stopped after ${timeoutMinutes} min`, seconds };
  if (status.code === EXIT_SKIPPED) return { bench, result: "skipped", detail: "it says it cannot run here", seconds };
  if (status.success) return { bench, result: "ok", detail: "", seconds };
  const how = status.signal ? `killed by ${status.signal}` : `exit status ${status.code}`;
  return { bench, result: "failed", detail: how, seconds };
}

if (!(await buildBundle())) {
  console.error("bench: building dist/metallite.js failed; no benchmark was run");
  Deno.exit(1);
}

const outcomes: Outcome[] = [];
for (const bench of selected) {
  const reason = skipReason(bench);
  if (reason !== undefined) {
    console.log(`\n===== ${bench.name}: skipped: ${reason}`);
    outcomes.push({ bench, result: "skipped", detail: reason, seconds: 0 });
    continue;
  }
  outcomes.push(await run(bench));
}

console.log(`\n===== summary${values.quick ? " (--quick)" : ""}`);
const width = Math.max(...outcomes.map((o) => o.bench.name.length));
for (const o of outcomes) {
  const time = o.result === "skipped" && o.seconds === 0 ? "" : ` in ${o.seconds.toFixed(0)} s`;
  console.log(`${o.bench.name.padEnd(width)}  ${o.result}${time}${o.detail ? `: ${o.detail}` : ""}`);
}
const count = (r: Outcome["result"]) => outcomes.filter((o) => o.result === r).length;
console.log(`${count("ok")} ran, ${count("skipped")} skipped, ${count("failed")} failed`);
Deno.exit(count("failed") > 0 ? 1 : 0);
