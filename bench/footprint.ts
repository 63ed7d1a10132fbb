// deno-lint-ignore-file no-console -- a benchmark prints its tables
/**
 * Footprint of the daemon as shipped (the bundle, its permission set and V8 flags) on one lab node against the fake
 * API server: resident memory, V8 heap, threads, idle CPU and start-up time, idle and with 100, 1,000 and 10,000
 * LoadBalancer Services, with the growth per Service; then the effect of each V8 flag (and of glibc's arena limit)
 * one at a time. The reference, measured in the same run, is the runtime's own floor: `deno run` of a script that
 * only keeps the event loop alive, with the same permissions and flags.
 *
 *   scripts/deno task bundle && scripts/deno run -A bench/footprint.ts [--quick] [--part all|sizes|tuning]
 *       [--sizes 0,100,1000,10000] [--idle-seconds 240] [--bundle other.js] [--v8-flags=--a,--b]
 *       [--deno-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"] [--timeline DIR]
 *
 * `--bundle` measures another build of the daemon (say, a candidate fix) with the same harness; `--v8-flags` runs the
 * sizes part with other V8 flags than the shipped ones, `--deno-flags` with extra `deno run` flags (a CPU profile, say),
 * and `--timeline` writes each run's API requests until ready (arrival, ms to answer) and the daemon's output to a
 * directory. The default part `all` is the sizes table plus a short comparison (V8's defaults, what ships, and what
 * ships with `--page-out off`) and takes about 25 minutes; `--part tuning` compares every flag one at a time (about
 * 20 minutes more). A run that has not settled within 60 s, or a burst still busy after 30 s, is cut short and its
 * figures marked as lower bounds (">"). Exit status 77 means "cannot run here" (not root, no namespaces, no bundle);
 * bench/run.ts reports it as skipped.
 *
 * The daemon ships with `--no-code-cache`, so its first start and every restart are alike; only the tuning row that
 * keeps V8's code cache is measured after a warm-up start that writes the cache.
 *
 * Measured per run, on a fresh daemon:
 * - ready: from spawn, and from the fake API server's first request, to the first `/readyz` 200 (curl every 10 ms
 *   inside the node's namespace) that comes after the daemon asked for the Services; and, from that first request,
 *   "listed": when the daemon has listed every Service and EndpointSlice (it then starts watching both), so that what
 *   comes between listed and ready is time the daemon's event loop could not answer;
 * - settled: every address announced (`metallite_l2_owned_addresses`) and no request to the API server for 1 s
 *   (status objects and Events written); the CPU used until then is the start-up cost;
 * - after an idle window (240 s: the daemon pages its code out about 2 s after it settles, and what it still runs
 *   faults back in over the next tens of seconds; its idle upkeep runs every 30 s, and pages out once more two minutes
 *   later, so the window's last minute starts a minute after that): RSS (VmRSS, and its anonymous part; the rest is the runtime's mapped pages) and threads
 *   from /proc/PID/status, heap from `process_heap_bytes`; the window's CPU (utime + stime from /proc/PID/stat,
 *   every thread) is the idle CPU. RSS is also sampled every 5 s, and the table gives the lowest and highest sample
 *   of the window's last minute beside the final one, so one sample's luck (just before or after an idle
 *   collection) shows;
 * - a reconcile burst: every Service's annotations changed at once; CPU until the daemon is quiet again.
 *
 * Addresses: only documentation ranges may be used on the wire, so the pools are 203.0.113.1-254 and 192.0.2.1-254
 * (508 addresses). Up to 508 Services each get an address of their own; beyond that, Services share addresses with
 * `metallb.io/allow-shared-ip` (distinct ports, as MetalLB requires): 1,000 Services use 508 addresses, 10,000 about
 * 20 Services per address. Growth per Service therefore mixes per-address costs (responder tables, gratuitous ARPs)
 * and per-Service costs (caches, elections, status objects, Events).
 *
 * The lab's API server sits behind a TLS-terminating forwarder whose sockets cannot turn Nagle off (Deno's TLS
 * connections have no setNoDelay), so a response's body waits for the client's delayed ACK: 40 ms on about half of
 * the requests, which no real API server adds. The node's LAN route gets `quickack 1` so that the daemon ACKs at
 * once and the figures are the daemon's own.
 *
 * Not a test: nothing is asserted; the goals (issue 6) are printed beside the figures.
 * @module
 */
import { parseArgs } from "node:util";
import { BUNDLE_PATH, bundleCommand, permissionFlags, RUNTIME_FLAGS, V8_FLAGS } from "../scripts/runtime.ts";
import { type Cluster, copyRuntime, createCluster } from "../tests/e2e/cluster.ts";
import { type LabHost, type LabProcess, labSkipReason, toolSkipReason } from "../tests/lab/mod.ts";

