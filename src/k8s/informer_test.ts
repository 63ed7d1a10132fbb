import { assert, assertEquals } from "../../tests/assert.ts";
import { json, scriptedFetch, service, status, Stream } from "./_testing.ts";
import { KubeClient } from "./client.ts";
import { FakeClock } from "./clock.ts";
import { DEFAULT_PAGE_SIZE, Informer, type InformerChange } from "./informer.ts";
import type { Service } from "./types.ts";

const config = { server: "https://192.0.2.1:6443", token: "t", source: "test" };

function setup(handler: Parameters<typeof scriptedFetch>[0]) {
  const clock = new FakeClock();
  const { fetch, requests } = scriptedFetch(handler);
  const client = new KubeClient({ config, fetch, clock });
  const informer = new Informer<Service>({
    client,
    path: "/api/v1/services",
    clock,
    random: () => 0.5,
    pageSize: 2,
    watchTimeoutSeconds: 300,
  });
  const changes: string[] = [];
  informer.onChange((c: InformerChange<Service>) => changes.push(`${c.type}:${c.key}`));
  return { clock, requests, informer, changes };
}

const isWatch = (url: URL) => url.searchParams.get("watch") === "1";

Deno.test("Informer without a page size lists by DEFAULT_PAGE_SIZE (2,000) objects a page", async () => {
  const clock = new FakeClock();
  const stream = new Stream();
  const { fetch, requests } = scriptedFetch((r) =>
    isWatch(r.url) ? stream.response : json(200, { metadata: { resourceVersion: "1" }, items: [] })
  );
  const informer = new Informer<Service>({
    client: new KubeClient({ config, fetch, clock }),
    path: "/api/v1/services",
    clock,
  });
  informer.start();
  await informer.synced();
  assertEquals(requests[0]?.url.searchParams.get("limit"), String(DEFAULT_PAGE_SIZE));
  assertEquals(DEFAULT_PAGE_SIZE, 2000);
  await informer.stop();
});

Deno.test("Informer lists every page, then watches from the list's resourceVersion", async () => {
  const stream = new Stream();
  const { requests, informer, changes, clock } = setup((r) => {
    if (isWatch(r.url)) return stream.response;
    if (!r.url.searchParams.has("continue")) {
      return json(200, {
        metadata: { resourceVersion: "10", continue: "p2" },
        items: [service("a", "1"), service("b", "2")],
      });
    }
    return json(200, { metadata: { resourceVersion: "10" }, items: [service("c", "3")] });
  });
  informer.start();
  await informer.synced();
  assert(informer.hasSynced());
  assertEquals(informer.keys().sort(), ["default/a", "default/b", "default/c"]);
  await clock.advance(0);
  assertEquals(requests[2]?.url.searchParams.get("resourceVersion"), "10");
  assertEquals(requests[2]?.url.searchParams.get("allowWatchBookmarks"), "true");
  stream.event("MODIFIED", service("a", "11", { spec: { type: "ClusterIP" } }));
  stream.event("DELETED", service("b", "12"));
  stream.event("ADDED", service("d", "13"));
  stream.event("BOOKMARK", { kind: "Service", metadata: { resourceVersion: "20" } });
  await clock.advance(0);
  assertEquals(informer.get("default/a")?.spec?.type, "ClusterIP");
  assertEquals(informer.get("default/b"), undefined);
  assertEquals(informer.size, 3);
  assertEquals(informer.resourceVersion, "20");
  assertEquals(changes, [
    "added:default/a",
    "added:default/b",
    "added:default/c",
    "modified:default/a",
    "deleted:default/b",
    "added:default/d",
  ]);
  await informer.stop();
});

Deno.test("Informer resumes a dropped watch from the last resourceVersion, without listing again", async () => {
  const streams: Stream[] = [];
  const { requests, informer, clock } = setup((r) => {
    if (!isWatch(r.url)) return json(200, { metadata: { resourceVersion: "10" }, items: [service("a", "1")] });
    const s = new Stream();
    streams.push(s);
    return s.response;
  });
  informer.start();
  await informer.synced();
  await clock.advance(0);
  streams[0]!.event("ADDED", service("b", "15"));
  await clock.advance(0);
  streams[0]!.fail();
  await clock.advance(1_000); // one short backoff after an error
  assertEquals(streams.length, 2);
  streams[1]!.close(); // a clean end (server timeout) after 2 s: reconnect at once
  await clock.advance(0);
  const watches = requests.filter((r) => isWatch(r.url)).map((r) => r.url.searchParams.get("resourceVersion"));
  assertEquals(watches.slice(0, 2), ["10", "15"]);
  assertEquals(requests.filter((r) => !isWatch(r.url)).length, 1, "no relist");
  assertEquals(informer.stats.lists, 1);
  await informer.stop();
});

