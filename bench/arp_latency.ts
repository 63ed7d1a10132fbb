// deno-lint-ignore-file no-console
/**
 * ARP reply latency of the responder for a VIP versus the kernel's own reply for the node's address, measured side
 * by side in one run: `scripts/deno run -A bench/arp_latency.ts [--requests 200]` (root; builds its own lab).
 *
 * The responder runs as its own process in node1's namespace (bench/arp_responder_process.ts), as the daemon would;
 * the client sends with the real arping, alternating VIP and node address in rounds so that load on the machine
 * hits both alike. arping's RTT is from packet timestamps, so it is wire to wire on the client's veth.
 * Goal (issue 4): the VIP's median within 1.5x of the kernel's.
 * @module
 */
import { arping, createLab, labSkipReason, toolSkipReason } from "../tests/lab/mod.ts";

const skip = labSkipReason() ?? toolSkipReason("arping");
if (skip !== undefined) {
  console.log(`bench/arp_latency.ts skipped: ${skip}`);
  Deno.exit(0);
}

const requestsFlag = Deno.args.indexOf("--requests");
const REQUESTS = requestsFlag >= 0 ? Number(Deno.args[requestsFlag + 1]) : 200;
const ROUNDS = 4;
const VIP = "198.51.100.200";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    n: sorted.length,
    min: sorted[0]!,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean,
  };
}

await using lab = await createLab({ nodes: 1 });
const node = lab.nodes[0]!;
const script = new URL("./arp_responder_process.ts", import.meta.url).pathname;
const child = lab.spawn(node, [Deno.execPath(), "run", "-A", script, "--interface", node.iface, "--vip", VIP]);
await child.waitForOutput(/"ready":true/, 30_000);

const rtts: Record<"vip" | "kernel", number[]> = { vip: [], kernel: [] };
const target = { vip: VIP, kernel: node.ipv4 };
// Warm up both paths (JIT, neighbour entries), then measure in alternating rounds.
for (const which of ["vip", "kernel"] as const) {
  await arping(lab, lab.client, target[which], { count: 10, intervalMs: 10 });
}
const perRound = Math.ceil(REQUESTS / ROUNDS);
let lost = { vip: 0, kernel: 0 };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? (["vip", "kernel"] as const) : (["kernel", "vip"] as const);
  for (const which of order) {
    const result = await arping(lab, lab.client, target[which], { count: perRound, intervalMs: 10 });
    rtts[which].push(...result.replies.map((r) => r.rttMs * 1000));
    lost = { ...lost, [which]: lost[which] + perRound - result.replies.length };
  }
}
child.kill("SIGTERM");
await child.exited;

const vip = summary(rtts.vip);
const kernel = summary(rtts.kernel);
const f = (n: number) => n.toFixed(1).padStart(8);
console.log(`ARP reply latency, µs (arping from the client, ${ROUNDS} alternating rounds, lab ${lab.id})`);
console.log("target                     replies  lost      min   median      p90      p99     mean");
console.log(
  `VIP (metallite responder)  ${String(vip.n).padStart(7)} ${String(lost.vip).padStart(5)} ${f(vip.min)} ${
    f(vip.median)
  } ${f(vip.p90)} ${f(vip.p99)} ${f(vip.mean)}`,
);
console.log(
  `node address (kernel)      ${String(kernel.n).padStart(7)} ${String(lost.kernel).padStart(5)} ${f(kernel.min)} ${
    f(kernel.median)
  } ${f(kernel.p90)} ${f(kernel.p99)} ${f(kernel.mean)}`,
);
console.log(
  `ratio VIP/kernel: median ${(vip.median / kernel.median).toFixed(2)}x, p99 ${
    (vip.p99 / kernel.p99).toFixed(2)
  }x (goal: median ≤ 1.5x)`,
);
