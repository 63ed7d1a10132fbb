/**
 * How the metallite program is run, in one place: the Deno permission set (read from deno.json's
 * "permissions.metallite", the single list that start, tests, the demo, benchmarks and compile share) and the V8
 * flags tuned for a long-lived daemon.
 * @module
 */

/** V8 flags for the daemon; deno.json's start task repeats them and a test keeps both equal. */
export const V8_FLAGS: readonly string[] = ["--max-old-space-size=128"];

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
