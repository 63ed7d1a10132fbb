import { createHash } from "node:crypto";
import { parseIp } from "../ip/mod.ts";
import type { EndpointSlice, Node, Service } from "../k8s/types.ts";
import { assert, assertEquals } from "../../tests/assert.ts";
import { advertisement, alivePeers, labelsSelector, model, node, pool, service, slice } from "./_testing.ts";
import {
  candidateHash,
  createElector,
  ElectionCache,
  type ElectionContext,
  electServices,
  goIpString,
  indexEndpointSlices,
  type PeerState,
  sortCandidates,
} from "./election.ts";

const NODES = ["node-a", "node-b", "node-c"];

function context(
  overrides: Partial<ElectionContext> & { slices?: EndpointSlice[] } = {},
): ElectionContext {
  const index = indexEndpointSlices(overrides.slices ?? [slice("web", NODES)]);
  return {
    model: model([pool("lan", ["198.51.100.200-198.51.100.250", "2001:db8:100::200-2001:db8:100::250"])], [
      advertisement("l2", ["lan"]),
    ]),
    nodes: NODES.map((n) => node(n)),
    peers: alivePeers(NODES),
    endpointSlices: (key) => index.get(key) ?? [],
    ...overrides,
  };
}

function elect(svc: Service, ctx: ElectionContext) {
  return createElector(ctx).elect(svc);
}

// Reference order computed here independently of election.ts: sha256 of "node#ip", compared as hex strings (which
// orders exactly as bytes do).
function referenceOrder(nodes: string[], ip: string): string[] {
  const hex = (n: string) => createHash("sha256").update(`${n}#${ip}`).digest("hex");
  return [...nodes].sort((a, b) => (hex(a) < hex(b) ? -1 : 1));
}

Deno.test("sortCandidates() matches MetalLB's own test vectors", async (t) => {
  // Expected orders from MetalLB speaker/layer2_controller_test.go (TestSortL2Candidates, TestShouldAnnounceEPSlices).
  const vectors: { ip: string; nodes: string[]; scores?: Record<string, number>; want: string[] }[] = [
    { ip: "10.0.0.1", nodes: ["node-a", "node-b", "node-c"], want: ["node-b", "node-a", "node-c"] },
    { ip: "10.0.0.2", nodes: ["node-a", "node-b", "node-c"], want: ["node-b", "node-c", "node-a"] },
    { ip: "10.20.30.1", nodes: ["iris1", "iris2"], want: ["iris2", "iris1"] },
    { ip: "10.20.30.2", nodes: ["iris1", "iris2"], want: ["iris1", "iris2"] },
    {
      ip: "10.20.30.1",
      nodes: ["edge-a", "edge-b", "worker-a", "worker-b"],
      scores: { "edge-a": 100 },
      want: ["edge-a", "edge-b", "worker-a", "worker-b"],
    },
    {
      ip: "10.20.30.1",
      nodes: ["node-a", "node-b"],
      scores: { "node-a": 100, "node-b": 100 },
      want: ["node-b", "node-a"],
    },
    {
      ip: "10.20.30.1",
      nodes: ["edge-a", "edge-b", "worker-a"],
      scores: { "edge-a": 100, "edge-b": 100 },
      want: ["edge-b", "edge-a", "worker-a"],
    },
  ];
  for (const v of vectors) {
    await t.step(`${v.ip} over ${v.nodes.join(",")}${v.scores ? " with scores" : ""}`, () => {
      assertEquals(sortCandidates(v.nodes, v.ip, v.scores), v.want);
      assertEquals(sortCandidates([...v.nodes].reverse(), v.ip, v.scores), v.want);
    });
  }
});

Deno.test("sortCandidates() agrees with an independent sha256 ordering", async (t) => {
  const nodes = ["k8s-worker-1", "k8s-worker-2", "k8s-worker-3", "pi-4", "nuc"];
  for (const ip of ["198.51.100.200", "198.51.100.201", "203.0.113.7", "2001:db8::1", "2001:db8:100::200"]) {
    await t.step(ip, () => assertEquals(sortCandidates(nodes, ip), referenceOrder(nodes, ip)));
  }
});

