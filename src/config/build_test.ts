import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { parseRange } from "../ip/mod.ts";
import { buildModel, type BuildModelOptions } from "./build.ts";
import type { Model, RejectionCode } from "./model.ts";
import { configurationState, describeRejection } from "./state.ts";

const NS = "metallb-system";

function obj(kind: string, name: string, spec: unknown, extra: Record<string, unknown> = {}) {
  const apiVersion = kind === "BGPPeer" ? "metallb.io/v1beta2" : "metallb.io/v1beta1";
  const { labels, apiVersion: av, namespace, ...rest } = extra;
  return {
    apiVersion: av ?? apiVersion,
    kind,
    metadata: { name, namespace: namespace ?? NS, ...(labels ? { labels } : {}) },
    ...(spec === undefined ? {} : { spec }),
    ...rest,
  };
}
const pool = (name: string, addresses: unknown, spec: Record<string, unknown> = {}, extra = {}) =>
  obj("IPAddressPool", name, { addresses, ...spec }, extra);
const peer = (name: string, spec: Record<string, unknown> = {}) =>
  obj("BGPPeer", name, { myASN: 64512, peerASN: 64513, peerAddress: "192.0.2.1", ...spec });

function build(cluster: unknown[], options: Partial<BuildModelOptions> = {}): Model {
  return buildModel({ namespace: NS, cluster, ...options });
}

function codes(model: Model): string[] {
  return model.rejected.map((r) => `${r.ref.kind}/${r.ref.name}:${r.code}`);
}