// ---------------------------------------------------------------------------------------------------- options

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    part: { type: "string", default: "all" },
    sizes: { type: "string" },
    "idle-seconds": { type: "string" },
    bundle: { type: "string" },
    "v8-flags": { type: "string" },
    "deno-flags": { type: "string" },
    timeline: { type: "string" },
  },
});
const QUICK = values.quick;
const PART = values.part;
if (!["sizes", "tuning", "all"].includes(PART)) {
  console.error(`footprint: --part "${PART}" is not valid: expected sizes, tuning or all`);
  Deno.exit(2);
}
const SIZES = (values.sizes ?? (QUICK ? "0,100,1000" : "0,100,1000,10000")).split(",").map(Number);
if (SIZES.some((n) => !Number.isInteger(n) || n < 0)) {
  console.error(`footprint: --sizes "${values.sizes}" is not valid: expected counts like 0,100,1000`);
  Deno.exit(2);
}
/** Directory for each run's start-up timeline (`--timeline`), or undefined. */
const TIMELINE_DIR = values.timeline;
const IDLE_SECONDS = Number(values["idle-seconds"] ?? (QUICK ? 5 : 240));
/** Idle window of the tuning runs (each setting runs twice, so this sets most of the tuning part's length). */
const TUNING_IDLE_SECONDS = QUICK ? 3 : 30;
const TUNING_SERVICES = 1000;
/** How long a run may take to settle, and a burst to calm down; past it the figures are lower bounds (">"). */
const SETTLE_LIMIT_MS = QUICK ? 30_000 : 60_000;
const BURST_LIMIT_MS = QUICK ? 10_000 : 30_000;
const BUNDLE = values.bundle ?? BUNDLE_PATH;

/** Exit status that bench/run.ts counts as "skipped" (automake's convention). */
const EXIT_SKIPPED = 77;

const skip = labSkipReason() ?? toolSkipReason("curl") ??
  (await Deno.stat(BUNDLE).then(() => undefined, () => `${BUNDLE} is missing (run deno task bundle)`));
if (skip) {
  console.error(`footprint benchmark: cannot run here: ${skip}`);
  Deno.exit(EXIT_SKIPPED);
}

// ---------------------------------------------------------------------------------------------------- /proc

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture metallite targets

/** What /proc says about a process at one moment. */
interface ProcSample {
  /** VmRSS in bytes. */
  rss: number;
  /** RssAnon in bytes: V8's heap, stacks, malloc arenas. The rest of RSS is file-backed: the deno binary's pages. */
  anon: number;
  /** VmHWM in bytes: the peak RSS so far. */
  peak: number;
  threads: number;
  /** utime + stime in seconds, every thread. */
  cpu: number;
}

function statusField(text: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text);
  if (!match) throw new Error(`/proc status has no ${name}`);
  return Number(match[1]);
}

function sampleProc(pid: number): ProcSample {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces or parentheses): utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rss: statusField(status, "VmRSS") * 1024,
    anon: statusField(status, "RssAnon") * 1024,
    peak: statusField(status, "VmHWM") * 1024,
    threads: statusField(status, "Threads"),
    cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND,
  };
}

function cpuSeconds(pid: number): number {
  return sampleProc(pid).cpu;
}

/**
 * The runtime the daemon and the floor run on: a private copy of this deno (see copyRuntime), as a compiled binary
 * runs alone; on the harness's own deno, the daemon's code pages would be shared with the harness.
 */
const DENO_EXE = await (async () => {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "metallite-footprint-runtime-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  return await copyRuntime(dir);
})();

/**
 * The deno process behind a spawned pid. `ip netns exec NS setsid deno …` execs in place at each step (setsid forks
 * only when its caller already leads a process group, which a spawned child does not), so it is normally the pid
 * itself; should a wrapper ever fork, the deno process is found among its descendants.
 */
