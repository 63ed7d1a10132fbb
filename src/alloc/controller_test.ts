import { assert, assertEquals } from "../../tests/assert.ts";
import { buildModel } from "../config/build.ts";
import type { ConfigurationStateStatus } from "../config/state.ts";
import type { Model, Pool } from "../config/model.ts";
import type { Condition, Service } from "../k8s/types.ts";
import { Registry } from "../metrics/mod.ts";
import {
  ADDRESS_CONDITION_TYPE,
  AllocatorController,
  type AllocatorControllerOptions,
  type AllocatorPorts,
  EVENT_REASONS,
  type PoolStatusFields,
  type ServiceEvent,
  type StatusObject,
} from "./controller.ts";
import { ALLOCATED_FROM_POOL_ANNOTATION } from "./annotations.ts";
// Tests may use the Kubernetes client's fake clock: it has the same shape as the controller's clock.
import { FakeClock } from "../k8s/clock.ts";

class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface Write {
  kind: "status" | "annotations" | "pool" | "configstate";
  key: string;
}

/**
 * An in-memory cluster behind the ports: a "server" store with resourceVersions and conflict checks, and a
 * "cache" that follows it (at once, or only on flush() when `lag` is set, like a slow watch).
 */
class FakeCluster {
  readonly server = new Map<string, Service>();
  readonly cache = new Map<string, Service>();
  readonly writes: Write[] = [];
  readonly events: (ServiceEvent & { key: string })[] = [];
  readonly pools = new Map<string, StatusObject>();
  configState: StatusObject | null = null;
  leader = true;
  synced = true;
  lag = false;
  /** Fails the next N writes (status or annotation) of the given Service key. */
  readonly failures = new Map<string, number>();
  inFlight = 0;
  maxInFlight = 0;
  writeDelayMs = 0;
  /** Called after each status write is stored, before its response returns (a third party acting meanwhile). */
  afterStatusWrite: ((key: string) => void) | undefined;
  probe: ((ip: string) => { usable: true } | { usable: false; reason: string; probing?: boolean }) | undefined;
  model: Model | undefined;
  controller: AllocatorController | undefined;
  #rv = 100;
  #uid = 0;

  constructor(model: Model) {
    this.model = model;
  }

  #nextRv(): string {
    return String(++this.#rv);
  }

  /** Creates or replaces a Service on the server (as kubectl would) and lets the cache see it. */
  put(service: Service): Service {
    const key = `${service.metadata.namespace ?? "default"}/${service.metadata.name}`;
    const old = this.server.get(key);
    const stored: Service = structuredClone({
      ...service,
      metadata: {
        namespace: "default",
        uid: old?.metadata.uid ?? `uid-${++this.#uid}`,
        creationTimestamp: old?.metadata.creationTimestamp ?? `2024-01-01T00:00:${String(this.#uid).padStart(2, "0")}Z`,
        ...service.metadata,
        resourceVersion: this.#nextRv(),
      },
    });
    this.server.set(key, stored);
    this.#toCache(key);
    return stored;
  }

  remove(key: string): void {
    this.server.delete(key);
    this.cache.delete(key);
    this.controller?.serviceChanged(key, undefined);
  }

