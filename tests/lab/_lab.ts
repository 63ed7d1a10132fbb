/** Building, using and tearing down one lab. */
import {
  hostBatch,
  type HostPlan,
  type HostRole,
  hostSysctls,
  type LabOptions,
  type LabPlan,
  lanBatch,
  lanSysctls,
  netnsBatch,
  newLabId,
  planLab,
  planNamespaces,
  setupScript,
} from "./_plan.ts";
import {
  execCommand,
  type ExecOptions,
  type ExecResult,
  IP,
  type LabProcess,
  SpawnedProcess,
  type SpawnOptions,
} from "./_process.ts";
import {
  type Cleanable,
  deleteNamespaces,
  deleteNamespacesSync,
  registerLab,
  removeMarker,
  unregisterLab,
  writeMarker,
} from "./_cleanup.ts";

/** One host of a lab: a namespace with `eth0` on the LAN bridge. */
export interface LabHost {
  /** "node1".."nodeN", "client", "router" or "api"; also the name of its bridge-side veth end. */
  name: string;
  role: HostRole;
  /** Its namespace, `<lab id>-<name>`. */
  netns: string;
  /** LAN interface inside the namespace: "eth0". */
  iface: string;
  /** Lower-case MAC of `eth0`. */
  mac: string;
  /** LAN IPv4 address, 198.51.100.X. */
  ipv4: string;
  /** LAN IPv6 address, 2001:db8:100::X, already usable (no DAD). */
  ipv6: string;
  /** Interface index of `eth0` inside its namespace. */
  ifindex: number;
}

/** A namespace lab; `await using lab = await createLab()` deletes it at the end of the scope. */
export interface Lab extends AsyncDisposable {
  /** Run id, "mlt" and hex digits; every namespace name starts with it. */
  id: string;
  /** node1..nodeN. */
  nodes: LabHost[];
  /** The client host; throws when the lab was made with `client: false`. */
  client: LabHost;
  router?: LabHost | undefined;
  api?: LabHost | undefined;
  /** Every host: router, api, nodes, client (those that exist). */
  hosts: LabHost[];
  /** Namespace holding the bridge `br0` that every host's veth peer joins. */
  lanNetns: string;
  /** Runs `ip netns exec NS cmd…` to completion (default deadline 30 s). */
  exec(host: LabHost | string, cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Runs `ip -n NS args…` and returns its stdout; throws with its stderr when it fails. */
  ip(host: LabHost | string, ...args: string[]): Promise<string>;
  /** Starts a long-lived process in a namespace; close() stops it. */
  spawn(host: LabHost | string, cmd: string[], opts?: SpawnOptions): LabProcess;
  /** Takes the host's LAN link down at the bridge (its `eth0` loses carrier), as a pulled cable does. */
  linkDown(host: LabHost): Promise<void>;
  /** Brings the host's LAN link back. */
  linkUp(host: LabHost): Promise<void>;
  /** Looks a host up by name ("node2", "client"). */
  host(name: string): LabHost;
  /** Stops every spawned process (SIGTERM, SIGKILL after a grace period) and deletes every namespace; idempotent. */
  close(): Promise<void>;
}

const DEFAULT_KILL_GRACE_MS = 1500;
const SETUP_TIMEOUT_MS = 30_000;

function netnsOf(host: LabHost | string): string {
  return typeof host === "string" ? host : host.netns;
}

class LabImpl implements Lab, Cleanable {
  readonly id: string;
  readonly lanNetns: string;
  hosts: LabHost[] = [];
  readonly #plan: LabPlan;
  readonly #killGraceMs: number;
  readonly #processes = new Set<SpawnedProcess>();
  readonly #running = new Set<Deno.ChildProcess>();
  #closing: Promise<void> | undefined;

  constructor(plan: LabPlan, options: LabOptions) {
    this.id = plan.id;
    this.lanNetns = plan.lanNetns;
    this.#plan = plan;
    this.#killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  }

  get nodes(): LabHost[] {
    return this.hosts.filter((h) => h.role === "node");
  }

  get client(): LabHost {
    const client = this.hosts.find((h) => h.role === "client");
    if (!client) throw new Error(`Lab ${this.id} has no client (it was created with client: false)`);
    return client;
  }

  get router(): LabHost | undefined {
    return this.hosts.find((h) => h.role === "router");
  }

  get api(): LabHost | undefined {
    return this.hosts.find((h) => h.role === "api");
  }

  host(name: string): LabHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new RangeError(`Lab ${this.id} has no host "${name}"; it has ${this.hosts.map((h) => h.name)}`);
    return host;
  }

  #checkOpen(): void {
    if (this.#closing) throw new Error(`Lab ${this.id} is closed`);
  }

