/**
 * Test helpers private to src/k8s: a scripted `fetch` that records requests and honours abort signals, JSON and
 * streaming responses.
 * @module
 */
import type { FetchFunction } from "./client.ts";

/** One request seen by {@link scriptedFetch}. */
export interface SeenRequest {
  method: string;
  url: URL;
  path: string;
  headers: Headers;
  body: string | undefined;
}

/** A JSON response. */
export function json(status: number, body: unknown): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** A metav1.Status error response. */
export function status(code: number, reason: string, message: string): Response {
  return json(code, { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });
}

/** A streaming response whose chunks the test pushes. */
export class Stream {
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  readonly response: Response;

  constructor(status = 200) {
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      cancel: () => {
        this.#closed = true;
      },
    });
    this.response = new Response(body, { status, headers: { "content-type": "application/json" } });
  }

  /** Sends raw text. */
  push(text: string): void {
    if (!this.#closed) this.#controller.enqueue(new TextEncoder().encode(text));
  }

  /** Sends one watch event as a line. */
  event(type: string, object: unknown): void {
    this.push(JSON.stringify({ type, object }) + "\n");
  }

  /** Ends the stream cleanly. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.close();
  }

  /** Breaks the stream (a dropped connection). */
  fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.error(new TypeError("connection reset"));
  }

  /** True once the client cancelled or the test closed it. */
  get closed(): boolean {
    return this.#closed;
  }
}

/**
 * A fetch that answers with `handler`, records every request, and rejects with an AbortError when the request's
 * signal aborts (as the real fetch does), so timeouts can be tested with a handler that never answers.
 */
export function scriptedFetch(
  handler: (request: SeenRequest) => Response | Promise<Response> | undefined | Promise<Response | undefined>,
): { fetch: FetchFunction; requests: SeenRequest[] } {
  const requests: SeenRequest[] = [];
  const fetch: FetchFunction = (input, init) => {
    const url = new URL(input);
    const request: SeenRequest = {
      method: init.method ?? "GET",
      url,
      path: url.pathname,
      headers: new Headers(init.headers),
      body: typeof init.body === "string" ? init.body : undefined,
    };
    requests.push(request);
    const signal = init.signal ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      const onAbort = () => reject(new DOMException("The signal has been aborted", "AbortError"));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      Promise.resolve(handler(request)).then((response) => {
        if (response === undefined) return; // never answers: only the signal ends it
        signal?.removeEventListener("abort", onAbort);
        resolve(signal && response.body ? abortable(response, signal) : response);
      }, reject);
    });
  };
  return { fetch, requests };
}

/** A minimal Service object. */
export function service(name: string, rv: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata: { name, namespace: "default", resourceVersion: rv, uid: `uid-${name}` },
    spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
    ...extra,
  };
}

// Like the real fetch, a body being read errors when the request's signal aborts.
function abortable(response: Response, signal: AbortSignal): Response {
  const reader = response.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      signal.addEventListener("abort", () => {
        try {
          controller.error(new DOMException("The signal has been aborted", "AbortError"));
        } catch {
          // already closed
        }
        reader.cancel().catch(() => {});
      }, { once: true });
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        try {
          controller.error(error);
        } catch {
          // already errored by the abort
        }
      }
    },
    cancel() {
      return reader.cancel().catch(() => {});
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

/**
 * A tiny in-memory object store behind {@link scriptedFetch}: GET, POST, PUT (resourceVersion-checked), merge
 * PATCH and DELETE on any path, enough to test the writers. `before` can answer first (inject faults).
 */
export function memoryApi(before?: (request: SeenRequest) => Response | undefined): {
  fetch: FetchFunction;
  requests: SeenRequest[];
  objects: Map<string, Record<string, unknown>>;
} {
  const objects = new Map<string, Record<string, unknown>>();
  let rv = 100;
  const { fetch, requests } = scriptedFetch((r) => {
    const injected = before?.(r);
    if (injected) return injected;
    const path = r.path.replace(/\/status$/, "");
    const body = r.body === undefined ? undefined : JSON.parse(r.body);
    const current = objects.get(path);
    const meta = (o: Record<string, unknown>) => o.metadata as Record<string, unknown>;
    switch (r.method) {
      case "GET":
        return current ? json(200, current) : status(404, "NotFound", `${path} not found`);
      case "POST": {
        const full = `${r.path}/${meta(body).name}`;
        if (objects.has(full)) return status(409, "AlreadyExists", `${full} already exists`);
        const stored = { ...body, metadata: { ...meta(body), resourceVersion: String(++rv) } };
        objects.set(full, stored);
        return json(201, stored);
      }
      case "PUT": {
        if (!current) return status(404, "NotFound", `${path} not found`);
        if (meta(body).resourceVersion !== meta(current).resourceVersion) {
          return status(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version",
          );
        }
        const stored = { ...body, metadata: { ...meta(body), resourceVersion: String(++rv) } };
        objects.set(path, stored);
        return json(200, stored);
      }
      case "PATCH": {
        if (!current) return status(404, "NotFound", `${path} not found`);
        const wantRv = (body.metadata as Record<string, unknown> | undefined)?.resourceVersion;
        if (wantRv !== undefined && wantRv !== meta(current).resourceVersion) {
          return status(409, "Conflict", "modified");
        }
        const stored = { ...current, ...body, metadata: { ...meta(current), resourceVersion: String(++rv) } };
        objects.set(path, stored);
        return json(200, stored);
      }
      case "DELETE":
        objects.delete(path);
        return json(200, { kind: "Status", status: "Success" });
    }
    return status(405, "MethodNotAllowed", r.method);
  });
  return { fetch, requests, objects };
}