  #toCache(key: string): void {
    if (this.lag) return;
    const object = this.server.get(key);
    if (object) this.cache.set(key, object);
    this.controller?.serviceChanged(key, object);
  }

  /** Delivers every server change to the cache (the watch catching up). */
  flush(): void {
    this.lag = false;
    for (const key of this.server.keys()) {
      if (this.cache.get(key)?.metadata.resourceVersion !== this.server.get(key)!.metadata.resourceVersion) {
        this.#toCache(key);
      }
    }
  }

  async #slot<T>(key: string, fn: () => T): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.writeDelayMs));
      const left = this.failures.get(key) ?? 0;
      if (left > 0) {
        this.failures.set(key, left - 1);
        throw new ApiError(500, "injected failure");
      }
      return fn();
    } finally {
      this.inFlight--;
    }
  }

  /** Writes to Services (status and annotations), not to pools or the ConfigurationState. */
  serviceWrites(): Write[] {
    return this.writes.filter((w) => w.kind === "status" || w.kind === "annotations");
  }

  statusWrites(): string[] {
    return this.writes.filter((w) => w.kind === "status").map((w) => w.key);
  }

  ports(): AllocatorPorts {
    const keyOf = (s: Service) => `${s.metadata.namespace}/${s.metadata.name}`;
    return {
      synced: () => this.synced,
      isLeader: () => this.leader,
      model: () => this.model,
      services: () => [...this.cache.values()],
      service: (key) => this.cache.get(key),
      isAddressUsable: (ip) => this.probe?.(ip) ?? { usable: true },
      updateServiceStatus: (current, update) =>
        this.#slot(keyOf(current), () => {
          const key = keyOf(current);
          let base = current;
          for (let attempt = 0; attempt < 5; attempt++) {
            const stored = this.server.get(key);
            if (!stored) throw new ApiError(404, "not found");
            const status = update(base);
            if (status === undefined) return undefined;
            if (stored.metadata.resourceVersion !== base.metadata.resourceVersion) {
              base = stored; // 409: read again and recompute
              continue;
            }
            this.writes.push({ kind: "status", key });
            const written = structuredClone({
              ...stored,
              status,
              metadata: { ...stored.metadata, resourceVersion: this.#nextRv() },
            });
            this.server.set(key, written);
            this.#toCache(key);
            const hook = this.afterStatusWrite;
            this.afterStatusWrite = undefined;
            hook?.(key);
            return written;
          }
          throw new ApiError(409, "conflict");
        }),
      patchServiceAnnotations: (service, annotations) =>
        this.#slot(keyOf(service), () => {
          const key = keyOf(service);
          const stored = this.server.get(key);
          if (!stored) throw new ApiError(404, "not found");
          this.writes.push({ kind: "annotations", key });
          const merged: Record<string, string> = { ...stored.metadata.annotations };
          for (const [k, v] of Object.entries(annotations)) {
            if (v === null) delete merged[k];
            else merged[k] = v;
          }
          const written = structuredClone({
            ...stored,
            metadata: { ...stored.metadata, annotations: merged, resourceVersion: this.#nextRv() },
          });
          this.server.set(key, written);
          this.#toCache(key);
          return written;
        }),
      recordEvent: (service, event) => {
        this.events.push({ key: keyOf(service), ...event });
        return Promise.resolve();
      },
      poolObject: (pool: Pool) => this.pools.get(pool.name),
      writePoolStatus: (object, status: PoolStatusFields) => {
        this.writes.push({ kind: "pool", key: object.metadata.name });
        const written = {
          ...object,
          status: { ...status },
          metadata: { ...object.metadata, resourceVersion: this.#nextRv() },
        };
        this.pools.set(object.metadata.name, written);
        return Promise.resolve(written);
      },
      configurationState: () => this.configState,
      writeConfigurationState: (_current, status: ConfigurationStateStatus) => {
        this.writes.push({ kind: "configstate", key: "controller" });
        this.configState = {
          metadata: { name: "metallite-controller", namespace: "metallb-system", resourceVersion: this.#nextRv() },
          status: structuredClone(status) as unknown as Record<string, unknown>,
        };
        return Promise.resolve(this.configState);
      },
    };
  }
}

function poolObject(name: string, addresses: string[], extra: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: "metallb-system" },
    spec: { addresses, ...extra },
  };
}

function modelOf(...pools: unknown[]): Model {
  return buildModel({ namespace: "metallb-system", cluster: pools });
}

function lb(name: string, extra: Partial<Service> & { annotations?: Record<string, string> } = {}): Service {
  const { annotations, ...rest } = extra;
  return {
    metadata: { name, namespace: "default", ...(annotations ? { annotations } : {}) },
    spec: {
      type: "LoadBalancer",
      ports: [{ port: 80, protocol: "TCP" }],
      clusterIP: "10.96.0.10",
      ipFamilies: ["IPv4"],
    },
    ...rest,
  };
}

