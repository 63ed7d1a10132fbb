// deno-lint-ignore-file no-console
/**
 * Allocator benchmark: 1,000 and 10,000 LoadBalancer Services in the fake API server, one big IPAddressPool, and
 * the allocator started cold in a child process (metallite's permission set and V8 flags). Measures the time until
 * every Service has its IP written, until every write is done (annotations, Events, pool status), the child's CPU
 * time per allocation, its resident memory and the heap its caches take, and how each grows from 1k to 10k. A
 * baseline in the same run times a trivial loop writing the same number of status PUTs (the API server's floor),
 * and a restart shows the cost of syncing and verifying a converged cluster (which must write nothing).
 *
 *   scripts/deno run -A bench/alloc.ts            # prints a table; no assertions
 *
 * Knobs (environment): BENCH_SIZES=1000,10000; BENCH_INFLIGHT=32 (writes in flight, also the baseline's);
 * BENCH_V8_FLAGS=--max-semi-space-size=16 (added to the daemon's V8 flags); BENCH_PROFILE_DIR=dir (CPU profile
 * of the allocator child); BENCH_DEBUG=1 (the child's own report on stderr).
 *
 * The child roles (`--child allocator|baseline KUBECONFIG N`) are this same file.
 * @module
 */
import { buildModel } from "../src/config/build.ts";
import type { Model } from "../src/config/model.ts";
import { type Allocator, startAllocator } from "../src/daemon/allocator.ts";
import { createKubeApi, loadKubeConfig, type Service } from "../src/k8s/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { Registry } from "../src/metrics/mod.ts";
import { permissionFlags, V8_FLAGS } from "../scripts/runtime.ts";
import { type FakeApiServer, type RequestRecord, startFakeApiServer } from "../tests/fake_apiserver/mod.ts";

const NAMESPACE = "metallb-system";
// Addresses only ever appear as strings in the fake API server: no packet is sent anywhere.
const POOL = "10.200.0.0/16";
const SIZES = (Deno.env.get("BENCH_SIZES") ?? "1000,10000").split(",").map(Number);
// The allocator's default; BENCH_INFLIGHT=16 or 64 to compare.
const CONCURRENCY = Number(Deno.env.get("BENCH_INFLIGHT") ?? 32);
const CLK_TCK = 100;

interface ChildReport {
  heapBeforeMb: number;
  heapAfterMb: number;
  readyMs: number;
  idleMs: number;
  passes: number;
  writes: number;
  failures: number;
}

// ---------------------------------------------------------------------------------------------------- child roles

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function heapMb(): number {
  gc();
  return Deno.memoryUsage().heapUsed / 2 ** 20;
}

async function childAllocator(kubeconfig: string): Promise<void> {
  const started = performance.now();
  const heapBeforeMb = heapMb();
  const api = createKubeApi({ config: await loadKubeConfig({ path: kubeconfig }) });
  const pools = api.ipAddressPools.informer({ namespace: NAMESPACE });
  let model: Model | undefined;
  let allocator: Allocator | undefined = undefined;
  pools.onChange(() => {
    if (pools.hasSynced()) model = buildModel({ cluster: pools.list(), namespace: NAMESPACE });
    allocator?.poke();
  });
  pools.start();
  await pools.synced();
  model = buildModel({ cluster: pools.list(), namespace: NAMESPACE });
  allocator = startAllocator({
    api,
    namespace: NAMESPACE,
    nodeName: "bench-node",
    model: () => model,
    log: silentLogger,
    registry: new Registry(),
    maxInFlight: CONCURRENCY,
  });
  let readyMs = 0;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (!readyMs && allocator.ready()) readyMs = performance.now() - started;
    const c = allocator.controller;
    if (allocator.isLeader() && readyMs && c.stats.passes > 0 && c.idle) break;
  }
  const idleMs = performance.now() - started;
  const stats = allocator.controller.stats;
  const report: ChildReport = {
    heapBeforeMb,
    heapAfterMb: heapMb(),
    readyMs,
    idleMs,
    passes: stats.passes,
    writes: stats.writes,
    failures: stats.failures,
  };
  console.log(JSON.stringify(report));
  // Wait for the parent's word, so that it can read /proc of a live process first.
  await Deno.stdin.read(new Uint8Array(1));
  await allocator.stop();
  await pools.stop();
  api.close();
}

