// deno-lint-ignore-file no-console -- a build script talks to its user on the terminal
/**
 * `deno task compile`: builds dist/metallite-x86_64 and dist/metallite-aarch64 from the bundle the tests run
 * (dist/metallite.js, built first by `deno task bundle`), with the permission set, runtime flags and V8 flags baked in. `deno compile` downloads its runtime (denort) from dl.deno.land, so this works on a user's machine with
 * internet access; where that host cannot be reached it stops at once and says why instead of hanging.
 * @module
 */
import { BUNDLE_PATH, permissionFlags, ROOT, RUNTIME_FLAGS, V8_FLAGS } from "./runtime.ts";

const TARGETS = [
  { target: "x86_64-unknown-linux-gnu", output: "dist/metallite-x86_64" },
  { target: "aarch64-unknown-linux-gnu", output: "dist/metallite-aarch64" },
] as const;
const RUNTIME_HOST = "https://dl.deno.land/";

async function runtimeReachable(): Promise<string | undefined> {
  try {
    const response = await fetch(RUNTIME_HOST, { method: "HEAD", signal: AbortSignal.timeout(5000) });
    await response.body?.cancel();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.split("\n")[0] : String(error);
  }
}

const problem = await runtimeReachable();
if (problem !== undefined) {
  console.error(
    `metallite compile: cannot reach ${RUNTIME_HOST} (${problem}); deno compile downloads its runtime (denort) from ` +
      `there, so build the binaries on a machine with internet access. Here, use "deno task bundle" for dist/metallite.js`,
  );
  Deno.exit(1);
}
{
  const { code } = await new Deno.Command(Deno.execPath(), { args: ["task", "bundle"], cwd: ROOT }).spawn().status;
  if (code !== 0) Deno.exit(code);
}
for (const { target, output } of TARGETS) {
  const args = [
    "compile",
    "--target",
    target,
    "--output",
    output,
    ...RUNTIME_FLAGS,
    ...permissionFlags(),
    `--v8-flags=${V8_FLAGS.join(",")}`,
    BUNDLE_PATH,
  ];
  console.error(`deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT }).spawn().status;
  if (code !== 0) Deno.exit(code);
}
