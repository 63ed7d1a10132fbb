import { assert, assertEquals, assertRejects, assertStringIncludes, waitFor } from "../../tests/assert.ts";
import { json, scriptedFetch, service, status, Stream } from "./_testing.ts";
import { KubeClient } from "./client.ts";
import { FakeClock } from "./clock.ts";
import { KubeApiError, KubeDecodeError, KubeRequestError } from "./errors.ts";
import type { WatchEvent } from "./types.ts";

const config = { server: "https://192.0.2.1:6443", token: "t0k", source: "test" };

Deno.test("KubeClient.get() sends the bearer token and decodes the object", async () => {
  const { fetch, requests } = scriptedFetch(() => json(200, service("web", "5")));
  const client = new KubeClient({ config, fetch });
  const svc = await client.get("/api/v1/namespaces/default/services/web");
  assertEquals(svc.metadata.name, "web");
  assertEquals(requests[0]?.headers.get("authorization"), "Bearer t0k");
  assertEquals(requests[0]?.url.href, "https://192.0.2.1:6443/api/v1/namespaces/default/services/web");
});

Deno.test("KubeClient maps a metav1.Status answer to KubeApiError with status and reason", async () => {
  const { fetch } = scriptedFetch(() => status(409, "Conflict", "the object has been modified"));
  const client = new KubeClient({ config, fetch });
  const error = await assertRejects(() => client.update("/x/y", { metadata: { name: "y" } }), KubeApiError);
  assert(error instanceof KubeApiError);
  assertEquals([error.status, error.reason, error.serverMessage], [409, "Conflict", "the object has been modified"]);
  assertEquals(error.message, "PUT /x/y: 409 Conflict: the object has been modified");
});

Deno.test("KubeClient turns garbage bodies into typed errors, never crashes", async (t) => {
  const bodies: [string, Response, typeof KubeApiError | typeof KubeDecodeError, string][] = [
    ["HTML on 200", new Response("<html>proxy</html>", { status: 200 }), KubeDecodeError, "not JSON"],
    ["JSON but not an object", json(200, [1, 2]), KubeDecodeError, "not a Kubernetes object"],
    ["object without name", json(200, { metadata: { name: 3 } }), KubeDecodeError, "no metadata.name"],
    ["HTML on 502", new Response("<html>bad gateway</html>", { status: 502 }), KubeApiError, "502 error: <html>"],
    ["truncated JSON", new Response('{"metadata":{"na', { status: 200 }), KubeDecodeError, "not JSON"],
  ];
  for (const [name, response, errorClass, message] of bodies) {
    await t.step(name, async () => {
      const { fetch } = scriptedFetch(() => response);
      const client = new KubeClient({ config, fetch });
      await assertRejects(() => client.get("/p"), errorClass, message);
    });
  }
  await t.step("list without items", async () => {
    const { fetch } = scriptedFetch(() => json(200, { metadata: {}, items: "no" }));
    await assertRejects(() => new KubeClient({ config, fetch }).list("/p"), KubeDecodeError, "not a list");
  });
  await t.step("body over the size limit", async () => {
    const { fetch } = scriptedFetch(() => new Response("x".repeat(5000)));
    const client = new KubeClient({ config, fetch, maxBodyBytes: 1000 });
    await assertRejects(() => client.get("/p"), KubeDecodeError, "exceeds 1000 bytes");
  });
});

Deno.test("KubeClient times out a hung request", async () => {
  const clock = new FakeClock();
  const { fetch } = scriptedFetch(() => undefined);
  const client = new KubeClient({ config, fetch, clock, timeoutMs: 5000 });
  const pending = assertRejects(
    () => client.get("/hang"),
    KubeRequestError,
    "no answer from https://192.0.2.1:6443 within 5000 ms",
  );
  await clock.advance(5000);
  const error = await pending;
  assert(error instanceof KubeRequestError && error.timedOut);
});

Deno.test("KubeClient re-reads a token file every minute and after a 401", async () => {
  const clock = new FakeClock();
  let token = "one";
  let reads = 0;
  const readFile = () => {
    reads++;
    return Promise.resolve(token + "\n");
  };
  const { fetch, requests } = scriptedFetch((r) =>
    r.headers.get("authorization") === `Bearer ${token}`
      ? json(200, service("a", "1"))
      : status(401, "Unauthorized", "")
  );
  const client = new KubeClient({
    config: { server: config.server, tokenFile: "/tok", source: "t" },
    fetch,
    clock,
    readFile,
  });
  await client.get("/a");
  await client.get("/a");
  assertEquals(reads, 1);
  await clock.advance(60_000);
  await client.get("/a");
  assertEquals(reads, 2);
  token = "two"; // rotated before the minute is up: the 401 makes the client read it again and retry once
  await client.get("/a");
  assertEquals(reads, 3);
  assertEquals(requests.map((r) => r.headers.get("authorization")), [
    "Bearer one",
    "Bearer one",
    "Bearer one",
    "Bearer one",
    "Bearer two",
  ]);
});

