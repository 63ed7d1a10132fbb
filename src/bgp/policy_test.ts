import { assertEquals } from "../../tests/assert.ts";
import { buildModel, parseConfigFile } from "../config/mod.ts";
import type { BgpAdvertisement, Model } from "../config/model.ts";
import type { EndpointSlice, Node, Service } from "../k8s/types.ts";
import {
  type BgpPolicyInputs,
  type BgpSkipReason,
  computeBgpAnnouncements,
  peerFamilies,
  peersForNode,
  servingEndpoints,
} from "./policy.ts";
import type { Route } from "./rib_out.ts";

const NS = "metallb-system";

/** Pools, a community alias and two always-on peers (IPv4 and IPv6) that every case starts from. */
const BASE = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: lan, namespace: ${NS} }
spec: { addresses: [203.0.113.0/24, "2001:db8:1::/64"] }
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: other, namespace: ${NS} }
spec: { addresses: [192.0.2.0/24] }
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: { name: aliases, namespace: ${NS} }
spec:
  communities:
    - { name: no-advertise, value: "65535:65282" }
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: router, namespace: ${NS} }
spec: { myASN: 64513, peerASN: 64512, peerAddress: 198.51.100.1 }
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: router6, namespace: ${NS} }
spec: { myASN: 64513, peerASN: 64512, peerAddress: "2001:db8::1" }
`;

const AD_ALL = `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: all, namespace: ${NS} }
spec: {}
`;

function modelOf(extra: string): Model {
  const parsed = parseConfigFile(BASE + extra, { file: "test.yaml" });
  const model = buildModel({ files: parsed.objects, namespace: NS });
  assertEquals([...parsed.rejected, ...model.rejected], [], "the test configuration must be valid");
  return model;
}

function node(name: string, options: { labels?: Record<string, string>; networkUnavailable?: boolean } = {}): Node {
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name, ...options.labels } },
    status: {
      addresses: [{ type: "InternalIP", address: "198.51.100.11" }],
      conditions: [{ type: "NetworkUnavailable", status: options.networkUnavailable ? "True" : "False" }],
    },
  };
}

interface ServiceOptions {
  local?: boolean;
  labels?: Record<string, string>;
  type?: "LoadBalancer" | "ClusterIP";
  lbClass?: string;
  namespace?: string;
}

function service(name: string, ips: string[], o: ServiceOptions = {}): Service {
  return {
    metadata: { name, namespace: o.namespace ?? "default", ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      type: o.type ?? "LoadBalancer",
      externalTrafficPolicy: o.local ? "Local" : "Cluster",
      ...(o.lbClass ? { loadBalancerClass: o.lbClass } : {}),
    },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  };
}

type Conditions = { ready?: boolean; serving?: boolean };

function slice(serviceName: string, endpoints: { node: string; conditions?: Conditions; addresses?: string[] }[]) {
  return {
    metadata: { name: `${serviceName}-x`, namespace: "default", labels: { "kubernetes.io/service-name": serviceName } },
    addressType: "IPv4",
    endpoints: endpoints.map((e) => ({
      addresses: e.addresses ?? ["10.244.0.10"],
      nodeName: e.node,
      ...(e.conditions ? { conditions: e.conditions } : {}),
    })),
  } satisfies EndpointSlice;
}

interface Case {
  /** Extra YAML documents after {@link BASE} (default: one advertisement for every pool). */
  yaml?: string;
  services: Service[];
  /** Endpoints by Service name; default one ready endpoint on node2 for every Service. */
  endpoints?: Record<string, { node: string; conditions?: Conditions; addresses?: string[] }[]>;
  node?: Node | undefined;
  options?: Partial<BgpPolicyInputs>;
  /** Expected routes per peer (peers not listed must get none). */
  routes: Record<string, Route[]>;
  /** Expected outcome per Service name: its peers, or the reason it is skipped. */
  outcome: Record<string, string[] | BgpSkipReason>;
}

function run(c: Case) {
  const model = modelOf(c.yaml ?? AD_ALL);
  const slices = new Map<string, EndpointSlice[]>();
  for (const s of c.services) {
    const eps = c.endpoints?.[s.metadata.name] ?? [{ node: "node2", conditions: { ready: true } }];
    slices.set(`${s.metadata.namespace}/${s.metadata.name}`, [slice(s.metadata.name, eps)]);
  }
  const result = computeBgpAnnouncements({
    model,
    nodeName: "node1",
    node: "node" in c ? c.node : node("node1"),
    services: c.services,
    endpointSlices: (key) => slices.get(key) ?? [],
    ...c.options,
  });
  const routes: Record<string, Route[]> = {};
  for (const [peer, list] of result.routes) if (list.length > 0) routes[peer] = [...list];
  const outcome: Record<string, string[] | BgpSkipReason> = {};
  for (const s of result.services) outcome[s.service.split("/")[1]!] = s.skipped ?? [...s.peers];
  return { routes, outcome, result };
}

const TABLE: Record<string, Case> = {
  "an advertisement for every pool: a /32 to the IPv4 peer only, no attributes": {
    services: [service("web", ["203.0.113.10"])],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { web: ["router"] },
  },
  "an IPv6 address goes as a /128 to the IPv6 peer only": {
    services: [service("web6", ["2001:db8:1::10"])],
    routes: { router6: [{ prefix: "2001:db8:1::10/128" }] },
    outcome: { web6: ["router6"] },
  },
  "a dual-stack Service is announced on both sessions": {
    services: [service("dual", ["203.0.113.10", "2001:db8:1::10"])],
    routes: { router: [{ prefix: "203.0.113.10/32" }], router6: [{ prefix: "2001:db8:1::10/128" }] },
    outcome: { dual: ["router", "router6"] },
  },
  "dualStackAddressFamily lets an IPv4 session carry IPv6 routes too": {
    yaml: `${AD_ALL}---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: both, namespace: ${NS} }
