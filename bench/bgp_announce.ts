// deno-lint-ignore-file no-console
/**
 * Announcement speed against BIRD, side by side with GoBGP in the same run:
 * `scripts/deno run -A bench/bgp_announce.ts [--count 10000] [--rounds 3]` (root; builds its own lab).
 *
 * BIRD 2 runs on the lab router; our speaker runs as its own process in node1 (bench/bgp_speaker_process.ts) and
 * gobgpd in node2, each with an IPv4 and an IPv6 session to BIRD. Each round times, for each speaker in turn, from
 * the moment the routes are handed over until `birdc show route protocol X count` shows them all, then withdraws
 * them and waits for zero. Ours: from just before `setRoutes()`; GoBGP: from just before `gobgp mrt inject global`
 * with a prepared MRT TABLE_DUMP_V2 file, GoBGP's fastest bulk path from the command line (one `gobgp global rib
 * add` per route would mostly time process start-ups). gobgp 3.10's `mrt inject` exits without closing its gRPC
 * stream, so the tail of a file is often lost (seen: 3 of 768 routes arrived); the bench then injects the missing
 * records again with `<count> <skip>` until gobgpd holds them all, and that time counts for GoBGP.
 *
 * Addresses: the network rules allow documentation ranges only, so the 10,000-route run uses IPv6 /128 host routes
 * from 2001:db8:a::/64; the IPv4 run uses every /32 of the three TEST-NETs (768 routes).
 * Memory: our heap (after a full GC) and RSS before and after, per route; gobgpd's RSS likewise.
 * @module
 */
import { createLab, labSkipReason, toolSkipReason } from "../tests/lab/mod.ts";
import { startBird, startGobgp, tempDir } from "../tests/bgp/_daemons.ts";

const skip = labSkipReason() ?? toolSkipReason("bird", "birdc", "gobgpd", "gobgp");
if (skip !== undefined) {
  console.log(`bench/bgp_announce.ts skipped: ${skip}`);
  Deno.exit(0);
}

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}
const COUNT6 = flag("--count", 10_000);
const COUNT4 = 768;
const ROUNDS = flag("--rounds", 3);
const DENO = new URL("../scripts/deno", import.meta.url).pathname;
const PROCESS = new URL("./bgp_speaker_process.ts", import.meta.url).pathname;

// ---- MRT (RFC 6396) TABLE_DUMP_V2 for `gobgp mrt inject` ----
/** The prefix padding records announce; they carry BIRD's AS in AS_PATH, so BIRD drops them as a loop. */
const PAD = { ipv4: "192.0.2.0/24", ipv6: "2001:db8:ffff::/128" } as const;