function ingress(cluster: FakeCluster, key: string): string[] {
  return (cluster.server.get(key)?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "?");
}

function condition(cluster: FakeCluster, key: string): Condition | undefined {
  return cluster.server.get(key)?.status?.conditions?.find((c) => c.type === ADDRESS_CONDITION_TYPE);
}

interface Harness {
  cluster: FakeCluster;
  clock: FakeClock;
  controller: AllocatorController;
  metrics: Registry;
  /** Runs passes and writes until nothing is left to do. */
  converge(): Promise<void>;
}

async function withController(
  model: Model,
  fn: (h: Harness) => Promise<void>,
  options: Partial<AllocatorControllerOptions> = {},
): Promise<void> {
  const cluster = new FakeCluster(model);
  const clock = new FakeClock();
  const metrics = new Registry();
  const controller = new AllocatorController({
    ports: cluster.ports(),
    clock,
    metrics,
    random: () => 0.5,
    ...options,
  });
  cluster.controller = controller;
  const converge = async () => {
    for (let i = 0; i < 50 && !controller.idle; i++) await clock.advance(50);
    assert(controller.idle, "the controller should settle");
  };
  try {
    await fn({ cluster, clock, controller, metrics, converge });
  } finally {
    await controller.stop();
  }
}

const LAN = modelOf(poolObject("lan", ["192.0.2.10-192.0.2.12"]));

Deno.test("AllocatorController allocates only once synced and leading, then writes ingress, condition, annotation and one Event", async () => {
  await withController(LAN, async ({ cluster, controller, converge }) => {
    cluster.synced = false;
    cluster.leader = false;
    cluster.put(lb("web"));
    controller.poke();
    await converge();
    assertEquals(cluster.writes.length, 0, "nothing before sync and leadership");
    cluster.leader = true;
    controller.poke();
    await converge();
    assertEquals(cluster.writes.length, 0, "nothing before every cache has synced");
    cluster.synced = true;
    controller.poke();
    await converge();
    assertEquals(ingress(cluster, "default/web"), ["192.0.2.10"]);
    assertEquals(cluster.server.get("default/web")?.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION], "lan");
    const c = condition(cluster, "default/web");
    assertEquals([c?.status, c?.reason, c?.message], ["True", "Assigned", '192.0.2.10 from pool "lan"']);
    assertEquals(cluster.serviceWrites().map((w) => w.kind), ["status", "annotations"]);
    assertEquals(cluster.events, [{
      key: "default/web",
      type: "Normal",
      reason: EVENT_REASONS.allocated,
      message: 'Assigned IP ["192.0.2.10"] from pool "lan"',
    }]);
  });
});

Deno.test("AllocatorController writes nothing more once right, even while the cache lags behind its writes", async () => {
  await withController(LAN, async ({ cluster, controller, converge }) => {
    cluster.lag = true;
    cluster.put(lb("a"));
    cluster.put(lb("b"));
    cluster.flush();
    cluster.lag = true; // our writes reach the server but not the cache
    await converge();
    assertEquals(cluster.statusWrites(), ["default/a", "default/b"]);
    for (let i = 0; i < 5; i++) {
      controller.poke();
      await converge();
    }
    assertEquals(cluster.serviceWrites().length, 4, "no second write while the cache is stale");
    const passes = controller.stats.passes;
    cluster.flush(); // the echoes of our own writes arrive
    await converge();
    assertEquals(controller.stats.passes, passes, "echoes of our writes do not trigger a pass");
    controller.poke();
    await converge();
    assertEquals(cluster.serviceWrites().length, 4, "steady state: zero writes");
    assertEquals(ingress(cluster, "default/a"), ["192.0.2.10"]);
    assertEquals(ingress(cluster, "default/b"), ["192.0.2.11"]);
  });
});