spec: { myASN: 64513, peerASN: 64514, peerAddress: 198.51.100.2, dualStackAddressFamily: true }
`,
    services: [service("dual", ["203.0.113.10", "2001:db8:1::10"])],
    routes: {
      both: [{ prefix: "203.0.113.10/32" }, { prefix: "2001:db8:1::10/128" }],
      router: [{ prefix: "203.0.113.10/32" }],
      router6: [{ prefix: "2001:db8:1::10/128" }],
    },
    outcome: { dual: ["both", "router", "router6"] },
  },
  "aggregationLength announces the covering prefix once for several Services, communities merged": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: agg-a, namespace: ${NS} }
spec:
  ipAddressPools: [lan]
  aggregationLength: 24
  aggregationLengthV6: 64
  communities: ["64513:1", no-advertise]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: agg-b, namespace: ${NS} }
spec:
  ipAddressPools: [lan]
  aggregationLength: 24
  aggregationLengthV6: 64
  communities: ["64513:2", "large:64513:7:7"]
`,
    services: [service("a", ["203.0.113.10", "2001:db8:1::a"]), service("b", ["203.0.113.77"])],
    routes: {
      router: [{
        prefix: "203.0.113.0/24",
        communities: ["64513:1", "64513:2", "65535:65282"],
        largeCommunities: ["64513:7:7"],
      }],
      router6: [{
        prefix: "2001:db8:1::/64",
        communities: ["64513:1", "64513:2", "65535:65282"],
        largeCommunities: ["64513:7:7"],
      }],
    },
    outcome: { a: ["router", "router6"], b: ["router"] },
  },
  "a /32 and its aggregate from two advertisements are both announced": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: host, namespace: ${NS} }
spec: { ipAddressPools: [lan], communities: ["64513:32"] }
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: agg, namespace: ${NS} }
spec: { ipAddressPools: [lan], aggregationLength: 24 }
`,
    services: [service("web", ["203.0.113.10"])],
    routes: { router: [{ prefix: "203.0.113.0/24" }, { prefix: "203.0.113.10/32", communities: ["64513:32"] }] },
    outcome: { web: ["router"] },
  },
  "localPref and communities ride on the route, sorted numerically; localPref 0 is not sent": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: pref, namespace: ${NS} }
spec:
  ipAddressPools: [lan]
  localPref: 250
  communities: ["64513:100", "64513:20", "large:64513:0:1"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: zero, namespace: ${NS} }
spec: { ipAddressPools: [other], localPref: 0 }
`,
    services: [service("web", ["203.0.113.10"]), service("api", ["192.0.2.5"])],
    routes: {
      router: [
        { prefix: "192.0.2.5/32" },
        {
          prefix: "203.0.113.10/32",
          localPref: 250,
          communities: ["64513:20", "64513:100"],
          largeCommunities: ["64513:0:1"],
        },
      ],
    },
    outcome: { web: ["router"], api: ["router"] },
  },
  "spec.peers limits the routes to the named peers": {
    yaml: `
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: spine, namespace: ${NS} }
spec: { myASN: 64513, peerASN: 64600, peerAddress: 198.51.100.3 }
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: to-spine, namespace: ${NS} }
spec: { ipAddressPools: [lan], peers: [spine] }
`,
    services: [service("web", ["203.0.113.10"])],
    routes: { spine: [{ prefix: "203.0.113.10/32" }] },
    outcome: { web: ["spine"] },
  },
  "an advertisement whose nodeSelectors miss this node does not apply here": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: rack-b, namespace: ${NS} }