Deno.test("KubeClient.list() joins pages and restarts once when the continue token expires", async () => {
  let expired = true;
  const { fetch, requests } = scriptedFetch((r) => {
    const token = r.url.searchParams.get("continue");
    if (token === null) {
      return json(200, { metadata: { resourceVersion: "10", continue: "c1" }, items: [service("a", "1")] });
    }
    if (expired) {
      expired = false;
      return status(410, "Expired", "continue token expired");
    }
    return json(200, { metadata: { resourceVersion: "10" }, items: [service("b", "2")] });
  });
  const client = new KubeClient({ config, fetch });
  const result = await client.list("/api/v1/services", { limit: 1, labelSelector: "app=web" });
  assertEquals(result.resourceVersion, "10");
  assertEquals(requests.map((r) => r.url.search), [
    "?labelSelector=app%3Dweb&limit=1",
    "?labelSelector=app%3Dweb&limit=1&continue=c1",
    "?labelSelector=app%3Dweb",
    "?labelSelector=app%3Dweb&continue=c1",
  ]);
  assertEquals(result.items.map((i) => i.metadata.name), ["a", "b"]);
});

Deno.test("KubeClient.patch() sends the content type of each patch kind", async () => {
  const { fetch, requests } = scriptedFetch(() => json(200, service("a", "1")));
  const client = new KubeClient({ config, fetch });
  await client.patch("/p", { a: 1 }, "merge");
  await client.patch("/p", { a: 1 }, "strategic");
  await client.patch("/p", [{ op: "add", path: "/a", value: 1 }], "json");
  await client.patch("/p", { a: 1 }, "apply", { force: true });
  assertEquals(requests.map((r) => r.headers.get("content-type")), [
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
  ]);
  assertEquals(requests[3]?.url.search, "?fieldManager=metallite&force=true");
});

async function collect(iterator: AsyncIterable<WatchEvent>): Promise<string[]> {
  const seen: string[] = [];
  for await (const event of iterator) seen.push(`${event.type}:${event.object.metadata?.name ?? ""}`);
  return seen;
}

Deno.test("KubeClient.watch() joins events split across chunks and reads a last line without newline", async () => {
  const stream = new Stream();
  const { fetch, requests } = scriptedFetch(() => stream.response);
  const client = new KubeClient({ config, fetch });
  const done = collect(client.watch("/api/v1/services", { resourceVersion: "7" }));
  const line = JSON.stringify({ type: "ADDED", object: service("a", "8") });
  stream.push(line.slice(0, 10));
  stream.push(
    line.slice(10) + "\n\n" + JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } }),
  );
  stream.push("\n" + JSON.stringify({ type: "DELETED", object: service("a", "10") }));
  stream.close();
  assertEquals(await done, ["ADDED:a", "BOOKMARK:", "DELETED:a"]);
  assertEquals(requests[0]?.url.search, "?watch=1&resourceVersion=7&allowWatchBookmarks=true");
});

Deno.test("KubeClient.watch() reads a byte stream into one reused buffer, across events longer than a read", async () => {
  const small = service("big", "8") as { metadata: Record<string, unknown> };
  // Over two 16 KiB reads.
  const big = { ...small, metadata: { ...small.metadata, annotations: { filler: "x".repeat(40_000) } } };
  const text = [
    JSON.stringify({ type: "ADDED", object: big }),
    JSON.stringify({ type: "MODIFIED", object: service("small", "9") }),
  ].join("\n") + "\n";
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  const buffers = new Set<number>();
  const body = new ReadableStream({
    type: "bytes",
    pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      buffers.add(view.byteLength);
      const n = Math.min(view.byteLength, bytes.length - offset);
      if (n === 0) {
        controller.close();
        request.respond(0);
        return;
      }
      new Uint8Array(view.buffer, view.byteOffset, n).set(bytes.subarray(offset, offset + n));
      offset += n;
      request.respond(n);
    },
  });
  // Straight to the client: scriptedFetch's abortable wrapper would put a default stream in between.
  const client = new KubeClient({ config, fetch: () => Promise.resolve(new Response(body)) });
  assertEquals(await collect(client.watch("/api/v1/services")), ["ADDED:big", "MODIFIED:small"]);
  assertEquals([...buffers], [16 * 1024], "every read offers the same 16 KiB buffer");
});

Deno.test("KubeClient.watch() rejects a line that is not a watch event", async () => {
  const stream = new Stream();
  const { fetch } = scriptedFetch(() => stream.response);
  const client = new KubeClient({ config, fetch });
  const done = collect(client.watch("/w"));
  stream.push("{this is not json}\n");
  await assertRejects(() => done, KubeDecodeError, "WATCH /w: a line is not JSON");
  assert(stream.closed, "the stream is cancelled");
});

