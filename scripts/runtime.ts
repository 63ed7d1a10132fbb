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
 * - `--max-semi-space-size=1`: caps V8's young generation at 1 MB per semi-space (by default it grows to 16 MB).
 *   With 1,000 Services it took 20-45 MB off the resident set of the current build (237 -> 194 MB) and 58 MB off a
 *   build with bounded API requests (157 -> 99 MB); idle, ~2 MB. Start-up and reconcile CPU stayed within the noise,
 *   and so did the ARP responder's CPU under a 10,000 requests/s flood (bench/arp_flood_cpu.ts: 7-8% of a core either
 *   way): the hot paths allocate little.
 * - `--max-old-space-size=128`: a ceiling, not a target (V8 sizes the heap from what is live): a runaway ends in a
 *   clear V8 out-of-memory exit instead of eating a 1 GB Pi. A build with bounded API requests peaks at ~60 MB of heap
 *   with 10,000 Services; raising the ceiling does not rescue the current build there (it survives at 256 MB, but
 *   its RSS peaks at 1 GB).
 *
 * Measured and not chosen: `--single-threaded-gc` (no change); `--single-threaded` (2 threads fewer, but 410 MB with
 * 1,000 Services: no concurrent GC); `--optimize-for-size` and `--lite-mode` (160 and 144 MB with 1,000 Services, but
 * +30% and +85% start-up CPU, and with the semi-space cap and a malloc_trim nothing is left to gain); `--jitless` and
 * `--no-opt` (no memory gain, more CPU); glibc's `MALLOC_ARENA_MAX=2` (no gain: the freed memory glibc keeps sits in
 * the main arena, which only `malloc_trim` returns: 192 -> 125 MB with 1,000 Services).
 */
export const V8_FLAGS: readonly string[] = ["--max-old-space-size=128", "--max-semi-space-size=1"];

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
  return ["run", "--no-prompt", ...permissionFlags(), `--v8-flags=${V8_FLAGS.join(",")}`, BUNDLE_PATH];
}