Deno.test("AllocatorController leaves a Service pending with a False condition, one Warning Event, and other conditions kept", async () => {
  const tiny = modelOf(poolObject("tiny", ["192.0.2.10/32"]));
  await withController(tiny, async ({ cluster, controller, converge, metrics }) => {
    cluster.put(lb("first"));
    await converge();
    const other: Condition = {
      type: "example.com/Other",
      status: "True",
      reason: "Fine",
      message: "kept",
      lastTransitionTime: "2024-01-01T00:00:00Z",
    };
    cluster.put(lb("second", { status: { conditions: [other] } }));
    await converge();
    assertEquals(ingress(cluster, "default/second"), []);
    const c = condition(cluster, "default/second");
    assertEquals([c?.status, c?.reason], ["False", "PoolExhausted"]);
    assertEquals(c?.message, 'pool "tiny" is exhausted for IPv4');
    assertEquals(cluster.server.get("default/second")?.status?.conditions?.[0], other);
    const warnings = cluster.events.filter((e) => e.type === "Warning");
    assertEquals(warnings, [{
      key: "default/second",
      type: "Warning",
      reason: EVENT_REASONS.failed,
      message: 'Failed to allocate IP for "default/second": pool "tiny" is exhausted for IPv4',
    }]);
    assertEquals(metrics.find("metallite_services_pending")?.get(), 1);
    // Asking for an address in use changes the reason: a second Warning, the condition follows.
    cluster.put(lb("second", {
      annotations: { "metallb.io/loadBalancerIPs": "192.0.2.10" },
      status: cluster.server.get("default/second")!.status!,
    }));
    await converge();
    assertEquals(condition(cluster, "default/second")?.reason, "IpInUse");
    assertEquals(condition(cluster, "default/second")?.message, "IP 192.0.2.10 is in use by default/first");
    assertEquals(cluster.events.filter((e) => e.type === "Warning").length, 2);
    const writes = cluster.serviceWrites().length;
    controller.poke();
    await converge();
    assertEquals(cluster.serviceWrites().length, writes, "a pending Service is not rewritten");
    assertEquals(cluster.events.filter((e) => e.type === "Warning").length, 2, "nor reported again");
    // Deleting the holder releases the address to the one that asked for it.
    cluster.remove("default/first");
    await converge();
    assertEquals(ingress(cluster, "default/second"), ["192.0.2.10"]);
    assertEquals(condition(cluster, "default/second")?.status, "True");
    assertEquals(metrics.find("metallite_services_pending")?.get(), 0);
  });
});

Deno.test("AllocatorController releases a Service that stops being a LoadBalancer and never touches another class's", async () => {
  await withController(LAN, async ({ cluster, converge }) => {
    cluster.put(lb("web"));
    cluster.put(lb("theirs", {
      spec: { type: "LoadBalancer", loadBalancerClass: "example.com/other", clusterIP: "10.96.0.11" },
      status: { loadBalancer: { ingress: [{ ip: "198.51.100.1" }] } },
    }));
    await converge();
    assertEquals(ingress(cluster, "default/web"), ["192.0.2.10"]);
    const web = cluster.server.get("default/web")!;
    cluster.put({ ...web, spec: { type: "ClusterIP", clusterIP: "10.96.0.10" } });
    await converge();
    assertEquals(ingress(cluster, "default/web"), []);
    assertEquals(condition(cluster, "default/web"), undefined);
    assertEquals(cluster.server.get("default/web")?.metadata.annotations?.[ALLOCATED_FROM_POOL_ANNOTATION], undefined);
    assertEquals(cluster.writes.filter((w) => w.key === "default/theirs"), []);
    // The address is free again.
    cluster.put(lb("next"));
    await converge();
    assertEquals(ingress(cluster, "default/next"), ["192.0.2.10"]);
  });
});