// Each case: objects, then the rejections expected ("Kind/name:Code"), in the model's order.
const REJECTIONS: [string, unknown[], string[]][] = [
  ["a valid pool", [pool("a", ["192.0.2.0/28"])], []],
  ["no addresses", [pool("a", [])], ["IPAddressPool/a:InvalidAddress"]],
  ["addresses not a list", [pool("a", "192.0.2.0/28")], ["IPAddressPool/a:InvalidField"]],
  ["address not a string", [pool("a", [42])], ["IPAddressPool/a:InvalidField"]],
  ["bad CIDR", [pool("a", ["192.0.2.0/33"])], ["IPAddressPool/a:InvalidAddress"]],
  ["bad range", [pool("a", ["192.0.2.9-192.0.2.3"])], ["IPAddressPool/a:InvalidAddress"]],
  ["mixed-family range", [pool("a", ["192.0.2.1-2001:db8::1"])], ["IPAddressPool/a:InvalidAddress"]],
  ["not an address", [pool("a", ["banana"])], ["IPAddressPool/a:InvalidAddress"]],
  ["IPv4 /0", [pool("a", ["0.0.0.0/0"])], ["IPAddressPool/a:PoolTooLarge"]],
  ["IPv4 /7", [pool("a", ["10.0.0.0/7"])], ["IPAddressPool/a:PoolTooLarge"]],
  ["IPv4 /8 is the largest", [pool("a", ["10.0.0.0/8"])], []],
  ["IPv6 ::/0", [pool("a", ["::/0"])], ["IPAddressPool/a:PoolTooLarge"]],
  ["IPv6 10^38 addresses", [pool("a", ["2000::/2"])], ["IPAddressPool/a:PoolTooLarge"]],
  ["IPv6 /48 is the largest", [pool("a", ["2001:db8::/48"])], []],
  ["IPv6 range over 2^80", [pool("a", ["2001:db8::-2001:db9::"])], ["IPAddressPool/a:PoolTooLarge"]],
  ["loopback", [pool("a", ["127.0.0.1/32"])], ["IPAddressPool/a:InvalidAddress"]],
  ["multicast", [pool("a", ["224.0.0.0/28"])], ["IPAddressPool/a:InvalidAddress"]],
  ["broadcast", [pool("a", ["255.255.255.255/32"])], ["IPAddressPool/a:InvalidAddress"]],
  ["IPv6 multicast", [pool("a", ["ff02::1/128"])], ["IPAddressPool/a:InvalidAddress"]],
  ["overlap inside one pool", [pool("a", ["192.0.2.0/28", "192.0.2.8-192.0.2.20"])], ["IPAddressPool/a:PoolOverlap"]],
  ["overlap: the later name loses", [pool("b", ["192.0.2.0/28"]), pool("a", ["192.0.2.15/32"])], [
    "IPAddressPool/b:PoolOverlap",
  ]],
  ["IPv6 overlap", [pool("a", ["2001:db8::/64"]), pool("b", ["2001:db8::ff-2001:db8::1:0"])], [
    "IPAddressPool/b:PoolOverlap",
  ]],
  ["adjacent pools do not overlap", [pool("a", ["192.0.2.0/28"]), pool("b", ["192.0.2.16/28"])], []],
  ["autoAssign not a boolean", [pool("a", ["192.0.2.0/28"], { autoAssign: "no" })], ["IPAddressPool/a:InvalidField"]],
  ["negative priority", [pool("a", ["192.0.2.0/28"], { serviceAllocation: { priority: -1 } })], [
    "IPAddressPool/a:InvalidField",
  ]],
  ["duplicate namespace", [pool("a", ["192.0.2.0/28"], { serviceAllocation: { namespaces: ["x", "x"] } })], [
    "IPAddressPool/a:InvalidField",
  ]],
  ["bad selector operator", [
    pool("a", ["192.0.2.0/28"], {
      serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] }] },
    }),
  ], ["IPAddressPool/a:InvalidField"]],
  ["In without values", [
    pool("a", ["192.0.2.0/28"], {
      serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: "a", operator: "In" }] }] },
    }),
  ], ["IPAddressPool/a:InvalidField"]],
  ["duplicate selectors", [
    pool("a", ["192.0.2.0/28"], {
      serviceAllocation: { namespaceSelectors: [{ matchLabels: { a: "b" } }, { matchLabels: { a: "b" } }] },
    }),
  ], ["IPAddressPool/a:InvalidField"]],
  ["bad label key", [
    pool("a", ["192.0.2.0/28"], { serviceAllocation: { serviceSelectors: [{ matchLabels: { "a b": "c" } }] } }),
  ], ["IPAddressPool/a:InvalidField"]],
  ["duplicate name", [pool("a", ["192.0.2.0/28"]), pool("a", ["192.0.2.16/28"])], ["IPAddressPool/a:DuplicateName"]],
  ["missing name", [obj("IPAddressPool", "", { addresses: ["192.0.2.0/28"] })], ["IPAddressPool/:InvalidName"]],
  ["upper-case name", [pool("Pool", ["192.0.2.0/28"])], ["IPAddressPool/Pool:InvalidName"]],
  ["other namespace", [pool("a", ["192.0.2.0/28"], {}, { namespace: "default" })], ["IPAddressPool/a:WrongNamespace"]],
  ["old AddressPool kind", [obj("AddressPool", "a", { protocol: "layer2", addresses: ["192.0.2.0/28"] })], [
    "AddressPool/a:UnsupportedVersion",
  ]],
  ["unknown version", [pool("a", ["192.0.2.0/28"], {}, { apiVersion: "metallb.io/v1alpha1" })], [
    "IPAddressPool/a:UnsupportedVersion",
  ]],
  ["spec not an object", [obj("IPAddressPool", "a", ["192.0.2.0/28"])], ["IPAddressPool/a:InvalidField"]],
  ["not an object at all", ["hello", 42, null], ["/:InvalidDocument", "/:InvalidDocument", "/:InvalidDocument"]],
  ["other API groups are skipped", [{ apiVersion: "v1", kind: "Service", metadata: { name: "x" } }], []],
  [
    "L2 naming an unknown pool",
    [pool("a", ["192.0.2.0/28"]), obj("L2Advertisement", "l2", { ipAddressPools: ["b"] })],
    [
      "L2Advertisement/l2:UnknownPool",
    ],
  ],
  ["L2 naming a rejected pool", [
    pool("a", ["192.0.2.0/28"]),
    pool("b", ["192.0.2.0/28"]),
    obj("L2Advertisement", "l2", { ipAddressPools: ["b"] }),
  ], ["IPAddressPool/b:PoolOverlap", "L2Advertisement/l2:UnknownPool"]],
  ["L2 bad interface", [obj("L2Advertisement", "l2", { interfaces: ["eth0/1"] })], ["L2Advertisement/l2:InvalidField"]],
  ["L2 duplicate pool", [pool("a", ["192.0.2.0/28"]), obj("L2Advertisement", "l2", { ipAddressPools: ["a", "a"] })], [
    "L2Advertisement/l2:InvalidField",
  ]],
  ["L2 preferred weight 0", [
    obj("L2Advertisement", "l2", { preferredNodeSelectors: [{ weight: 0, preference: {} }] }),
  ], ["L2Advertisement/l2:InvalidField"]],
  ["BGP community 65535:65282", [obj("BGPAdvertisement", "b", { communities: ["65535:65282"] })], []],
  ["BGP large community", [obj("BGPAdvertisement", "b", { communities: ["large:1:2:3"] })], []],
  ["BGP community out of range", [obj("BGPAdvertisement", "b", { communities: ["65536:1"] })], [
    "BGPAdvertisement/b:InvalidCommunity",
  ]],
  ["BGP large community bad marker", [obj("BGPAdvertisement", "b", { communities: ["huge:1:2:3"] })], [
    "BGPAdvertisement/b:InvalidCommunity",
  ]],
  ["BGP large community over 32 bits", [obj("BGPAdvertisement", "b", { communities: ["large:4294967296:0:0"] })], [
    "BGPAdvertisement/b:InvalidCommunity",
  ]],
  ["BGP unknown alias", [obj("BGPAdvertisement", "b", { communities: ["NO_EXPORT"] })], [
    "BGPAdvertisement/b:UnknownCommunity",
  ]],
  ["BGP alias", [
    obj("Community", "c", { communities: [{ name: "NO_EXPORT", value: "65535:65281" }] }),
    obj("BGPAdvertisement", "b", { communities: ["NO_EXPORT"] }),
  ], []],
  ["Community bad value", [obj("Community", "c", { communities: [{ name: "X", value: "1:2:3" }] })], [
    "Community/c:InvalidCommunity",
  ]],
  ["Community alias defined twice", [
    obj("Community", "c1", { communities: [{ name: "X", value: "1:2" }] }),
    obj("Community", "c2", { communities: [{ name: "X", value: "1:3" }] }),
  ], ["Community/c2:DuplicateCommunity"]],
  ["BGP aggregation shorter than the pool prefix", [
    pool("a", ["192.0.2.0/24"]),
    obj("BGPAdvertisement", "b", { aggregationLength: 16 }),
  ], ["BGPAdvertisement/b:AggregationTooShort"]],
  ["BGP aggregation equal to the pool prefix", [
    pool("a", ["192.0.2.0/24"]),
    obj("BGPAdvertisement", "b", { aggregationLength: 24 }),
  ], []],
  ["BGP aggregation for a range: its largest block", [
    pool("a", ["192.0.2.1-192.0.2.5"]),
    obj("BGPAdvertisement", "b", { aggregationLength: 30 }),
  ], ["BGPAdvertisement/b:AggregationTooShort"]],
  ["BGP IPv6 aggregation", [
    pool("a", ["2001:db8::/64"]),
    obj("BGPAdvertisement", "b", { aggregationLengthV6: 56 }),
  ], ["BGPAdvertisement/b:AggregationTooShort"]],
  ["BGP aggregationLength 33", [obj("BGPAdvertisement", "b", { aggregationLength: 33 })], [
    "BGPAdvertisement/b:InvalidField",
  ]],
  ["BGP serviceSelectors with aggregation", [
    obj("BGPAdvertisement", "b", { aggregationLength: 24, serviceSelectors: [{ matchLabels: { a: "b" } }] }),
  ], ["BGPAdvertisement/b:InvalidField"]],
  ["BGP unknown peer", [obj("BGPAdvertisement", "b", { peers: ["nobody"] })], ["BGPAdvertisement/b:UnknownPeer"]],
  ["BGP duplicate advertisement", [
    obj("BGPAdvertisement", "b1", { localPref: 10 }),
    obj("BGPAdvertisement", "b2", { localPref: 10 }),
  ], ["BGPAdvertisement/b2:DuplicateAdvertisement"]],
  ["BGP localPref clash", [
    pool("a", ["192.0.2.0/28"]),
    obj("BGPAdvertisement", "b1", { localPref: 10 }),
    obj("BGPAdvertisement", "b2", { localPref: 20, communities: ["1:1"] }),
  ], ["BGPAdvertisement/b2:LocalPrefConflict"]],
  ["BGP localPref to different peers", [
    pool("a", ["192.0.2.0/28"]),
    peer("p1"),
    peer("p2", { peerAddress: "192.0.2.2" }),
    obj("BGPAdvertisement", "b1", { localPref: 10, peers: ["p1"] }),
    obj("BGPAdvertisement", "b2", { localPref: 20, peers: ["p2"] }),
  ], []],
  ["peer valid", [peer("p")], []],
  [
    "peer v1beta1",
    [peer("p", {}), { ...peer("q", { peerAddress: "192.0.2.9" }), apiVersion: "metallb.io/v1beta1" }],
    [],
  ],
  ["peer without myASN", [peer("p", { myASN: 0 })], ["BGPPeer/p:InvalidField"]],
  ["peer ASN too big", [peer("p", { peerASN: 4294967296 })], ["BGPPeer/p:InvalidField"]],
  ["peer ASN as text", [peer("p", { peerASN: "64513" })], ["BGPPeer/p:InvalidField"]],
  ["peer without peerASN", [peer("p", { peerASN: undefined })], ["BGPPeer/p:InvalidField"]],
  ["peer dynamicASN", [peer("p", { peerASN: undefined, dynamicASN: "external" })], []],
  ["peer both ASN kinds", [peer("p", { dynamicASN: "external" })], ["BGPPeer/p:InvalidField"]],
  ["peer bad dynamicASN", [peer("p", { peerASN: undefined, dynamicASN: "maybe" })], ["BGPPeer/p:InvalidField"]],
  ["peer ebgpMultiHop on iBGP", [peer("p", { peerASN: 64512, ebgpMultiHop: true })], ["BGPPeer/p:InvalidField"]],
  ["peer bad address", [peer("p", { peerAddress: "192.0.2.300" })], ["BGPPeer/p:InvalidAddress"]],
  ["peer without address", [peer("p", { peerAddress: undefined })], ["BGPPeer/p:InvalidAddress"]],
  ["peer with interface", [peer("p", { peerAddress: undefined, interface: "eth0" })], []],
  ["peer with address and interface", [peer("p", { interface: "eth0" })], ["BGPPeer/p:InvalidField"]],
  ["peer hold time 2s", [peer("p", { holdTime: "2s" })], ["BGPPeer/p:InvalidField"]],
  ["peer hold time 0", [peer("p", { holdTime: "0s" })], []],
  ["peer hold time garbage", [peer("p", { holdTime: "ninety" })], ["BGPPeer/p:InvalidField"]],
  ["peer keepalive above hold", [peer("p", { holdTime: "30s", keepaliveTime: "40s" })], ["BGPPeer/p:InvalidField"]],
  ["peer IPv6 routerID", [peer("p", { routerID: "2001:db8::1" })], ["BGPPeer/p:InvalidField"]],
  ["peer bad source", [peer("p", { sourceAddress: "x" })], ["BGPPeer/p:InvalidAddress"]],
  ["peer port 0 means 179", [peer("p", { peerPort: 0 })], []],
  ["peer port 70000", [peer("p", { peerPort: 70000 })], ["BGPPeer/p:InvalidField"]],
  ["peer password and secret", [peer("p", { password: "x", passwordSecret: { name: "s" } })], [
    "BGPPeer/p:InvalidField",
  ]],
  ["peer secret elsewhere", [peer("p", { passwordSecret: { name: "s", namespace: "default" } })], [
    "BGPPeer/p:WrongNamespace",
  ]],
  ["peer unknown BFD profile", [peer("p", { bfdProfile: "nope" })], ["BGPPeer/p:UnknownBfdProfile"]],
  ["peer twin", [peer("p1"), peer("p2")], ["BGPPeer/p2:DuplicatePeer"]],
  ["BFD out of range", [obj("BFDProfile", "f", { receiveInterval: 5 })], ["BFDProfile/f:InvalidField"]],
  ["BFD multiplier 1", [obj("BFDProfile", "f", { detectMultiplier: 1 })], ["BFDProfile/f:InvalidField"]],
];

