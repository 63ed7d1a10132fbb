/**
 * The errors the Kubernetes client throws. Each says what failed and with which value, in one line, so a caller can
 * log `error.message` as is; `instanceof` tells apart a bad configuration, an API refusal, garbage and a dead network.
 * @module
 */

/** A kubeconfig or in-cluster configuration that cannot be used (missing file, bad YAML, unknown context...). */
export class KubeConfigError extends Error {
  override name = "KubeConfigError";
}

/**
 * The API server answered with an error status (a metav1.Status or an unparsable error body).
 *
 * @example
 * ```ts
 * try { await client.get(path); } catch (e) { if (e instanceof KubeApiError && e.status === 404) {} }
 * ```
 */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  /** HTTP status code (or the `code` of an ERROR watch event). */
  readonly status: number;
  /** metav1.Status `reason` (`NotFound`, `Conflict`, `Expired`...), or "" when the body carried none. */
  readonly reason: string;
  /** HTTP method of the failed request. */
  readonly method: string;
  /** Path of the failed request. */
  readonly path: string;
  /** The server's message alone (`message` adds the method, path and status), for Events and conditions. */
  readonly serverMessage: string;

  constructor(options: { status: number; reason: string; message: string; method: string; path: string }) {
    super(`${options.method} ${options.path}: ${options.status} ${options.reason || "error"}: ${options.message}`);
    this.status = options.status;
    this.reason = options.reason;
    this.method = options.method;
    this.path = options.path;
    this.serverMessage = options.message;
  }
}

/** The API server answered with a body that is not the JSON we asked for (garbage, truncated, wrong shape). */
export class KubeDecodeError extends Error {
  override name = "KubeDecodeError";
}

/** The request never got an answer: connection refused, TLS failure, timeout, or a stream that went quiet. */
export class KubeRequestError extends Error {
  override name = "KubeRequestError";
  /** True when our own timeout (request or watch idle timeout) cut the request. */
  readonly timedOut: boolean;

  constructor(message: string, options: { timedOut?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.timedOut = options.timedOut ?? false;
  }
}

/** True for a 404 from the API server. */
export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

/** True for a 409 (resourceVersion conflict, or create of an existing name). */
export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 409;
}

/** True for a 410 Gone (the resourceVersion asked for is older than the server's history). */
export function isGone(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 410;
}
