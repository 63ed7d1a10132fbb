/**
 * A whole metallite cluster in a namespace lab, for end-to-end tests, the demo and benchmarks: the fake API server
 * (in this process, reached from the lab through a Unix-socket forwarder on the `api` host at 198.51.100.2), one
 * Node object per lab node, and a real metallite process (the shipped bundle, with its permission set) per node.
 * @module
 */
import { bundleCommand } from "../../scripts/runtime.ts";
import { type FakeApiServer, startFakeApiServer } from "../fake_apiserver/mod.ts";
import { createLab, type Lab, type LabHost, type LabProcess, startUnixForward } from "../lab/mod.ts";

/** The API server's address inside the lab. */
export const LAB_API_ADDRESS = "198.51.100.2:6443";

/** Options for {@link createCluster}. */
export interface ClusterOptions {
  /** Number of nodes; default 3. */
  nodes?: number;
  /** Extra arguments for every metallite process (e.g. `--pool`). */
  args?: string[];
  /** Start metallite on every node at once; default true. */
  start?: boolean;
  /** Also a router host (for BGP); default false. */
  router?: boolean;
  /**
   * Run each node's metallite on a copy of the runtime of its own, as separate machines would (see
   * {@link copyRuntime}); default false (all share this process's deno).
   */
  privateRuntime?: boolean;
}

/**
 * Copies this deno executable to `dir`/deno (synced, so its page-cache pages are clean) and returns the path. A
 * compiled metallite binary is a file no other process maps; a daemon run on the shared deno shares its code pages
 * with every other deno on the machine, so they are not its own and the kernel will not page them out
 * (src/net/page_out.ts). Benchmarks of memory and of page-out's effects run daemons on such copies.
 */
export async function copyRuntime(dir: string): Promise<string> {
  const path = `${dir}/deno`;
  await Deno.copyFile(Deno.execPath(), path);
  await Deno.chmod(path, 0o755);
  using file = await Deno.open(path, { read: true });
  await file.sync();
  return path;
}

/** A running cluster. */
export interface Cluster extends AsyncDisposable {
  /** The lab. */
  lab: Lab;
  /** The fake API server. */
  api: FakeApiServer;
  /** Kubeconfig path for processes in the lab. */
  kubeconfig: string;
  /** Running metallite processes by node name. */
  daemons: Map<string, LabProcess>;
  /** Starts metallite on a node (again), with the cluster's arguments plus `extra`. */
  startDaemon(node: LabHost, extra?: string[]): LabProcess;
  /** Stops metallite on a node with a signal and waits for it to exit. */
  stopDaemon(node: LabHost, signal?: Deno.Signal): Promise<void>;
  /** Creates a LoadBalancer Service (and a ready EndpointSlice for it on `endpointNode`, default node1). */
  createService(options: ServiceOptions): void;
  /** Removes everything. */
  close(): Promise<void>;
}

/** A Service for {@link Cluster.createService}. */
export interface ServiceOptions {
  /** Name (namespace "default"). */
  name: string;
  /** Addresses already in status, as if allocated earlier (optional). */
  ips?: string[];
  /** Extra annotations. */
  annotations?: Record<string, string>;
  /** externalTrafficPolicy; default Cluster. */
  trafficPolicy?: "Cluster" | "Local";
  /** Node holding the Service's ready endpoint; default the first node. */
  endpointNode?: string;
  /** IP families; default IPv4 only. */
  ipFamilies?: ("IPv4" | "IPv6")[];
}

