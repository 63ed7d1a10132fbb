/**
 * Unit tests of the patch formats and selector parsing.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { diffMergePatch, type Json, jsonPatch, mergePatch, PatchError, strategicMerge } from "./_patch.ts";
import { parseFieldSelector, parseLabelSelector, SelectorError } from "./_selectors.ts";

Deno.test("mergePatch follows RFC 7386: null deletes, objects merge, lists replace", () => {
  // RFC 7386 Appendix A examples.
  const cases: [Json, Json, Json][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
  ];
  for (const [target, patch, want] of cases) assertEquals(mergePatch(target, patch), want);
});

Deno.test("jsonPatch applies RFC 6902 operations and fails whole on a failed test", () => {
  const doc = { metadata: { labels: { a: "1" } }, spec: { ports: [{ port: 80 }, { port: 443 }] } };
  const out = jsonPatch(doc, [
    { op: "test", path: "/metadata/labels/a", value: "1" },
    { op: "add", path: "/metadata/labels/b~1c", value: "2" },
    { op: "remove", path: "/spec/ports/0" },
    { op: "add", path: "/spec/ports/-", value: { port: 8080 } },
    { op: "replace", path: "/spec/ports/0/port", value: 8443 },
    { op: "copy", from: "/metadata/labels/a", path: "/metadata/labels/d" },
    { op: "move", from: "/metadata/labels/d", path: "/metadata/labels/e" },
  ]);
  assertEquals(out, {
    metadata: { labels: { a: "1", "b/c": "2", e: "1" } },
    spec: { ports: [{ port: 8443 }, { port: 8080 }] },
  });
  assertEquals(doc.spec.ports.length, 2, "the input is not changed");
  assertThrows(
    () => jsonPatch(doc, [{ op: "test", path: "/metadata/labels/a", value: "2" }]),
    PatchError,
    "test failed",
  );
  assertThrows(() => jsonPatch(doc, [{ op: "remove", path: "/nope" }]), PatchError);
  assertThrows(() => jsonPatch(doc, [{ op: "replace", path: "/spec/missing", value: 1 }]), PatchError);
  assertThrows(() => jsonPatch(doc, [{ op: "add", path: "/spec/ports/9", value: 1 }]), PatchError);
  assertThrows(() => jsonPatch(doc, { op: "add" }), PatchError);
  assertThrows(() => jsonPatch(doc, [{ op: "frobnicate", path: "/a" }]), PatchError);
});

Deno.test("strategicMerge merges lists by their merge keys and honours directives", () => {
  const svc = {
    spec: { ports: [{ name: "http", port: 80 }, { name: "https", port: 443 }], selector: { a: "b" } },
    status: { conditions: [{ type: "Ready", status: "False" }] },
    metadata: { finalizers: ["x"] },
  };
  assertEquals(
    strategicMerge(svc, {
      spec: { ports: [{ port: 443, targetPort: 8443 }, { port: 53, protocol: "UDP" }] },
      status: { conditions: [{ type: "Ready", status: "True" }, { type: "Other", status: "True" }] },
      metadata: { finalizers: ["y"] },
    }),
    {
      spec: {
        ports: [{ name: "http", port: 80 }, { name: "https", port: 443, targetPort: 8443 }, {
          port: 53,
          protocol: "UDP",
        }],
        selector: { a: "b" },
      },
      status: { conditions: [{ type: "Ready", status: "True" }, { type: "Other", status: "True" }] },
      metadata: { finalizers: ["x", "y"] },
    },
  );
  // $patch: delete removes one element; $setElementOrder reorders; $deleteFromPrimitiveList drops values.
  assertEquals(
    strategicMerge(svc, {
      spec: { "$setElementOrder/ports": [{ port: 443 }, { port: 80 }], ports: [{ port: 80, $patch: "delete" }] },
      metadata: { "$deleteFromPrimitiveList/finalizers": ["x"] },
    }),
    {
      spec: { ports: [{ name: "https", port: 443 }], selector: { a: "b" } },
      status: svc.status,
      metadata: { finalizers: [] },
    },
  );
  assertEquals(strategicMerge(svc, { spec: { $patch: "replace", type: "ClusterIP" } }), {
    ...svc,
    spec: { type: "ClusterIP" },
  });
  // $retainKeys keeps only the listed fields; lists without a merge key are replaced (atomic).
  assertEquals(strategicMerge({ s: { a: 1, b: 2, c: [1, 2] } }, { s: { $retainKeys: ["a", "c"], c: [3] } }), {
    s: { a: 1, c: [3] },
  });
  assertThrows(() => strategicMerge(svc, { spec: { ports: [{ name: "no-port" }] } }), PatchError, "merge key");
});

Deno.test("diffMergePatch computes the patch from one object to another", () => {
  const from = { a: 1, b: { c: 2, d: 3 }, e: [1] };
  const to = { a: 1, b: { c: 4 }, e: [1, 2], f: "x" };
  const patch = diffMergePatch(from, to);
  assertEquals(patch, { b: { d: null, c: 4 }, e: [1, 2], f: "x" });
  assertEquals(mergePatch(from, patch), to);
});

Deno.test("label selectors parse every operator and reject bad syntax", () => {
  const obj = (labels: Record<string, string>) => ({ metadata: { labels } });
  const m = parseLabelSelector("app in (web, api),tier!=db,!legacy,env");
  assertEquals(m(obj({ app: "web", env: "prod" })), true);
  assertEquals(m(obj({ app: "web", env: "prod", tier: "db" })), false);
  assertEquals(m(obj({ app: "web", env: "prod", legacy: "" })), false);
  assertEquals(m(obj({ app: "web" })), false);
  assertEquals(parseLabelSelector("a notin (x)")(obj({})), true);
  assertEquals(parseLabelSelector("example.com/role==edge")(obj({ "example.com/role": "edge" })), true);
  assertEquals(parseLabelSelector("")(obj({})), true);
  for (const bad of ["a in x", "=x", "a=b c", "-a"]) {
    assertThrows(() => parseLabelSelector(bad), SelectorError, undefined);
  }
});

Deno.test("field selectors support the fields each resource indexes", () => {
  const ev = {
    metadata: { name: "e", namespace: "default" },
    involvedObject: { kind: "Service", name: "web" },
    source: { component: "metallite" },
  };
  assertEquals(parseFieldSelector("involvedObject.kind=Service,involvedObject.name==web", "events")(ev), true);
  assertEquals(parseFieldSelector("source=metallite,metadata.namespace!=kube-system", "events")(ev), true);
  assertEquals(parseFieldSelector("involvedObject.name=other", "events")(ev), false);
  assertThrows(
    () => parseFieldSelector("spec.type=LoadBalancer", "events"),
    SelectorError,
    "field label not supported",
  );
  assertEquals(
    parseFieldSelector("spec.type=LoadBalancer", "services")({ metadata: {}, spec: { type: "LoadBalancer" } }),
    true,
  );
});