Deno.test("buildModel() rejects each bad object with a code and keeps the rest", async (t) => {
  for (const [what, objects, expected] of REJECTIONS) {
    await t.step(what, () => {
      const model = build(objects);
      assertEquals(codes(model), expected);
      for (const r of model.rejected) {
        assert(r.reason.length > 0 && !r.reason.includes("\n"), `one-line reason: ${r.reason}`);
      }
    });
  }
});

Deno.test("buildModel() never throws, whatever the input", () => {
  const weird: unknown[] = [
    undefined,
    [],
    { apiVersion: "metallb.io/v1beta1" },
    { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool" },
    { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: "x" },
    { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: 7 } },
    { apiVersion: 5, kind: ["x"] },
    pool("a", [null]),
    pool("b", [{}]),
    pool("c", ["1.2.3.4/32"], { serviceAllocation: "x" }),
    pool("d", ["1.2.3.5/32"], { serviceAllocation: { serviceSelectors: [null] } }),
    obj("BGPPeer", "p", null),
    obj("BGPPeer", "q", { myASN: 1.5 }),
    obj("Community", "c", { communities: [null, 1] }),
    obj("L2Advertisement", "l", { nodeSelectors: { a: 1 } }),
    obj("BGPAdvertisement", "b", { communities: [1] }),
    obj("BFDProfile", "f", { echoMode: "yes" }),
  ];
  const model = build(weird);
  assert(model.rejected.length >= weird.length - 2, codes(model).join(" "));
});

