/**
 * Fault injection for the fake API server: failed requests (status and body of your choice), hanging requests,
 * latency, dropped watches and forced 410s. The server consults it for every authenticated request.
 * @module
 */

/** Which requests a fault applies to; every field given must match. */
export interface FaultMatch {
  /** HTTP method, e.g. "PUT". */
  method?: string;
  /** Tested against the path (without query), e.g. /services/. */
  pathPattern?: RegExp;
  /** API verb: get list watch create update patch delete deletecollection. */
  verb?: string;
  /** Resource plural, e.g. "services". */
  resource?: string;
  /** Subresource, e.g. "status". */
  subresource?: string;
}

/** How `dropWatches` ends a watch. */
export interface DropOptions {
  /** Cut the stream (an aborted response) instead of ending it cleanly. */
  abort?: boolean;
  /** Send an ERROR event with this Status before ending. */
  error?: { code: number; reason?: string; message?: string };
}

/** What `failNext` sends instead of the real answer. */
export interface FailOptions extends FaultMatch {
  /** HTTP status; default 500. */
  status?: number;
  /** Raw response body (e.g. garbage); default a metav1.Status for the status. */
  body?: string;
}

/** What the server knows about a request when it asks for faults. */
export interface RequestFacts {
  method: string;
  path: string;
  verb: string;
  resource: string;
  subresource?: string | undefined;
}

/** The fault controls the server exposes as `server.faults`. */
export interface Faults {
  /**
   * Ends open watch streams (of one resource, or all): cleanly by default; `abort: true` cuts the stream instead;
   * `error` first sends an ERROR event with that Status (e.g. `{ code: 500, reason: "InternalError" }`).
   */
  dropWatches(resource?: string, options?: DropOptions): void;
  /** Forgets watch history: resuming from any earlier resourceVersion, and the next resume of each resource, get 410. */
  expireHistory(resource?: string): void;
  /** The next `count` matching requests fail with `status` (500) and a Status body, or the raw `body`. */
  failNext(count: number, options?: FailOptions): void;
  /** The next `count` matching requests never answer until the server closes (then 503). */
  hangNext(count: number, options?: FaultMatch): void;
  /** Delay before every request is served, in milliseconds. */
  latencyMs: number;
  /** Removes pending failNext/hangNext rules and sets latency to 0. */
  clear(): void;
}

interface Rule<T> {
  remaining: number;
  options: T;
}

function matches(match: FaultMatch, req: RequestFacts): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== req.method) return false;
  if (match.pathPattern !== undefined && !match.pathPattern.test(req.path)) return false;
  if (match.verb !== undefined && match.verb !== req.verb) return false;
  if (match.resource !== undefined && match.resource !== req.resource) return false;
  if (match.subresource !== undefined && match.subresource !== req.subresource) return false;
  return true;
}

/** The fault state; the server wires the watch-related hooks. */
export class FaultState implements Faults {
  latencyMs = 0;
  readonly #fails: Rule<FailOptions>[] = [];
  readonly #hangs: Rule<FaultMatch>[] = [];
  readonly #drop: (resource: string | undefined, options: DropOptions) => void;
  readonly #expire: (resource: string | undefined) => void;

  /** Builds the state with the server's hooks for dropping watches and expiring history. */
  constructor(hooks: {
    dropWatches: (resource: string | undefined, options: DropOptions) => void;
    expireHistory: (resource: string | undefined) => void;
  }) {
    this.#drop = hooks.dropWatches;
    this.#expire = hooks.expireHistory;
  }

  dropWatches(resource?: string, options: DropOptions = {}): void {
    this.#drop(resource, options);
  }

  expireHistory(resource?: string): void {
    this.#expire(resource);
  }

  failNext(count: number, options: FailOptions = {}): void {
    if (count > 0) this.#fails.push({ remaining: count, options });
  }

  hangNext(count: number, options: FaultMatch = {}): void {
    if (count > 0) this.#hangs.push({ remaining: count, options });
  }

  clear(): void {
    this.#fails.length = 0;
    this.#hangs.length = 0;
    this.latencyMs = 0;
  }

  /** The failure to send for this request, if a rule takes it. */
  takeFailure(req: RequestFacts): FailOptions | undefined {
    return take(this.#fails, req);
  }

  /** True when this request should hang. */
  takeHang(req: RequestFacts): boolean {
    return take(this.#hangs, req) !== undefined;
  }
}

function take<T extends FaultMatch>(rules: Rule<T>[], req: RequestFacts): T | undefined {
  const i = rules.findIndex((r) => matches(r.options, req));
  if (i < 0) return undefined;
  const rule = rules[i]!;
  if (--rule.remaining <= 0) rules.splice(i, 1);
  return rule.options;
}