Deno.test("goIpString() prints addresses as Go's net.IP.String() does", async (t) => {
  const cases: [string, string][] = [
    ["198.51.100.7", "198.51.100.7"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:198.51.100.7", "198.51.100.7"],
    ["::", "::"],
  ];
  for (const [input, want] of cases) await t.step(input, () => assertEquals(goIpString(parseIp(input)), want));
});

Deno.test("election picks the first node in hash order of the first IP and lists the rest", () => {
  const result = elect(service("web", ["198.51.100.200"]), context());
  const order = referenceOrder(NODES, "198.51.100.200");
  assertEquals(result.owner, order[0]);
  assertEquals(result.candidates, order);
  assertEquals(result.excluded, []);
  assertEquals(result.ips, ["198.51.100.200"]);
  assertEquals(result.pool, "lan");
  assertEquals(result.interfaces, "all");
  assertEquals(result.skipped, undefined);
});

Deno.test("election excludes nodes with a reason", async (t) => {
  const base = referenceOrder(NODES, "198.51.100.200");
  const winner = base[0]!;
  const others = NODES.filter((n) => n !== winner);
  const svc = service("web", ["198.51.100.200"]);

  await t.step("dead instance", () => {
    const peers = alivePeers(NODES);
    peers.set(winner, { alive: false, interfaces: ["eth0"] });
    const r = elect(svc, context({ peers }));
    assertEquals(r.excluded, [{ node: winner, reason: "dead" }]);
    assertEquals(r.owner, base[1]);
  });
  await t.step("no instance on the node", () => {
    const r = elect(svc, context({ peers: alivePeers(others) }));
    assertEquals(r.excluded, [{ node: winner, reason: "no-instance" }]);
    assertEquals(r.candidates, base.slice(1));
  });
  await t.step("exclude-from-external-load-balancers label, and the option that ignores it", () => {
    const nodes = NODES.map((n) =>
      node(n, n === winner ? { labels: { "node.kubernetes.io/exclude-from-external-load-balancers": "" } } : {})
    );
    assertEquals(elect(svc, context({ nodes })).excluded, [{ node: winner, reason: "excluded-label" }]);
    assertEquals(elect(svc, context({ nodes, ignoreExcludeLabel: true })).owner, winner);
  });
  await t.step("NetworkUnavailable=True", () => {
    const nodes = NODES.map((n) => node(n, { networkUnavailable: n === winner }));
    assertEquals(elect(svc, context({ nodes })).excluded, [{ node: winner, reason: "network-unavailable" }]);
  });
  await t.step("not selected by the advertisement's nodeSelectors", () => {
    const nodes = NODES.map((n) => node(n, { labels: { role: n === winner ? "storage" : "edge" } }));
    const m = model(context().model.pools as ReturnType<typeof pool>[], [
      advertisement("l2", ["lan"], { nodeSelectors: [labelsSelector({ role: "edge" })] }),
    ]);
    const r = elect(svc, context({ nodes, model: m }));
    assertEquals(r.excluded, [{ node: winner, reason: "not-selected" }]);
    assertEquals(r.owner, base[1]);
  });
  await t.step("lacks every interface the advertisement names", () => {
    const peers = new Map<string, PeerState>(
      NODES.map((n) => [n, { alive: true, interfaces: n === winner ? ["eth0"] : ["eth0", "vlan20"] }]),
    );
    const m = model(context().model.pools as ReturnType<typeof pool>[], [
      advertisement("l2", ["lan"], { interfaces: ["vlan20", "vlan30"] }),
    ]);
    const r = elect(svc, context({ peers, model: m }));
    assertEquals(r.excluded, [{ node: winner, reason: "no-interface" }]);
    assertEquals(r.interfaces, ["vlan20", "vlan30"]);
  });
  await t.step("externalTrafficPolicy Local without a serving endpoint on the node", () => {
    const local = service("web", ["198.51.100.200"], { local: true });
    const slices = [slice("web", NODES, { notReady: [winner] })];
    const r = elect(local, context({ slices }));
    assertEquals(r.excluded, [{ node: winner, reason: "no-local-endpoint" }]);
    assertEquals(r.owner, base[1]);
  });
  await t.step("the first failing rule is reported (dead before excluded)", () => {
    const peers = alivePeers(others);
    peers.set(winner, { alive: false, interfaces: [] });
    const nodes = NODES.map((n) => node(n, { networkUnavailable: true }));
    const r = elect(svc, context({ peers, nodes }));
    assertEquals(r.excluded.find((e) => e.node === winner)?.reason, "dead");
    assertEquals(r.skipped, "no-candidate");
    assertEquals(r.owner, undefined);
  });
});

Deno.test("election skips Services nobody should announce", async (t) => {
  const cases: {
    name: string;
    svc: Service;
    ctx?: Partial<ElectionContext> & { slices?: EndpointSlice[] };
    want: string;
  }[] = [
    {
      name: "not LoadBalancer",
      svc: service("web", ["198.51.100.200"], { type: "ClusterIP" }),
      want: "not-load-balancer",
    },
    { name: "no ingress yet", svc: service("web", []), want: "no-ip" },
    { name: "garbage ingress", svc: service("web", ["198.51.100.300"]), want: "invalid-ip" },
    { name: "outside every pool", svc: service("web", ["203.0.113.9"]), want: "no-pool" },
    {
      name: "IPs split across pools",
      svc: service("web", ["198.51.100.200", "2001:db8:100::200"]),
      ctx: {
        model: model([pool("v4", ["198.51.100.200-198.51.100.250"]), pool("v6", ["2001:db8:100::/64"])], [
          advertisement("l2", ["v4", "v6"]),
        ]),
      },
      want: "no-pool",
    },
    {
      name: "pool without an L2 advertisement",
      svc: service("web", ["198.51.100.200"]),
      ctx: { model: model([pool("lan", ["198.51.100.0/24"])], [advertisement("l2", ["other"])]) },
      want: "no-advertisement",
    },
    {
      name: "serviceSelectors not matching",
      svc: service("web", ["198.51.100.200"], { labels: { tier: "db" } }),
      ctx: {
        model: model([pool("lan", ["198.51.100.0/24"])], [
          advertisement("l2", ["lan"], { serviceSelectors: [labelsSelector({ tier: "web" })] }),
        ]),
      },
      want: "no-advertisement",
    },
    {
      name: "allow-shared-ip with serviceSelectors",
      svc: service("web", ["198.51.100.200"], {
        labels: { tier: "web" },
        annotations: { "metallb.io/allow-shared-ip": "k" },
      }),
      ctx: {
        model: model([pool("lan", ["198.51.100.0/24"])], [
          advertisement("l2", ["lan"], { serviceSelectors: [labelsSelector({ tier: "web" })] }),
        ]),
      },
      want: "shared-ip-with-service-selector",
    },
    {
      name: "no serving endpoint at all (even with policy Cluster, as MetalLB)",
      svc: service("web", ["198.51.100.200"]),
      ctx: { slices: [slice("web", NODES, { notReady: NODES })] },
      want: "no-endpoints",
    },
    {
      name: "no endpoint slice",
      svc: service("web", ["198.51.100.200"]),
      ctx: { slices: [] },
      want: "no-endpoints",
    },
    {
      name: "every node dead",
      svc: service("web", ["198.51.100.200"]),
      ctx: { peers: new Map() },
      want: "no-candidate",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = elect(c.svc, context(c.ctx ?? {}));
      assertEquals(r.skipped, c.want);
      assertEquals(r.owner, undefined);
    });
  }
});

