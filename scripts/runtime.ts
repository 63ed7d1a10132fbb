/**
 * How the metallite program is run, in one place: the Deno permission set (read from deno.json's
 * "permissions.metallite", the single list that start, tests, the demo, benchmarks and compile share) and the V8
 * flags tuned for a long-lived daemon.
 * @module
 */

/**
 * V8 flags for the daemon; deno.json's start task repeats them and a test keeps both equal. Chosen with
 * `scripts/deno run -A bench/footprint.ts` (each flag alone against V8's defaults; one lab node; Deno 2.9.6, x86-64):
 *
 * - `--max-semi-space-size=2`: caps V8's young generation at 2 MB per semi-space (by default it grows to 16 MB).
 *   With 1,000 Services, anonymous memory fell from 135 MB to 75-79 MB in a build with bounded API requests, and the
 *   current build's RSS from 237-333 MB to 174-228 MB (in five runs); idle, within 2 MB. 1 MB saves no more (87-90 MB) and costs more GC:
 *   with 10,000 Services GC took 47% of the CPU at 1 MB against 41% at 2 MB and at 16 MB. The ARP responder's CPU
 *   under a 10,000 requests/s flood did not change (bench/arp_flood_cpu.ts: 7-8% of a core either way).
 * - `--max-old-space-size=256`: a ceiling, not a target (V8 sizes the heap from what is live): a runaway ends in a
 *   clear V8 out-of-memory exit instead of taking a 1 GB Pi down with it. At 128 MB the daemon died of V8 OOM with
 *   10,000 Services (heap in use up to 137 MB there), a crash loop instead of a slow start.
 * - `--optimize-for-size`: once API requests were bounded and the daemon trims the C heap after bursts, this is the
 *   largest remaining saving: with 1,000 Services RSS 119 -> 87 MB (anonymous 71 -> 39 MB), with 10,000 200 -> 137
 *   MB; idle unchanged (70 MB). The price is start-up CPU, paid once: 2.6 -> 3.3 s with 1,000 Services, 14 -> 26 s
 *   with 10,000 (ready 0.52 -> 0.61 s after the API server answers, still under the 1 s goal).
 *
 * - `--expose-gc`: gives the daemon's memory upkeep (src/daemon/trim.ts) a full collection before it trims the C heap,
 *   after bursts and every 30 s while idle. The ArrayBuffers that I/O leaves behind keep their memory in the C heap,
 *   and V8 collects by its own heap's growth, which an idle daemon hardly has: idle for 5 minutes, anonymous memory
 *   grew 20 -> 28 MB without it. With it, 1,000 Services 56 -> 52 MB.
 *
 * Measured and not chosen: `--single-threaded-gc` (no change); `--single-threaded` (2 threads fewer, but 192 MB with
 * 1,000 Services: no concurrent GC); `--lite-mode` (78 MB with 1,000 Services, but with 10,000 more than 44 s of
 * start-up CPU and still busy after 30 s); `--no-maglev`, `--no-turbofan`, `--max-lazy` (no memory gain);
 * `--jitless` and `--no-opt` (no memory gain, more CPU); glibc's `MALLOC_ARENA_MAX=2` (no gain: the freed memory glibc
 * keeps sits in the main arena, which only `malloc_trim` returns, and the daemon now calls it after bursts).
 */
export const V8_FLAGS: readonly string[] = [
  "--max-old-space-size=256",
  "--max-semi-space-size=2",
  "--optimize-for-size",
  "--expose-gc",
];

/**
 * Runtime flags besides the V8 ones, for `deno run` and `deno compile` alike:
 *
 * - `--no-code-cache`: V8's code cache makes a restart skip parsing, but whatever it holds is materialized on load,
 *   bytecode for functions that never run included, and kept for the life of the process (and `deno run` maps its
 *   cache database too). For a process that starts once and then runs for months that is the wrong trade: with 1,000
 *   Services RSS 89 -> 82 MB, idle 69 -> 66 MB, start-up unchanged within noise (bench/footprint.ts --part tuning).
 */
export const RUNTIME_FLAGS: readonly string[] = ["--no-code-cache"];

/** The repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Path of the bundled program that integration tests, the demo and benchmarks run. */
export const BUNDLE_PATH: string = `${ROOT}/dist/metallite.js`;

type PermissionValue = boolean | string[];

/** Reads the permission set from deno.json and turns it into `--allow-*` flags. */
export function permissionFlags(setName = "metallite"): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
  const set = config.permissions?.[setName] as Record<string, PermissionValue> | undefined;
  if (!set) throw new Error(`deno.json has no permission set "${setName}"`);
  const flags: string[] = [];
  for (const [name, value] of Object.entries(set)) {
    if (value === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(value) && value.length > 0) flags.push(`--allow-${name}=${value.join(",")}`);
  }
  return flags.sort();
}

/** The Deno executable running this script (the pinned one when started through scripts/deno). */
export function denoPath(): string {
  return Deno.execPath();
}

/** The argument list that runs the bundled program with its permissions and V8 flags: `deno <these> ARGS`. */
export function bundleCommand(): string[] {
  return [
    "run",
    "--no-prompt",
    ...RUNTIME_FLAGS,
    ...permissionFlags(),
    `--v8-flags=${V8_FLAGS.join(",")}`,
    BUNDLE_PATH,
  ];
}
