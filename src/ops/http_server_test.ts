import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows, waitFor } from "../../tests/assert.ts";
import { createLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { VERSION } from "../version.ts";
import { METRICS_CONTENT_TYPE, OpsServerError, type OpsServerOptions, startOpsServer } from "./http_server.ts";
import type { ProcessProbe } from "./process_metrics.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Reply {
  status: number;
  headers: Map<string, string>;
  body: string;
}

const fixedProbe: ProcessProbe = {
  memory: () => ({ rss: 30_000_000, heapUsed: 5_000_000 }),
  cpuSeconds: () => 1.5,
  startTimeSeconds: () => 1_700_000_000,
};

class CountingRegistry extends Registry {
  renders = 0;
  override render(): string {
    this.renders++;
    return super.render();
  }
}

function start(overrides: Partial<OpsServerOptions> = {}) {
  const registry = new CountingRegistry();
  const server = startOpsServer({
    hostname: "127.0.0.1",
    port: 0,
    registry,
    ready: () => true,
    processProbe: fixedProbe,
    ...overrides,
  });
  return { server, registry: (overrides.registry as CountingRegistry | undefined) ?? registry };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(16384);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return decoder.decode(out);
}

function parseReply(raw: string): Reply {
  const split = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...headerLines] = raw.slice(0, split).split("\r\n");
  const headers = new Map(
    headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 2)]),
  );
  return { status: Number(statusLine.split(" ")[1]), headers, body: raw.slice(split + 4) };
}

/** Sends raw bytes on a fresh connection and reads the reply until the server closes. */
async function send(port: number, raw: string): Promise<Reply> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = encoder.encode(raw);
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    return parseReply(await readAll(conn));
  } finally {
    conn.close();
  }
}

function get(port: number, path: string, method = "GET"): Promise<Reply> {
  return send(port, `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n`);
}