Deno.test("AllocatorController adopts addresses MetalLB wrote: no IP changes, no IPAllocated Event, only the condition", async () => {
  await withController(LAN, async ({ cluster, converge }) => {
    // Out of MetalLB's random order: .12 for the older Service, .10 for the younger.
    cluster.put(lb("old", {
      annotations: { [ALLOCATED_FROM_POOL_ANNOTATION]: "lan" },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.12" }] } },
    }));
    cluster.put(lb("young", {
      annotations: { [ALLOCATED_FROM_POOL_ANNOTATION]: "lan" },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
    }));
    await converge();
    assertEquals(ingress(cluster, "default/old"), ["192.0.2.12"]);
    assertEquals(ingress(cluster, "default/young"), ["192.0.2.10"]);
    assertEquals(cluster.serviceWrites().map((w) => w.kind), ["status", "status"], "the condition only");
    assertEquals(cluster.events.length, 0);
  });
});

Deno.test("AllocatorController as a new leader over a converged cluster writes nothing; a follower never writes", async () => {
  await withController(LAN, async ({ cluster, converge }) => {
    cluster.put(lb("a"));
    cluster.put(lb("b"));
    await converge();
    const before = structuredClone([...cluster.server.values()]);
    const writes = cluster.writes.length;
    // A second instance, leader from now on, sees the same cluster.
    const clock = new FakeClock();
    const next = new AllocatorController({ ports: cluster.ports(), clock });
    try {
      next.poke();
      for (let i = 0; i < 10; i++) await clock.advance(50);
      assertEquals(cluster.writes.length, writes);
      assertEquals([...cluster.server.values()], before);
    } finally {
      await next.stop();
    }
    cluster.leader = false;
    cluster.put(lb("c"));
    await converge();
    assertEquals(cluster.writes.length, writes, "followers keep caches warm but never write");
  });
});

Deno.test("AllocatorController retries a failing write with backoff while other Services proceed", async () => {
  await withController(LAN, async ({ cluster, clock, controller }) => {
    cluster.failures.set("default/a", 3);
    cluster.put(lb("a"));
    cluster.put(lb("b"));
    await clock.advance(100);
    assertEquals(ingress(cluster, "default/b"), ["192.0.2.11"], "b is not held up by a");
    assertEquals(ingress(cluster, "default/a"), []);
    assertEquals(controller.stats.failures, 1);
    await clock.advance(450);
    assertEquals(controller.stats.failures, 1, "no retry before the backoff (500 ms)");
    await clock.advance(200);
    assertEquals(controller.stats.failures, 2, "second attempt after ~500 ms");
    await clock.advance(700);
    assertEquals(controller.stats.failures, 2, "third attempt waits ~1 s");
    await clock.advance(200);
    assertEquals(controller.stats.failures, 3);
    await clock.advance(2100);
    assertEquals(ingress(cluster, "default/a"), ["192.0.2.10"]);
  }, { retryInitialMs: 500 });
});

Deno.test("AllocatorController keeps at most maxInFlight writes running", async () => {
  const big = modelOf(poolObject("big", ["198.51.100.0/24"]));
  await withController(big, async ({ cluster, clock, controller }) => {
    cluster.writeDelayMs = 2;
    for (let i = 0; i < 40; i++) cluster.put(lb(`s${String(i).padStart(2, "0")}`));
    for (let i = 0; i < 200 && !controller.idle; i++) await clock.advance(10);
    assert(controller.idle);
    assertEquals(cluster.maxInFlight, 4);
    assertEquals(cluster.statusWrites().length, 40);
    assertEquals(ingress(cluster, "default/s39"), ["198.51.100.39"]);
  }, { maxInFlight: 4 });
});