function denoPidOf(pid: number): number {
  const queue = [pid];
  while (queue.length > 0) {
    const candidate = queue.shift()!;
    try {
      if (Deno.readLinkSync(`/proc/${candidate}/exe`) === DENO_EXE) return candidate;
      for (const task of Deno.readDirSync(`/proc/${candidate}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${candidate}/task/${task.name}/children`).trim();
        if (children) queue.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // Exited meanwhile.
    }
  }
  throw new Error(`no deno process under pid ${pid}`);
}

// ---------------------------------------------------------------------------------------------------- settings

/** A runtime setting to compare: V8 flags and extra environment. */
interface Setting {
  name: string;
  v8: readonly string[];
  env?: Record<string, string>;
  /** Extra `deno run` flags. */
  deno?: readonly string[];
  /** Extra daemon flags (e.g. `--page-out off`). */
  args?: readonly string[];
  /** Runtime flags (`deno run` flags that ship, RUNTIME_FLAGS in scripts/runtime.ts); default none. */
  runtime?: readonly string[];
}

const SHIPPED: Setting = {
  name: `shipped: ${[...RUNTIME_FLAGS, ...V8_FLAGS].join(" ") || "no flags"}`,
  v8: V8_FLAGS,
  runtime: RUNTIME_FLAGS,
};

/** `deno` arguments that run `script` like bundleCommand() runs the bundle, with the V8 flags of `setting`. */
function denoArgs(setting: Setting, script: string): string[] {
  const v8 = setting.v8.length > 0 ? [`--v8-flags=${setting.v8.join(",")}`] : [];
  return ["run", "--no-prompt", ...setting.deno ?? [], ...setting.runtime ?? [], ...permissionFlags(), ...v8, script];
}

// The comparison is only fair if the shipped setting runs exactly what the cluster helper runs.
if (JSON.stringify(denoArgs(SHIPPED, BUNDLE_PATH)) !== JSON.stringify(bundleCommand())) {
  throw new Error(`footprint: denoArgs() drifted from bundleCommand(): ${bundleCommand().join(" ")}`);
}

const V8_DEFAULTS: Setting = { name: "V8 defaults (no flags)", v8: [] };
/** What ships, but keeping start-up code resident. */
const PAGE_OUT_OFF: Setting = { ...SHIPPED, name: "shipped, but --page-out off", args: ["--page-out", "off"] };

/** Each setting alone (against V8's defaults), then what ships: `--part tuning`. */
const TUNING_FULL: Setting[] = [
  V8_DEFAULTS,
  { name: "--max-old-space-size=256", v8: ["--max-old-space-size=256"] },
  { name: "--max-semi-space-size=1", v8: ["--max-semi-space-size=1"] },
  { name: "--max-semi-space-size=2", v8: ["--max-semi-space-size=2"] },
  { name: "--single-threaded-gc", v8: ["--single-threaded-gc"] },
  { name: "--single-threaded", v8: ["--single-threaded"] },
  { name: "--optimize-for-size", v8: ["--optimize-for-size"] },
  { name: "--no-opt", v8: ["--no-opt"] },
  { name: "--lite-mode", v8: ["--lite-mode"] },
  { name: "--jitless", v8: ["--jitless"] },
  { name: "env MALLOC_ARENA_MAX=2", v8: [], env: { MALLOC_ARENA_MAX: "2" } },
  { name: "deno run --no-code-cache", v8: [], runtime: ["--no-code-cache"] },
  SHIPPED,
  PAGE_OUT_OFF,
  { ...SHIPPED, name: "shipped, but no --expose-gc", v8: V8_FLAGS.filter((f) => f !== "--expose-gc") },
  { ...SHIPPED, name: "shipped, but with V8's code cache", runtime: [] },
];
/** The default run's short comparison (three settings). */
const TUNING_SHORT: Setting[] = [V8_DEFAULTS, SHIPPED, PAGE_OUT_OFF];

// ---------------------------------------------------------------------------------------------------- the cluster

const POOLS = ["203.0.113.1-203.0.113.254", "192.0.2.1-192.0.2.254"];
/** Addresses in POOLS. */
const POOL_SIZE = 508;

/** The i-th address of the pools (0 … 507). */
function poolAddress(i: number): string {
  return i < 254 ? `203.0.113.${i + 1}` : `192.0.2.${i - 254 + 1}`;
}

/** Unique addresses that `count` Services use. */
function addressesFor(count: number): number {
  return Math.min(count, POOL_SIZE);
}

function serviceName(i: number): string {
  return `svc${String(i).padStart(5, "0")}`;
}

/** Preloads `count` LoadBalancer Services with addresses in status and a ready endpoint on node1. */
function preloadServices(cluster: Cluster, count: number): void {
  const node = cluster.lab.nodes[0]!.name;
  for (let i = 0; i < count; i++) {
    const name = serviceName(i);
    const ip = poolAddress(i % POOL_SIZE);
    cluster.api.create("services", {
      metadata: { name, namespace: "default", annotations: { "metallb.io/allow-shared-ip": `share-${ip}` } },
      spec: {
        type: "LoadBalancer",
        selector: { app: name },
        // Services sharing an address must not share a port.
        ports: [{ name: "p", protocol: "TCP", port: 1000 + Math.floor(i / POOL_SIZE), targetPort: 8080 }],
        externalTrafficPolicy: "Cluster",
        // As Kubernetes would give it (the allocator reads the families from these); never on the wire.
        clusterIP: `10.96.${i >> 8}.${i & 255}`,
        clusterIPs: [`10.96.${i >> 8}.${i & 255}`],
        ipFamilies: ["IPv4"],
        ipFamilyPolicy: "SingleStack",
      },
    });
    cluster.api.patchStatus("services", "default", name, { loadBalancer: { ingress: [{ ip, ipMode: "VIP" }] } });
    cluster.api.create("endpointslices", {
      metadata: { name: `${name}-abc12`, namespace: "default", labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.244.0.10"], conditions: { ready: true, serving: true }, nodeName: node }],
      ports: [{ name: "p", port: 8080, protocol: "TCP" }],
    });
  }
}

/** A one-node cluster with `services` Services preloaded; no daemon started. */
async function benchCluster(services: number): Promise<Cluster> {
  const cluster = await createCluster({ nodes: 1, start: false });
  try {
    const node = cluster.lab.nodes[0]!;
    // See the module comment: take the forwarder's Nagle delay out of the figures.
    const route = await cluster.lab.exec(node, [
      "ip",
      "route",
      "change",
      "198.51.100.0/24",
      "dev",
      node.iface,
      "proto",
      "kernel",
      "scope",
      "link",
      "src",
      node.ipv4,
      "quickack",
      "1",
    ]);
    if (route.code !== 0) throw new Error(`cannot set quickack on ${node.name}'s route: ${route.stderr.trim()}`);
    preloadServices(cluster, services);
    return cluster;
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

/** Waits `windowMs`, sampling RSS every 5 s; returns the range of the samples in the window's last minute. */
async function sampleIdleRss(pid: number, windowMs: number): Promise<{ min: number; max: number }> {
  const end = performance.now() + windowMs;
  const recent: number[] = [];
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(5000, left));
    if (end - performance.now() <= 60_000) recent.push(sampleProc(pid).rss);
  }
  return recent.length === 0 ? { min: NaN, max: NaN } : { min: Math.min(...recent), max: Math.max(...recent) };
}

/** Removes what a previous daemon wrote (status objects, Events, its Lease), so that each run starts alike. */
function clearDaemonWrites(cluster: Cluster): void {
  for (const resource of ["servicel2statuses", "events", "events.events.k8s.io", "leases"]) {
    for (const item of cluster.api.list(resource)) {
      try {
        cluster.api.delete(resource, item.metadata.namespace, item.metadata.name);
      } catch {
        // Gone already.
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- measuring

function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function metricsUrl(node: LabHost, path: string): string {
  return `http://${node.ipv4}:7472${path}`;
}

/** Polls /readyz every 10 ms from inside the node's namespace; prints `<wall-clock ns> <HTTP status>` per poll. */
function startReadyPoller(cluster: Cluster, node: LabHost): LabProcess {
  const url = metricsUrl(node, "/readyz");
  const script =
    `while :; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 ${url}); echo "$(date +%s%N) $c";` +
    ` sleep 0.01; done`;
  return cluster.lab.spawn(node, ["sh", "-c", script], { stderr: "null" });
}

/** Wall-clock ms of each poll that got a 200. */
function readyTimes(poller: LabProcess): number[] {
  const times: number[] = [];
  for (const match of poller.stdout().matchAll(/^(\d{19}) 200$/gm)) {
    times.push(Number(BigInt(match[1]!) / 1000n) / 1000);
  }
  return times;
}

const SERVICES_COLLECTION = /^\/api\/v1\/(namespaces\/[^/]+\/)?services$/;

/** Marks, from the fake API server's request log (in this process), the daemon's first request and first Service LIST. */
function watchRequests(cluster: Cluster): { first: number; servicesListed: number; stop(): void } {
  const from = cluster.api.requests.length;
  let seen = from;
  const marks = { first: NaN, servicesListed: NaN, stop: () => clearInterval(timer) };
  const timer = setInterval(() => {
    const requests = cluster.api.requests;
    // The request's own arrival time: this timer cannot run while the server is busy answering it.
    if (requests.length > from && Number.isNaN(marks.first)) marks.first = requests[from]!.receivedAt ?? wallMs();
    for (; seen < requests.length; seen++) {
      const r = requests[seen]!;
      if (r.method === "GET" && SERVICES_COLLECTION.test(r.path)) {
        marks.servicesListed = wallMs();
        clearInterval(timer);
        break;
      }
    }
  }, 1);
  return marks;
}

const WATCHED_COLLECTIONS = [
  SERVICES_COLLECTION,
  /^\/apis\/discovery\.k8s\.io\/v1\/(namespaces\/[^/]+\/)?endpointslices$/,
];

/** When the daemon started the later of its Service and EndpointSlice watches (its caches had listed): wall ms. */
function cachesListedAt(cluster: Cluster, since: number): number {
  const starts = WATCHED_COLLECTIONS.map((collection) =>
    cluster.api.requests.find((r) => r.verb === "watch" && (r.receivedAt ?? 0) >= since && collection.test(r.path))
      ?.receivedAt ?? NaN
  );
  return Math.max(...starts);
}

/** Writes one run's API requests until ready and, once it settles, the daemon's output (`--timeline`). */
function writeTimeline(
  cluster: Cluster,
  run: { setting: Setting; services: number; spawnedAt: number; firstAt: number; readyAt: number; daemon: LabProcess },
): void {
  const setting = run.setting === SHIPPED ? "" : `-${run.setting.name.replace(/[^\w.=-]+/g, "_").slice(0, 60)}`;
  const base = `${TIMELINE_DIR}/${run.services}-services${setting}`;
  const lines = ["# ms after the first request, ms to answer, method, verb, path, status"];
  for (const r of cluster.api.requests) {
    if (r.receivedAt === undefined || r.receivedAt < run.spawnedAt || r.receivedAt > run.readyAt) continue;
    const answered = r.answeredAt === undefined ? "-" : (r.answeredAt - r.receivedAt).toFixed(1);
    lines.push(`${(r.receivedAt - run.firstAt).toFixed(1)} ${answered} ${r.method} ${r.verb} ${r.path} ${r.status}`);
  }
  lines.push(`${(run.readyAt - run.firstAt).toFixed(1)} ready`);
  Deno.mkdirSync(TIMELINE_DIR!, { recursive: true });
  Deno.writeTextFileSync(`${base}.requests.txt`, lines.join("\n") + "\n");
  run.daemon.exited.finally(() => Deno.writeTextFileSync(`${base}.output.txt`, run.daemon.output()));
}

async function scrape(cluster: Cluster, node: LabHost): Promise<Map<string, number>> {
  const { stdout } = await cluster.lab.exec(node, ["curl", "-s", "--max-time", "5", metricsUrl(node, "/metrics")]);
  const metrics = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) metrics.set(match[1]!, Number(match[2]));
  }
  return metrics;
}

/** The daemon died during a run (e.g. out of memory). */
class DaemonDied extends Error {
  override name = "DaemonDied";
}

/** Polls `condition` until it yields a value; fails at once when the daemon has exited, or at the deadline. */
async function until<T>(
  what: string,
  daemon: LabProcess,
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs: number },
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  while (true) {
    if (daemon.hasExited) throw new DaemonDied(`the daemon exited while waiting for ${what}`);
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
    await sleep(options.intervalMs);
  }
}

/** Resolves once no request has reached the API server for `quietMs`. */
function apiQuiet(cluster: Cluster, daemon: LabProcess, quietMs: number, timeoutMs: number): Promise<true> {
  let count = -1;
  let since = 0;
  return until("the API server to be quiet", daemon, () => {
    const now = cluster.api.requests.length;
    if (now !== count) {
      count = now;
      since = performance.now();
      return false;
    }
    return performance.now() - since >= quietMs;
  }, { timeoutMs, intervalMs: 50 });
}

/** Resolves once the process has used at most one clock tick per 100 ms, three times in a row. */
function cpuQuiet(daemon: LabProcess, pid: number, timeoutMs: number): Promise<true> {
  let last = cpuSeconds(pid);
  let quiet = 0;
  return until("the daemon to be idle", daemon, () => {
    const now = cpuSeconds(pid);
    quiet = now - last <= 1 / CLOCK_TICKS_PER_SECOND ? quiet + 1 : 0;
    last = now;
    return quiet >= 3;
  }, { timeoutMs, intervalMs: 100 });
}

/** One daemon's figures. */
interface RunResult {
  setting: Setting;
  services: number;
  /** ms from spawn to the first real /readyz 200. */
  readyFromSpawn: number;
  /** ms from the API server's first request to the first real /readyz 200. */
  readyFromApi: number;
  /** ms from the API server's first request to the start of the later of the Service and EndpointSlice watches. */
  listedFromApi: number;
  /** /readyz answered 200 before the daemon had asked for the Services. */
  earlyReady: boolean;
  /** ms from spawn to settled (or to SETTLE_LIMIT_MS when `settledInTime` is false). */
  settled: number;
  /** CPU seconds from spawn to settled (likewise). */
  startupCpu: number;
  /** False when the daemon had not settled within SETTLE_LIMIT_MS: settled and startupCpu are then lower bounds. */
  settledInTime: boolean;
  /** At the end of the idle window. */
  proc: ProcSample;
  /** Lowest and highest RSS sampled (every 5 s) in the idle window's last minute, bytes. */
  idleRss: { min: number; max: number };
  heap: number | undefined;
  /** Idle CPU as a fraction of one core. */
  idleCpu: number;
  /** CPU seconds of the reconcile burst (undefined without Services). */
  burstCpu?: number;
  /** False when the daemon was still busy after BURST_LIMIT_MS: burstCpu is then a lower bound. */
  burstInTime?: boolean;
  /** Set when the daemon died instead: why, from its output. */
  died?: string;
}

interface RunOptions {
  setting: Setting;
  services: number;
  idleSeconds: number;
  /** The program to run; default the bundle under test. */
  script?: string;
}

/** Why the daemon died, from its output's last lines. */
function causeOfDeath(output: string, status: Deno.CommandStatus | undefined): string {
  if (/out of memory|heap out of memory|OOM/i.test(output)) {
    const heap = /Mark-Compact[^\n]*?->\s*([\d.]+)\s*\(/.exec(output.slice(-20_000));
    return `V8 out of memory${heap ? ` (heap ${heap[1]} MB)` : ""}`;
  }
  return `exited with code ${status?.code ?? "?"}${status?.signal ? ` (${status.signal})` : ""}`;
}

/** Starts one daemon on node1, measures it, and stops it. */
async function runDaemon(cluster: Cluster, options: RunOptions): Promise<RunResult> {
  const node = cluster.lab.nodes[0]!;
  clearDaemonWrites(cluster);
  const args = [
    DENO_EXE,
    ...denoArgs(options.setting, options.script ?? BUNDLE),
    "--kubeconfig",
    cluster.kubeconfig,
    "--node-name",
    node.name,
    "--metrics-addr",
    `${node.ipv4}:7472`,
    ...POOLS.flatMap((p) => ["--pool", p]),
    ...options.setting.args ?? [],
  ];
  const spawnedAt = wallMs();
  const requests = watchRequests(cluster);
  const daemon = cluster.lab.spawn(node, args, {
    stdout: "piped",
    stderr: "piped",
    ...(options.setting.env ? { env: options.setting.env } : {}),
  });
  const poller = startReadyPoller(cluster, node);
  let pid = daemon.pid;
  try {
    // A 200 counts only once the daemon has asked for the Services: until its readiness checks are registered, the
    // daemon answers 200 without having listed anything (see earlyReady).
    const readyAt = await until(
      "/readyz to answer 200",
      daemon,
      () => readyTimes(poller).find((t) => t >= requests.servicesListed),
      { timeoutMs: 120_000, intervalMs: 5 },
    );
    const earlyReady = readyTimes(poller).some((t) => t < requests.first);
    if (TIMELINE_DIR !== undefined) {
      writeTimeline(cluster, {
        setting: options.setting,
        services: options.services,
        spawnedAt,
        firstAt: requests.first,
        readyAt,
        daemon,
      });
    }
    poller.kill("SIGKILL");
    pid = denoPidOf(daemon.pid);
    const addresses = addressesFor(options.services);
    const settleBy = spawnedAt + SETTLE_LIMIT_MS;
    let settledInTime = true;
    try {
      await until(`${addresses} addresses announced`, daemon, async () => {
        const owned = (await scrape(cluster, node)).get("metallite_l2_owned_addresses");
        return owned === addresses;
      }, { timeoutMs: Math.max(0, settleBy - wallMs()), intervalMs: 200 });
      await apiQuiet(cluster, daemon, 1000, Math.max(0, settleBy - wallMs()));
    } catch (error) {
      if (error instanceof DaemonDied) throw error;
      settledInTime = false;
    }
    const settledAt = settledInTime ? wallMs() - 1000 : wallMs();
    const startupCpu = cpuSeconds(pid);

    const idleFrom = cpuSeconds(pid);
    const idleStarted = performance.now();
    const idleRss = await sampleIdleRss(pid, options.idleSeconds * 1000);
    const idleCpu = (cpuSeconds(pid) - idleFrom) / ((performance.now() - idleStarted) / 1000);
    const proc = sampleProc(pid);
    const heap = (await scrape(cluster, node)).get("process_heap_bytes");

    const result: RunResult = {
      setting: options.setting,
      services: options.services,
      readyFromSpawn: readyAt - spawnedAt,
      readyFromApi: readyAt - requests.first,
      // Read now, not at ready: /readyz can answer before the last watch request has reached the server.
      listedFromApi: cachesListedAt(cluster, spawnedAt) - requests.first,
      earlyReady,
      settled: settledAt - spawnedAt,
      startupCpu,
      settledInTime,
      proc,
      idleRss,
      heap,
      idleCpu,
    };
    if (options.services > 0) Object.assign(result, await burst(cluster, daemon, pid, options.services));
    return result;
  } catch (error) {
    if (!(error instanceof DaemonDied)) {
      console.error(`--- daemon output (tail):\n${daemon.output().slice(-4000)}`);
      throw error;
    }
    const status = await daemon.exited;
    return {
      setting: options.setting,
      services: options.services,
      readyFromSpawn: NaN,
      readyFromApi: NaN,
      listedFromApi: NaN,
      earlyReady: false,
      settled: NaN,
      startupCpu: NaN,
      settledInTime: false,
      proc: { rss: NaN, anon: NaN, peak: NaN, threads: NaN, cpu: NaN },
      idleRss: { min: NaN, max: NaN },
      heap: undefined,
      idleCpu: NaN,
      died: `${causeOfDeath(daemon.output(), status)} ${((wallMs() - spawnedAt) / 1000).toFixed(1)} s after spawn`,
    };
  } finally {
    requests.stop();
    poller.kill("SIGKILL");
    daemon.kill("SIGTERM");
    await Promise.all([poller.exited, daemon.exited]);
  }
}

/** Changes every Service's annotations at once; the CPU seconds until the daemon is quiet again. */
async function burst(
  cluster: Cluster,
  daemon: LabProcess,
  pid: number,
  count: number,
): Promise<{ burstCpu: number; burstInTime: boolean }> {
  const before = cpuSeconds(pid);
  const stamp = String(Date.now());
  for (let i = 0; i < count; i++) {
    cluster.api.patch("services", "default", serviceName(i), { metadata: { annotations: { "bench/touch": stamp } } });
  }
  let burstInTime = true;
  try {
    await cpuQuiet(daemon, pid, BURST_LIMIT_MS);
  } catch (error) {
    if (error instanceof DaemonDied) throw error;
    burstInTime = false;
  }
  return { burstCpu: cpuSeconds(pid) - before, burstInTime };
}

/** The runtime's floor: a script that only keeps the event loop alive, same permissions and flags. */
async function measureFloor(setting: Setting): Promise<ProcSample> {
  const dir = await Deno.makeTempDir({ prefix: "metallite-footprint-" });
  const script = `${dir}/floor.js`;
  await Deno.writeTextFile(script, "setInterval(() => {}, 1 << 30);\n");
  const child = new Deno.Command(DENO_EXE, {
    args: denoArgs(setting, script),
    stdin: "null",
    stdout: "null",
    stderr: "null",
    ...(setting.env ? { env: setting.env } : {}),
  }).spawn();
  try {
    await sleep(1000);
    return sampleProc(child.pid);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------------- tables

const MB = 1024 * 1024;
const mb = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? "-" : (bytes / MB).toFixed(1));
const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const ms = (value: number) => (Number.isNaN(value) ? "-" : value.toFixed(0));
const pct = (fraction: number) => (Number.isNaN(fraction) ? "-" : (fraction * 100).toFixed(2));
/** Seconds, or "-"; `inTime` false marks a lower bound. */
const secs = (value: number | undefined, digits = 2, inTime = true) =>
  value === undefined || Number.isNaN(value) ? "-" : `${inTime ? "" : ">"}${value.toFixed(digits)}`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The idle window's last-minute RSS range, e.g. "38.1-40.0". */
function idleRange(r: RunResult): string {
  return `${mb(r.idleRss.min)}-${mb(r.idleRss.max)}`;
}

/** Final RSS with the last minute's range, e.g. "39.2 (last minute 38.1-40.0)". */
function rssWithRange(r: RunResult): string {
  return `${mb(r.proc.rss)} (last minute ${idleRange(r)})`;
}

function count(n: number): string {
  return n.toLocaleString("en");
}

// ---------------------------------------------------------------------------------------------------- parts

async function sizesPart(): Promise<void> {
  const flags = values["v8-flags"];
  const denoFlags = values["deno-flags"]?.split(" ").filter(Boolean);
  let setting = flags === undefined ? SHIPPED : { name: `--v8-flags=${flags}`, v8: flags.split(",").filter(Boolean) };
  if (denoFlags !== undefined) {
    setting = { ...setting, name: `${setting.name} + ${denoFlags.join(" ")}`, deno: denoFlags };
  }
  console.log(`## Footprint by number of Services (${setting.name}; idle window ${IDLE_SECONDS} s)\n`);
  const floor = await measureFloor(setting);
  const results: RunResult[] = [];
  for (const services of SIZES) {
    await using cluster = await benchCluster(services);
    const result = await runDaemon(cluster, { setting, services, idleSeconds: IDLE_SECONDS });
    results.push(result);
    console.error(`  ${count(services)} Services: ${result.died ?? `RSS ${mb(result.proc.rss)} MB`}`);
  }
  const rows = [[
    "runtime floor (empty script)",
    "-",
    mb(floor.rss),
    "-",
    mb(floor.anon),
    "-",
    String(floor.threads),
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
  ]];
  for (const r of results) {
    rows.push([
      `${count(r.services)} Services`,
      String(addressesFor(r.services)),
      mb(r.proc.rss),
      idleRange(r),
      mb(r.proc.anon),
      mb(r.heap),
      Number.isNaN(r.proc.threads) ? "-" : String(r.proc.threads),
      pct(r.idleCpu),
      ms(r.readyFromSpawn),
      ms(r.readyFromApi),
      ms(r.listedFromApi),
      secs(r.settled / 1000, 1, r.settledInTime),
      secs(r.startupCpu, 2, r.settledInTime),
      secs(r.burstCpu, 2, r.burstInTime),
    ]);
  }
  console.log(table([
    "daemon",
    "VIPs",
    "RSS MB",
    "RSS last min",
    "anon MB",
    "heap MB",
    "threads",
    "idle CPU %",
    "ready ms (spawn)",
    "ready ms (API)",
    "listed ms (API)",
    "settled s",
    "start CPU s",
    "burst CPU s",
  ], rows));
  for (const r of results) if (r.died) console.log(`${count(r.services)} Services: the daemon died: ${r.died}`);

  const idle = results.find((r) => r.services === 0 && !r.died);
  const grown = results.filter((r) => r.services > 0 && !r.died);
  if (idle && grown.length > 0) {
    console.log(`\ngrowth per Service, against idle`);
    console.log(table(
      ["0 → N", "RSS KB", "anon KB", "heap KB", "start CPU µs", "burst CPU µs"],
      grown.map((r) => [
        count(r.services),
        kb((r.proc.rss - idle.proc.rss) / r.services),
        kb((r.proc.anon - idle.proc.anon) / r.services),
        r.heap === undefined || idle.heap === undefined ? "-" : kb((r.heap - idle.heap) / r.services),
        secs((r.startupCpu - idle.startupCpu) / r.services * 1e6, 0, r.settledInTime),
        r.burstCpu === undefined ? "-" : secs(r.burstCpu / r.services * 1e6, 0, r.burstInTime),
      ]),
    ));
  }
  const at1000 = results.find((r) => r.services === 1000);
  const early = results.filter((r) => r.earlyReady).length;
  console.log(
    `\ngoals (issue 6): RSS idle < 40 MB: ${idle ? rssWithRange(idle) : "-"} MB` +
      ` (runtime floor ${mb(floor.rss)} MB); RSS with 1,000 Services < 60 MB: ${
        at1000 ? rssWithRange(at1000) : "-"
      } MB;` +
      ` idle CPU near zero: ${idle ? pct(idle.idleCpu) : "-"} %;` +
      ` ready < 1 s after the API server answers: ${results.map((r) => ms(r.readyFromApi)).join(" / ")} ms`,
  );
  if (early > 0) {
    console.log(
      `note: in ${early} of ${results.length} runs /readyz answered 200 before the daemon's first request ` +
        `to the API server (its readiness checks were not registered yet); those answers were not counted`,
    );
  }
}

async function tuningPart(settings: readonly Setting[]): Promise<void> {
  console.log(
    `\n## Runtime settings, one at a time (idle, then ${count(TUNING_SERVICES)} Services; ` +
      `idle window ${TUNING_IDLE_SECONDS} s)\n`,
  );
  await using idleCluster = await benchCluster(0);
  await using loadedCluster = await benchCluster(TUNING_SERVICES);
  // Warm the bundle's code cache for the setting that keeps it (the shipped runtime has none).
  await runDaemon(idleCluster, { setting: SHIPPED, services: 0, idleSeconds: 0 });
  const rows: string[][] = [];
  for (const setting of settings) {
    const floor = await measureFloor(setting);
    const idle = await runDaemon(idleCluster, { setting, services: 0, idleSeconds: TUNING_IDLE_SECONDS });
    const loaded = await runDaemon(loadedCluster, {
      setting,
      services: TUNING_SERVICES,
      idleSeconds: TUNING_IDLE_SECONDS,
    });
    console.error(`  ${setting.name}: idle RSS ${mb(idle.proc.rss)} MB, loaded ${loaded.died ?? mb(loaded.proc.rss)}`);
    rows.push([
      setting.name,
      mb(floor.rss),
      mb(idle.proc.rss),
      mb(idle.proc.anon),
      Number.isNaN(idle.proc.threads) ? "-" : String(idle.proc.threads),
      ms(idle.readyFromSpawn),
      ms(idle.readyFromApi),
      loaded.died ? "died" : mb(loaded.proc.rss),
      mb(loaded.proc.anon),
      mb(loaded.proc.peak),
      mb(loaded.heap),
      secs(loaded.startupCpu, 2, loaded.settledInTime),
      secs(loaded.burstCpu, 2, loaded.burstInTime),
      pct(loaded.idleCpu),
    ]);
  }
  console.log(table([
    "setting",
    "floor RSS MB",
    "idle RSS MB",
    "idle anon MB",
    "threads",
    "ready ms (spawn)",
    "ready ms (API)",
    "1k RSS MB",
    "1k anon MB",
    "1k peak MB",
    "1k heap MB",
    "1k start CPU s",
    "1k burst CPU s",
    "1k idle CPU %",
  ], rows));
}

// ---------------------------------------------------------------------------------------------------- main

console.log(
  `metallite footprint: Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.target}, ` +
    `${navigator.hardwareConcurrency} CPUs; bundle ${BUNDLE}; shipped V8 flags: ${V8_FLAGS.join(" ") || "(none)"}`,
);
console.log(`pools ${POOLS.join(" + ")} (${POOL_SIZE} addresses; more Services share them)\n`);
if (PART !== "tuning") await sizesPart();
if (PART === "all") await tuningPart(TUNING_SHORT);
if (PART === "tuning") await tuningPart(TUNING_FULL);