Deno.test("election allows shared IPs when no advertisement has serviceSelectors", () => {
  const r = elect(
    service("web", ["198.51.100.200"], { annotations: { "metallb.io/allow-shared-ip": "k" } }),
    context(),
  );
  assert(r.owner);
});

Deno.test("an endpoint with ready unset, or not ready but serving, counts as serving", () => {
  const s: EndpointSlice = {
    metadata: { name: "web-x", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["198.51.100.100"], nodeName: "node-a" },
      { addresses: ["198.51.100.101"], nodeName: "node-b", conditions: { ready: false, serving: true } },
      { addresses: ["198.51.100.102"], nodeName: "node-c", conditions: { ready: false, serving: false } },
    ],
  };
  const r = elect(service("web", ["198.51.100.200"], { local: true }), context({ slices: [s] }));
  assertEquals(r.excluded, [{ node: "node-c", reason: "no-local-endpoint" }]);
});

Deno.test("dual-stack Services are elected on their first IP and both IPs go to the owner", async (t) => {
  for (const ips of [["198.51.100.201", "2001:db8:100::201"], ["2001:db8:100::201", "198.51.100.201"]]) {
    await t.step(ips.join(" + "), () => {
      const r = elect(service("web", ips), context());
      assertEquals(r.ips, ips);
      assertEquals(r.candidates, referenceOrder(NODES, ips[0]!));
    });
  }
  await t.step("the IPv6 key is the canonical form even when status holds another spelling", () => {
    const r = elect(service("web", ["2001:DB8:100:0:0:0:0:201"]), context());
    assertEquals(r.ips, ["2001:db8:100::201"]);
    assertEquals(r.candidates, referenceOrder(NODES, "2001:db8:100::201"));
  });
});