  async exec(host: LabHost | string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.#checkOpen();
    if (cmd.length === 0) throw new TypeError("exec() needs a command");
    return await execCommand(IP, ["netns", "exec", netnsOf(host), ...cmd], { ...opts, running: this.#running });
  }

  async ip(host: LabHost | string, ...args: string[]): Promise<string> {
    this.#checkOpen();
    const out = await execCommand(IP, ["-n", netnsOf(host), ...args], { running: this.#running, timeoutMs: 10_000 });
    if (out.code !== 0) throw new Error(`ip -n ${netnsOf(host)} ${args.join(" ")} failed: ${out.stderr.trim()}`);
    return out.stdout;
  }

  spawn(host: LabHost | string, cmd: string[], opts: SpawnOptions = {}): LabProcess {
    this.#checkOpen();
    const process = new SpawnedProcess(netnsOf(host), cmd, opts);
    this.#processes.add(process);
    process.exited.then(() => this.#processes.delete(process));
    return process;
  }

  async linkDown(host: LabHost): Promise<void> {
    await this.ip(this.lanNetns, "link", "set", "dev", host.name, "down");
  }

  async linkUp(host: LabHost): Promise<void> {
    await this.ip(this.lanNetns, "link", "set", "dev", host.name, "up");
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await Promise.all([...this.#processes].map((p) => p.stop(this.#killGraceMs)));
      for (const child of this.#running) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
      await deleteNamespaces(planNamespaces(this.#plan));
    } finally {
      removeMarker(this.id);
      unregisterLab(this);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  cleanupSync(): void {
    for (const process of this.#processes) process.kill("SIGKILL");
    for (const child of this.#running) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    deleteNamespacesSync(planNamespaces(this.#plan));
    removeMarker(this.id);
  }

  /** Runs one setup step; its failure names the step and the namespace. */
  async setup(step: string, netns: string | undefined, script: string[], stdin: string): Promise<string> {
    const args = netns === undefined ? script : ["netns", "exec", netns, ...script];
    const out = await execCommand(IP, args, {
      stdin,
      timeoutMs: SETUP_TIMEOUT_MS,
      running: this.#running,
    });
    if (out.code !== 0) {
      throw new Error(`Lab ${this.id}: step "${step}"${netns ? ` in ${netns}` : ""} failed: ${out.stderr.trim()}`);
    }
    return out.stdout;
  }
}

interface AddrInfo {
  family?: string;
  local?: string;
  tentative?: boolean;
  dadfailed?: boolean;
}
interface LinkJson {
  ifindex?: number;
  ifname?: string;
  address?: string;
  addr_info?: AddrInfo[];
}

/** Reads the host's eth0 from `ip -j address show dev eth0` and checks it is as planned. */
function hostFromJson(plan: HostPlan, json: string): LabHost {
  const links = JSON.parse(json) as LinkJson[];
  const eth0 = links.find((l) => l.ifname === "eth0");
  if (!eth0 || typeof eth0.ifindex !== "number" || typeof eth0.address !== "string") {
    throw new Error(`No eth0 in ${plan.netns}: ${json.slice(0, 200)}`);
  }
  const v6 = eth0.addr_info?.find((a) => a.family === "inet6" && a.local === plan.ipv6);
  if (!v6 || v6.tentative || v6.dadfailed) throw new Error(`${plan.ipv6} in ${plan.netns} is not usable: ${json}`);
  return {
    name: plan.name,
    role: plan.role,
    netns: plan.netns,
    iface: "eth0",
    mac: eth0.address.toLowerCase(),
    ipv4: plan.ipv4,
    ipv6: plan.ipv6,
    ifindex: eth0.ifindex,
  };
}

function freshId(): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const id = newLabId();
    try {
      Deno.statSync(`/run/netns/${id}-lan`);
    } catch {
      return id;
    }
  }
  throw new Error("Could not find an unused lab id");
}

/**
 * Builds a lab: a LAN namespace with bridge `br0`, and one namespace per host with `eth0` on it; nodes also get
 * `kube-lb0` and kube-proxy's strict-ARP sysctls. If creation fails or is aborted, whatever was made is deleted.
 * @example
 * ```ts
 * await using lab = await createLab({ nodes: 2 });
 * const { stdout } = await lab.exec(lab.client, ["ping", "-c1", lab.nodes[0]!.ipv4]);
 * ```
 */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const plan = planLab(freshId(), options);
  const lab = new LabImpl(plan, options);
  registerLab(lab);
  const checkpoint = (step?: "namespaces" | "lan" | "hosts") => {
    if (step) options.onStep?.(step, { id: plan.id, namespaces: planNamespaces(plan) });
    options.signal?.throwIfAborted();
  };
  try {
    writeMarker(plan.id);
    checkpoint();
    await lab.setup("namespaces", undefined, ["-batch", "-"], netnsBatch(planNamespaces(plan), "add"));
    checkpoint("namespaces");
    await lab.setup("lan", plan.lanNetns, ["sh", "-c", setupScript(lanSysctls(), false)], lanBatch(plan));
    checkpoint("lan");
    lab.hosts = await Promise.all(plan.hosts.map(async (h) => {
      const json = await lab.setup(
        "hosts",
        h.netns,
        ["sh", "-c", setupScript(hostSysctls(h), true)],
        hostBatch(h, plan),
      );
      return hostFromJson(h, json);
    }));
    checkpoint("hosts");
    return lab;
  } catch (error) {
    try {
      await lab.close();
    } catch (cleanupError) {
      throw new AggregateError([error, cleanupError], `Lab ${plan.id}: creation failed and so did its cleanup`);
    }
    throw error;
  }
}