function mrt(
  family: "ipv4" | "ipv6",
  count: number,
  pad: number,
  nextHop: Uint8Array,
  peer: Uint8Array,
  peerAs: number,
): Uint8Array {
  const parts: number[] = [];
  const u16 = (n: number) => [n >> 8, n & 255];
  const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const record = (subtype: number, body: number[]) => {
    parts.push(...u32(Math.floor(Date.now() / 1000)), ...u16(13), ...u16(subtype), ...u32(body.length));
    for (const b of body) parts.push(b);
  };
  const v6 = family === "ipv6";
  // PEER_INDEX_TABLE: one peer; type bit 0 = IPv6 address, bit 1 = 4-octet AS.
  record(1, [
    ...peer.subarray(peer.length - 4),
    ...u16(0),
    ...u16(1),
    (v6 ? 1 : 0) | 2,
    ...peer.subarray(peer.length - 4),
    ...peer,
    ...u32(peerAs),
  ]);
  const nets = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
  for (let i = 0; i < count + pad; i++) {
    const padding = i >= count;
    const prefix = padding
      ? (v6 ? [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : [192, 0, 2])
      : v6
      ? [0x20, 0x01, 0x0d, 0xb8, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255]
      : [...nets[i >> 8]!, i & 255];
    const length = padding && !v6 ? 24 : v6 ? 128 : 32;
    // Wire-format MP_REACH_NLRI: gobgp 3.10 does not read RFC 6396 §4.3.4's shortened form (checked: it fails).
    const hop = v6
      ? [0x80, 14, 5 + 16 + 1 + 16, ...u16(2), 1, 16, ...nextHop, 0, 128, ...prefix]
      : [0x40, 3, 4, ...nextHop];
    // RFC 6396 §4.3.4: AS numbers in TABLE_DUMP_V2 AS_PATHs are 4 octets.
    const asPath = padding ? [0x40, 2, 6, 2, 1, ...u32(64501)] : [0x40, 2, 0];
    const attrs = [0x40, 1, 1, 0, ...asPath, ...hop];
    record(v6 ? 4 : 2, [...u32(i), length, ...prefix, ...u16(1), ...u16(0), ...u32(0), ...u16(attrs.length), ...attrs]);
  }
  return new Uint8Array(parts);
}

function bytesOf(ip: string): Uint8Array {
  if (!ip.includes(":")) return new Uint8Array(ip.split(".").map(Number));
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t].map((g) => parseInt(g, 16));
  return new Uint8Array(groups.flatMap((g) => [g >> 8, g & 255]));
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return Number(m?.[1] ?? 0) * 1024;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const lab = await createLab({ router: true, nodes: 2, client: false });
const dir = await tempDir();
let ours: Deno.ChildProcess | undefined;
try {
  const [n1, n2] = [lab.nodes[0]!, lab.nodes[1]!];
  const r = lab.router!;
  const bird = await startBird(
    lab,
    r,
    `
log stderr { warning, error, fatal };
router id 198.51.100.1;
protocol device { }
template bgp peer { local as 64501; connect retry time 1; }
protocol bgp ours4 from peer { neighbor ${n1.ipv4} as 64500; ipv4 { import all; export none; }; }
protocol bgp ours6 from peer { local ${r.ipv6} as 64501; neighbor ${n1.ipv6} as 64500; ipv6 { import all; export none; }; }
protocol bgp gobgp4 from peer { neighbor ${n2.ipv4} as 64502; ipv4 { import all; export none; }; }
protocol bgp gobgp6 from peer { local ${r.ipv6} as 64501; neighbor ${n2.ipv6} as 64502; ipv6 { import all; export none; }; }
`,
    dir.path,
  );
  const gobgp = await startGobgp(
    lab,
    n2,
    `
[global.config]
  as = 64502
  router-id = "${n2.ipv4}"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.51.100.1"
    peer-as = 64501
  [neighbors.transport.config]
    local-address = "${n2.ipv4}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${r.ipv6}"
    peer-as = 64501
  [neighbors.transport.config]
    local-address = "${n2.ipv6}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`,
    dir.path,
  );
  const mrt4 = `${dir.path}/v4.mrt`;
  const mrt6 = `${dir.path}/v6.mrt`;
  // Trailing padding absorbs the records gobgp's CLI loses when it exits (see the module comment).
  const padOf = (n: number) => Math.max(500, Math.ceil(n / 4));
  await Deno.writeFile(mrt4, mrt("ipv4", COUNT4, padOf(COUNT4), bytesOf(n2.ipv4), bytesOf(n2.ipv4), 64502));
  await Deno.writeFile(mrt6, mrt("ipv6", COUNT6, padOf(COUNT6), bytesOf(n2.ipv6), bytesOf(n2.ipv6), 64502));

  ours = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      n1.netns,
      DENO,
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      PROCESS,
      "--asn",
      "64500",
      "--router-id",
      n1.ipv4,
      "--peer",
      "198.51.100.1:64501",
      "--peer",
      `${r.ipv6}:64501`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = ours.stdin.getWriter();
  const reader = ours.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const ask = async (cmd: string): Promise<string> => {
    await writer.write(new TextEncoder().encode(cmd + "\n"));
    for (;;) {
      const nl = pending.indexOf("\n");
      if (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("speaker process ended");
      pending += value;
    }
  };

  const count = async (protocol: string): Promise<number> => {
    const out = await bird.birdc("show", "route", "protocol", protocol, "count");
    return Number(/(\d+) of \d+ routes/.exec(out)?.[1] ?? 0);
  };
  const waitCount = async (protocol: string, want: number, timeoutMs = 60_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await count(protocol)) === want) return Date.now();
      await new Promise((res) => setTimeout(res, 2));
    }
    throw new Error(`BIRD did not reach ${want} routes from ${protocol}: it holds ${await count(protocol)}`);
  };
  const deadline = Date.now() + 30_000;
  for (const p of ["ours4", "ours6", "gobgp4", "gobgp6"]) {
    while ((await bird.bgpState(p)) !== "Established") {
      if (Date.now() > deadline) throw new Error(`${p} did not come up`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  const results: Record<string, number[]> = {};
  const add = (k: string, v: number) => (results[k] ??= []).push(v);
  const gobgpPid = gobgp.process.pid;
  let ourMem: { before: number[]; after: number[] } | undefined;
  let gobgpMem: { before: number; after: number } | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    for (
      const [family, n, ourPeer, birdOurs, birdGobgp, file] of [
        ["ipv4", COUNT4, "198.51.100.1", "ours4", "gobgp4", mrt4],
        ["ipv6", COUNT6, r.ipv6, "ours6", "gobgp6", mrt6],
      ] as const
    ) {
      const memBefore = family === "ipv6" && round === 0
        ? (await ask("mem")).split(" ").slice(1).map(Number)
        : undefined;
      const t0 = Number((await ask(`announce ${ourPeer} ${family} ${n}`)).split(" ")[1]);
      add(`ours ${family} announce`, (await waitCount(birdOurs, n)) - t0);
      if (memBefore) ourMem = { before: memBefore, after: (await ask("mem")).split(" ").slice(1).map(Number) };
      const w0 = Number((await ask(`withdraw ${ourPeer}`)).split(" ")[1]);
      add(`ours ${family} withdraw`, (await waitCount(birdOurs, 0)) - w0);

      const rssBefore = rssOf(gobgpPid);
      const g0 = Date.now();
      let injections = 0;
      // Records arrive in order, so once a padding record is in gobgpd's RIB every real one is too; otherwise
      // send again from the first missing record (the padding follows it again).
      for (let have = 0, done = false; !done && injections < 20; injections++) {
        await gobgp.cli("mrt", "inject", "global", file, String(n + padOf(n) - have), String(have));
        done = (await gobgp.cli("global", "rib", "-a", family, PAD[family])).includes(PAD[family]);
        const summary = await gobgp.cli("global", "rib", "-a", family, "summary");
        have = Number(/Destination: (\d+)/.exec(summary)?.[1] ?? 0);
      }
      add(
        `gobgp ${family} announce`,
        (await waitCount(birdGobgp, n).catch(async (e) => {
          throw new Error(`${e.message}; gobgpd: ${await gobgp.cli("global", "rib", "-a", family, "summary")}`);
        })) - g0,
      );
      add(`gobgp ${family} injections`, injections);
      if (family === "ipv6" && round === 0) gobgpMem = { before: rssBefore, after: rssOf(gobgpPid) };
      const gw = Date.now();
      await gobgp.cli("global", "rib", "-a", family, "del", "all");
      add(`gobgp ${family} withdraw`, (await waitCount(birdGobgp, 0)) - gw);
    }
  }

  console.log(`\nBGP announcement to BIRD 2 (${ROUNDS} rounds; ms from hand-over until BIRD holds every route)`);
  console.log("what                         routes   ours median   gobgp median   ours rounds        gobgp rounds");
  for (const [family, n] of [["ipv4", COUNT4], ["ipv6", COUNT6]] as const) {
    for (const what of ["announce", "withdraw"]) {
      const o = results[`ours ${family} ${what}`]!;
      const g = results[`gobgp ${family} ${what}`]!;
      console.log(
        `${`${family} ${what}`.padEnd(28)} ${String(n).padStart(6)}   ${String(median(o)).padStart(11)}   ${
          String(median(g)).padStart(12)
        }   ${o.join(",").padEnd(18)} ${g.join(",")}`,
      );
    }
  }
  const noop: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = Date.now();
    await gobgp.cli("global");
    noop.push(Date.now() - t);
  }
  console.log(`(a no-op \`gobgp global\` takes ${median(noop)} ms here: the CLI start-up inside GoBGP's figures)`);
  console.log(
    `(gobgp mrt inject runs per announce: ${
      Object.entries(results).filter(([k]) => k.endsWith("injections")).map(([k, v]) =>
        `${k.split(" ")[1]} ${v.join(",")}`
      ).join("; ")
    })`,
  );
  if (ourMem && gobgpMem) {
    const heap = (ourMem.after[1]! - ourMem.before[1]!) / COUNT6;
    const rss = (ourMem.after[0]! - ourMem.before[0]!) / COUNT6;
    const grss = (gobgpMem.after - gobgpMem.before) / COUNT6;
    console.log(`\nMemory held per announced IPv6 route (${COUNT6} routes, first round)`);
    console.log(
      `ours:  heap ${heap.toFixed(0)} B/route (${(ourMem.before[1]! / 1e6).toFixed(1)} → ${
        (ourMem.after[1]! / 1e6).toFixed(1)
      } MB), RSS ${rss.toFixed(0)} B/route (${(ourMem.before[0]! / 1e6).toFixed(1)} → ${
        (ourMem.after[0]! / 1e6).toFixed(1)
      } MB)`,
    );
    console.log(
      `gobgp: RSS ${grss.toFixed(0)} B/route (${(gobgpMem.before / 1e6).toFixed(1)} → ${
        (gobgpMem.after / 1e6).toFixed(1)
      } MB)`,
    );
  }
  await ask("quit").catch(() => "");
} finally {
  try {
    ours?.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  await ours?.status;
  await lab.close();
  await dir.remove();
}
