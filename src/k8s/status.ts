/**
 * Writing a Service's status (load balancer ingress, conditions) through the status subresource, retrying on
 * resourceVersion conflicts with a fresh read so that a concurrent writer is never overwritten blindly.
 * @module
 */
import type { ResourceClient } from "./api.ts";
import { isConflict } from "./errors.ts";
import type { Service } from "./types.ts";

/** Options for {@link updateServiceStatus}. */
export interface UpdateServiceStatusOptions {
  /** The Services resource client. */
  services: ResourceClient<Service>;
  /** Namespace of the Service. */
  namespace: string;
  /** Name of the Service. */
  name: string;
  /**
   * Computes the wanted status from the current Service (called again with a fresh copy after a conflict).
   * Returns undefined when the status is already right, and nothing is written.
   */
  update: (service: Service) => Service["status"] | undefined;
  /** A cached copy to start from, which saves the first GET; a stale copy costs one 409 and a retry. */
  current?: Service;
  /** "put" (whole status, default) or "patch" (JSON merge patch of status, guarded by resourceVersion). */
  method?: "put" | "patch";
  /** Writes attempted before giving up on conflicts; default 5. */
  maxAttempts?: number;
  /** Aborts the work. */
  signal?: AbortSignal;
}

/**
 * Writes a Service's status, conflict-checked: every write carries the resourceVersion it was computed from, and on
 * 409 Conflict the Service is read again and `update` recomputed, up to `maxAttempts` writes.
 *
 * @returns the Service as written, or undefined when `update` found nothing to change.
 * @throws {KubeApiError} the last 409 after `maxAttempts`, or any other API error (404 when the Service is gone).
 *
 * @example
 * ```ts
 * await updateServiceStatus({
 *   services: api.services, namespace: "default", name: "web",
 *   update: (svc) => ({ ...svc.status, loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } }),
 * });
 * ```
 */
export async function updateServiceStatus(options: UpdateServiceStatusOptions): Promise<Service | undefined> {
  const { services, namespace, name } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const signalOption = options.signal ? { signal: options.signal } : {};
  let current = options.current ?? await services.get({ namespace, name }, signalOption);
  for (let attempt = 1;; attempt++) {
    const status = options.update(current);
    if (status === undefined) return undefined;
    try {
      if (options.method === "patch") {
        const patch = { metadata: { resourceVersion: current.metadata.resourceVersion }, status };
        return await services.patchStatus({ namespace, name }, patch, "merge", signalOption);
      }
      return await services.updateStatus({ ...current, status }, signalOption);
    } catch (error) {
      if (!isConflict(error) || attempt >= maxAttempts) throw error;
    }
    current = await services.get({ namespace, name }, signalOption);
  }
}