Deno.test("buildModel() turns --pool flags into cli-pool-N and an L2 advertisement on --interface", () => {
  const model = buildModel({
    namespace: NS,
    flagPools: [
      { text: "192.168.1.200-240", range: parseRange("192.168.1.200-240") },
      { text: "2001:db8::/120", range: parseRange("2001:db8::/120") },
    ],
    flagInterfaces: ["eth0"],
  });
  assertEquals(model.rejected, []);
  assertEquals(model.pools.map((p) => [p.name, p.source, p.size[4], p.size[6]]), [
    ["cli-pool-1", "flag", 41n, 0n],
    ["cli-pool-2", "flag", 0n, 256n],
  ]);
  assertEquals(model.l2Advertisements.map((a) => [a.name, a.pools, a.interfaces]), [
    ["cli-l2", ["cli-pool-1", "cli-pool-2"], ["eth0"]],
  ]);
  assertEquals(model.bgpAdvertisements, []);
});

Deno.test("buildModel() rejects an absurd --pool as it would the same pool in YAML", () => {
  const model = buildModel({
    namespace: NS,
    flagPools: [
      { text: "0.0.0.0/0", range: parseRange("0.0.0.0/0") },
      { text: "192.0.2.0/28", range: parseRange("192.0.2.0/28") },
    ],
  });
  assertEquals(codes(model), ["IPAddressPool/cli-pool-1:PoolTooLarge"]);
  assertEquals(model.rejected[0]!.source, "flag");
  assertEquals(model.l2Advertisements[0]!.pools, ["cli-pool-2"]);
});