spec: { nodeSelectors: [{ matchLabels: { rack: b } }] }
`,
    services: [service("web", ["203.0.113.10"])],
    routes: {},
    outcome: { web: "no-advertisement" },
  },
  "an advertisement whose nodeSelectors select this node applies": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: rack-a, namespace: ${NS} }
spec: { nodeSelectors: [{ matchLabels: { rack: a } }] }
`,
    node: node("node1", { labels: { rack: "a" } }),
    services: [service("web", ["203.0.113.10"])],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { web: ["router"] },
  },
  "a peer whose nodeSelectors miss this node gets nothing from it": {
    yaml: `
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: tor-b, namespace: ${NS} }
spec:
  myASN: 64513
  peerASN: 64600
  peerAddress: 198.51.100.3
  nodeSelectors: [{ matchLabels: { rack: b } }]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: to-tor, namespace: ${NS} }
spec: { peers: [tor-b] }
`,
    services: [service("web", ["203.0.113.10"])],
    routes: {},
    outcome: { web: "no-peer" },
  },
  "serviceSelectors and pools pick the advertisements": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: lan-web, namespace: ${NS} }
spec:
  ipAddressPools: [lan]
  serviceSelectors: [{ matchExpressions: [{ key: app, operator: In, values: [web] }] }]
