/**
 * Wires the allocator controller (src/alloc/controller.ts) to the Kubernetes client: informers for Services (the
 * daemon passes its shared one), Namespaces (when a pool selects namespaces by label), and the metallb.io
 * IPAddressPools and ConfigurationState (when the CRDs exist) feed it; a Lease elects the one instance that writes; the writers are the client's status,
 * patch and Event helpers.
 *
 * Requests it issues (for RBAC):
 * - services: `list`, `watch` (all namespaces), `get` (re-read after a 409), `update` services/status, `patch`
 *   services (the `metallb.io/ip-allocated-from-pool` annotation, JSON merge patch).
 * - namespaces: `list`, `watch` — only while a pool has `serviceAllocation.namespaceSelectors`.
 * - events (core): `create`, `patch`.
 * - leases (coordination.k8s.io) in `namespace`: `get`, `create`, `update`.
 * - metallb.io, only when discovery finds them, in `namespace`: ipaddresspools `list`, `watch`, `patch`
 *   ipaddresspools/status; configurationstates `list`, `watch` (field selector on its name), `create`, `get`,
 *   `patch` configurationstates/status.
 * - GET /apis/metallb.io/v1beta1 and /apis/metallb.io/v1beta2 (discovery).
 * @module
 */
import { AllocatorController, COMPONENT_TYPE_LABEL, type StatusObject } from "../alloc/controller.ts";
import type { Model, Pool } from "../config/model.ts";
import {
  Backoff,
  type Clock,
  EventRecorder,
  type Informer,
  isConflict,
  type KubeApi,
  type KubeObject,
  LeaderElector,
  LeaseLock,
  type MetallbDiscovery,
  type MetallbObject,
  ResourceClient,
  type ResourceType,
  type Service,
  sleep,
  systemClock,
  updateServiceStatus,
} from "../k8s/mod.ts";
import type { ConflictDetector } from "../l2/conflict.ts";
import type { Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";

/** Name of the allocator's Lease in `--namespace`. */
export const ALLOCATOR_LEASE_NAME = "metallite-allocator";

/** Name of the ConfigurationState the allocator leader writes (MetalLB's controller writes "controller"). */
export const CONFIGURATION_STATE_NAME = "metallite-controller";

/** source.component of the Events the allocator records (MetalLB's is "metallb-controller"). */
export const ALLOCATOR_EVENT_COMPONENT = "metallite-controller";

const NAMESPACES: ResourceType = {
  group: "",
  version: "v1",
  plural: "namespaces",
  kind: "Namespace",
  namespaced: false,
};

/** Options for {@link startAllocator}. */
export interface StartAllocatorOptions {
  /** The Kubernetes API (its client is shared, not closed here). */
  api: KubeApi;
  /** `--namespace`: where the Lease, the IPAddressPools and the ConfigurationState live. */
  namespace: string;
  /** This node's name: the Lease identity and the Events' source host. */
  nodeName: string;
  /** `--lb-class`; undefined serves Services without a loadBalancerClass. */
  lbClass?: string | undefined;
  /**
   * The current model. Must return undefined until every configuration source (flags, files, and the cluster's
   * metallb.io objects) has been read once: an address in a pool the model does not know yet would be released.
   * Call {@link Allocator.poke} whenever it changes.
   */
  model: () => Model | undefined;
  /** Logger. */
  log: Logger;
  /** Metrics registry. */
  registry: Registry;
  /** Clock for the Lease, backoff and Events; default the system clock. */
  clock?: Clock;
  /** Clock of the allocation passes (heavy: every Service at once) and write retries; default `clock`. */
  passClock?: Clock;
  /**
   * The Layer 2 address-conflict detector; its `check` becomes the allocator's `isAddressUsable`. Create it with
   * `onSettled: () => allocator.poke()`.
   */
  conflictDetector?: Pick<ConflictDetector, "check">;
  /** Lease duration; default 15 s. A successor takes over at most this long after a leader dies without releasing. */
  leaseDurationSeconds?: number;
  /** Time between Lease attempts; default 2,000 ms. */
  retryPeriodMs?: number;
  /** Lease name; default {@link ALLOCATOR_LEASE_NAME}. */
  leaseName?: string;
  /** ConfigurationState name; default {@link CONFIGURATION_STATE_NAME}. */
  configurationStateName?: string;
  /** Which metallb.io resources the cluster serves; default: asked at start (retried until it answers). */
  metallb?: MetallbDiscovery;
  /** Most writes in flight; default 32 (see the controller's `maxInFlight`). */
  maxInFlight?: number;
  /** Debounce of allocation passes, ms; default 30. */
  debounceMs?: number;
  /**
   * The Services informer to read, shared with the other parts (the daemon's caches); started and stopped by its
   * owner. Default: one of its own, started here and stopped by {@link Allocator.stop}.
   */
  services?: Informer<Service>;
}

/** A running allocator. */
export interface Allocator {
  /** True once discovery is done and every cache has synced (followers included). */
  ready(): boolean;
  /** True while this instance holds the allocator Lease. */
  isLeader(): boolean;
  /** Schedules an allocation pass: call it when the model changes or conflict probes settle. */
  poke(): void;
  /** The controller (for status output and tests). */
  readonly controller: AllocatorController;
  /** Stops writing, releases the Lease, stops the informers. */
  stop(): Promise<void>;
}

/**
 * Starts the allocator: informers, leader election, and the controller that writes as leader.
 *
 * @example
 * ```ts
 * const allocator = startAllocator({ api, namespace: run.namespace, nodeName: run.nodeName, lbClass: run.lbClass,
 *   model: () => config.model(), log, registry });
 * config.onChange(() => allocator.poke());
 * // on shutdown
 * await allocator.stop();
 * ```
 */
export function startAllocator(options: StartAllocatorOptions): Allocator {
  const { api, namespace } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log.with({ part: "allocator" });
  const configStateName = options.configurationStateName ?? CONFIGURATION_STATE_NAME;
  const abort = new AbortController();

  const ownServices = options.services === undefined;
  const services = options.services ?? api.services.informer({ name: "services" });
  let namespaces: Informer<KubeObject> | undefined;
  let pools: Informer<MetallbObject> | undefined;
  let configStates: Informer<MetallbObject> | undefined;
  let discovered = false;

  const leaderGauge = options.registry.gauge(
    "metallite_allocator_leader",
    "1 while this instance holds the allocator Lease",
  );
  leaderGauge.set(undefined, 0);
  const lock = new LeaseLock({
    leases: api.leases,
    namespace,
    name: options.leaseName ?? ALLOCATOR_LEASE_NAME,
    identity: options.nodeName,
    clock,
    ...(options.leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds: options.leaseDurationSeconds }),
  });
  const recorder = new EventRecorder({
    events: api.events,
    component: ALLOCATOR_EVENT_COMPONENT,
    host: options.nodeName,
    clock,
    log,
    // A cold start over 10,000 Services earns as many Events; they trickle out beside the address writes.
    maxInFlight: 4,
  });

  const poolRef = (pool: Pool) => `${pool.ref.namespace}/${pool.ref.name}`;
  const detector = options.conflictDetector;
  const controller: AllocatorController = new AllocatorController({
    clock: options.passClock ?? clock,
    log,
    metrics: options.registry,
    lbClass: options.lbClass,
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
    ports: {
      synced: () => ready(),
      isLeader: () => elector.isLeader(),
      model: options.model,
      services: () => services.list(),
      service: (key) => services.get(key),
      namespaces: () => {
        if (namespaces === undefined) {
          namespaces = new ResourceClient<KubeObject>(api.client, NAMESPACES).informer({ name: "namespaces" });
          namespaces.onChange(() => controller.poke());
          namespaces.start();
          namespaces.synced().then(() => controller.poke());
          log.info("A pool selects namespaces by label: watching Namespaces");
        }
        return namespaces.hasSynced() ? namespaces.list() : undefined;
      },
      ...(detector ? { isAddressUsable: (ip: string, pool: string) => detector.check(ip, pool) } : {}),
      updateServiceStatus: (current, update) =>
        updateServiceStatus({
          services: api.services,
          namespace: current.metadata.namespace ?? "default",
          name: current.metadata.name,
          current,
          update,
          signal: abort.signal,
        }),
      patchServiceAnnotations: (service, annotations) =>
        api.services.patch(
          { namespace: service.metadata.namespace ?? "default", name: service.metadata.name },
          { metadata: { annotations } },
          "merge",
          { signal: abort.signal },
        ),
      recordEvent: (service, event) =>
        recorder.record({
          kind: "Service",
          apiVersion: "v1",
          name: service.metadata.name,
          ...(service.metadata.namespace ? { namespace: service.metadata.namespace } : {}),
          ...(service.metadata.uid ? { uid: service.metadata.uid } : {}),
        }, event),
      poolObject: (pool) => pools?.get(poolRef(pool)) as StatusObject | undefined,
      writePoolStatus: async (object, status) =>
        await api.ipAddressPools.patchStatus(
          { namespace: object.metadata.namespace, name: object.metadata.name },
          { status },
          "merge",
          { signal: abort.signal },
        ) as StatusObject,
      configurationState: () => {
        if (configStates === undefined) return undefined; // no CRD (or not discovered yet): nothing to write
        return (configStates.get(`${namespace}/${configStateName}`) as StatusObject | undefined) ?? null;
      },
      writeConfigurationState: async (current, status) => {
        const ref = { namespace, name: configStateName };
        if (current === null) {
          try {
            await api.configurationStates.create({
              metadata: { ...ref, labels: { [COMPONENT_TYPE_LABEL]: "controller" } },
            }, { signal: abort.signal });
          } catch (error) {
            if (!isConflict(error)) throw error; // 409: it exists already; write its status
          }
        }
        return await api.configurationStates.patchStatus(ref, { status }, "merge", {
          signal: abort.signal,
        }) as StatusObject;
      },
    },
  });

  const elector = new LeaderElector({
    lock,
    clock,
    log,
    ...(options.retryPeriodMs === undefined ? {} : { retryPeriodMs: options.retryPeriodMs }),
    onStartedLeading: () => {
      leaderGauge.set(undefined, 1);
      log.info("Became the allocator leader", { identity: options.nodeName });
      controller.poke();
    },
    onStoppedLeading: () => {
      leaderGauge.set(undefined, 0);
      log.info("Stopped being the allocator leader", { identity: options.nodeName });
      controller.poke();
    },
  });

  function ready(): boolean {
    return discovered && services.hasSynced() && (pools?.hasSynced() ?? true) && (configStates?.hasSynced() ?? true);
  }

  function watch<T extends KubeObject>(informer: Informer<T>): Informer<T> {
    informer.onChange(() => controller.poke());
    informer.start();
    informer.synced().then(() => controller.poke());
    return informer;
  }

  function useDiscovery(found: MetallbDiscovery): void {
    const v1beta1 = found.resources.v1beta1 ?? [];
    if (v1beta1.includes("ipaddresspools")) pools = watch(api.ipAddressPools.informer({ namespace }));
    if (v1beta1.includes("configurationstates")) {
      configStates = watch(
        api.configurationStates.informer({ namespace, fieldSelector: `metadata.name=${configStateName}` }),
      );
    }
    discovered = true;
    controller.poke();
  }

  async function discover(): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    while (!abort.signal.aborted) {
      try {
        const found = await api.discoverMetallb({ signal: abort.signal });
        if (abort.signal.aborted) return;
        useDiscovery(found);
        return;
      } catch (error) {
        if (abort.signal.aborted) return;
        log.warn("Cannot ask the API server which metallb.io resources it serves; retrying", { error });
        await sleep(clock, backoff.next(), abort.signal);
      }
    }
  }

  const offServices = services.onChange((change) => controller.serviceChanged(change.key, change.object));
  if (ownServices) services.start();
  services.synced().then(() => controller.poke());
  const discovering = options.metallb ? (useDiscovery(options.metallb), Promise.resolve()) : discover();
  elector.start();

  return {
    ready,
    isLeader: () => elector.isLeader(),
    poke: () => controller.poke(),
    controller,
    async stop() {
      // Stop passes first, then cut running requests, so that stop() never waits for a hung API server.
      const stopping = controller.stop();
      abort.abort();
      await stopping;
      await elector.stop();
      leaderGauge.set(undefined, 0);
      await discovering;
      offServices();
      await Promise.all([
        ownServices ? services.stop() : undefined,
        namespaces?.stop(),
        pools?.stop(),
        configStates?.stop(),
      ]);
    },
  };
}