Deno.test("KubeClient.watch() throws KubeApiError when the watch is refused (410)", async () => {
  const { fetch } = scriptedFetch(() => status(410, "Expired", "too old resource version: 1 (50)"));
  const client = new KubeClient({ config, fetch });
  const error = await assertRejects(() => collect(client.watch("/w", { resourceVersion: "1" })), KubeApiError);
  assertEquals((error as KubeApiError).status, 410);
});

Deno.test("KubeClient.watch() cuts a stream silent for longer than the idle timeout", async () => {
  const clock = new FakeClock();
  const stream = new Stream();
  const { fetch } = scriptedFetch(() => stream.response);
  const client = new KubeClient({ config, fetch, clock });
  const done = assertRejects(
    () => collect(client.watch("/w", { idleTimeoutMs: 90_000 })),
    KubeRequestError,
    "no data for 90000 ms",
  );
  await clock.advance(60_000);
  stream.event("BOOKMARK", { metadata: { resourceVersion: "3" } });
  await clock.advance(89_000); // re-armed by the bookmark: still alive
  assert(!stream.closed);
  await clock.advance(1_000);
  await done;
});

Deno.test("KubeClient.watch() ends quietly when its signal aborts", async () => {
  const stream = new Stream();
  const { fetch } = scriptedFetch(() => stream.response);
  const client = new KubeClient({ config, fetch });
  const controller = new AbortController();
  const done = collect(client.watch("/w", { signal: controller.signal }));
  stream.event("ADDED", service("a", "1"));
  await new Promise((r) => setTimeout(r, 10));
  controller.abort();
  assertEquals(await done, ["ADDED:a"]);
});

Deno.test("KubeClient explains that insecure-skip-tls-verify needs a Deno flag", async () => {
  const { fetch } = scriptedFetch(() => {
    throw new TypeError("client error (Connect): invalid peer certificate: UnknownIssuer");
  });
  const client = new KubeClient({
    config: { server: "https://192.0.2.1:6443", insecureSkipTlsVerify: true, source: "t" },
    fetch,
  });
  const error = await assertRejects(() => client.get("/p"), KubeRequestError);
  assertStringIncludes(error.message, "--unsafely-ignore-certificate-errors=192.0.2.1");
});

Deno.test("KubeClient keeps at most maxConcurrentRequests requests in flight; watches do not count", async () => {
  const answers: (() => void)[] = [];
  const streams: Stream[] = [];
  const { fetch, requests } = scriptedFetch((r) => {
    if (r.url.searchParams.has("watch")) {
      const stream = new Stream();
      streams.push(stream);
      return stream.response;
    }
    return new Promise((resolve) => answers.push(() => resolve(json(200, service(r.path.slice(1), "1")))));
  });
  const client = new KubeClient({ config, fetch, maxConcurrentRequests: 2 });
  const controller = new AbortController();
  // Three watches first: they must not take the two slots.
  const watches = [1, 2, 3].map(() => collect(client.watch("/w", { signal: controller.signal })));
  const gets = ["a", "b", "c", "d", "e"].map((name) => client.get(`/${name}`));
  await waitFor("two GETs sent", () => answers.length === 2);
  assertEquals(requests.filter((r) => r.method === "GET" && !r.url.searchParams.has("watch")).length, 2);
  assertEquals(client.queue, { active: 2, waiting: 3 });
  // Each answer lets exactly one more request go, in order.
  for (let sent = 2; sent < 5; sent++) {
    answers[sent - 2]!();
    await waitFor(`request ${sent + 1} sent`, () => answers.length === sent + 1);
  }
  answers[3]!();
  answers[4]!();
  const names = (await Promise.all(gets)).map((s) => s.metadata.name);
  assertEquals(names, ["a", "b", "c", "d", "e"]);
  assertEquals(client.queue, { active: 0, waiting: 0 });
  assertEquals(streams.length, 3);
  controller.abort();
  await Promise.all(watches);
});

Deno.test("KubeClient: a queued request whose signal aborts never reaches the server", async () => {
  const { fetch, requests } = scriptedFetch(() => undefined);
  const clock = new FakeClock();
  const client = new KubeClient({ config, fetch, clock, maxConcurrentRequests: 1, timeoutMs: 1000 });
  const hung = assertRejects(() => client.get("/hung"), KubeRequestError, "within 1000 ms");
  const controller = new AbortController();
  const queued = assertRejects(
    () => client.get("/queued", { signal: controller.signal }),
    KubeRequestError,
    "aborted before it was sent",
  );
  controller.abort();
  await queued;
  await clock.advance(1000);
  await hung;
  assertEquals(requests.map((r) => r.path), ["/hung"]);
});
