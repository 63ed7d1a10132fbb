/**
 * Watch semantics of the fake API server: initial state, resume from a resourceVersion, 410 Gone as an ERROR
 * event, bookmarks, sendInitialEvents, timeouts, selectors (with transitions), and the /watch/ path form.
 */
import { assert, assertEquals } from "../assert.ts";
import { startFakeApiServer } from "./mod.ts";
import { ApiClient, service } from "./_testing.ts";

const SVC = "/api/v1/namespaces/default/services";

Deno.test("watch without resourceVersion starts with ADDED for every object, then follows changes", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.create("services", service("a"));
  await using w = await api.watch(`${SVC}?watch=1`);
  const first = await w.next();
  assertEquals([first?.type, first?.object.metadata.name, first?.object.kind], ["ADDED", "a", "Service"]);
  server.patch("services", "default", "a", { metadata: { labels: { x: "1" } } });
  server.delete("services", "default", "a");
  const events = await w.collect((e) => e.type === "DELETED");
  assertEquals(events.map((e) => e.type), ["MODIFIED", "DELETED"]);
  assert(Number(events[1]!.object.metadata.resourceVersion) > Number(events[0]!.object.metadata.resourceVersion));
});

Deno.test("watch resumes from a resourceVersion, replaying only newer events", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.create("services", service("a"));
  const list = await api.json(SVC);
  const rv = list.body.metadata.resourceVersion;
  server.create("services", service("b"));
  server.patch("services", "default", "a", { metadata: { labels: { x: "1" } } });
  server.create("secrets", { metadata: { name: "s" }, data: {} }); // other resources do not show up
  await using w = await api.watch(`${SVC}?watch=true&resourceVersion=${rv}`);
  const events = await w.collect((e) => e.type === "MODIFIED");
  assertEquals(events.map((e) => `${e.type}:${e.object.metadata.name}`), ["ADDED:b", "MODIFIED:a"]);
  server.create("services", service("c"));
  assertEquals((await w.next())?.object.metadata.name, "c");
  // The same through the /watch/ path form.
  await using legacy = await api.watch(`/api/v1/watch/namespaces/default/services?resourceVersion=${rv}`);
  assertEquals((await legacy.next())?.object.metadata.name, "b");
});

Deno.test("a watch from a resourceVersion older than the history gets 410 Expired as an ERROR event", async () => {
  await using server = await startFakeApiServer({ watchHistory: 3 });
  using api = new ApiClient(server);
  server.create("services", service("a"));
  const rv = server.resourceVersion;
  for (let i = 0; i < 5; i++) server.patch("services", "default", "a", { metadata: { labels: { n: String(i) } } });
  await using w = await api.watch(`${SVC}?watch=1&resourceVersion=${rv}`);
  const e = await w.next();
  assertEquals(e?.type, "ERROR");
  assertEquals([e?.object.kind, e?.object.code, e?.object.reason], ["Status", 410, "Expired"]);
  assertEquals(await w.next(), undefined, "the stream ends after the ERROR");
  // A list at an Exact resourceVersion that old is also 410.
  const list = await api.json(`${SVC}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
  assertEquals(list.status, 410);
  // A resourceVersion from the future is a 504 Timeout (ResourceVersionTooLarge).
  const future = await api.json(`${SVC}?watch=1&resourceVersion=${Number(server.resourceVersion) + 100}`);
  assertEquals([future.status, future.body.details.causes[0].reason], [504, "ResourceVersionTooLarge"]);
  // Within the history, resume still works.
  await using ok = await api.watch(`${SVC}?watch=1&resourceVersion=${Number(server.resourceVersion) - 1}`);
  assertEquals((await ok.next())?.object.metadata.labels, { n: "4" });
});

Deno.test("faults.expireHistory makes the next resume get 410 even at the newest resourceVersion", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  server.create("services", service("a"));
  const rv = server.resourceVersion;
  server.faults.expireHistory("services");
  await using w = await api.watch(`${SVC}?watch=1&resourceVersion=${rv}`);
  assertEquals((await w.next())?.object.code, 410);
  await using again = await api.watch(`${SVC}?watch=1&resourceVersion=${rv}`);
  server.create("services", service("b"));
  assertEquals((await again.next())?.type, "ADDED", "only the next resume fails");
});

Deno.test("bookmarks carry the current resourceVersion; sendInitialEvents ends with initial-events-end", async () => {
  await using server = await startFakeApiServer({ bookmarkIntervalMs: 50 });
  using api = new ApiClient(server);
  server.create("services", service("a"));
  server.create("secrets", { metadata: { name: "s" } });
  await using w = await api.watch(
    `${SVC}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`,
  );
  const initial = await w.collect((e) => e.type === "BOOKMARK");
  assertEquals(initial.map((e) => e.type), ["ADDED", "BOOKMARK"]);
  const end = initial[1]!.object;
  assertEquals(end.metadata.annotations, { "k8s.io/initial-events-end": "true" });
  assertEquals(end.metadata.resourceVersion, server.resourceVersion);
  assertEquals(end.kind, "Service");
  server.create("secrets", { metadata: { name: "t" } });
  const bookmark = await w.next(2000);
  assertEquals(bookmark?.type, "BOOKMARK");
  assertEquals(bookmark?.object.metadata.resourceVersion, server.resourceVersion);
  const invalid = await api.json(`${SVC}?watch=1&sendInitialEvents=true`);
  assertEquals(invalid.status, 422);
});

Deno.test("timeoutSeconds ends a watch cleanly", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const started = Date.now();
  await using w = await api.watch(`${SVC}?watch=1&timeoutSeconds=1&resourceVersion=${server.resourceVersion}`);
  assertEquals(await w.next(3000), undefined);
  assert(Date.now() - started >= 900);
  assertEquals(server.openWatches, 0);
});

Deno.test("watch selectors filter events; leaving the selection is DELETED, entering it ADDED", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  const rv = server.resourceVersion;
  await using w = await api.watch(`/api/v1/services?watch=1&resourceVersion=${rv}&labelSelector=team%3Dblue`);
  await using byName = await api.watch(`${SVC}?watch=1&resourceVersion=${rv}&fieldSelector=metadata.name%3Db`);
  server.create("services", service("a", { labels: { team: "blue" } }));
  server.create("services", service("b", { labels: { team: "red" } }));
  server.patch("services", "default", "a", { metadata: { labels: { team: "red" } } });
  server.patch("services", "default", "b", { metadata: { labels: { team: "blue" } } });
  const events = await w.collect((e) => e.object.metadata.name === "b");
  assertEquals(events.map((e) => `${e.type}:${e.object.metadata.name}:${e.object.metadata.labels.team}`), [
    "ADDED:a:blue",
    "DELETED:a:blue",
    "ADDED:b:blue",
  ]);
  const named = await byName.collect((e) => e.type === "MODIFIED");
  assertEquals(named.map((e) => e.type), ["ADDED", "MODIFIED"]);
});

Deno.test("watch events of many objects arrive in resourceVersion order", async () => {
  await using server = await startFakeApiServer();
  using api = new ApiClient(server);
  await using w = await api.watch(`/api/v1/services?watch=1&resourceVersion=${server.resourceVersion}`);
  for (let i = 0; i < 300; i++) server.create("services", service(`s${i}`));
  const events = await w.collect((e) => e.object.metadata.name === "s299", 10_000);
  assertEquals(events.length, 300);
  const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
  assert(rvs.every((rv, i) => i === 0 || rv > rvs[i - 1]!));
});