Deno.test("buildModel() makes --bgp-peer peers and announces the flag pools to them", () => {
  const flagBgpPeers = [{ address: "192.0.2.1", asn: 64513, port: 179, holdTime: 90, password: "s3cret" }];
  const flagPools = [{ text: "203.0.113.0/28", range: parseRange("203.0.113.0/28") }];
  const model = buildModel({ namespace: NS, flagPools, flagBgpPeers, myAsn: 64512 });
  assertEquals(model.rejected, []);
  const p = model.bgpPeers[0]!;
  assertEquals([p.name, p.myAsn, p.peerAsn, p.password, p.keepaliveTime], ["cli-peer-1", 64512, 64513, "s3cret", 30]);
  assertEquals(model.bgpAdvertisements.map((a) => [a.name, a.pools, a.peers]), [
    ["cli-bgp", ["cli-pool-1"], ["cli-peer-1"]],
  ]);
  const hop = buildModel({ namespace: NS, flagBgpPeers: [{ ...flagBgpPeers[0]!, ebgpMultihop: 3 }], myAsn: 64512 });
  assertEquals([hop.bgpPeers[0]!.ebgpMultiHop, hop.bgpPeers[0]!.ebgpMultiHopTtl], [true, 3]);
  const noAsn = buildModel({ namespace: NS, flagBgpPeers });
  assertEquals(codes(noAsn), ["BGPPeer/cli-peer-1:MissingAsn"]);
});