`,
    services: [
      service("web", ["203.0.113.10"], { labels: { app: "web" } }),
      service("db", ["203.0.113.11"], { labels: { app: "db" } }),
      service("api", ["192.0.2.5"], { labels: { app: "web" } }),
    ],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { web: ["router"], db: "no-advertisement", api: "no-advertisement" },
  },
  "different localPref for one prefix and peer from two advertisements refuses the Service": {
    yaml: `
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: low, namespace: ${NS} }
spec: { ipAddressPools: [lan], localPref: 50, serviceSelectors: [{ matchLabels: { app: web } }] }
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: high, namespace: ${NS} }
spec: { ipAddressPools: [lan], localPref: 150, serviceSelectors: [{ matchLabels: { tier: front } }] }
`,
    services: [
      service("both", ["203.0.113.10"], { labels: { app: "web", tier: "front" } }),
      service("one", ["203.0.113.11"], { labels: { app: "web" } }),
    ],
    routes: { router: [{ prefix: "203.0.113.11/32", localPref: 50 }] },
    outcome: { both: "conflicting-advertisements", one: ["router"] },
  },
  "externalTrafficPolicy Local: announced only with a serving endpoint on this node": {
    services: [
      service("here", ["203.0.113.10"], { local: true }),
      service("elsewhere", ["203.0.113.11"], { local: true }),
      service("terminating", ["203.0.113.12"], { local: true }),
    ],
    endpoints: {
      here: [{ node: "node1", conditions: { ready: true } }],
      elsewhere: [{ node: "node2" }, { node: "node3" }],
      // Not ready but still serving (a terminating pod that takes traffic): MetalLB's EndpointCanServe.
      terminating: [{ node: "node1", conditions: { ready: false, serving: true } }],
    },
    routes: { router: [{ prefix: "203.0.113.10/32" }, { prefix: "203.0.113.12/32" }] },
    outcome: { here: ["router"], elsewhere: "no-local-endpoint", terminating: ["router"] },
  },
  "externalTrafficPolicy Cluster: every node announces while any endpoint serves, none without": {
    services: [
      service("remote", ["203.0.113.10"]),
      service("empty", ["203.0.113.11"]),
      service("unready", ["203.0.113.12"]),
      service("no-address", ["203.0.113.13"]),
    ],
    endpoints: {
      remote: [{ node: "node3" }],
      empty: [],
      unready: [{ node: "node1", conditions: { ready: false, serving: false } }],
      "no-address": [{ node: "node1", addresses: [] }],
    },
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { remote: ["router"], empty: "no-endpoints", unready: "no-endpoints", "no-address": "no-endpoints" },
  },
  "a node with NetworkUnavailable announces nothing": {
    node: node("node1", { networkUnavailable: true }),
    services: [service("web", ["203.0.113.10"])],
    routes: {},
    outcome: { web: "network-unavailable" },
  },
  "a node labelled exclude-from-external-load-balancers announces nothing": {
    node: node("node1", { labels: { "node.kubernetes.io/exclude-from-external-load-balancers": "" } }),
    services: [service("web", ["203.0.113.10"])],
    routes: {},
    outcome: { web: "excluded-label" },
  },
  "ignoreExcludeLabel announces from such a node": {
    node: node("node1", { labels: { "node.kubernetes.io/exclude-from-external-load-balancers": "" } }),
    options: { ignoreExcludeLabel: true },
    services: [service("web", ["203.0.113.10"])],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { web: ["router"] },
  },
  "without its Node object this node announces nothing": {
    node: undefined,
    services: [service("web", ["203.0.113.10"])],
    routes: {},
    outcome: { web: "no-advertisement" },
  },
  "Services without a usable address, of another type or class are skipped": {
    services: [
      service("pending", []),
      service("garbage", ["203.0.113.10", "not-an-ip"]),
      service("outside", ["198.51.100.77"]),
      service("split", ["203.0.113.10", "192.0.2.5"]),
      service("cluster-ip", ["203.0.113.11"], { type: "ClusterIP" }),
      service("classy", ["203.0.113.12"], { lbClass: "example.com/other" }),
    ],
    routes: {},
    outcome: {
      pending: "no-ip",
      garbage: "invalid-ip",
      outside: "no-pool",
      split: "no-pool",
      classy: "other-class",
    },
  },
  "--lb-class serves only that class": {
    options: { lbClass: "metallite.io/lb" },
    services: [service("mine", ["203.0.113.10"], { lbClass: "metallite.io/lb" }), service("plain", ["203.0.113.11"])],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { mine: ["router"], plain: "other-class" },
  },
  "shared IPs (allow-shared-ip) give one route": {
    services: [service("tcp", ["203.0.113.10"]), service("udp", ["203.0.113.10"], { namespace: "other" })],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { tcp: ["router"], udp: ["router"] },
  },
  "an IPv4-mapped IPv6 ingress address is treated as IPv4 (Go's To4)": {
    services: [service("mapped", ["::ffff:203.0.113.10"])],
    routes: { router: [{ prefix: "203.0.113.10/32" }] },
    outcome: { mapped: ["router"] },
  },
};

Deno.test("computeBgpAnnouncements() follows MetalLB's BGP rules", async (t) => {
  for (const [name, c] of Object.entries(TABLE)) {
    await t.step(name, () => {
      const { routes, outcome } = run(c);
      assertEquals(routes, c.routes);
      assertEquals(outcome, c.outcome);
    });
  }
});

Deno.test("computeBgpAnnouncements() withdraws a Service once it is deleted or loses its endpoints", () => {
  const base: Case = { services: [service("web", ["203.0.113.10"])], routes: {}, outcome: {} };
  assertEquals(run(base).routes, { router: [{ prefix: "203.0.113.10/32" }] });
  assertEquals(run({ ...base, endpoints: { web: [] } }).routes, {});
  const deleted = run({ ...base, services: [] }).result;
  assertEquals([...deleted.routes], [["router", []], ["router6", []]], "every peer is listed, with no routes");
  assertEquals(deleted.services, []);
});

Deno.test("computeBgpAnnouncements() uses only the sessions it is given", () => {
  const { routes } = run({
    services: [service("dual", ["203.0.113.10", "2001:db8:1::10"])],
    options: { peers: [{ name: "router", families: [4, 6] }] },
    routes: {},
    outcome: {},
  });
  assertEquals(routes, { router: [{ prefix: "203.0.113.10/32" }, { prefix: "2001:db8:1::10/128" }] });
});

Deno.test("computeBgpAnnouncements() reports the Service, its pool, advertisements and prefixes", () => {
  const { result } = run({ services: [service("web", ["203.0.113.10"])], routes: {}, outcome: {} });
  assertEquals(result.services, [{
    service: "default/web",
    ips: ["203.0.113.10"],
    pool: "lan",
    advertisements: ["all"],
    prefixes: ["203.0.113.10/32"],
    peers: ["router"],
  }]);
});

/** A BGPAdvertisement built by hand, for combinations the configuration check refuses or cannot see. */
function ad(name: string, extra: Partial<BgpAdvertisement>): BgpAdvertisement {
  return {
    name,
    source: "file",
    ref: { kind: "BGPAdvertisement", namespace: NS, name },
    aggregationLength: 32,
    aggregationLengthV6: 128,
    communities: [],
    ipAddressPools: ["lan"],
    ipAddressPoolSelectors: [],
    pools: ["lan"],
    nodeSelectors: [],
    serviceSelectors: [],
    peers: [],
    ...extra,
  };
}

function team(name: string) {
  return [{ matchLabels: { team: name }, matchExpressions: [] }];
}

function announceWith(ads: BgpAdvertisement[], services: Service[]) {
  const model = modelOf("");
  return computeBgpAnnouncements({
    model: { ...model, bgpAdvertisements: ads },
    nodeName: "node1",
    node: node("node1"),
    services,
    endpointSlices: () => [slice("any", [{ node: "node1" }])],
  });
}

Deno.test("computeBgpAnnouncements() lets the first Service by key set a shared prefix's localPref", () => {
  // MetalLB leaves this to map order; the configuration check cannot see it when serviceSelectors are involved.
  const result = announceWith(
    [
      ad("x", { aggregationLength: 24, localPref: 300, serviceSelectors: team("b") }),
      ad("y", { aggregationLength: 24, localPref: 200, serviceSelectors: team("a") }),
    ],
    [
      service("zeta", ["203.0.113.9"], { labels: { team: "b" } }),
      service("alpha", ["203.0.113.8"], { labels: { team: "a" } }),
    ],
  );
  assertEquals(result.routes.get("router"), [{ prefix: "203.0.113.0/24", localPref: 200 }]);
});

Deno.test("computeBgpAnnouncements() reports a Service to every peer holding one of its prefixes", () => {
  // MetalLB's PeersForService works by prefix: b's own advertisement names only router6 (which cannot carry
  // IPv4), but router holds the /24 that covers b through a's advertisement, so b is reported at router.
  const result = announceWith(
    [
      ad("a-to-router", { aggregationLength: 24, peers: ["router"], serviceSelectors: team("a") }),
      ad("b-nowhere", { aggregationLength: 24, peers: ["router6"], serviceSelectors: team("b") }),
    ],
    [
      service("a", ["203.0.113.10"], { labels: { team: "a" } }),
      service("b", ["203.0.113.20"], { labels: { team: "b" } }),
    ],
  );
  assertEquals(result.routes.get("router"), [{ prefix: "203.0.113.0/24" }]);
  assertEquals(result.routes.get("router6"), [], "an IPv4 prefix never goes to the IPv6-only session");
  assertEquals(result.services.map((s) => [s.service, s.peers]), [["default/a", ["router"]], ["default/b", [
    "router",
  ]]]);
});

Deno.test("peersForNode() and peerFamilies() decide the sessions of a node", () => {
  const model = modelOf(`
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: tor-a, namespace: ${NS} }
spec:
  myASN: 64513
  peerASN: 64600
  peerAddress: 198.51.100.3
  dualStackAddressFamily: true
  nodeSelectors: [{ matchLabels: { rack: a } }]
`);
  assertEquals(peersForNode(model.bgpPeers, node("node1")).map((p) => p.name), ["router", "router6"]);
  const inRackA = peersForNode(model.bgpPeers, node("node1", { labels: { rack: "a" } }));
  assertEquals(inRackA.map((p) => [p.name, peerFamilies(p)]), [
    ["router", [4]],
    ["router6", [6]],
    ["tor-a", [4, 6]],
  ]);
});

Deno.test("servingEndpoints() reads hostile slices without throwing", () => {
  const hostile = [
    { metadata: { name: "x" }, addressType: "IPv4", endpoints: "nope" },
    { metadata: { name: "y" }, addressType: "IPv4", endpoints: [null, 7, { addresses: "x" }, { addresses: ["1"] }] },
  ] as unknown as EndpointSlice[];
  assertEquals(servingEndpoints(hostile, "node1"), { any: true, local: false });
});