Deno.test("AllocatorController does not report an address being probed; the settled result allocates", async () => {
  await withController(LAN, async ({ cluster, controller, converge }) => {
    const verdicts = new Map<string, { usable: true } | { usable: false; reason: string; probing?: boolean }>();
    cluster.probe = (ip) =>
      verdicts.get(ip) ?? { usable: false, reason: "address-conflict probe in progress", probing: true };
    cluster.put(lb("web"));
    await converge();
    assertEquals(cluster.serviceWrites().length, 0);
    assertEquals(cluster.events.length, 0);
    verdicts.set("192.0.2.10", { usable: false, reason: "MAC 02:00:00:00:00:01 answers for it" });
    verdicts.set("192.0.2.11", { usable: true });
    controller.poke(); // the detector's onSettled
    await converge();
    assertEquals(ingress(cluster, "default/web"), ["192.0.2.11"]);
  });
});

Deno.test("AllocatorController writes pool status counters and the ConfigurationState only when they differ", async () => {
  const model = modelOf(poolObject("lan", ["192.0.2.10-192.0.2.12"]), poolObject("bad", ["not-an-address"]));
  await withController(model, async ({ cluster, controller, converge, metrics }) => {
    cluster.pools.set("lan", { metadata: { name: "lan", namespace: "metallb-system", resourceVersion: "1" } });
    cluster.put(lb("web"));
    await converge();
    assertEquals(cluster.pools.get("lan")?.status, {
      assignedIPv4: 1,
      assignedIPv6: 0,
      availableIPv4: 2,
      availableIPv6: 0,
    });
    assertEquals(cluster.configState?.status?.result, "Invalid");
    assert(String(cluster.configState?.status?.errorSummary).includes("IPAddressPool metallb-system/bad"));
    const writes = cluster.writes.length;
    controller.poke();
    await converge();
    assertEquals(cluster.writes.length, writes);
    assertEquals(metrics.find("metallite_pool_addresses")?.get({ pool: "lan", family: "ipv4", state: "assigned" }), 1);
    assertEquals(metrics.find("metallite_pool_addresses")?.get({ pool: "lan", family: "ipv4", state: "available" }), 2);
    assertEquals(metrics.find("metallite_allocations_total")?.get({ pool: "lan", result: "allocated" }), 1);
  });
});

Deno.test("AllocatorController makes one pass for a burst of changes", async () => {
  await withController(LAN, async ({ cluster, controller, clock }) => {
    for (let i = 0; i < 3; i++) cluster.put(lb(`s${i}`));
    for (let i = 0; i < 20; i++) controller.poke();
    await clock.advance(29);
    assertEquals(controller.stats.passes, 0, "debounced");
    await clock.advance(2);
    assertEquals(controller.stats.passes, 1);
  }, { debounceMs: 30 });
});

Deno.test("AllocatorController steps down: queued writes are dropped when leadership is lost", async () => {
  const big = modelOf(poolObject("big", ["198.51.100.0/24"]));
  await withController(big, async ({ cluster, clock, controller }) => {
    cluster.writeDelayMs = 5;
    for (let i = 0; i < 20; i++) cluster.put(lb(`s${i}`));
    await clock.advance(31);
    cluster.leader = false;
    controller.poke();
    for (let i = 0; i < 20; i++) await clock.advance(20);
    assert(cluster.statusWrites().length <= 2, `at most the writes already running: ${cluster.statusWrites().length}`);
    assertEquals(metrics(controller), 0);
  }, { maxInFlight: 2 });

  function metrics(c: AllocatorController): number {
    return c.stats.queued;
  }
});

Deno.test("AllocatorController does not lose a change made by someone else while its write was running", async () => {
  await withController(LAN, async ({ cluster, controller, converge }) => {
    cluster.put(lb("web"));
    cluster.afterStatusWrite = () => {
      // Between our write and its response: the user asks for another address.
      const current = cluster.server.get("default/web")!;
      cluster.put({
        ...current,
        metadata: { ...current.metadata, annotations: { "metallb.io/loadBalancerIPs": "192.0.2.12" } },
      });
    };
    await converge();
    assertEquals(ingress(cluster, "default/web"), ["192.0.2.12"]);
    assert(controller.stats.passes >= 2);
  });
});
