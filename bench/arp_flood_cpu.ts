// deno-lint-ignore-file no-console
/**
 * CPU of the ARP responder under a flood of ARP requests for addresses it does not own, with and without the
 * kernel filter: `scripts/deno run -A bench/arp_flood_cpu.ts [--rate 10000] [--seconds 5]` (root; builds its own
 * lab).
 *
 * The responder runs as its own process in node1's namespace (bench/arp_responder_process.ts) owning one VIP; a
 * generator in this process sends broadcast ARP requests from the client's namespace through a raw socket (arping
 * cannot go that fast) at a fixed rate for other addresses of the LAN. The responder's CPU time (user + system, all
 * threads) comes from /proc/<pid>/stat over the window. Three filter modes are compared: the daemon's (kernel filter
 * narrowed to owned VIPs), requests only (every ARP request reaches user space), and no filter at all.
 * Goal (issue 4): under 10% of one core at 10,000 requests/s.
 * @module
 */
import { encodeArpFrame } from "../src/arp/mod.ts";
import { ETH_P_ARP, libc, PacketSocket } from "../src/net/mod.ts";
import { inNetns } from "../src/net/testing.ts";
import { createLab, type LabHost, type LabProcess, labSkipReason } from "../tests/lab/mod.ts";

const skip = labSkipReason();
if (skip !== undefined) {
  console.log(`bench/arp_flood_cpu.ts skipped: ${skip}`);
  Deno.exit(0);
}
libc();

function flag(name: string, fallback: number): number {
  const at = Deno.args.indexOf(name);
  return at >= 0 ? Number(Deno.args[at + 1]) : fallback;
}
const RATE = flag("--rate", 10_000);
const SECONDS = flag("--seconds", 5);
const VIP = "198.51.100.200";
const TICKS_PER_SECOND = 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s on Linux (getconf CLK_TCK)

function cpuTicks(pid: number): { user: number; system: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await using lab = await createLab({ nodes: 1 });
const node = lab.nodes[0]!;
const client = lab.client;
const generator = inNetns(client.netns, () => PacketSocket.open({ interface: client.iface, protocol: ETH_P_ARP }));

/** 254 requests for LAN addresses other than the VIP and the hosts, sent round-robin. */
const frames = Array.from({ length: 254 }, (_, i) => i + 1)
  .filter((n) => ![200, 100, 11].includes(n))
  .map((n) =>
    encodeArpFrame({
      operation: 1,
      destination: "ff:ff:ff:ff:ff:ff",
      senderMac: client.mac,
      senderIp: client.ipv4,
      targetMac: "00:00:00:00:00:00",
      targetIp: `198.51.100.${n}`,
    })
  );

/** Sends at RATE frames/s for `seconds`, in small batches; returns how many were sent and in how long. */
async function flood(seconds: number): Promise<{ sent: number; elapsed: number; errors: number }> {
  const start = performance.now();
  let sent = 0;
  let errors = 0;
  for (;;) {
    const elapsed = (performance.now() - start) / 1000;
    if (elapsed >= seconds) return { sent, elapsed, errors };
    const due = Math.floor(elapsed * RATE) - sent;
    for (let i = 0; i < due; i++) {
      try {
        generator.send(frames[sent % frames.length]!);
      } catch {
        errors++;
      }
      sent++;
    }
    await sleep(1);
  }
}

async function startResponder(host: LabHost, filter: string): Promise<{ child: LabProcess; pid: number }> {
  const script = new URL("./arp_responder_process.ts", import.meta.url).pathname;
  const args = ["--interface", host.iface, "--vip", VIP, "--filter", filter];
  const child = lab.spawn(host, [Deno.execPath(), "run", "-A", script, ...args]);
  const match = await child.waitForMatch(/"pid":(\d+)/, 30_000);
  return { child, pid: Number(match[1]) };
}

interface Row {
  mode: string;
  sent: number;
  rate: number;
  cpuPercent: number;
  userPercent: number;
  received: number;
  ignored: number;
}

const modes: [string, string, boolean][] = [
  ["idle (no flood), kernel filter on owned VIPs", "targets", false],
  ["kernel filter on owned VIPs (daemon)", "targets", true],
  ["kernel filter: ARP requests only", "requests", true],
  ["no kernel filter", "none", true],
];
const rows: Row[] = [];
for (const [mode, filter, flooding] of modes) {
  const { child, pid } = await startResponder(node, filter);
  await sleep(1000); // let start-up work finish before the window opens
  const before = cpuTicks(pid);
  const result = flooding
    ? await flood(SECONDS)
    : (await sleep(SECONDS * 1000), { sent: 0, elapsed: SECONDS, errors: 0 });
  const after = cpuTicks(pid);
  const user = after.user - before.user;
  const ticks = user + after.system - before.system;
  child.kill("SIGTERM");
  await child.exited;
  const stats = JSON.parse(child.stdout().trim().split("\n").at(-1) ?? "{}");
  rows.push({
    mode,
    sent: result.sent,
    rate: result.sent / result.elapsed,
    cpuPercent: (ticks / TICKS_PER_SECOND / result.elapsed) * 100,
    userPercent: (user / TICKS_PER_SECOND / result.elapsed) * 100,
    received: stats.received ?? NaN,
    ignored: stats.ignored ?? NaN,
  });
}
await generator.close();

console.log(
  `ARP responder CPU under a flood of requests for addresses it does not own (${SECONDS} s windows, lab ${lab.id})`,
);
console.log(
  "mode                                              sent    req/s   responder CPU (user)   frames read   ignored",
);
for (const r of rows) {
  console.log(
    `${r.mode.padEnd(46)} ${String(r.sent).padStart(8)} ${r.rate.toFixed(0).padStart(8)} ${
      (r.cpuPercent.toFixed(1) + "% of a core").padStart(15)
    } ${("(" + r.userPercent.toFixed(1) + "%)").padStart(7)} ${String(r.received).padStart(13)} ${
      String(r.ignored).padStart(9)
    }`,
  );
}
console.log(`goal: under 10% of one core at ${RATE} requests/s with the daemon's filter`);
