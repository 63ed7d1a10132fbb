import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { sortCandidates } from "../l2/election.ts";
import {
  allocatorLease,
  bgpAdv,
  bgpPeer,
  bgpStatus,
  ipPool,
  l2Adv,
  l2Status,
  node,
  nodeLease,
  NOW,
  service,
  slice,
  snapshot,
} from "./_testing.ts";
import { explainCluster } from "./explain.ts";
import type { ServiceReport, StatusReport } from "./report.ts";

const EXCLUDE = { "node.kubernetes.io/exclude-from-external-load-balancers": "" };
const LAN = [ipPool("lan", ["198.51.100.10-198.51.100.20"]), l2Adv("l2", ["lan"])];

function svc(report: StatusReport, key: string): ServiceReport {
  const found = report.services.find((s) => `${s.namespace}/${s.name}` === key);
  assert(found, `no Service ${key} in the report`);
  return found;
}

function hasNote(notes: readonly string[], text: string): boolean {
  return notes.some((n) => n.includes(text));
}

Deno.test("explainCluster() L2: one node excluded by label, one dead; the live one announces and agrees", () => {
  const report = explainCluster(snapshot({
    services: [service("web", { ips: ["198.51.100.10"], annotations: { "metallb.io/ip-allocated-from-pool": "lan" } })],
    nodes: [node("node-a"), node("node-b"), node("node-c", EXCLUDE)],
    endpointSlices: [slice("web", ["node-a", "node-b", "node-c"])],
    leases: [nodeLease("node-a", 2000), nodeLease("node-b", 45_000), nodeLease("node-c", 3000)],
    metallbConfig: LAN,
    serviceL2Statuses: [l2Status("node-a", "web")],
  }));
  const web = svc(report, "default/web");
  assertEquals(web.state, "announced");
  assertEquals(web.ips, ["198.51.100.10"]);
  assertEquals([web.pool, web.poolSource], ["lan", "annotation"]);
  assertEquals(web.l2?.elected, "node-a");
  assertEquals(web.l2?.agrees, true);
  assertEquals(web.l2?.reported, [{ node: "node-a", interfaces: "all" }]);
  assertEquals(web.l2?.candidates.map((c) => [c.node, c.weight]), [["node-a", 0]]);
  assertEquals(web.l2?.candidates[0]?.hash.length, 16);
  assertEquals(web.l2?.excluded.map((e) => [e.node, e.reason]), [["node-b", "dead"], ["node-c", "excluded-label"]]);
  assertStringIncludes(web.l2!.excluded[0]!.detail, "last renewed 45 s ago");
  assertEquals(web.l2?.localEndpointNodes, undefined);
  assertEquals(web.bgp, undefined);
  assertEquals(web.notes, []);
  assertEquals(report.instances.map((i) => [i.node, i.state]), [
    ["node-a", "alive"],
    ["node-b", "stale"],
    ["node-c", "alive"],
  ]);
  assert(report.config.valid);
  assertEquals(report.pools[0]?.ipv4, { size: "11", assigned: 1, available: 10 });
  assertEquals(report.pools[0]?.l2Advertisements, ["l2"]);
  assertEquals(report.warnings, []);
});

Deno.test("explainCluster() says when the reporting node is dead and its ServiceL2Status is left over", () => {
  const report = explainCluster(snapshot({
    services: [service("web", { ips: ["198.51.100.10"] })],
    nodes: [node("node-a"), node("node-b")],
    endpointSlices: [slice("web", ["node-a", "node-b"])],
    leases: [nodeLease("node-a", 2000), nodeLease("node-b", 60_000)],
    metallbConfig: LAN,
    serviceL2Statuses: [l2Status("node-b", "web")],
  }));
  const web = svc(report, "default/web");
  assertEquals([web.pool, web.poolSource], ["lan", "recomputed"]);
  assertEquals(web.l2?.elected, "node-a");
  assertEquals(web.l2?.agrees, false);
  assert(hasNote(web.notes, "node node-b reports announcing it, but its instance is not alive"), web.notes.join("\n"));
  assert(hasNote(web.notes, "node-a should have taken over"));
});

