// deno-lint-ignore-file no-console
/**
 * A long fuzz run of the BGP decoder (the CI test does 5,000 iterations): random and mutated captured messages,
 * each checked against an oracle for the RFC 4271 §6 NOTIFICATION it deserves and for clean re-encoding.
 * `scripts/deno run -A bench/bgp_fuzz.ts [--iterations 1000000] [--seed N]` (the seed also comes from FUZZ_SEED).
 * Prints the throughput and stops at the first violation with the seed and iteration to replay it.
 * @module
 */
import { fuzzSeed, seededRandom } from "../src/net/testing.ts";
import { checkDecode, fuzzInput } from "../src/bgp/_fuzz.ts";
import { decodeMessage } from "../src/bgp/message.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const iterations = flag("--iterations", 1_000_000);
const seed = flag("--seed", fuzzSeed(Date.now() % 2 ** 31));
const random = seededRandom(seed);
const outcome = new Map<string, number>();
const started = performance.now();
for (let i = 0; i < iterations; i++) {
  const input = fuzzInput(random);
  const problem = checkDecode(input, random() < 0.8);
  if (problem !== undefined) {
    console.log(`FAIL at iteration ${i} with --seed ${seed}: ${problem}`);
    Deno.exit(1);
  }
  const d = decodeMessage(input);
  const key = d.ok
    ? `ok ${d.value.type}${d.value.type === "update" && d.value.treatAsWithdraw ? " (treat-as-withdraw)" : ""}`
    : `${d.error.code}/${d.error.subcode}`;
  outcome.set(key, (outcome.get(key) ?? 0) + 1);
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `bgp_fuzz: ${iterations} inputs, seed ${seed}, ${seconds.toFixed(1)} s, ${
    Math.round(iterations / seconds)
  } inputs/s, no violations`,
);
console.log("outcome                          count");
for (const [k, n] of [...outcome].sort((a, b) => b[1] - a[1])) console.log(`${k.padEnd(32)} ${n}`);