/** Builds the lab, the API server and (unless `start: false`) metallite on every node. */
export async function createCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const lab = await createLab({ nodes: options.nodes ?? 3, client: true, api: true, router: options.router ?? false });
  let api: FakeApiServer | undefined;
  const daemons = new Map<string, LabProcess>();
  const socketDir = await Deno.makeTempDir({ prefix: "metallite-api-" });
  try {
    const unixPath = `${socketDir}/api.sock`;
    api = await startFakeApiServer({
      unixSocketPath: unixPath,
      extraSans: ["198.51.100.2"],
      namespaces: ["default", "metallb-system"],
    });
    // The fake server speaks plain HTTP on its Unix socket, so the forwarder terminates TLS with the server's own
    // certificate (its SANs include the lab address).
    await startUnixForward(lab, lab.api!, {
      listen: LAB_API_ADDRESS,
      unixPath,
      tls: { certFile: `${api.dir}/server.crt`, keyFile: `${api.dir}/server.key` },
    });
    const kubeconfig = `${api.dir}/lab-kubeconfig`;
    await api.writeKubeconfig(kubeconfig, { server: `https://${LAB_API_ADDRESS}` });
    for (const node of lab.nodes) {
      api.create("nodes", {
        metadata: { name: node.name, labels: { "kubernetes.io/hostname": node.name } },
        status: { addresses: [{ type: "InternalIP", address: node.ipv4 }, { type: "Hostname", address: node.name }] },
      });
    }
    const runtimes = new Map<string, string>();
    if (options.privateRuntime) {
      for (const node of lab.nodes) {
        const dir = `${socketDir}/${node.name}`;
        await Deno.mkdir(dir);
        runtimes.set(node.name, await copyRuntime(dir));
      }
    }
    const server = api;
    const cluster: Cluster = {
      lab,
      api: server,
      kubeconfig,
      daemons,
      startDaemon(node, extra = []) {
        const process = lab.spawn(node, [
          runtimes.get(node.name) ?? Deno.execPath(),
          ...bundleCommand(),
          "--kubeconfig",
          kubeconfig,
          "--node-name",
          node.name,
          "--metrics-addr",
          `${node.ipv4}:7472`,
          ...(options.args ?? []),
          ...extra,
        ], { stdout: "piped", stderr: "piped" });
        daemons.set(node.name, process);
        return process;
      },
      async stopDaemon(node, signal = "SIGTERM") {
        const process = daemons.get(node.name);
        if (!process) return;
        process.kill(signal);
        await process.exited;
        daemons.delete(node.name);
      },
      createService(service) {
        const endpointNode = service.endpointNode ?? lab.nodes[0]!.name;
        const families = service.ipFamilies ?? ["IPv4"];
        server.create("services", {
          metadata: { name: service.name, namespace: "default", annotations: service.annotations ?? {} },
          spec: {
            type: "LoadBalancer",
            selector: { app: service.name },
            ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
            externalTrafficPolicy: service.trafficPolicy ?? "Cluster",
            ipFamilies: families,
            // Kubernetes gives a Service a cluster IP of each family it asks for (from the service CIDR); the
            // allocator reads the families from them, as MetalLB does.
            clusterIPs: families.map((f) => (f === "IPv4" ? "10.96.0.10" : "fd00:10:96::a")),
            ipFamilyPolicy: families.length > 1 ? "RequireDualStack" : "SingleStack",
          },
        });
        if (service.ips) {
          server.patchStatus("services", "default", service.name, {
            loadBalancer: { ingress: service.ips.map((ip) => ({ ip, ipMode: "VIP" })) },
          });
        }
        server.create("endpointslices", {
          metadata: {
            name: `${service.name}-abc12`,
            namespace: "default",
            labels: { "kubernetes.io/service-name": service.name },
          },
          addressType: "IPv4",
          endpoints: [{
            addresses: ["10.244.0.10"],
            conditions: { ready: true, serving: true },
            nodeName: endpointNode,
          }],
          ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        });
      },
      async close() {
        await Promise.all([...daemons.values()].map(async (p) => {
          p.kill("SIGTERM");
          await p.exited;
        }));
        daemons.clear();
        await lab.close();
        await server.close();
        await Deno.remove(socketDir, { recursive: true });
      },
      [Symbol.asyncDispose]() {
        return cluster.close();
      },
    };
    if (options.start ?? true) { for (const node of lab.nodes) cluster.startDaemon(node); }
    return cluster;
  } catch (error) {
    await lab.close();
    await api?.close();
    await Deno.remove(socketDir, { recursive: true });
    throw error;
  }
}
