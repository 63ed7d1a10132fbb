/**
 * Real BGP daemons for the interop tests, each started inside a lab namespace with its files in a temp folder:
 * BIRD 2 (`bird -f`, queried with `birdc`), GoBGP (`gobgpd`, queried with `gobgp`), FRR (`bgpd`/`bfdd` run by hand,
 * queried with `vtysh`). Also a parser for `birdc show route all`, helpers to run our speaker in a namespace, and
 * {@linkcode bgpInteropLab}: the lab, temp folder, speakers and daemons of one test, disposed of together.
 */
import { createLab, type Lab, type LabHost, type LabProcess, labSkipReason, toolSkipReason } from "../lab/mod.ts";
import { inNetns } from "../../src/net/testing.ts";
import { libc } from "../../src/net/libc.ts";
import { silentLogger } from "../../src/log/mod.ts";
import { createSpeaker, type SocketScope, type Speaker, type SpeakerOptions } from "../../src/bgp/mod.ts";

/** Runs socket creation inside a lab host's namespace. */
export function scopeOf(host: LabHost): SocketScope {
  return (create) => inNetns(host.netns, create);
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout) + d.decode(o.stderr) };
}

/** A running BIRD. */
export interface Bird {
  /** Its control socket. */
  readonly socket: string;
  /** The process (replaced by restart()). */
  process: LabProcess;
  /** Runs a birdc command and returns its output. */
  birdc(...args: string[]): Promise<string>;
  /** "Established", "Active", "Connect"... of one protocol ("" when unknown). */
  bgpState(protocol: string): Promise<string>;
  /** Routes learnt from one protocol, by prefix. */
  routes(protocol: string, table?: string): Promise<Map<string, BirdRoute>>;
  /** Number of routes in the tables (`show route count`). */
  routeCount(): Promise<number>;
  /** Kills BIRD (signal default SIGTERM) and waits for it to exit. */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts BIRD again with the same configuration. */
  start(): Promise<void>;
}

/** One route as `birdc show route all` prints it. */
export interface BirdRoute {
  /** BGP.next_hop. */
  nextHop: string;
  /** BGP.as_path. */
  asPath: string;
  /** BGP.local_pref. */
  localPref?: number;
  /** BGP.med. */
  med?: number;
  /** BGP.community as "(a,b)" items. */
  communities: string[];
  /** BGP.large_community as "(a, b, c)" items. */
  largeCommunities: string[];
}

/** Parses `birdc show route all` output into routes by prefix (first path of each prefix). */
export function parseBirdRoutes(text: string): Map<string, BirdRoute> {
  const out = new Map<string, BirdRoute>();
  let current: BirdRoute | undefined;
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f:.]+\/\d+)\s+\S+\s+\[/.exec(line);
    if (head) {
      current = { nextHop: "", asPath: "", communities: [], largeCommunities: [] };
      if (!out.has(head[1]!)) out.set(head[1]!, current);
      continue;
    }
    if (/^\s+\S+\s+\[/.test(line) && !line.startsWith("\t")) {
      current = undefined; // a second path of the same prefix
      continue;
    }
    if (!current) continue;
    const attr = /^\s+BGP\.(\w+):\s*(.*)$/.exec(line);
    if (!attr) continue;
    const [, name, value] = attr as unknown as [string, string, string];
    if (name === "next_hop") current.nextHop = value.trim().split(/\s+/)[0]!;
    if (name === "as_path") current.asPath = value.trim();
    if (name === "local_pref") current.localPref = Number(value);
    if (name === "med") current.med = Number(value);
    if (name === "community") {
      current.communities = value.match(/\(\d+,\s*\d+\)/g)?.map((c) => c.replace(/\s/g, "")) ?? [];
    }
    if (name === "large_community") current.largeCommunities = value.match(/\(\d+, \d+, \d+\)/g) ?? [];
  }
  return out;
}

/** Starts BIRD in a lab host with a configuration. */
export async function startBird(lab: Lab, host: LabHost, config: string, dir: string): Promise<Bird> {
  const conf = `${dir}/bird.conf`;
  const socket = `${dir}/bird.ctl`;
  await Deno.writeTextFile(conf, config);
  const birdc = async (...args: string[]) => (await run("birdc", ["-s", socket, ...args])).out;
  const spawn = () => lab.spawn(host, ["bird", "-f", "-c", conf, "-s", socket]);
  const bird: Bird = {
    socket,
    process: spawn(),
    birdc,
    async bgpState(protocol) {
      const out = await birdc("show", "protocols", protocol);
      const line = out.split("\n").find((l) => l.startsWith(protocol + " "));
      return line?.trim().split(/\s+/)[5] ?? "";
    },
    async routes(protocol, table) {
      const args = ["show", "route", "all", "protocol", protocol];
      if (table) args.push("table", table);
      return parseBirdRoutes(await birdc(...args));
    },
    async routeCount() {
      const out = await birdc("show", "route", "count");
      return [...out.matchAll(/(\d+) of \d+ routes/g)].reduce((n, m) => n + Number(m[1]), 0);
    },
    async stop(signal = "SIGTERM") {
      bird.process.kill(signal);
      await bird.process.exited;
    },
    async start() {
      bird.process = spawn();
      await waitReady();
    },
  };
  const waitReady = async () => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await run("birdc", ["-s", socket, "show", "status"])).out.includes("Daemon is up")) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`BIRD did not come up: ${bird.process.output()}`);
  };
  await waitReady();
  return bird;
}