Deno.test("preferredNodeSelectors weights sum across advertisements and apply only to selected nodes", () => {
  const nodes = [
    node("node-a", { labels: { zone: "x", gpu: "yes" } }),
    node("node-b", { labels: { zone: "x" } }),
    node("node-c", { labels: { zone: "y", gpu: "yes" } }),
  ];
  const m = model([pool("lan", ["198.51.100.0/24"])], [
    advertisement("a1", ["lan"], {
      preferredNodeSelectors: [{ weight: 30, preference: labelsSelector({ zone: "x" }) }],
    }),
    advertisement("a2", ["lan"], {
      nodeSelectors: [labelsSelector({ gpu: "yes" })],
      preferredNodeSelectors: [{ weight: 50, preference: labelsSelector({}) }],
    }),
  ]);
  const r = elect(service("web", ["198.51.100.200"]), context({ nodes, model: m }));
  assertEquals(r.scores, { "node-a": 80, "node-b": 30, "node-c": 50 });
  assertEquals(r.candidates, ["node-a", "node-c", "node-b"]);
});

Deno.test("announce interfaces: every interface when one selecting advertisement names none, else the union", () => {
  const m = model([pool("lan", ["198.51.100.0/24"])], [
    advertisement("a1", ["lan"], { interfaces: ["eth1"] }),
    advertisement("a2", ["lan"], { interfaces: ["eth0"] }),
    advertisement("a3", ["lan"], { nodeSelectors: [labelsSelector({ special: "yes" })] }),
  ]);
  const peers = alivePeers(NODES, ["eth0", "eth1"]);
  const plain = elect(service("web", ["198.51.100.200"]), context({ model: m, peers }));
  assertEquals(plain.interfaces, ["eth0", "eth1"]);
  const nodes = NODES.map((n) => node(n, { labels: { special: "yes" } }));
  assertEquals(elect(service("web", ["198.51.100.200"]), context({ model: m, peers, nodes })).interfaces, "all");
});