Deno.test("ops server answers /healthz, /metrics, 404 and 405", async () => {
  const { server, registry } = start({ cacheMs: 0 });
  try {
    registry.counter("metallite_test_total", "A test counter").inc(undefined, 3);
    const health = await get(server.port, "/healthz");
    assertEquals([health.status, health.body], [200, "ok\n"]);
    assertEquals(health.headers.get("connection"), "close");

    const metrics = await get(server.port, "/metrics?debug=1");
    assertEquals(metrics.status, 200);
    assertEquals(metrics.headers.get("content-type"), METRICS_CONTENT_TYPE);
    assertEquals(Number(metrics.headers.get("content-length")), encoder.encode(metrics.body).length);
    assertStringIncludes(metrics.body, "metallite_test_total 3\n");
    assertStringIncludes(metrics.body, "process_resident_memory_bytes 30000000\n");
    assertStringIncludes(metrics.body, "process_heap_bytes 5000000\n");
    assertStringIncludes(metrics.body, "process_cpu_seconds_total 1.5\n");
    assertStringIncludes(metrics.body, "process_start_time_seconds 1700000000\n");
    assertStringIncludes(metrics.body, `metallite_build_info{version="${VERSION}",deno="${Deno.version.deno}"} 1`);

    const head = await get(server.port, "/metrics", "HEAD");
    assertEquals([head.status, head.body], [200, ""]);
    assert(Number(head.headers.get("content-length")) > 100);

    const missing = await get(server.port, "/");
    assertEquals(missing.status, 404);
    const post = await send(server.port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assertEquals(post.status, 405);
    assertEquals(post.headers.get("allow"), "GET, HEAD");

    const after = await get(server.port, "/metrics");
    assertStringIncludes(after.body, 'metallite_ops_http_requests_total{path="/healthz",code="200"} 1');
    assertStringIncludes(after.body, 'metallite_ops_http_requests_total{path="other",code="404"} 1');
    assertStringIncludes(after.body, 'metallite_ops_http_requests_total{path="/metrics",code="405"} 1');
  } finally {
    await server.close();
  }
});

Deno.test("ops server /readyz answers 503 with the reason until ready() says so", async () => {
  let state: true | string = "informers not synced\nsecond line";
  const { server } = start({ ready: () => state });
  try {
    const before = await get(server.port, "/readyz");
    assertEquals([before.status, before.body], [503, "not ready: informers not synced second line\n"]);
    state = true;
    const after = await get(server.port, "/readyz");
    assertEquals([after.status, after.body], [200, "ok\n"]);
  } finally {
    await server.close();
  }
});

Deno.test("ops server /readyz answers 503 when ready() throws", async () => {
  const { server } = start({
    ready: () => {
      throw new Error("model missing");
    },
  });
  try {
    const r = await get(server.port, "/readyz");
    assertEquals([r.status, r.body], [503, "not ready: readiness check failed: model missing\n"]);
  } finally {
    await server.close();
  }
});

Deno.test("ops server reuses a rendering of /metrics for cacheMs", async () => {
  let now = 0;
  const registry = new CountingRegistry();
  const counter = registry.counter("metallite_test_total", "A test counter");
  const { server } = start({ registry, now: () => now, cacheMs: 1000 });
  try {
    counter.inc();
    assertStringIncludes((await get(server.port, "/metrics")).body, "metallite_test_total 1\n");
    counter.inc();
    now = 999;
    assertStringIncludes((await get(server.port, "/metrics")).body, "metallite_test_total 1\n");
    assertEquals(registry.renders, 1);
    now = 1000;
    assertStringIncludes((await get(server.port, "/metrics")).body, "metallite_test_total 2\n");
    assertEquals(registry.renders, 2);
  } finally {
    await server.close();
  }
});

Deno.test("ops server survives a flood of 2,000 scrapes and answers every one with 200 or 503", async () => {
  const { server, registry } = start();
  const total = 2000;
  const concurrency = 48; // past the default cap of 32, within the 503 band below 64
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  try {
    const worker = async () => {
      while (next < total) {
        next++;
        const r = await get(server.port, "/metrics");
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = performance.now() - started;
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
    assertEquals(answered, total);
    assertEquals([...statuses.keys()].filter((s) => s !== 200 && s !== 503), []);
    assert((statuses.get(200) ?? 0) > 0, "some scrapes were served");
    assert(elapsed < 30_000, `flood took ${elapsed} ms`);
    // Rendered at most once per cache period, not once per scrape.
    assert(registry.renders <= Math.ceil(elapsed / 1000) + 1, `${registry.renders} renders in ${elapsed} ms`);
    const health = await get(server.port, "/healthz");
    assertEquals(health.status, 200);
  } finally {
    await server.close();
  }
});

Deno.test("ops server answers 503 past maxConnections and closes at once far past it", async () => {
  const registry = new CountingRegistry();
  const { server } = start({ registry, maxConnections: 2 });
  const idle: Deno.Conn[] = [];
  try {
    // Two connections that send nothing take the served slots.
    for (let i = 0; i < 2; i++) idle.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    const rejected = () => registry.find("metallite_ops_http_rejected_total")!;
    const busy = await waitFor("a 503 past the cap", async () => {
      const r = await get(server.port, "/healthz");
      return r.status === 503 ? r : undefined;
    });
    assertEquals(busy.headers.get("retry-after"), "1");
    assertEquals(rejected().get({ reason: "busy" }) >= 1, true);
    // Two more idle connections fill the 503 band; the next is closed without an answer.
    for (let i = 0; i < 2; i++) idle.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    await waitFor("the overloaded count", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      try {
        const text = await readAll(conn).catch(() => "");
        return text === "" && rejected().get({ reason: "overloaded" }) >= 1;
      } finally {
        conn.close();
      }
    });
  } finally {
    for (const conn of idle) conn.close();
    await server.close();
  }
});

Deno.test("ops server cuts off a client that sends its request too slowly", async () => {
  const registry = new CountingRegistry();
  const { server } = start({ registry, requestTimeoutMs: 100 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(encoder.encode("GET /metr"));
    assertEquals(await readAll(conn), "");
    await waitFor(
      "the timeout count",
      () => registry.find("metallite_ops_http_rejected_total")!.get({ reason: "timeout" }) === 1,
    );
  } finally {
    conn.close();
    await server.close();
  }
});

Deno.test("ops server refuses oversized heads and long URLs, logs without secrets, and keeps serving", async () => {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (l) => lines.push(l) });
  const { server } = start({ log });
  try {
    const secret = "Authorization: Bearer s3cr3t-token\r\n";
    const big = await send(server.port, "GET /metrics HTTP/1.1\r\n" + secret + `X-Pad: ${"a".repeat(9000)}\r\n\r\n`);
    assertEquals(big.status, 431);
    const long = await get(server.port, `/${"a".repeat(3000)}`);
    assertEquals(long.status, 414);
    const garbage = await send(server.port, "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\r\n\r\n");
    assertEquals(garbage.status, 400);
    assertEquals((await get(server.port, "/healthz")).status, 200);
    const logged = lines.join("\n");
    assert(!logged.includes("s3cr3t"), logged);
    assertStringIncludes(logged, "metrics endpoint got a bad request");
  } finally {
    await server.close();
  }
});

Deno.test("ops server reports a port in use in one line", () => {
  const { server } = start();
  try {
    const error = assertThrows(
      () => startOpsServer({ hostname: "127.0.0.1", port: server.port, registry: new Registry(), ready: () => true }),
      OpsServerError,
    );
    assertMatch(error.message, /^Cannot serve metrics on 127\.0\.0\.1:\d+: address already in use \(.*\)$/);
  } finally {
    void server.close();
  }
});

Deno.test("ops server closes when its signal aborts and close() can be called again", async () => {
  const controller = new AbortController();
  const { server } = start({ signal: controller.signal });
  assertEquals((await get(server.port, "/healthz")).status, 200);
  controller.abort();
  await server.close();
  await server.close();
  let refused = false;
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conn.close();
  } catch (error) {
    refused = error instanceof Deno.errors.ConnectionRefused;
  }
  assert(refused, "connection refused after close");
});

Deno.test("ops server answers 500 when rendering fails and keeps serving", async () => {
  class BrokenRegistry extends Registry {
    override render(): string {
      throw new Error("broken");
    }
  }
  const { server } = start({ registry: new BrokenRegistry() });
  try {
    const r = await get(server.port, "/metrics");
    assertEquals([r.status, r.body], [500, "cannot render metrics\n"]);
    assertEquals((await get(server.port, "/healthz")).status, 200);
  } finally {
    await server.close();
  }
});
