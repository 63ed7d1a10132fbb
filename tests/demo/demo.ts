// deno-lint-ignore-file no-console -- the demo talks to its user on the terminal
/**
 * The demo (`npm run demo`, or `scripts/deno task demo` once set up): a namespace lab with three nodes, a client and
 * the fake API server as the stand-in cluster; three real metallite instances started with the quick-start flags;
 * three Services that get addresses from the pool; a live table of VIP → owner as the client sees it (arping); then
 * the owner of the first VIP is killed and the measured failover is shown. Everything is removed at the end.
 * Needs root (network namespaces, raw sockets).
 * @module
 */
import { arping, labSkipReason, toolSkipReason } from "../lab/mod.ts";
import { BUNDLE_PATH } from "../../scripts/runtime.ts";
import { type Cluster, createCluster } from "../e2e/cluster.ts";
import { waitFor } from "../assert.ts";

const POOL = "198.51.100.200-210";
const SERVICES = ["web", "grafana", "home-assistant"];

function line(text = ""): void {
  console.log(text);
}

async function ownerTable(cluster: Cluster): Promise<{ service: string; vip: string; owner: string; ms: number }[]> {
  const byMac = new Map(cluster.lab.nodes.map((n) => [n.mac, n.name]));
  const rows = [];
  for (const name of SERVICES) {
    const vip = cluster.api.get("services", "default", name)?.status?.loadBalancer?.ingress?.[0]?.ip ?? "(pending)";
    let owner = "-";
    let ms = NaN;
    if (vip !== "(pending)") {
      const reply = await arping(cluster.lab, cluster.lab.client, vip, { count: 1, stopAfterReplies: 1 });
      owner = reply.replies.map((r) => byMac.get(r.mac) ?? r.mac).join(", ") || "no answer";
      ms = reply.replies[0]?.rttMs ?? NaN;
    }
    rows.push({ service: `default/${name}`, vip, owner, ms });
  }
  return rows;
}

function printTable(title: string, rows: Awaited<ReturnType<typeof ownerTable>>): void {
  line(`\n${title}`);
  line(`  ${"SERVICE".padEnd(24)} ${"VIP".padEnd(16)} ${"ANSWERED BY (arping from client)".padEnd(34)} RTT`);
  for (const r of rows) {
    const rtt = Number.isNaN(r.ms) ? "" : `${r.ms.toFixed(2)} ms`;
    line(`  ${r.service.padEnd(24)} ${r.vip.padEnd(16)} ${r.owner.padEnd(34)} ${rtt}`);
  }
}

async function demo(): Promise<string> {
  const skip = labSkipReason() ?? toolSkipReason("arping") ??
    (await Deno.stat(BUNDLE_PATH).then(() => undefined, () => `${BUNDLE_PATH} is missing (run deno task bundle)`));
  if (skip) {
    console.error(`metallite demo: cannot run here: ${skip}`);
    Deno.exit(1);
  }
  line("metallite demo: 3 nodes, 1 client and a stand-in Kubernetes API in throwaway network namespaces");
  line(`  every node runs: metallite --pool ${POOL}`);
  await using cluster = await createCluster({ nodes: 3, args: ["--pool", POOL] });
  for (const n of cluster.lab.nodes) line(`  ${n.name}: ${n.ipv4}  mac ${n.mac}`);

  for (const name of SERVICES) cluster.createService({ name, endpointNode: cluster.lab.nodes[1]!.name });
  line(`\ncreated ${SERVICES.length} Services of type LoadBalancer; waiting for addresses...`);
  await waitFor(
    "every Service to get an address",
    () => SERVICES.every((name) => cluster.api.get("services", "default", name)?.status?.loadBalancer?.ingress?.length),
    {
      timeoutMs: 30_000,
      intervalMs: 100,
    },
  );
  await waitFor(
    "every VIP to be answered",
    async () => (await ownerTable(cluster)).every((r) => r.owner !== "no answer"),
    {
      timeoutMs: 20_000,
      intervalMs: 200,
    },
  );
  const before = await ownerTable(cluster);
  printTable("VIP → owner, as the client sees it:", before);

  const first = before[0]!;
  const victim = cluster.lab.nodes.find((n) => n.name === first.owner)!;
  line(`\nkilling metallite on ${victim.name} (SIGKILL), the owner of ${first.vip}...`);
  const started = performance.now();
  await cluster.stopDaemon(victim, "SIGKILL");
  const newOwner = await waitFor(`${first.vip} to move`, async () => {
    const r = await arping(cluster.lab, cluster.lab.client, first.vip, {
      count: 1,
      stopAfterReplies: 1,
      timeoutMs: 300,
    });
    const mac = r.replies[0]?.mac;
    return mac && mac !== victim.mac ? cluster.lab.nodes.find((n) => n.mac === mac)?.name ?? mac : undefined;
  }, { timeoutMs: 15_000, intervalMs: 20 });
  const failoverMs = performance.now() - started;
  line(
    `  ${first.vip} is now answered by ${newOwner}: failover took ${
      failoverMs.toFixed(0)
    } ms (kill → client's arping sees the new MAC)`,
  );
  printTable("VIP → owner after the failover:", await ownerTable(cluster));
  line("\ncleaning up the lab...");
  return cluster.lab.id;
}

if (import.meta.main) {
  const labId = await demo();
  const list = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  const left = new TextDecoder().decode(list.stdout).split("\n").filter((l) => l.startsWith(labId));
  if (left.length) {
    console.error(`metallite demo: namespaces left behind: ${left.join(", ")}`);
    Deno.exit(1);
  }
  line("done: the lab's namespaces and processes are gone.");
}
