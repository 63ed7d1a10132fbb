import { parseArgs } from "node:util";
import { assertEquals } from "../../tests/assert.ts";
import { type FlagSpec, readFlags } from "./_args.ts";

const SPECS = {
  pool: { type: "string", multiple: true },
  "node-name": { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, FlagSpec>;

function nodeParse(args: string[]): { ok: true; values: Record<string, unknown> } | { ok: false } {
  try {
    const { values } = parseArgs({ args, options: SPECS, strict: true, allowPositionals: false });
    return { ok: true, values: { ...values } };
  } catch {
    return { ok: false };
  }
}

Deno.test("readFlags() accepts and refuses what node:util parseArgs (strict, no positionals) did", async (t) => {
  const cases: string[][] = [
    [],
    ["--pool", "192.0.2.0/28"],
    ["--pool=192.0.2.0/28", "--pool", "2001:db8::/120"],
    ["--pool="],
    ["--pool=a=b"],
    ["--node-name", "a", "--node-name", "b"],
    ["--help"],
    ["-h"],
    ["-o", "json"],
    ["-ojson"],
    ["--output", "json", "-h"],
    ["--", "--pool", "x"],
    ["--pool", "x", "--"],
    ["--pool", "x", "--", "y"],
    ["--pool"],
    ["--pool", "-x"],
    ["--pool", "--help"],
    ["--pool=-x"],
    ["--help=yes"],
    ["--bogus"],
    ["--bogus=1"],
    ["-x"],
    ["positional"],
    ["-"],
    ["--pool", "x", "extra"],
    ["--__proto__"],
    ["--toString"],
  ];
  for (const args of cases) {
    await t.step(JSON.stringify(args), () => {
      const ours = readFlags(args, SPECS);
      const theirs = nodeParse(args);
      assertEquals(ours.ok, theirs.ok, ours.ok ? "we accept what parseArgs refused" : `we refuse: ${ours.error}`);
      if (ours.ok && theirs.ok) assertEquals({ ...ours.values }, theirs.values);
    });
  }
});

Deno.test("readFlags() says what was wrong in one line", async (t) => {
  const cases: [string[], string][] = [
    [["--bogus"], "Unknown option '--bogus'"],
    [["--bogus=1"], "Unknown option '--bogus'"],
    [["-x"], "Unknown option '-x'"],
    [["--pool"], "Option '--pool <value>' needs a value"],
    [
      ["--pool", "-x"],
      "Option '--pool <value>' needs a value, not '-x' (write --pool=-x for a value starting with a dash)",
    ],
    [["-o"], "Option '-o <value>' needs a value"],
    [["--help=yes"], "Option '--help' takes no value"],
    [["-hx"], "Option '-h' takes no value"],
    [["stray"], "Unexpected argument 'stray': this command takes only flags"],
    [["--", "stray"], "Unexpected argument 'stray': this command takes only flags"],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      assertEquals(readFlags(args, SPECS), { ok: false, error: message });
    });
  }
});

Deno.test("readFlags() collects repeatable flags in order and keeps the last value of the others", () => {
  assertEquals(readFlags(["--pool", "a", "--node-name=n1", "--pool=b", "--node-name", "n2", "-h"], SPECS), {
    ok: true,
    values: { pool: ["a", "b"], "node-name": "n2", help: true },
  });
});