Deno.test("Informer relists on a 410 ERROR event and reports the differences as changes", async () => {
  let listCount = 0;
  const streams: Stream[] = [];
  const { informer, changes, clock } = setup((r) => {
    if (!isWatch(r.url)) {
      listCount++;
      return listCount === 1
        ? json(200, {
          metadata: { resourceVersion: "10" },
          items: [service("a", "1"), service("b", "2"), service("c", "3")],
        })
        : json(200, {
          metadata: { resourceVersion: "50" },
          items: [service("a", "1"), service("b", "40"), service("d", "41")],
        });
    }
    const s = new Stream();
    streams.push(s);
    return s.response;
  });
  informer.start();
  await informer.synced();
  await clock.advance(0);
  changes.length = 0;
  streams[0]!.event("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" });
  await clock.advance(1_000);
  assertEquals(listCount, 2);
  assertEquals(changes.sort(), ["added:default/d", "deleted:default/c", "modified:default/b"]);
  assertEquals(informer.keys().sort(), ["default/a", "default/b", "default/d"]);
  assertEquals(informer.stats.relists, 1);
  await informer.stop();
});

Deno.test("Informer relists when the watch itself is refused with HTTP 410", async () => {
  let lists = 0;
  let watches = 0;
  const stream = new Stream();
  const { informer, clock } = setup((r) => {
    if (!isWatch(r.url)) return json(200, { metadata: { resourceVersion: String(++lists * 10) }, items: [] });
    return ++watches === 1 ? status(410, "Expired", "too old") : stream.response;
  });
  informer.start();
  await informer.synced();
  await clock.advance(1_000);
  assertEquals([lists, watches], [2, 2]);
  await informer.stop();
});

Deno.test("Informer backs off on 500s: a failing server sees a bounded number of requests", async () => {
  const { requests, informer, clock } = setup(() => status(500, "InternalError", "etcd is down"));
  informer.start();
  await clock.advance(60_000);
  // 100+200+400+...: with equal jitter at 0.5 the delays are 150, 300, 600, ..., capped at 22.5 s.
  assert(requests.length <= 10, `expected at most 10 requests in a minute, saw ${requests.length}`);
  assert(requests.length >= 7, `expected retries to continue, saw ${requests.length}`);
  assert(!informer.hasSynced());
  assertEquals(informer.stats.errors, requests.length);
  await informer.stop();
  assertEquals(clock.pending, 0, "no timer left");
});

Deno.test("Informer does not reconnect in a hot loop when watches end at once with nothing", async () => {
  const { requests, informer, clock } = setup((r) => {
    if (!isWatch(r.url)) return json(200, { metadata: { resourceVersion: "10" }, items: [] });
    const s = new Stream();
    s.close();
    return s.response;
  });
  informer.start();
  await clock.advance(10_000);
  const watches = requests.filter((r) => isWatch(r.url)).length;
  assert(watches <= 8, `expected backoff between empty watches, saw ${watches} in 10 s`);
  await informer.stop();
});

Deno.test("Informer counts invalid objects and keeps them out of the cache", async () => {
  const stream = new Stream();
  const { informer, clock } = setup((r) =>
    isWatch(r.url)
      ? stream.response
      : json(200, { metadata: { resourceVersion: "5" }, items: [service("a", "1"), { metadata: { name: 7 } }, "x"] })
  );
  informer.start();
  await informer.synced();
  await clock.advance(0);
  stream.event("ADDED", { metadata: {} });
  stream.event("ADDED", service("b", "6"));
  await clock.advance(0);
  assertEquals(informer.keys().sort(), ["default/a", "default/b"]);
  assertEquals(informer.stats.invalid, 3);
  await informer.stop();
});

Deno.test("Informer resumes after a garbage line with backoff, from the last good resourceVersion", async () => {
  const streams: Stream[] = [];
  const { requests, informer, clock } = setup((r) => {
    if (!isWatch(r.url)) return json(200, { metadata: { resourceVersion: "5" }, items: [] });
    const s = new Stream();
    streams.push(s);
    return s.response;
  });
  informer.start();
  await clock.advance(0);
  streams[0]!.event("ADDED", service("a", "6"));
  streams[0]!.push("<html>oops</html>\n");
  await clock.advance(1_000);
  assertEquals(requests.filter((r) => isWatch(r.url)).map((r) => r.url.searchParams.get("resourceVersion")), [
    "5",
    "6",
  ]);
  assertEquals(informer.stats.errors, 1);
  await informer.stop();
});

Deno.test("Informer drops managedFields and keeps no raw text", async () => {
  const stream = new Stream();
  const big = service("a", "1");
  (big.metadata as Record<string, unknown>).managedFields = [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }];
  const { informer } = setup((r) =>
    isWatch(r.url) ? stream.response : json(200, { metadata: { resourceVersion: "5" }, items: [big] })
  );
  informer.start();
  await informer.synced();
  assertEquals("managedFields" in (informer.get("default/a")!.metadata), false);
  await informer.stop();
});
