/**
 * A cluster for the allocator's integration tests: the fake API server, a model built from its IPAddressPools
 * (as the daemon's configuration watcher would), and allocator instances started with `startAllocator`, all
 * stopped and closed when the test ends.
 * @module
 */
import { buildModel } from "../../src/config/build.ts";
import type { Model } from "../../src/config/model.ts";
import { type Allocator, startAllocator, type StartAllocatorOptions } from "../../src/daemon/allocator.ts";
import { parseRange } from "../../src/ip/mod.ts";
import { createKubeApi, type Informer, type KubeApi, loadKubeConfig, type MetallbObject } from "../../src/k8s/mod.ts";
import type { Service } from "../../src/k8s/types.ts";
import { silentLogger } from "../../src/log/mod.ts";
import { Registry } from "../../src/metrics/mod.ts";
import {
  type FakeApiServer,
  type FakeApiServerOptions,
  type RequestRecord,
  startFakeApiServer,
} from "../fake_apiserver/mod.ts";

/** The namespace metallite runs in (and reads metallb.io objects from). */
export const NAMESPACE = "metallb-system";

/** One allocator instance with its own client, as one node's process would have. */
export interface Instance {
  /** The allocator. */
  allocator: Allocator;
  /** Its metrics. */
  registry: Registry;
  /** Its API client. */
  api: KubeApi;
  /** Stops it (idempotent). */
  stop(): Promise<void>;
}

/** The test's cluster. */
export interface TestCluster {
  /** The fake API server. */
  server: FakeApiServer;
  /** Starts an allocator instance named after a node. */
  start(nodeName: string, options?: Partial<StartAllocatorOptions>): Promise<Instance>;
  /** The model as last built. */
  model(): Model | undefined;
}

/** Options for {@link withCluster}. */
export interface ClusterOptions {
  /** `--pool` flags (e.g. "192.0.2.10-192.0.2.20"), besides the cluster's IPAddressPools. */
  flagPools?: string[];
  /** Fake API server options. */
  server?: FakeApiServerOptions;
}

/** An IPAddressPool object. */
export function pool(name: string, addresses: string[], spec: Record<string, unknown> = {}): MetallbObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: NAMESPACE },
    spec: { addresses, ...spec },
  };
}

/** A LoadBalancer Service. */
export function lbService(
  name: string,
  options: { namespace?: string; annotations?: Record<string, string>; loadBalancerIP?: string; port?: number } = {},
): Service {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? "default",
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {
      type: "LoadBalancer",
      ports: [{ port: options.port ?? 80, protocol: "TCP" }],
      ...(options.loadBalancerIP ? { loadBalancerIP: options.loadBalancerIP } : {}),
    },
  };
}

/** The ingress IPs of a Service on the server. */
export function ipsOf(server: FakeApiServer, name: string, namespace = "default"): string[] {
  const svc = server.get("services", namespace, name);
  return (svc?.status?.loadBalancer?.ingress ?? []).map((i: { ip?: string }) => i.ip ?? "");
}

/** Requests that change Services (status, annotations, anything), from index `since` of the request log. */
export function serviceWrites(server: FakeApiServer, since = 0): RequestRecord[] {
  return server.requests.slice(since).filter((r) =>
    r.resource === "services" && ["create", "update", "patch", "delete"].includes(r.verb)
  );
}

/** Every request that writes anything, from index `since`. */
export function allWrites(server: FakeApiServer, since = 0): RequestRecord[] {
  return server.requests.slice(since).filter((r) => ["create", "update", "patch", "delete"].includes(r.verb));
}

/**
 * Runs `fn` with a fake API server and a model source over its IPAddressPools; stops every allocator it started,
 * then the server.
 */
export async function withCluster(
  fn: (cluster: TestCluster) => Promise<void>,
  options: ClusterOptions = {},
): Promise<void> {
  const server = await startFakeApiServer(options.server ?? {});
  const config = await loadKubeConfig({ path: server.kubeconfigPath });
  const modelApi = createKubeApi({ config });
  const instances: Instance[] = [];
  const flagPools = (options.flagPools ?? []).map((text) => ({ text, range: parseRange(text) }));
  let pools: Informer<MetallbObject> | undefined;
  let model: Model | undefined;
  const rebuild = () => {
    if (pools && !pools.hasSynced()) return;
    model = buildModel({ flagPools, cluster: pools?.list() ?? [], namespace: NAMESPACE });
    for (const instance of instances) instance.allocator.poke();
  };
  if (options.server?.crds !== false) {
    pools = modelApi.ipAddressPools.informer({ namespace: NAMESPACE });
    pools.onChange(rebuild);
    pools.start();
    await pools.synced();
  }
  rebuild();
  const cluster: TestCluster = {
    server,
    model: () => model,
    async start(nodeName, extra = {}) {
      const api = createKubeApi({ config });
      const registry = new Registry();
      const allocator = startAllocator({
        api,
        namespace: NAMESPACE,
        nodeName,
        model: () => model,
        log: silentLogger,
        registry,
        retryPeriodMs: 100,
        leaseDurationSeconds: 2,
        ...extra,
      });
      let stopped = false;
      const instance: Instance = {
        allocator,
        registry,
        api,
        async stop() {
          if (stopped) return;
          stopped = true;
          await allocator.stop();
          api.close();
        },
      };
      instances.push(instance);
      return await Promise.resolve(instance);
    },
  };
  try {
    await fn(cluster);
  } finally {
    for (const instance of instances.reverse()) await instance.stop();
    await pools?.stop();
    modelApi.close();
    await server.close();
  }
}