async function childBaseline(kubeconfig: string, count: number): Promise<void> {
  const api = createKubeApi({ config: await loadKubeConfig({ path: kubeconfig }) });
  const { items } = await api.services.list({ namespace: "default" });
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const svc = items[next]!;
      const ip = `10.200.${next >> 8}.${next & 255}`;
      next++;
      await api.services.updateStatus({ ...svc, status: { loadBalancer: { ingress: [{ ip }] } } });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  console.log(JSON.stringify({ ms: performance.now() - started, count: Math.min(count, items.length) }));
  api.close();
}

// ---------------------------------------------------------------------------------------------------- parent

function procStat(pid: number | "self"): { cpuMs: number; rssMb: number; hwmMb: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command: state is [0], so utime (14th overall) is [11] and stime [12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { cpuMs: (ticks * 1000) / CLK_TCK, rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
}

async function preload(server: FakeApiServer, count: number): Promise<void> {
  server.create("ipaddresspools", {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name: "bench", namespace: NAMESPACE },
    spec: { addresses: [POOL] },
  });
  for (let i = 0; i < count; i++) {
    server.create<Service>("services", {
      metadata: { name: `svc-${String(i).padStart(5, "0")}`, namespace: "default", labels: { app: `app-${i}` } },
      spec: { type: "LoadBalancer", selector: { app: `app-${i}` }, ports: [{ port: 80, protocol: "TCP" }] },
    });
    // Yield now and then so the server's timers (bookmarks) are not starved.
    if (i % 2000 === 1999) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

function spawnChild(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...permissionFlags(),
      `--v8-flags=${[...V8_FLAGS, ...(Deno.env.get("BENCH_V8_FLAGS")?.split(",") ?? []), "--expose-gc"].join(",")}`,
      ...(Deno.env.get("BENCH_PROFILE_DIR") && args[0] === "allocator"
        ? ["--cpu-prof", `--cpu-prof-dir=${Deno.env.get("BENCH_PROFILE_DIR")}`]
        : []),
      new URL(import.meta.url).pathname,
      "--child",
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0] ?? "";
}

async function finish(child: Deno.ChildProcess): Promise<void> {
  const writer = child.stdin.getWriter();
  await writer.write(new Uint8Array([10]));
  await writer.close();
  await child.stdout.cancel().catch(() => {});
  const status = await child.status;
  if (!status.success) throw new Error(`benchmark child exited with ${status.code}`);
}

interface Run {
  count: number;
  baselineMs: number;
  ipsMs: number;
  idleMs: number;
  readyMs: number;
  cpuMs: number;
  serverCpuMs: number;
  rssMb: number;
  hwmMb: number;
  cacheHeapMb: number;
  requests: number;
  restartMs: number;
  restartWrites: number;
  restartCpuMs: number;
}

async function baseline(count: number): Promise<number> {
  const server = await startFakeApiServer({ watchHistory: 50_000 });
  try {
    await preload(server, count);
    const child = spawnChild(["baseline", server.kubeconfigPath, String(count)]);
    const line = JSON.parse(await firstLine(child)) as { ms: number };
    await finish(child);
    return line.ms;
  } finally {
    await server.close();
  }
}

async function allocatorRun(count: number, baselineMs: number): Promise<Run> {
  const server = await startFakeApiServer({ watchHistory: 50_000 });
  try {
    await preload(server, count);
    const written = new Set<string>();
    let unanswered: RequestRecord[] = [];
    let scanned = 0;
    const serverCpu0 = procStat("self").cpuMs;
    const t0 = performance.now();
    const child = spawnChild(["allocator", server.kubeconfigPath]);
    let ipsMs = 0;
    const reportLine = firstLine(child);
    let report: ChildReport | undefined;
    reportLine.then((line) => report = JSON.parse(line) as ChildReport);
    while (report === undefined || ipsMs === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      // A record is logged when the request arrives and gets its status when answered: keep the unanswered.
      const log = server.requests;
      for (; scanned < log.length; scanned++) {
        const r = log[scanned]!;
        if (r.resource === "services" && r.subresource === "status" && r.name) unanswered.push(r);
      }
      unanswered = unanswered.filter((r) => {
        if (r.status === 200) written.add(r.name!);
        return r.status === 0;
      });
      if (!ipsMs && written.size >= count) ipsMs = performance.now() - t0;
    }
    const idleMs = performance.now() - t0;
    const proc = procStat(child.pid);
    const serverCpuMs = procStat("self").cpuMs - serverCpu0;
    const requests = server.requests.length;
    await finish(child);
    const missing = server.list("services", "default").filter((s) => !(s.status?.loadBalancer?.ingress?.length > 0));
    if (missing.length > 0) throw new Error(`${missing.length} Services have no IP`);

    // Restart: a fresh process over the converged cluster; it must sync, verify and write nothing.
    const mark = server.requests.length;
    const t1 = performance.now();
    const again = spawnChild(["allocator", server.kubeconfigPath]);
    JSON.parse(await firstLine(again));
    const restartMs = performance.now() - t1;
    const restartCpuMs = procStat(again.pid).cpuMs;
    const restartWrites = server.requests.slice(mark).filter((r) =>
      r.resource !== "leases" && ["create", "update", "patch", "delete"].includes(r.verb)
    ).length;
    await finish(again);
    const r = report!;
    if (Deno.env.get("BENCH_DEBUG")) {
      console.error(count, r);
    }
    return {
      count,
      baselineMs,
      ipsMs,
      idleMs,
      readyMs: r.readyMs,
      cpuMs: proc.cpuMs,
      serverCpuMs,
      rssMb: proc.rssMb,
      hwmMb: proc.hwmMb,
      cacheHeapMb: r.heapAfterMb - r.heapBeforeMb,
      requests,
      restartMs,
      restartWrites,
      restartCpuMs,
    };
  } finally {
    await server.close();
  }
}

function table(runs: Run[]): string {
  const rows: [string, (r: Run) => number, string][] = [
    [`baseline: trivial loop, status PUTs (${CONCURRENCY} in flight)`, (r) => r.baselineMs, "ms"],
    ["cold start → every IP written (incl. process start)", (r) => r.ipsMs, "ms"],
    ["cold start → all writes done (annotations, Events, pool)", (r) => r.idleMs, "ms"],
    ["  of which: start, LIST and sync (child's own clock)", (r) => r.readyMs, "ms"],
    ["allocator CPU (user+sys) until idle", (r) => r.cpuMs, "ms"],
    ["allocator CPU per allocation", (r) => r.cpuMs / r.count, "ms"],
    ["fake API server CPU meanwhile", (r) => r.serverCpuMs, "ms"],
    ["allocator resident memory at idle", (r) => r.rssMb, "MB"],
    ["allocator peak resident memory", (r) => r.hwmMb, "MB"],
    ["heap of caches + controller (after GC)", (r) => r.cacheHeapMb, "MB"],
    ["API requests served (all clients)", (r) => r.requests, ""],
    ["restart over converged cluster → idle", (r) => r.restartMs, "ms"],
    ["restart: allocator CPU", (r) => r.restartCpuMs, "ms"],
    ["restart: writes (must be 0)", (r) => r.restartWrites, ""],
  ];
  const head = ["measure", ...runs.map((r) => `${r.count.toLocaleString("en")} Services`), "growth ×"];
  const lines = rows.map(([name, get, unit]) => {
    const values = runs.map((r) =>
      `${get(r).toFixed(unit === "" ? 0 : unit === "MB" ? 1 : 2)}${unit ? " " + unit : ""}`
    );
    const first = get(runs[0]!);
    const last = get(runs[runs.length - 1]!);
    const growth = first > 0 ? (last / first).toFixed(1) : "-";
    return [name, ...values, growth];
  });
  const all = [head, ...lines];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const fmt = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ");
  return [fmt(head), widths.map((w) => "-".repeat(w)).join("-|-"), ...lines.map(fmt)].join("\n");
}

async function main(): Promise<void> {
  const [flag, role, kubeconfig, count] = Deno.args;
  if (flag === "--child") {
    if (role === "allocator") return await childAllocator(kubeconfig!);
    if (role === "baseline") return await childBaseline(kubeconfig!, Number(count));
    throw new Error(`unknown child role ${role}`);
  }
  console.log(
    `allocator benchmark: ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, ` +
      `Deno ${Deno.version.deno}, pool ${POOL}, ${CONCURRENCY} writes in flight`,
  );
  const runs: Run[] = [];
  for (const count of SIZES) {
    const base = await baseline(count);
    if (Deno.env.get("BENCH_DEBUG")) console.error("baseline", count, base);
    runs.push(await allocatorRun(count, base));
  }
  console.log(table(runs));
  const big = runs[runs.length - 1]!;
  console.log(
    `\ngoal: ${big.count} Services written in under 10 s: ${(big.ipsMs / 1000).toFixed(2)} s ` +
      `(${big.ipsMs < 10_000 ? "met" : "NOT met"}); cache heap under 40 MB: ${big.cacheHeapMb.toFixed(1)} MB ` +
      `(${big.cacheHeapMb < 40 ? "met" : "NOT met"})`,
  );
}

await main();