Deno.test("explainCluster() warns when a live node reports the Service but the election picks another (split view)", () => {
  const nodes = ["node-a", "node-b"];
  const winner = sortCandidates(nodes, "198.51.100.10")[0]!;
  const loser = nodes.find((n) => n !== winner)!;
  const report = explainCluster(snapshot({
    services: [service("web", { ips: ["198.51.100.10"] })],
    nodes: nodes.map((n) => node(n)),
    endpointSlices: [slice("web", nodes)],
    leases: nodes.map((n) => nodeLease(n, 1000)),
    metallbConfig: LAN,
    serviceL2Statuses: [l2Status(loser, "web")],
  }));
  const web = svc(report, "default/web");
  assertEquals(web.l2?.elected, winner);
  assertEquals(web.l2?.candidates.map((c) => c.node), [winner, loser]);
  assertEquals(web.l2?.agrees, false);
  assert(hasNote(web.notes, `the election recomputed here picks ${winner}`), web.notes.join("\n"));
  assert(hasNote(web.notes, "split view"));
});

Deno.test("explainCluster() ETP Local: only nodes with a serving endpoint are candidates", () => {
  const report = explainCluster(snapshot({
    services: [service("db", { ips: ["198.51.100.11"], local: true })],
    nodes: [node("node-a"), node("node-b"), node("node-c")],
    endpointSlices: [slice("db", ["node-c"])],
    leases: ["node-a", "node-b", "node-c"].map((n) => nodeLease(n, 1000)),
    metallbConfig: LAN,
    serviceL2Statuses: [l2Status("node-c", "db")],
  }));
  const db = svc(report, "default/db");
  assertEquals(db.externalTrafficPolicy, "Local");
  assertEquals(db.l2?.elected, "node-c");
  assertEquals(db.l2?.localEndpointNodes, ["node-c"]);
  assertEquals(db.l2?.excluded.map((e) => [e.node, e.reason]), [
    ["node-a", "no-local-endpoint"],
    ["node-b", "no-local-endpoint"],
  ]);
  assert(db.l2?.agrees);
});

Deno.test("explainCluster() preferredNodeSelectors weight orders the candidates before the hash", () => {
  const report = explainCluster(snapshot({
    services: [service("web", { ips: ["198.51.100.10"] })],
    nodes: [node("node-a"), node("node-b", { edge: "true" })],
    endpointSlices: [slice("web", ["node-a", "node-b"])],
    leases: [nodeLease("node-a", 1000), nodeLease("node-b", 1000)],
    metallbConfig: [
      ipPool("lan", ["198.51.100.10-198.51.100.20"]),
      l2Adv("l2", ["lan"], {
        preferredNodeSelectors: [{ weight: 50, preference: { matchLabels: { edge: "true" } } }],
      }),
    ],
  }));
  const web = svc(report, "default/web");
  assertEquals(web.l2?.candidates.map((c) => [c.node, c.weight]), [["node-b", 50], ["node-a", 0]]);
  assert(hasNote(web.notes, "no node reports announcing it (no ServiceL2Status)"));
});

Deno.test("explainCluster() pending: pool exhausted, reported by the allocator's condition and recomputed alike", () => {
  const report = explainCluster(snapshot({
    services: [
      service("first", { ips: ["198.51.100.10"], created: "2024-01-01T00:00:00Z" }),
      service("second", {
        conditions: [{
          type: "metallite.io/AddressAssigned",
          status: "False",
          reason: "PoolExhausted",
          message: 'pool "one" is exhausted (IPv4)',
        }],
      }),
    ],
    nodes: [node("node-a")],
    endpointSlices: [slice("first", ["node-a"]), slice("second", ["node-a"])],
    leases: [nodeLease("node-a", 1000), allocatorLease("node-a")],
    metallbConfig: [ipPool("one", ["198.51.100.10/32"]), l2Adv("l2", ["one"])],
  }));
  const second = svc(report, "default/second");
  assertEquals(second.state, "pending");
  assertEquals(second.ips, []);
  assertEquals(second.pending?.recomputed.state, "pending");
  assert(second.pending?.recomputed.state === "pending");
  assertEquals(second.pending.recomputed.code, "PoolExhausted");
  assertEquals(second.pending.reported?.reason, "PoolExhausted");
  assertEquals(second.pending.agrees, true);
  assertEquals(second.notes, []);
  assertEquals(report.pools[0]?.ipv4, { size: "1", assigned: 1, available: 0 });
  assertEquals(report.allocator, { lease: "metallite-allocator", holder: "node-a", fresh: true });
});

