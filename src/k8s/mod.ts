/**
 * The Kubernetes client of metallite, written for Deno's `fetch` (no Node client library).
 *
 * ## Connecting
 * {@link loadKubeConfig} finds the settings: an explicit `--kubeconfig`; else in-cluster (KUBERNETES_SERVICE_HOST
 * and the service account files, the token re-read every minute and on a 401, since it rotates); else the first
 * file of $KUBECONFIG (a colon list is not merged); else `~/.kube/config`. From a kubeconfig it reads the current
 * context, the cluster's server and CA (file or data), and the user's token, tokenFile or client certificate/key.
 * `insecure-skip-tls-verify` cannot be honoured per connection by Deno's fetch: it works only when the process runs
 * with `--unsafely-ignore-certificate-errors`, and requests otherwise fail with an error that says so. `exec` and
 * `auth-provider` users are refused with a clear error.
 *
 * ## Requests
 * {@link KubeClient} sends JSON requests with a timeout (30 s), validates answers (garbage →
 * {@link KubeDecodeError}), turns metav1.Status answers into {@link KubeApiError} `{ status, reason }`, and
 * streams watches as async iterators (partial lines joined, a silent stream cut after 150 s). {@link createKubeApi}
 * adds a typed {@link ResourceClient} per resource metallite uses and {@link discoverMetallb}.
 *
 * ## Caches
 * {@link Informer} lists (500 per page) then watches from the list's resourceVersion with bookmarks; resumes a
 * dropped watch from the last resourceVersion seen; relists on 410 Gone, replacing the cache and emitting the
 * differences as changes; backs off 200 ms → 30 s with jitter on errors, and never reconnects at once after a watch
 * that made no progress. Objects without a string metadata.name are counted and logged once, never cached.
 * `metadata.managedFields` is dropped to keep 10,000 Services in well under 40 MB.
 *
 * ## Writes
 * {@link updateServiceStatus} (status subresource, re-read and retry on 409), {@link EventRecorder} (aggregated
 * and rate-limited Events), {@link LeaseLock} and {@link LeaderElector} (one allocator per cluster; node Leases).
 *
 * ## Requests the code can issue (for RBAC)
 * What src/k8s itself sends, by part:
 * - {@link Informer} (any resource it is given): `list`, `watch`.
 * - {@link updateServiceStatus}: `get` services; `update` services/status (default), or `patch` services/status
 *   with `method: "patch"`.
 * - {@link EventRecorder}: `create`, `patch` events (core group).
 * - {@link LeaseLock} / {@link LeaderElector}: `get`, `create`, `update` leases (coordination.k8s.io).
 * - {@link discoverMetallb}: GET `/apis/metallb.io/v1beta1` and `/apis/metallb.io/v1beta2` (non-resource URLs,
 *   allowed to every authenticated user by the default `system:discovery` role).
 * - {@link ResourceClient} otherwise sends exactly what its caller asks: `get`, `list`, `watch`, `create`,
 *   `update` (PUT), `patch`, `delete`, and `update`/`patch` on `<resource>/status`.
 *
 * @example
 * ```ts
 * import { createKubeApi, loadKubeConfig } from "./src/k8s/mod.ts";
 * const api = createKubeApi({ config: await loadKubeConfig({ env: Deno.env }) });
 * const services = api.services.informer();
 * services.onChange(({ key }) => reconcile(key));
 * services.start();
 * await services.synced();
 * // ...
 * await services.stop();
 * api.close();
 * ```
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export { FakeClock, sleep, systemClock } from "./clock.ts";
export type { Clock } from "./clock.ts";
export { Backoff } from "./backoff.ts";
export type { BackoffOptions } from "./backoff.ts";
export { loadKubeConfig, SERVICE_ACCOUNT_DIR } from "./kubeconfig.ts";
export type { KubeConfig, LoadKubeConfigOptions } from "./kubeconfig.ts";
export { isKubeObject, KubeClient, watchErrorToApiError } from "./client.ts";
export type {
  FetchFunction,
  KubeClientOptions,
  ListOptions,
  ListResult,
  PatchOptions,
  PatchType,
  RequestOptions,
  WatchOptions,
} from "./client.ts";
export { dropManagedFields, Informer, objectKey } from "./informer.ts";
export type { InformerChange, InformerOptions, InformerStats } from "./informer.ts";
export {
  apiVersionOf,
  createKubeApi,
  discoverMetallb,
  METALLB_GROUP,
  RESOURCE_TYPES,
  ResourceClient,
  resourcePath,
} from "./api.ts";
export type {
  KubeApi,
  KubeApiOptions,
  MetallbDiscovery,
  ObjectRef,
  ResourceInformerOptions,
  ResourceType,
} from "./api.ts";
export { updateServiceStatus } from "./status.ts";
export type { UpdateServiceStatusOptions } from "./status.ts";
export { EventRecorder } from "./events.ts";
export type { EventDetails, EventRecorderOptions, InvolvedObject } from "./events.ts";
export { LeaderElector, LeaseLock, microTime } from "./lease.ts";
export type { LeaderElectorOptions, LeaseLockOptions } from "./lease.ts";
