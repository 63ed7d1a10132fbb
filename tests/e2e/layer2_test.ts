// deno-lint-ignore-file no-console -- tests say why they skip and print measured figures
/**
 * Layer 2 end to end: three real metallite processes in a namespace lab answer ARP for Services' addresses, exactly
 * one node per address (MetalLB's sha256 order), and the address moves when its owner dies.
 */
import { createHash } from "node:crypto";
import { assertEquals, waitFor } from "../assert.ts";
import { arping, labSkipReason, toolSkipReason } from "../lab/mod.ts";
import { BUNDLE_PATH } from "../../scripts/runtime.ts";
import { createCluster } from "./cluster.ts";

const skip = labSkipReason() ?? toolSkipReason("arping") ??
  (await Deno.stat(BUNDLE_PATH).then(() => undefined, () => `${BUNDLE_PATH} is missing (run deno task bundle)`));
if (skip) console.error(`skipping Layer 2 end-to-end tests: ${skip}`);

/** Nodes in MetalLB's election order for an address (sha256(node + "#" + ip), byte order). */
function electionOrder(nodes: string[], ip: string): string[] {
  const key = (n: string) => createHash("sha256").update(`${n}#${ip}`).digest("hex");
  return [...nodes].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

Deno.test({
  name: "each VIP is answered by exactly its elected node, and moves when that node dies",
  ignore: skip !== undefined,
}, async (t) => {
  await using cluster = await createCluster({
    nodes: 3,
    args: ["--pool", "198.51.100.200-210", "--log-level", "debug"],
  });
  const { lab } = cluster;
  const macOf = new Map(lab.nodes.map((n) => [n.name, n.mac]));
  const names = lab.nodes.map((n) => n.name);
  const vips = ["198.51.100.200", "198.51.100.201", "198.51.100.202", "198.51.100.203"];
  vips.forEach((ip, i) => cluster.createService({ name: `web${i}`, ips: [ip] }));

  const results: boolean[] = [];
  try {
    results.push(
      await t.step("every VIP answered by its owner's MAC only", async () => {
        for (const ip of vips) {
          const owner = electionOrder(names, ip)[0]!;
          // At a cold start each instance may answer until it has heard the others (one start-up window): wait
          // for the owner to answer alone, then check that it keeps doing so.
          await waitFor(`${ip} answered by ${owner} alone`, async () => {
            const r = await arping(lab, lab.client, ip, { count: 2 });
            return r.macs.length === 1 && r.macs[0] === macOf.get(owner);
          }, { timeoutMs: 20_000, intervalMs: 200 });
          const again = await arping(lab, lab.client, ip, { count: 3 });
          assertEquals(again.macs, [macOf.get(owner)!], `${ip} must stay answered by ${owner} alone`);
        }
      }),
    );

    results.push(
      await t.step("SIGKILL of an owner moves its VIPs to the next node in the order", async () => {
        const ip = vips[0]!;
        const [first, second] = electionOrder(names, ip);
        const victim = lab.nodes.find((n) => n.name === first)!;
        const started = performance.now();
        await cluster.stopDaemon(victim, "SIGKILL");
        await waitFor(`${ip} answered by ${second}`, async () => {
          const r = await arping(lab, lab.client, ip, { count: 1, stopAfterReplies: 1 });
          return r.macs.length === 1 && r.macs[0] === macOf.get(second!) ? true : undefined;
        }, { timeoutMs: 10_000, intervalMs: 50 });
        console.error(`failover of ${ip} from ${first} to ${second}: ${Math.round(performance.now() - started)} ms`);
      }),
    );
  } finally {
    if (results.includes(false) || results.length < 2) {
      for (const [name, process] of cluster.daemons) console.error(`--- ${name}\n${process.output().slice(-6000)}`);
    }
  }
});