Deno.test("explainCluster() pending: requested IP in use, with no condition written, says it recomputed the reason", () => {
  const report = explainCluster(snapshot({
    services: [
      service("first", { ips: ["198.51.100.10"], created: "2024-01-01T00:00:00Z" }),
      service("second", { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.10" } }),
    ],
    nodes: [node("node-a")],
    leases: [nodeLease("node-a", 1000), allocatorLease("node-a")],
    metallbConfig: LAN,
  }));
  const second = svc(report, "default/second");
  assert(second.pending?.recomputed.state === "pending");
  assertEquals(second.pending.recomputed.code, "IpInUse");
  assertStringIncludes(second.pending.recomputed.message, "default/first");
  assertEquals(second.pending.reported, undefined);
  assertEquals(second.pending.agrees, false);
  assert(hasNote(second.notes, "no pending condition on the Service"));
});

Deno.test("explainCluster() pending with a free address blames the missing allocator", () => {
  const report = explainCluster(snapshot({
    services: [service("web")],
    nodes: [node("node-a")],
    leases: [nodeLease("node-a", 1000)],
    metallbConfig: LAN,
  }));
  const web = svc(report, "default/web");
  assertEquals(web.pending?.recomputed, { state: "assignable", ips: ["198.51.100.10"], pool: "lan" });
  assert(hasNote(web.notes, "no allocator holds the Lease metallite-allocator"), web.notes.join("\n"));
});

Deno.test("explainCluster() shows the allocator's reason beside a different recomputed one", () => {
  const report = explainCluster(snapshot({
    services: [service("web", {
      annotations: { "metallb.io/address-pool": "gone" },
      conditions: [{ type: "metallite.io/AddressAssigned", status: "False", reason: "PoolExhausted", message: "old" }],
    })],
    leases: [allocatorLease("node-a")],
    metallbConfig: LAN,
  }));
  const web = svc(report, "default/web");
  assert(web.pending?.recomputed.state === "pending");
  assertEquals(web.pending.recomputed.code, "UnknownPool");
  assertEquals(web.pending.agrees, false);
  assert(hasNote(web.notes, "the allocator wrote PoolExhausted (old) but recomputing now gives UnknownPool"));
});

Deno.test("explainCluster() BGP: nodes and peers from nodeSelectors, node not selected explained", () => {
  const report = explainCluster(snapshot({
    services: [service("api", { ips: ["203.0.113.5"] })],
    nodes: [node("node-a", { rack: "1" }), node("node-b", { rack: "1", spine: "yes" }), node("node-c", { rack: "2" })],
    endpointSlices: [slice("api", ["node-a"])],
    leases: ["node-a", "node-b", "node-c"].map((n) => nodeLease(n, 1000)),
    metallbConfig: [
      ipPool("public", ["203.0.113.0/28"]),
      bgpAdv("bgp", ["public"], { nodeSelectors: [{ matchLabels: { rack: "1" } }] }),
      bgpPeer("router1", "198.51.100.1"),
      bgpPeer("router2", "198.51.100.2", { nodeSelectors: [{ matchLabels: { spine: "yes" } }] }),
    ],
    serviceBgpStatuses: [bgpStatus("node-a", "api", ["router1"]), bgpStatus("node-b", "api", ["router1"])],
  }));
  const api = svc(report, "default/api");
  assertEquals(api.l2, undefined);
  assertEquals(api.bgp?.advertisements, ["bgp"]);
  assertEquals(api.bgp?.expected, [
    { node: "node-a", peers: ["router1"] },
    { node: "node-b", peers: ["router1", "router2"] },
  ]);
  assertEquals(api.bgp?.excluded.map((e) => [e.node, e.reason]), [["node-c", "not-selected"]]);
  assertEquals(api.bgp?.agrees, false);
  assert(hasNote(api.notes, "node node-b reports announcing it to router1, but should announce to router1, router2"));
  assertEquals(api.state, "announced");
});

Deno.test("explainCluster() BGP with ETP Local announces only from nodes with endpoints", () => {
  const report = explainCluster(snapshot({
    services: [service("api", { ips: ["203.0.113.5"], local: true })],
    nodes: [node("node-a"), node("node-b")],
    endpointSlices: [slice("api", ["node-b"])],
    leases: [nodeLease("node-a", 1000), nodeLease("node-b", 1000)],
    metallbConfig: [ipPool("public", ["203.0.113.0/28"]), bgpAdv("bgp", ["public"]), bgpPeer("r", "198.51.100.1")],
    serviceBgpStatuses: [bgpStatus("node-b", "api", ["r"])],
  }));
  const api = svc(report, "default/api");
  assertEquals(api.bgp?.expected, [{ node: "node-b", peers: ["r"] }]);
  assertEquals(api.bgp?.excluded.map((e) => [e.node, e.reason]), [["node-a", "no-local-endpoint"]]);
  assertEquals(api.bgp?.localEndpointNodes, ["node-b"]);
  assert(api.bgp?.agrees);
  assertEquals(api.notes, []);
});

Deno.test("explainCluster() reads flag pools published on node Leases, and says when none are visible", () => {
  const base = {
    services: [service("web", { ips: ["198.51.100.200"] })],
    nodes: [node("node-a")],
    endpointSlices: [slice("web", ["node-a"])],
    crdsInstalled: false,
  };
  const published = explainCluster(snapshot({
    ...base,
    leases: [nodeLease("node-a", 1000, { pools: ["198.51.100.200-210"], announceInterfaces: ["eth0"] })],
  }));
  assertEquals(published.config.flags, "published");
  assertEquals(published.config.flagPools, ["198.51.100.200-210"]);
  assertEquals(published.pools.map((p) => [p.name, p.source]), [["cli-pool-1", "flag"]]);
  const web = svc(published, "default/web");
  assertEquals(web.l2?.elected, "node-a");
  assertEquals(web.l2?.advertisements, ["cli-l2"]);
  assertEquals(published.instances[0]?.interfaces, ["eth0"]);
  assertEquals(web.notes, []);

  const hidden = explainCluster(snapshot({ ...base, leases: [nodeLease("node-a", 1000)] }));
  assertEquals(hidden.config.flags, "not-visible");
  assert(hasNote(hidden.config.notes, "pools from command-line flags are not visible"));
  const hiddenWeb = svc(hidden, "default/web");
  assertEquals(hiddenWeb.state, "unannounced");
  assert(hasNote(hiddenWeb.notes, "pass them to status with --config"), hiddenWeb.notes.join("\n"));
});

Deno.test("explainCluster() uses the published interfaces for the election's interface rule", () => {
  const report = explainCluster(snapshot({
    services: [service("web", { ips: ["198.51.100.10"] })],
    nodes: [node("node-a"), node("node-b")],
    endpointSlices: [slice("web", ["node-a", "node-b"])],
    leases: [
      nodeLease("node-a", 1000, { announceInterfaces: ["eth0"] }),
      nodeLease("node-b", 1000, { announceInterfaces: ["eth1"] }),
    ],
    metallbConfig: [ipPool("lan", ["198.51.100.10-198.51.100.20"]), l2Adv("l2", ["lan"], { interfaces: ["eth1"] })],
  }));
  const web = svc(report, "default/web");
  assertEquals(web.l2?.elected, "node-b");
  assertEquals(web.l2?.interfaces, ["eth1"]);
  assertEquals(web.l2?.excluded.map((e) => [e.node, e.reason]), [["node-a", "no-interface"]]);
  assertStringIncludes(web.l2!.excluded[0]!.detail, "it can announce on eth0");
});

Deno.test("explainCluster() lists rejected configuration and ConfigurationStates", () => {
  const report = explainCluster(snapshot({
    metallbConfig: [ipPool("bad", ["198.51.100.300"]), ...LAN],
    configurationStates: [{
      metadata: { name: "controller", namespace: "metallb-system" },
      status: { result: "Invalid", errorSummary: "configuration error: IPAddressPool bad" },
    }],
  }));
  assertEquals(report.config.valid, false);
  assertEquals(report.config.rejected.map((r) => [r.kind, r.name, r.code]), [[
    "IPAddressPool",
    "bad",
    "InvalidAddress",
  ]]);
  assertEquals(report.config.configurationStates, [
    { name: "controller", result: "Invalid", errorSummary: "configuration error: IPAddressPool bad" },
  ]);
  assertEquals(report.pools.map((p) => p.name), ["lan"]);
  assert(hasNote(report.config.notes, "no metallite instance has a node Lease"));
});

Deno.test("explainCluster() skips malformed objects with a warning and never throws", () => {
  const garbage: unknown[] = [null, 5, "text", [], { metadata: 3 }, { metadata: { name: "" } }];
  const report = explainCluster(snapshot({
    services: [
      ...garbage,
      { metadata: { name: "odd", namespace: "default" }, spec: "LoadBalancer" },
      { metadata: { name: "odd2", namespace: "default" }, spec: { type: 7 } },
      {
        metadata: { name: "odd3", namespace: "default" },
        spec: { type: "LoadBalancer" },
        status: { loadBalancer: { ingress: "198.51.100.10" } },
      },
      service("web", { ips: ["198.51.100.10"] }),
    ],
    nodes: [...garbage, { metadata: { name: "n", labels: { a: 1 } } }, node("node-a")],
    endpointSlices: [
      ...garbage,
      { metadata: { name: "s", namespace: "default" }, endpoints: "x" },
      slice("web", ["node-a"]),
    ],
    leases: [...garbage, { metadata: { name: "metallite-node-x", namespace: "metallb-system" }, spec: 4 }, {
      metadata: {
        name: "metallite-node-node-a",
        namespace: "metallb-system",
        annotations: { "metallite.io/node-config": "{not json" },
      },
      spec: { holderIdentity: "node-a", renewTime: new Date(NOW).toISOString(), leaseDurationSeconds: 30 },
    }],
    namespaces: garbage,
    events: garbage,
    metallbConfig: [...garbage, ...LAN],
    serviceL2Statuses: [...garbage, { metadata: { name: "l2-x" }, status: { node: 3 } }],
    serviceBgpStatuses: garbage,
    configurationStates: [...garbage, { metadata: { name: "c" }, status: { result: 1 } }],
  }));
  assertEquals(report.services.map((s) => s.name), ["web"]);
  assert(report.warnings.some((w) => w.includes("Service default/odd skipped: spec is not an object")));
  assert(report.warnings.some((w) => w.includes("Service default/odd2 skipped: spec.type is not a text")));
  assert(report.warnings.some((w) => w.includes("Service default/odd3 skipped: status.loadBalancer.ingress")));
  assert(report.warnings.some((w) => w.includes("Node n skipped: metadata.labels is not a map of texts")));
  assert(
    report.warnings.some((w) => w.includes("annotation metallite.io/node-config skipped: the annotation is not JSON")),
  );
  assert(report.warnings.some((w) => w.includes("ServiceL2Status l2-x skipped")));
  assertEquals(svc(report, "default/web").l2?.elected, "node-a");
  assert(!report.config.valid, "the garbage metallb.io entries are rejected as documents");
});

Deno.test("explainCluster() marks Services of another loadBalancerClass and leaves them alone", () => {
  const report = explainCluster(snapshot({
    services: [service("other", { lbClass: "example.com/lb" })],
    metallbConfig: LAN,
  }));
  const other = svc(report, "default/other");
  assertEquals(other.state, "other-class");
  assertEquals(other.pending, undefined);
  assert(hasNote(other.notes, "loadBalancerClass example.com/lb is not metallite's"));
});

Deno.test("explainCluster() keeps the last three Events of a Service, newest first", () => {
  const event = (reason: string, at: string) => ({
    metadata: { name: `web.${reason}`, namespace: "default" },
    involvedObject: { kind: "Service", name: "web", namespace: "default" },
    reason,
    message: `${reason} happened`,
    type: reason === "AllocationFailed" ? "Warning" : "Normal",
    count: 2,
    lastTimestamp: at,
  });
  const report = explainCluster(snapshot({
    services: [service("web")],
    metallbConfig: LAN,
    events: [
      event("A", "2024-12-31T10:00:00Z"),
      event("AllocationFailed", "2024-12-31T12:00:00Z"),
      event("C", "2024-12-31T11:00:00Z"),
      event("D", "2024-12-31T09:00:00Z"),
    ],
  }));
  assertEquals(svc(report, "default/web").events.map((e) => e.reason), ["AllocationFailed", "C", "A"]);
});