Deno.test("buildModel() merges flags, files and cluster: first source wins a name, the later one is rejected", () => {
  const flagPools = [{ text: "192.0.2.0/28", range: parseRange("192.0.2.0/28") }];
  const model = buildModel({
    namespace: NS,
    flagPools,
    files: [{ file: "a.yaml", object: pool("shared", ["198.51.100.0/28"]) }],
    cluster: [pool("shared", ["198.51.100.16/28"]), pool("zz", ["192.0.2.8/32"]), obj("L2Advertisement", "cli-l2", {})],
  });
  assertEquals(model.pools.map((p) => [p.name, p.source]), [["cli-pool-1", "flag"], ["shared", "file"]]);
  assertEquals(codes(model), [
    "IPAddressPool/shared:DuplicateName",
    "IPAddressPool/zz:PoolOverlap",
    "L2Advertisement/cli-l2:DuplicateName",
  ]);
  assertEquals(model.l2Advertisements.map((a) => a.source), ["flag"]);
});

Deno.test("buildModel() gives the same model whatever order the cluster objects arrive in", () => {
  const objects = [
    pool("a", ["192.0.2.0/28"]),
    pool("b", ["192.0.2.8/29"]),
    pool("c", ["192.0.2.8/29"]),
    obj("L2Advertisement", "l", { ipAddressPools: ["c"] }),
    obj("Community", "c2", { communities: [{ name: "X", value: "1:3" }] }),
    obj("Community", "c1", { communities: [{ name: "X", value: "1:2" }] }),
    peer("p2"),
    peer("p1"),
  ];
  const reference = JSON.stringify(build(objects), (_k, v) => (typeof v === "bigint" ? `${v}` : v));
  for (let seed = 1; seed <= 20; seed++) {
    const shuffled = [...objects].sort(() => 0.5 - random(seed));
    assertEquals(JSON.stringify(build(shuffled), (_k, v) => (typeof v === "bigint" ? `${v}` : v)), reference);
  }
});

let state = 0;
function random(seed: number): number {
  state = (state * 1103515245 + 12345 + seed) % 2147483648;
  return state / 2147483648;
}

Deno.test("configurationState() reports Valid, or Invalid with one line per rejected object", () => {
  const valid = configurationState(build([pool("a", ["192.0.2.0/28"])]), { now: "2026-01-01T00:00:00Z" });
  assertEquals(valid.result, "Valid");
  assertEquals(valid.errorSummary, "");
  assertEquals(valid.conditions[0]!.type, "configReconcilerValid");
  assertEquals(valid.conditions[0]!.status, "True");
  const model = build([pool("a", ["192.0.2.0/33"]), peer("p", { bfdProfile: "x" })]);
  const invalid = configurationState(model, { now: "2026-01-01T00:00:00Z" });
  assertEquals(invalid.result, "Invalid");
  assertEquals(invalid.conditions[0]!.reason, "ConfigurationError");
  assertEquals(invalid.errorSummary.split("\n").length, 2);
  assertMatch(invalid.errorSummary, /^configuration error: BGPPeer metallb-system\/p \(cluster\) rejected/);
  assertMatch(describeRejection(model.rejected[1]!), /IPAddressPool metallb-system\/a .*InvalidAddress.*\/33/);
});

Deno.test("every rejection code used in the table is a documented one", () => {
  const documented: RejectionCode[] = [
    "InvalidDocument",
    "InvalidName",
    "DuplicateName",
    "InvalidField",
    "InvalidAddress",
    "PoolTooLarge",
    "PoolOverlap",
    "UnknownPool",
    "UnknownPeer",
    "UnknownCommunity",
    "InvalidCommunity",
    "DuplicateCommunity",
    "AggregationTooShort",
    "LocalPrefConflict",
    "DuplicateAdvertisement",
    "DuplicatePeer",
    "UnknownBfdProfile",
    "WrongNamespace",
    "UnsupportedVersion",
    "MissingAsn",
  ];
  const used = new Set(REJECTIONS.flatMap(([, , e]) => e.map((x) => x.split(":").at(-1)!)));
  for (const code of used) assert(documented.includes(code as RejectionCode), code);
});

Deno.test("buildModel() takes informer lists per kind, filling in apiVersion and kind", () => {
  const model = buildModel({
    namespace: NS,
    clusterByKind: {
      IPAddressPool: [{ metadata: { name: "p", namespace: NS }, spec: { addresses: ["192.0.2.0/28"] } }],
      BGPPeer: [{
        metadata: { name: "peer", namespace: NS },
        spec: { myASN: 1, peerASN: 2, peerAddress: "192.0.2.1" },
      }],
      L2Advertisement: [null],
    },
  });
  assertEquals([model.pools.length, model.bgpPeers.length], [1, 1]);
  assertEquals(codes(model), ["/:InvalidDocument"]);
});
