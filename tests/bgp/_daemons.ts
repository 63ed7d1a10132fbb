/**
 * Real BGP daemons for the interop tests, each started inside a lab namespace with its files in a temp folder:
 * BIRD 2 (`bird -f`, queried with `birdc`), GoBGP (`gobgpd`, queried with `gobgp`), FRR (`bgpd`/`bfdd` run by hand,
 * queried with `vtysh`). Also a parser for `birdc show route all`, and helpers to run our speaker in a namespace.
 */
import type { Lab, LabHost, LabProcess } from "../lab/mod.ts";
import { inNetns } from "../../src/net/testing.ts";
import type { SocketScope } from "../../src/bgp/mod.ts";

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
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await cli("global");
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`gobgpd did not come up: ${error}; ${process.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
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
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await vtysh("show version");
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${daemon} did not come up: ${error}; ${process.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
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