Deno.test("election is deterministic under shuffled input", () => {
  const names = Array.from({ length: 12 }, (_, i) => `node-${i}`);
  const services = Array.from({ length: 40 }, (_, i) => service(`svc-${i}`, [`198.51.100.${200 + i}`]));
  const slices = services.map((s) => slice(s.metadata.name, names));
  function run(nodes: Node[], peers: Map<string, PeerState>) {
    const index = indexEndpointSlices(slices);
    return electServices(services, {
      model: model([pool("lan", ["198.51.100.0/24"])], [advertisement("l2", ["lan"])]),
      nodes,
      peers,
      endpointSlices: (k) => index.get(k) ?? [],
    }).map((e) => [e.owner, e.candidates]);
  }
  const first = run(names.map((n) => node(n)), alivePeers(names));
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let round = 0; round < 5; round++) {
    const shuffled = [...names].sort(() => rand() - 0.5);
    assertEquals(run(shuffled.map((n) => node(n)), alivePeers([...shuffled].reverse())), first);
  }
  // The election spreads Services over nodes rather than piling them on one.
  assert(new Set(first.map(([owner]) => owner)).size > 4);
});

Deno.test("hostile objects never crash the election", () => {
  const junk = [
    { metadata: { name: "" } },
    { metadata: { name: "node-x", labels: "nope" }, status: { conditions: "bad" } },
    { metadata: { name: "node-a" } },
  ] as unknown as Node[];
  const badSlices = [
    { metadata: { name: "s", namespace: "default", labels: { "kubernetes.io/service-name": "web" } }, endpoints: "x" },
    {
      metadata: { name: "t", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
      endpoints: [null, { addresses: [], nodeName: 5 }],
    },
  ] as unknown as EndpointSlice[];
  const svc = {
    metadata: { name: "web", namespace: "default", labels: null, annotations: 4 },
    spec: { type: "LoadBalancer" },
    status: { loadBalancer: { ingress: [{ ip: "198.51.100.200" }] } },
  } as unknown as Service;
  const r = elect(svc, context({ nodes: [...junk, node("node-b")], slices: badSlices }));
  // The endpoint with a non-string nodeName still serves, so the Service is announced (policy Cluster).
  assertEquals([...r.candidates].sort(), ["node-a", "node-b"]);
  assertEquals(r.excluded, [{ node: "node-x", reason: "no-instance" }]);
});

Deno.test("an ElectionCache gives the same elections, and follows node set changes", () => {
  const cache = new ElectionCache();
  const names = Array.from({ length: 8 }, (_, i) => `node-${i}`);
  const services = Array.from(
    { length: 30 },
    (_, i) => service(`svc-${i}`, [`198.51.100.${200 + i}`], { local: i % 3 === 0 }),
  );
  const slices = services.map((s, i) => slice(s.metadata.name, names.filter((_, j) => (i + j) % 2 === 0)));
  const index = indexEndpointSlices(slices);
  const m = model([pool("lan", ["198.51.100.0/24"])], [
    advertisement("l2", ["lan"], {
      preferredNodeSelectors: [{ weight: 10, preference: labelsSelector({ "kubernetes.io/hostname": "node-5" }) }],
    }),
  ]);
  for (const present of [names, names.slice(0, 5), [...names, "node-new"]]) {
    const ctx = {
      model: m,
      nodes: present.map((n) => node(n)),
      peers: alivePeers(present),
      endpointSlices: (k: string) => index.get(k) ?? [],
    };
    const plain = electServices(services, ctx);
    const cached = electServices(services, { ...ctx, cache });
    cache.sweep();
    assertEquals(cached, plain);
    assertEquals(electServices(services, { ...ctx, cache }), plain, "again, from the cache");
    cache.sweep();
  }
  assert(cache.size <= 30);
});

Deno.test("candidateHash() is sha256(node#ip) in hex, and sortCandidates() follows it", () => {
  const nodes = Array.from({ length: 20 }, (_, i) => `node-${i}`);
  for (const n of nodes) {
    assertEquals(candidateHash(n, "198.51.100.7"), createHash("sha256").update(`${n}#198.51.100.7`).digest("hex"));
  }
  const byHex = [...nodes].sort((a, b) => candidateHash(a, "198.51.100.7") < candidateHash(b, "198.51.100.7") ? -1 : 1);
  assertEquals(sortCandidates(nodes, "198.51.100.7"), byHex);
});