/** Retries `probe` every 100 ms until it resolves; after 10 s, throws its last error with the daemon's output. */
async function waitUntilAnswers(name: string, process: LabProcess, probe: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${name} did not come up: ${error}; ${process.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A folder for daemon files, removed by the returned function. */
export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "mlt-bgp-" });
  return { path, remove: () => Deno.remove(path, { recursive: true }) };
}

/** A running gobgpd with its gRPC API on 127.0.0.1:50051 inside its namespace. */
export interface Gobgp {
  /** The process. */
  readonly process: LabProcess;
  /** Runs `gobgp <args>` in the namespace and returns stdout. */
  cli(...args: string[]): Promise<string>;
  /** State of a neighbor ("established", "active", ...). */
  neighborState(address: string): Promise<string>;
  /** The global RIB of a family as parsed JSON: prefix → paths. */
  rib(family?: "ipv4" | "ipv6"): Promise<Record<string, GobgpPath[]>>;
}

/** One path in `gobgp global rib -j`. */
export interface GobgpPath {
  /** Path attributes as gobgp prints them. */
  attrs: { type: number; [key: string]: unknown }[];
}

/** Starts gobgpd in a lab host; `config` is TOML. */
export async function startGobgp(lab: Lab, host: LabHost, config: string, dir: string): Promise<Gobgp> {
  const conf = `${dir}/gobgpd.toml`;
  await Deno.writeTextFile(conf, config);
  const process = lab.spawn(host, ["gobgpd", "-f", conf, "--api-hosts", "127.0.0.1:50051", "-l", "warn"]);
  const cli = async (...args: string[]) => {
    const r = await lab.exec(host, ["gobgp", "-u", "127.0.0.1", "-p", "50051", ...args], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`gobgp ${args.join(" ")} failed: ${r.stderr.trim()}`);
    return r.stdout;
  };
  await waitUntilAnswers("gobgpd", process, () => cli("global"));
  return {
    process,
    cli,
    async neighborState(address) {
      const j = JSON.parse(await cli("neighbor", address, "-j"));
      const state = j?.state?.session_state;
      // gobgp prints the API's enum number: 1 idle ... 6 established.
      const names = ["unknown", "idle", "connect", "active", "opensent", "openconfirm", "established"];
      return typeof state === "number" ? names[state] ?? String(state) : String(state ?? "");
    },
    async rib(family = "ipv4") {
      const out = await cli("global", "rib", "-a", family, "-j");
      return out.trim() === "" ? {} : JSON.parse(out);
    },
  };
}

/** A running FRR daemon (bgpd or bfdd) with its vty socket in a temp folder. */
export interface Frr {
  /** The process (replaced by start()). */
  process: LabProcess;
  /** Runs a vtysh command (`-c`) and returns its output. */
  vtysh(command: string): Promise<string>;
  /** Runs a vtysh command ending in `json` and parses it. */
  json(command: string): Promise<Record<string, unknown>>;
  /** Kills the daemon and waits. */
  stop(signal?: Deno.Signal): Promise<void>;
}

/** The start of every bgpd configuration in the tests: AS 64501 on the router, no policy needed for eBGP. */
export const FRR_BGPD_HEAD = `
frr defaults traditional
hostname router
router bgp 64501
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
`;

/**
 * Starts an FRR daemon by hand in a lab host: no zebra (`-Z`), no kernel routes, no privilege drop, vty only on a
 * unix socket in `dir`. `daemon` is "bgpd" or "bfdd".
 */
export async function startFrr(
  lab: Lab,
  host: LabHost,
  daemon: "bgpd" | "bfdd",
  config: string,
  dir: string,
): Promise<Frr> {
  const conf = `${dir}/${daemon}.conf`;
  await Deno.writeTextFile(conf, config);
  const args = [`/usr/lib/frr/${daemon}`, "-f", conf, "-i", `${dir}/${daemon}.pid`, "--vty_socket", dir, "-P", "0"];
  if (daemon === "bgpd") args.push("-Z", "-n", "-S");
  if (daemon === "bfdd") {
    // bfdd has no --skip_runas: it drops to user frr, which must be able to create its sockets in the folder.
    await Deno.chmod(dir, 0o777);
    args.push("--bfdctl", `${dir}/bfdd.sock`);
  }
  args.push("--log", "stdout", "--log-level", "warn");
  const process = lab.spawn(host, args);
  const vtysh = async (command: string) => {
    const r = await run("vtysh", ["--vty_socket", dir, "-d", daemon, "-c", command]);
    if (r.code !== 0) throw new Error(`vtysh -c "${command}" failed: ${r.out.trim()}`);
    return r.out;
  };
  await waitUntilAnswers(daemon, process, () => vtysh("show version"));
  const frr: Frr = {
    process,
    vtysh,
    async json(command) {
      return JSON.parse(await vtysh(command));
    },
    async stop(signal = "SIGTERM") {
      frr.process.kill(signal);
      await frr.process.exited;
    },
  };
  return frr;
}

