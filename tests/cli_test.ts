// deno-lint-ignore-file no-console -- tests say why they skip
/**
 * Runs the bundled program (dist/metallite.js, the artifact we ship as one file) exactly as users and the other
 * integration tests do, with the shared permission set and V8 flags.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { BUNDLE_PATH, bundleCommand, permissionFlags, ROOT, RUNTIME_FLAGS, V8_FLAGS } from "../scripts/runtime.ts";
import { VERSION } from "../src/version.ts";

async function metallite(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), { args: [...bundleCommand(), ...args], stdin: "null" })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const bundleMissing = await Deno.stat(BUNDLE_PATH).then(() => false, () => true);
if (bundleMissing) console.error(`skipping bundle tests: ${BUNDLE_PATH} is missing (run deno task bundle)`);

Deno.test({ name: "metallite --help prints usage and exits 0", ignore: bundleMissing }, async () => {
  const r = await metallite("--help");
  assertEquals(r.code, 0);
  assertStringIncludes(r.stdout, "metallite [run] [flags]");
  assertStringIncludes(r.stdout, "--pool RANGE");
});

Deno.test(
  { name: "metallite version prints the version; a leading -- is dropped", ignore: bundleMissing },
  async () => {
    for (const args of [["version"], ["--", "version"]]) {
      const r = await metallite(...args);
      assertEquals(r.code, 0);
      assertMatch(r.stdout, new RegExp(`^metallite ${VERSION.replaceAll(".", "\\.")} \\(deno 2\\.9\\.`));
    }
  },
);

Deno.test(
  { name: "metallite exits 2 with one line for a bad flag and starts nothing", ignore: bundleMissing },
  async () => {
    for (const args of [["--pool", "10.0.0.9-3"], ["--frobnicate"], ["--asn", "x"]]) {
      const r = await metallite(...args);
      assertEquals(r.code, 2, args.join(" "));
      assertEquals(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assertMatch(lines[0]!, /^metallite: /);
    }
  },
);

Deno.test("deno.json's start task uses the shared permission set, runtime flags and V8 flags", () => {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
  const start: string = config.tasks.start;
  const flags = start.split(" ").filter((w) => w.startsWith("--allow-")).sort();
  assertEquals(flags, permissionFlags());
  for (const flag of RUNTIME_FLAGS) assert(start.split(" ").includes(flag), start);
  assert(start.includes(`--v8-flags=${V8_FLAGS.join(",")}`), start);
  assertEquals(config.version, VERSION);
});

Deno.test({
  name:
    "the bundle is minified ASCII: V8 keeps a program's source for life, at two bytes a character if one is not Latin-1",
  ignore: bundleMissing,
}, () => {
  const source = Deno.readFileSync(BUNDLE_PATH);
  const offending = source.findIndex((byte) => byte > 0x7f);
  assertEquals(
    offending,
    -1,
    `non-ASCII byte in ${BUNDLE_PATH} near: ${
      new TextDecoder().decode(source.slice(Math.max(0, offending - 60), offending + 20))
    }`,
  );
  // Node compatibility is not loaded at start-up: no static node: import (deno bundle adds node:module's
  // createRequire as soon as a CommonJS package is bundled); BGP imports node:net on its first session.
  const text = new TextDecoder().decode(source);
  assertEquals([...text.matchAll(/from\s*"node:[a-z_/]+"|require\("node:|"node:module"/g)].map((m) => m[0]), []);
  // deno task bundle --minify: the bundle keeps no comments (about half of the unminified source).
  assert(!text.includes("@module"), "the bundle is not minified");
});
