/**
 * What the cluster learns about this node's Layer 2 ownership: the `nodeAssigned` Event and one ServiceL2Status per
 * announced Service. The election hands every change over in the middle of its reconcile; this publisher only queues
 * it there and does the work later, in short slices that give the event loop back between them, so the first
 * reconcile over 10,000 Services does not also hold the loop (and `/readyz`, heartbeats, watches) for the 10,000
 * Events and status objects it earns.
 * @module
 */
import type { EventRecorder, KubeApi, MetallbObject, Service } from "../k8s/mod.ts";
import { buildServiceL2Status, L2_STATUS_LABELS, nodeAssignedEvent, type OwnershipChange } from "../l2/mod.ts";
import type { Logger } from "../log/mod.ts";

/** Options for {@link createL2Publisher}. */
export interface L2PublisherOptions {
  /** The cluster (ServiceL2Status objects). */
  api: Pick<KubeApi, "serviceL2Statuses">;
  /** Records the `nodeAssigned` Event. */
  events: Pick<EventRecorder, "record">;
  /** This node's name. */
  nodeName: string;
  /** metallite's namespace, where the status objects live. */
  namespace: string;
  /** Whether the cluster serves the metallb.io CRDs (no status objects without them). */
  crds: boolean;
  /** Logger. */
  log: Logger;
  /** Milliseconds for the slice budget; default `performance.now`. */
  now?: () => number;
  /** Runs `fn` in a later task, after the event loop has served I/O; default `setTimeout(fn, 0)`. */
  nextTurn?: (fn: () => void) => void;
  /** Most milliseconds of queued changes handled in one go before the loop is given back; default 5. */
  sliceMs?: number;
}

/** Publishes ownership changes without blocking the Layer 2 controller. */
export interface L2Publisher {
  /** Queues one change (the controller's `publish`); returns at once. */
  publish(change: OwnershipChange): void;
  /** Changes queued and not handled yet. */
  readonly queued: number;
  /** Handles every queued change now and waits for the status writes (at shutdown). */
  drain(): Promise<void>;
}

/**
 * Creates the publisher. Changes are handled in the order they came; the status writes run one at a time (created,
 * then their status written, since the status subresource ignores status on create). A change that cannot be
 * written is logged once per kind of error, never retried: the next ownership change writes again.
 *
 * @example
 * ```ts
 * const statuses = createL2Publisher({ api, events, nodeName, namespace, crds: true, log });
 * createL2Controller({ ..., publish: (change) => statuses.publish(change) });
 * ```
 */
export function createL2Publisher(options: L2PublisherOptions): L2Publisher {
  const { api, events, nodeName, namespace, log } = options;
  const now = options.now ?? (() => performance.now());
  const nextTurn = options.nextTurn ?? ((fn: () => void) => void setTimeout(fn, 0));
  const sliceMs = options.sliceMs ?? 5;
  const created = new Map<string, string>();
  const pending: OwnershipChange[] = [];
  let head = 0;
  let scheduled = false;
  let chain: Promise<void> = Promise.resolve();

  const enqueue = (work: () => Promise<void>) => {
    chain = chain.then(work).catch((error) =>
      log.warnOnce(`l2-status:${String(error)}`, "cannot publish Layer 2 status", { error })
    );
  };
  if (options.crds) {
    // Objects of an earlier run of this node describe nothing now: this instance owns nothing yet.
    enqueue(async () => {
      const stale = await api.serviceL2Statuses.list({
        namespace,
        labelSelector: `${L2_STATUS_LABELS.node}=${nodeName}`,
      });
      for (const item of stale.items) {
        await api.serviceL2Statuses.delete({ namespace, name: item.metadata.name });
      }
    });
  }

  function handle(change: OwnershipChange): void {
    const [serviceNamespace = "", name = ""] = change.service.split("/");
    if (change.kind === "announced" && change.object) {
      const service: Service = change.object;
      void events.record(
        {
          kind: "Service",
          apiVersion: "v1",
          name,
          namespace: serviceNamespace,
          ...(service.metadata.uid ? { uid: service.metadata.uid } : {}),
        },
        nodeAssignedEvent(nodeName),
      );
    }
    if (!options.crds) return;
    enqueue(async () => {
      const existing = created.get(change.service);
      if (change.kind === "withdrawn") {
        if (existing === undefined) return;
        created.delete(change.service);
        await api.serviceL2Statuses.delete({ namespace, name: existing });
        return;
      }
      const desired = buildServiceL2Status({
        nodeName,
        namespace,
        serviceName: name,
        serviceNamespace,
        interfaces: change.interfaces,
      });
      let object: MetallbObject;
      if (existing === undefined) {
        object = await api.serviceL2Statuses.create(desired as unknown as MetallbObject);
        created.set(change.service, object.metadata.name);
      } else {
        object = await api.serviceL2Statuses.get({ namespace, name: existing });
      }
      await api.serviceL2Statuses.updateStatus({ ...object, status: desired.status } as MetallbObject);
    });
  }

  /** Handles queued changes until the budget is spent (at least one), then yields if more are left. */
  function slice(budgetMs: number): void {
    const started = now();
    while (head < pending.length) {
      handle(pending[head++]!);
      if (now() - started >= budgetMs) break;
    }
    if (head >= pending.length) {
      pending.length = 0;
      head = 0;
    } else if (!scheduled) {
      scheduled = true;
      nextTurn(run);
    }
  }

  function run(): void {
    scheduled = false;
    slice(sliceMs);
  }

  return {
    publish(change) {
      pending.push(change);
      if (scheduled) return;
      scheduled = true;
      nextTurn(run);
    },
    get queued() {
      return pending.length - head;
    },
    drain() {
      slice(Infinity);
      return chain;
    },
  };
}