/** The router daemon an interop test runs against. */
export type InteropRouter = "bird" | "frr" | "gobgp";

function frrMissing(): string | undefined {
  return ["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"].find((p) => {
    try {
      return !Deno.statSync(p).isFile;
    } catch {
      return true;
    }
  });
}

function routerSkipReason(router: InteropRouter): string | undefined {
  if (router === "bird") return toolSkipReason("bird", "birdc");
  if (router === "gobgp") return toolSkipReason("gobgpd", "gobgp");
  const missing = frrMissing();
  return toolSkipReason("vtysh") ?? (missing ? `${missing} is missing (Debian package frr)` : undefined);
}

/**
 * Why an interop test file against `router` cannot run here (no lab, or the daemon's tools missing), printed as
 * `<file>: skipped: <reason>`; when it can run, opens libc now, before any test, so the sanitizers do not count it.
 * @example
 * ```ts
 * const skip = interopSkipReason("bird", "bird_test");
 * Deno.test({ name: "BIRD receives our routes", ignore: skip !== undefined, fn: async () => {} });
 * ```
 */
export function interopSkipReason(router: InteropRouter, file: string): string | undefined {
  const skip = labSkipReason() ?? routerSkipReason(router);
  // deno-lint-ignore no-console -- a skipped test file says why
  if (skip) console.error(`${file}: skipped: ${skip}`);
  else libc();
  return skip;
}

/** Options of {@linkcode bgpInteropLab}. */
export interface InteropLabOptions {
  /** How many nodes (node1 198.51.100.11, node2 .12, ...) besides the router; default 1. */
  readonly nodes?: number;
}

/** One interop test's lab (a router and nodes, no client) and temp folder, with starters for daemons and speakers. */
export interface InteropLab extends AsyncDisposable {
  /** The namespace lab. */
  readonly lab: Lab;
  /** The router host (198.51.100.1, 2001:db8:100::1), where the daemons run. */
  readonly router: LabHost;
  /** The node hosts, where our speakers' sockets live. */
  readonly nodes: readonly LabHost[];
  /** The temp folder for daemon files. */
  readonly dir: string;
  /**
   * A speaker with its sockets in `node`'s namespace: AS 64500, router ID the node's IPv4 address, silent logs,
   * unless `options` says otherwise. Shut down on disposal.
   */
  speaker(node: LabHost, options?: Partial<SpeakerOptions>): Speaker;
  /** Starts BIRD on the router (see {@linkcode startBird}). */
  startBird(config: string): Promise<Bird>;
  /** Starts an FRR daemon on the router (see {@linkcode startFrr}). */
  startFrr(daemon: "bgpd" | "bfdd", config: string): Promise<Frr>;
  /** Starts gobgpd on the router (see {@linkcode startGobgp}). */
  startGobgp(config: string): Promise<Gobgp>;
}

/**
 * Creates the lab and temp folder of one interop test. Disposal, also after a failure, shuts the speakers down in
 * the order they were made, then closes the lab (which stops the daemons and deletes the namespaces), then removes
 * the folder; each step runs even when an earlier one throws, and the first error is thrown at the end.
 * @example
 * ```ts
 * await using env = await bgpInteropLab({ nodes: 1 });
 * const bird = await env.startBird(config);
 * const speaker = env.speaker(env.nodes[0]!);
 * ```
 */
export async function bgpInteropLab(options: InteropLabOptions = {}): Promise<InteropLab> {
  const lab = await createLab({ router: true, nodes: options.nodes ?? 1, client: false });
  let dir: Awaited<ReturnType<typeof tempDir>>;
  try {
    dir = await tempDir();
  } catch (error) {
    await lab.close();
    throw error;
  }
  const router = lab.router!;
  const speakers: Speaker[] = [];
  return {
    lab,
    router,
    nodes: lab.nodes,
    dir: dir.path,
    speaker(node, speakerOptions = {}) {
      const speaker = createSpeaker({
        asn: 64500,
        routerId: node.ipv4,
        logger: silentLogger,
        scope: scopeOf(node),
        ...speakerOptions,
      });
      speakers.push(speaker);
      return speaker;
    },
    startBird: (config) => startBird(lab, router, config, dir.path),
    startFrr: (daemon, config) => startFrr(lab, router, daemon, config, dir.path),
    startGobgp: (config) => startGobgp(lab, router, config, dir.path),
    async [Symbol.asyncDispose]() {
      const errors: unknown[] = [];
      const attempt = async (step: () => Promise<void>) => {
        try {
          await step();
        } catch (error) {
          errors.push(error);
        }
      };
      for (const speaker of speakers) await attempt(() => speaker.shutdown());
      await attempt(() => lab.close());
      await attempt(() => dir.remove());
      if (errors.length > 0) throw errors[0];
    },
  };
}
