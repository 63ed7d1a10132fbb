import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { allocateAll } from "./allocate.ts";
import { NS, poolsOf, short, svc } from "./_test_util.ts";
import type { AddressVerdict, AllocationResult, NamespaceLike, ServiceLike, ServiceOutcome } from "./types.ts";

function shortAll(result: AllocationResult): Record<string, string> {
  return Object.fromEntries(result.services.map((o) => [o.name, short(o)]));
}

function outcome(result: AllocationResult, name: string): ServiceOutcome {
  const o = result.services.find((s) => s.name === name);
  if (!o) throw new Error(`no outcome for ${name}`);
  return o;
}

interface Case {
  pools: Record<string, { addresses: string[]; [k: string]: unknown }>;
  services: ServiceLike[];
  expect: Record<string, string>;
  namespaces?: NamespaceLike[];
  lbClass?: string;
  usable?: (ip: string) => AddressVerdict;
  message?: Record<string, RegExp>;
  notes?: Record<string, RegExp>;
}

const V4 = { addresses: ["192.0.2.0/30"] };
const V6 = { addresses: ["2001:db8::/126"] };
const DUAL = { addresses: ["192.0.2.0/30", "2001:db8::/126"] };
const SA = (serviceAllocation: Record<string, unknown>, addresses = ["198.51.100.0/30"]) => ({
  addresses,
  serviceAllocation,
});
const mac = (ip: string): AddressVerdict =>
  ip === "192.0.2.0"
    ? { usable: false, reason: "conflict detected: MAC aa:bb:cc:dd:ee:ff answers for it" }
    : { usable: true };

const CASES: Record<string, Case> = {
  "IPv4: the lowest free address": { pools: { a: V4 }, services: [svc("s")], expect: { s: "192.0.2.0@a" } },
  "order is creation time, not input order": {
    pools: { a: V4 },
    services: [svc("c", { t: 3 }), svc("a", { t: 1 }), svc("b", { t: 2 })],
    expect: { a: "192.0.2.0@a", b: "192.0.2.1@a", c: "192.0.2.2@a" },
  },
  "same creation time: by namespace/name": {
    pools: { a: V4 },
    services: [svc("x", { ns: "b" }), svc("x", { ns: "a" })],
    expect: { x: "192.0.2.1@a" }, // both named x; the later key (b/x) is the one the record keeps
  },
  "exhaustion leaves the rest pending": {
    pools: { a: { addresses: ["192.0.2.0/31"] } },
    services: [svc("s1", { t: 1 }), svc("s2", { t: 2 }), svc("s3", { t: 3 })],
    expect: { s1: "192.0.2.0@a", s2: "192.0.2.1@a", s3: "pending:PoolExhausted" },
    message: { s3: /^pool "a" is exhausted for IPv4$/ },
  },
  "avoidBuggyIPs skips .255 and .0": {
    pools: { a: { addresses: ["192.0.2.254-192.0.3.1"], avoidBuggyIPs: true } },
    services: [svc("s1", { t: 1 }), svc("s2", { t: 2 }), svc("s3", { t: 3 })],
    expect: { s1: "192.0.2.254@a", s2: "192.0.3.1@a", s3: "pending:PoolExhausted" },
  },
  "IPv6 single stack": {
    pools: { a: V4, b: V6 },
    services: [svc("s", { family: "6" })],
    expect: { s: "2001:db8::@b" },
  },
  "IPv6 with only IPv4 pools": {
    pools: { a: V4 },
    services: [svc("s", { family: "6" })],
    expect: { s: "pending:NoPoolForFamily" },
    message: { s: /no pool for IPv6/ },
  },
  "RequireDualStack from one pool": {
    pools: { a: { addresses: ["198.51.100.0/30"] }, b: DUAL },
    services: [svc("s", { family: "46" })],
    expect: { s: "192.0.2.0,2001:db8::@b" },
  },
  "RequireDualStack with the families in two pools": {
    pools: { a: V4, b: V6 },
    services: [svc("s", { family: "46" })],
    expect: { s: "pending:NoPoolForFamily" },
    message: { s: /no pool has both IPv4 and IPv6/ },
  },
  "RequireDualStack on a single-stack Service": {
    pools: { a: DUAL },
    services: [svc("s", { family: "4", policy: "RequireDualStack" })],
    expect: { s: "pending:NotDualStack" },
  },
  "PreferDualStack gets both when a pool has both": {
    pools: { a: DUAL },
    services: [svc("s", { family: "46", policy: "PreferDualStack" })],
    expect: { s: "192.0.2.0,2001:db8::@a" },
  },
  "PreferDualStack falls back to the primary family": {
    pools: { a: V4, b: V6 },
    services: [
      svc("s4", { family: "46", policy: "PreferDualStack" }),
      svc("s6", { family: "64", policy: "PreferDualStack" }),
    ],
    expect: { s4: "192.0.2.0@a", s6: "2001:db8::@b" },
  },
  "PreferDualStack adds the missing family to an adopted address": {
    pools: { a: DUAL },
    services: [svc("s", { family: "46", policy: "PreferDualStack", status: ["192.0.2.3"] })],
    expect: { s: "192.0.2.3,2001:db8::@a" },
  },
  "autoAssign false is skipped unless asked for": {
    pools: { a: { addresses: ["192.0.2.0/30"], autoAssign: false }, b: { addresses: ["198.51.100.0/30"] } },
    services: [svc("auto"), svc("asked", { ann: { "metallb.io/address-pool": "a" } })],
    expect: { auto: "198.51.100.0@b", asked: "192.0.2.0@a" },
  },
  "only autoAssign false pools": {
    pools: { a: { addresses: ["192.0.2.0/30"], autoAssign: false } },
    services: [svc("s")],
    expect: { s: "pending:NoSuitablePool" },
  },
  "autoAssign false pool by requested IP": {
    pools: { a: { addresses: ["192.0.2.0/30"], autoAssign: false } },
    services: [svc("s", { lbIP: "192.0.2.2" })],
    expect: { s: "192.0.2.2@a" },
  },
  "address-pool annotation, old spelling too": {
    pools: { a: V4, b: { addresses: ["198.51.100.0/30"] } },
    services: [
      svc("new", { ann: { "metallb.io/address-pool": "b" } }),
      svc("old", { t: 1, ann: { "metallb.universe.tf/address-pool": "b" } }),
    ],
    expect: { new: "198.51.100.0@b", old: "198.51.100.1@b" },
  },
  "address-pool naming no pool": {
    pools: { a: V4 },
    services: [svc("s", { ann: { "metallb.io/address-pool": "nope" } })],
    expect: { s: "pending:UnknownPool" },
    message: { s: /requested pool "nope" does not exist/ },
  },
  "requested pool exhausted": {
    pools: { a: { addresses: ["203.0.113.0/32"] }, b: V4 },
    services: [svc("s1"), svc("s2", { t: 1, ann: { "metallb.io/address-pool": "a" } })],
    expect: { s1: "203.0.113.0@a", s2: "pending:PoolExhausted" },
  },
  "spec.loadBalancerIP": {
    pools: { a: V4 },
    services: [svc("s", { lbIP: "192.0.2.3" })],
    expect: { s: "192.0.2.3@a" },
  },
  "loadBalancerIPs annotation, old spelling, and dual stack": {
    pools: { a: DUAL },
    services: [
      svc("new", { ann: { "metallb.io/loadBalancerIPs": "192.0.2.2" } }),
      svc("old", { ann: { "metallb.universe.tf/loadBalancerIPs": "192.0.2.3" } }),
      svc("dual", { family: "46", ann: { "metallb.io/loadBalancerIPs": "2001:db8::2, 192.0.2.1" } }),
    ],
    expect: { new: "192.0.2.2@a", old: "192.0.2.3@a", dual: "192.0.2.1,2001:db8::2@a" },
  },
  "both spec.loadBalancerIP and the annotation": {
    pools: { a: V4 },
    services: [svc("s", { lbIP: "192.0.2.1", ann: { "metallb.io/loadBalancerIPs": "192.0.2.2" } })],
    expect: { s: "pending:InvalidRequest" },
  },
  "unparsable and too many requested IPs": {
    pools: { a: DUAL },
    services: [
      svc("bad", { ann: { "metallb.io/loadBalancerIPs": "192.0.2.300" } }),
      svc("many", { ann: { "metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2" } }),
      svc("spec", { lbIP: "nonsense" }),
    ],
    expect: { bad: "pending:InvalidRequest", many: "pending:InvalidRequest", spec: "pending:InvalidRequest" },
  },
  "requested IP outside every pool": {
    pools: { a: V4 },
    services: [svc("s", { lbIP: "203.0.113.5" })],
    expect: { s: "pending:IpNotInPool" },
    message: { s: /IP 203\.0\.113\.5 is not in any pool/ },
  },
  "requested .255 in an avoidBuggyIPs pool": {
    pools: { a: { addresses: ["192.0.2.0/24"], avoidBuggyIPs: true } },
    services: [svc("s", { lbIP: "192.0.2.255" })],
    expect: { s: "pending:IpNotInPool" },
    message: { s: /avoids \(avoidBuggyIPs\)/ },
  },
  "requested IP in use": {
    pools: { a: V4 },
    services: [svc("a", { t: 1, lbIP: "192.0.2.1" }), svc("b", { t: 2, lbIP: "192.0.2.1" })],
    expect: { a: "192.0.2.1@a", b: "pending:IpInUse" },
    message: { b: /IP 192\.0\.2\.1 is in use by default\/a/ },
  },
  "requested IP in another pool than the requested one": {
    pools: { a: V4, b: { addresses: ["198.51.100.0/30"] } },
    services: [svc("s", { lbIP: "192.0.2.1", ann: { "metallb.io/address-pool": "b" } })],
    expect: { s: "pending:PoolMismatch" },
  },
  "requested IP of the wrong family": {
    pools: { a: DUAL },
    services: [svc("s", { family: "6", lbIP: "192.0.2.1" })],
    expect: { s: "pending:FamilyMismatch" },
  },
  "requests are served before automatic allocation": {
    pools: { a: V4 },
    services: [svc("auto", { t: 1 }), svc("asks", { t: 2, lbIP: "192.0.2.0" })],
    expect: { auto: "192.0.2.1@a", asks: "192.0.2.0@a" },
  },
  "sharing: same key, different ports": {
    pools: { a: V4 },
    services: [
      svc("web", { t: 1, ports: [80], ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("dns", { t: 2, ports: ["UDP/53"], ann: { "metallb.universe.tf/allow-shared-ip": "k" } }),
    ],
    expect: { web: "192.0.2.0@a", dns: "192.0.2.0@a" },
  },
  "sharing: same port and protocol clash": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.0@a", b: "192.0.2.1@a" },
  },
  "sharing: same port number, other protocol": {
    pools: { a: V4 },
    services: [
      svc("tcp", { t: 1, ports: ["TCP/53"], ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("udp", { t: 2, ports: ["UDP/53"], ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { tcp: "192.0.2.0@a", udp: "192.0.2.0@a" },
  },
  "sharing: a lower shared address wins over a free one": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2 }),
      svc("c", { t: 3, ports: [443], ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("d", { t: 4, ports: [443], ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.0@a", b: "192.0.2.1@a", c: "192.0.2.0@a", d: "192.0.2.2@a" },
  },
  "sharing: different keys never share": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, ann: { "metallb.io/allow-shared-ip": "k1" } }),
      svc("b", { t: 2, ports: [443], ann: { "metallb.io/allow-shared-ip": "k2" } }),
    ],
    expect: { a: "192.0.2.0@a", b: "192.0.2.1@a" },
  },
  "sharing: Local with the same selector": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, local: { app: "x" }, ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, ports: [443], local: { app: "x" }, ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.0@a", b: "192.0.2.0@a" },
  },
  "sharing: Local with another selector, or Local with Cluster": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, local: { app: "x" }, ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, ports: [443], local: { app: "y" }, ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("c", { t: 3, ports: [8080], ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.0@a", b: "192.0.2.1@a", c: "192.0.2.2@a" },
  },
  "sharing: requested shared IP, compatible": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, lbIP: "192.0.2.3", ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, lbIP: "192.0.2.3", ports: [443], ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.3@a", b: "192.0.2.3@a" },
  },
  "sharing: requested shared IP, key mismatch": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, lbIP: "192.0.2.3", ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, lbIP: "192.0.2.3", ports: [443], ann: { "metallb.io/allow-shared-ip": "other" } }),
    ],
    expect: { a: "192.0.2.3@a", b: "pending:SharingKeyMismatch" },
    message: { b: /sharing key "other" does not match "k" of default\/a/ },
  },
  "sharing: requested shared IP, port clash": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, lbIP: "192.0.2.3", ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, lbIP: "192.0.2.3", ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.3@a", b: "pending:PortConflict" },
    message: { b: /port TCP\/80 is already used by default\/a/ },
  },
  "sharing: requested shared IP, traffic policy differs": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, lbIP: "192.0.2.3", ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("b", { t: 2, lbIP: "192.0.2.3", ports: [443], local: {}, ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.3@a", b: "pending:BackendMismatch" },
  },
  "sharing: requested IP held by a Service without a key": {
    pools: { a: V4 },
    services: [
      svc("a", { t: 1, lbIP: "192.0.2.3" }),
      svc("b", { t: 2, lbIP: "192.0.2.3", ports: [443], ann: { "metallb.io/allow-shared-ip": "k" } }),
    ],
    expect: { a: "192.0.2.3@a", b: "pending:IpInUse" },
  },
  "priority: lower number first, unset last, then unrestricted pools": {
    pools: {
      p10: SA({ priority: 10 }, ["198.51.100.0/32"]),
      p5: SA({ priority: 5 }, ["198.51.100.1/32"]),
      p0: SA({}, ["198.51.100.2/32"]),
      open: { addresses: ["192.0.2.0/32"] },
    },
    services: [svc("s1", { t: 1 }), svc("s2", { t: 2 }), svc("s3", { t: 3 }), svc("s4", { t: 4 }), svc("s5", { t: 5 })],
    expect: {
      s1: "198.51.100.1@p5",
      s2: "198.51.100.0@p10",
      s3: "198.51.100.2@p0",
      s4: "192.0.2.0@open",
      s5: "pending:PoolExhausted",
    },
  },
  "priority ties are broken by name": {
    pools: { zz: SA({ priority: 1 }, ["198.51.100.0/32"]), aa: SA({ priority: 1 }, ["198.51.100.1/32"]) },
    services: [svc("s")],
    expect: { s: "198.51.100.1@aa" },
  },
  "serviceAllocation namespaces": {
    pools: { team: SA({ namespaces: ["team-a"] }), open: V4 },
    services: [svc("in", { ns: "team-a" }), svc("out", { ns: "team-b" })],
    expect: { in: "198.51.100.0@team", out: "192.0.2.0@open" },
  },
  "serviceAllocation namespaces with no open pool": {
    pools: { team: SA({ namespaces: ["team-a"] }) },
    services: [svc("out", { ns: "team-b" })],
    expect: { out: "pending:NoSuitablePool" },
  },
  "serviceAllocation namespaceSelectors read Namespace labels": {
    pools: { team: SA({ namespaceSelectors: [{ matchLabels: { tier: "gold" } }] }), open: V4 },
    namespaces: [{ metadata: { name: "gold-ns", labels: { tier: "gold" } } }, { metadata: { name: "other" } }],
    services: [svc("g", { ns: "gold-ns" }), svc("o", { ns: "other" }), svc("unknown", { ns: "ghost" })],
    expect: { g: "198.51.100.0@team", unknown: "192.0.2.0@open", o: "192.0.2.1@open" }, // ghost/ sorts before other/
  },
  "serviceAllocation serviceSelectors": {
    pools: {
      web: SA({ serviceSelectors: [{ matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] }] }),
      open: V4,
    },
    services: [svc("w", { labels: { app: "web" } }), svc("d", { labels: { app: "db" } })],
    expect: { w: "198.51.100.0@web", d: "192.0.2.0@open" },
  },
  "serviceAllocation: namespaces and serviceSelectors both hold": {
    pools: { p: SA({ namespaces: ["a"], serviceSelectors: [{ matchLabels: { app: "web" } }] }) },
    services: [svc("ok", { ns: "a", labels: { app: "web" } }), svc("wrongns", { ns: "b", labels: { app: "web" } })],
    expect: { ok: "198.51.100.0@p", wrongns: "pending:NoSuitablePool" },
  },
  "address-pool of a pool that excludes the Service": {
    pools: { team: SA({ namespaces: ["team-a"] }) },
    services: [svc("s", { ns: "x", ann: { "metallb.io/address-pool": "team" } })],
    expect: { s: "pending:PoolNotAllowed" },
  },
  "loadBalancerClass: other classes are ignored": {
    pools: { a: V4 },
    services: [svc("mine"), svc("theirs", { cls: "other.io/lb" }), svc("cip", { type: "ClusterIP" })],
    expect: { mine: "192.0.2.0@a", theirs: "ignored:OtherClass", cip: "ignored:NotLoadBalancer" },
  },
  "loadBalancerClass: --lb-class serves only that class": {
    pools: { a: V4 },
    lbClass: "metallite.io/lb",
    services: [svc("mine", { cls: "metallite.io/lb" }), svc("none")],
    expect: { mine: "192.0.2.0@a", none: "ignored:OtherClass" },
  },
  "no pools": { pools: {}, services: [svc("s")], expect: { s: "pending:NoPools" } },
  "adoption keeps a status address that is not the lowest": {
    pools: { a: V4 },
    services: [svc("new", { t: 1 }), svc("old", { t: 2, status: ["192.0.2.3"] })],
    expect: { new: "192.0.2.0@a", old: "192.0.2.3@a" },
  },
  "adoption of MetalLB's addresses (old annotations)": {
    pools: { a: DUAL },
    services: [
      svc("m", {
        family: "46",
        status: ["2001:db8::3", "192.0.2.2"],
        ann: { "metallb.universe.tf/ip-allocated-from-pool": "a", "metallb.universe.tf/allow-shared-ip": "k" },
      }),
    ],
    expect: { m: "192.0.2.2,2001:db8::3@a" },
  },
  "adoption refuses an address now outside every pool": {
    pools: { a: V4 },
    services: [svc("s", { status: ["203.0.113.9"] })],
    expect: { s: "192.0.2.0@a" },
    notes: { s: /IP 203\.0\.113\.9 is not in any pool; allocating again/ },
  },
  "adoption: two Services claiming one address, the older keeps it": {
    pools: { a: V4 },
    services: [svc("young", { t: 2, status: ["192.0.2.2"] }), svc("old", { t: 1, status: ["192.0.2.2"] })],
    expect: { old: "192.0.2.2@a", young: "192.0.2.0@a" },
    notes: { young: /in use by default\/old/ },
  },
  "adoption: a changed request wins over the status": {
    pools: { a: V4 },
    services: [svc("s", { status: ["192.0.2.1"], lbIP: "192.0.2.3" })],
    expect: { s: "192.0.2.3@a" },
    notes: { s: /requested IPs 192\.0\.2\.3 differ/ },
  },
  "adoption: a changed pool annotation moves the Service": {
    pools: { a: V4, b: { addresses: ["198.51.100.0/30"] } },
    services: [svc("s", { status: ["192.0.2.1"], ann: { "metallb.io/address-pool": "b" } })],
    expect: { s: "198.51.100.0@b" },
  },
  "adoption: a pool that no longer admits the Service": {
    pools: { team: SA({ namespaces: ["a"] }, ["192.0.2.0/30"]), open: { addresses: ["198.51.100.0/30"] } },
    services: [svc("s", { ns: "b", status: ["192.0.2.1"] })],
    expect: { s: "198.51.100.0@open" },
  },
  "adoption: a .0 address in a pool that now avoids buggy IPs": {
    pools: { a: { addresses: ["192.0.2.0/30"], avoidBuggyIPs: true } },
    services: [svc("s", { status: ["192.0.2.0"] })],
    expect: { s: "192.0.2.1@a" },
  },
  "adoption: a status address of the wrong family": {
    pools: { a: DUAL },
    services: [svc("s", { family: "6", status: ["192.0.2.1"] })],
    expect: { s: "2001:db8::@a" },
  },
  "adoption: an unreadable request keeps the address, with a note": {
    pools: { a: V4 },
    services: [
      svc("s", { status: ["192.0.2.2"], lbIP: "192.0.2.1", ann: { "metallb.io/loadBalancerIPs": "192.0.2.3" } }),
    ],
    expect: { s: "192.0.2.2@a" },
    notes: { s: /both metallb\.io\/loadBalancerIPs and spec\.loadBalancerIP/ },
  },
  "adoption: RequireDualStack on a single-stack Service drops the address": {
    pools: { a: V4 },
    services: [svc("s", { status: ["192.0.2.2"], policy: "RequireDualStack" })],
    expect: { s: "pending:NotDualStack" },
  },
  "pending with an old address to clear": {
    pools: { a: { addresses: ["192.0.2.0/32"] } },
    services: [svc("holder", { t: 1 }), svc("s", { t: 2, status: ["203.0.113.1"] })],
    expect: { holder: "192.0.2.0@a", s: "pending:PoolExhausted" },
  },
  "conflict check skips an address another host answers for": {
    pools: { a: V4 },
    usable: mac,
    services: [svc("s")],
    expect: { s: "192.0.2.1@a" },
  },
  "conflict check: exhaustion names the conflicts": {
    pools: { a: { addresses: ["192.0.2.0/32"] } },
    usable: mac,
    services: [svc("s")],
    expect: { s: "pending:PoolExhausted" },
    message: { s: /skipped for conflicts: 192\.0\.2\.0 \(conflict detected: MAC aa:bb:cc:dd:ee:ff answers for it\)/ },
  },
  "conflict check on a requested address": {
    pools: { a: V4 },
    usable: mac,
    services: [svc("s", { lbIP: "192.0.2.0" })],
    expect: { s: "pending:AddressConflict" },
    message: { s: /IP 192\.0\.2\.0: conflict detected: MAC aa:bb:cc:dd:ee:ff/ },
  },
  "conflict check is not asked about adopted addresses": {
    pools: { a: V4 },
    usable: mac,
    services: [svc("s", { status: ["192.0.2.0"] })],
    expect: { s: "192.0.2.0@a" },
  },
  "a huge IPv6 pool is not iterated": {
    pools: { a: { addresses: ["2001:db8::/48"] } },
    services: [
      svc("s1", { family: "6", status: ["2001:db8:0:ffff:ffff:ffff:ffff:fff0"] }),
      svc("s2", { family: "6", t: 1 }),
    ],
    expect: { s1: "2001:db8:0:ffff:ffff:ffff:ffff:fff0@a", s2: "2001:db8::@a" },
  },
};

Deno.test("allocateAll() follows MetalLB's rules", async (t) => {
  for (const [what, c] of Object.entries(CASES)) {
    await t.step(what, () => {
      const result = allocateAll({
        model: poolsOf(c.pools),
        services: c.services,
        ...(c.namespaces ? { namespaces: c.namespaces } : {}),
        ...(c.lbClass ? { lbClass: c.lbClass } : {}),
        ...(c.usable ? { isAddressUsable: c.usable } : {}),
      });
      assertEquals(shortAll(result), c.expect);
      for (const [name, pattern] of Object.entries(c.message ?? {})) {
        const o = outcome(result, name);
        assertMatch(o.state === "ignored" ? "" : o.message, pattern);
      }
      for (const [name, pattern] of Object.entries(c.notes ?? {})) {
        assertMatch(outcome(result, name).notes.map((n) => n.message).join(" | "), pattern);
      }
    });
  }
});

Deno.test("allocateAll() reports codes, pool names and whether status must be written", () => {
  const result = allocateAll({
    model: poolsOf({ a: V4 }),
    services: [
      svc("kept", { status: ["192.0.2.2"] }),
      svc("fresh", { t: 1 }),
      svc("moved", { t: 2, status: ["203.0.113.1"] }),
    ],
  });
  const get = (n: string) => outcome(result, n);
  const kept = get("kept");
  assert(kept.state === "assigned");
  assertEquals([kept.code, kept.changed, kept.pool, kept.message], [
    "Adopted",
    false,
    "a",
    `kept 192.0.2.2 from pool "a"`,
  ]);
  const fresh = get("fresh");
  assert(fresh.state === "assigned");
  assertEquals([fresh.code, fresh.changed], ["Allocated", true]);
  const moved = get("moved");
  assert(moved.state === "assigned");
  assertEquals([moved.code, moved.changed, moved.notes[0]!.code], ["Allocated", true, "IpNotInPool"]);
  assertEquals(result.conflicts, []);
});

Deno.test("allocateAll() counts addresses per pool as IPAddressPool status does", () => {
  const model = poolsOf({
    a: { addresses: ["192.0.2.0/24", "2001:db8::/120"], avoidBuggyIPs: true },
    big: { addresses: ["2001:db8:1::/48"] },
  });
  const result = allocateAll({
    model,
    services: [
      svc("x", { family: "46", t: 1, ann: { "metallb.io/allow-shared-ip": "k", "metallb.io/address-pool": "a" } }),
      svc("y", { family: "4", t: 2, ports: [443], ann: { "metallb.io/allow-shared-ip": "k" } }),
      svc("z", { family: "6", t: 3, ann: { "metallb.io/address-pool": "big" } }),
    ],
  });
  assertEquals(shortAll(result), { x: "192.0.2.1,2001:db8::@a", y: "192.0.2.1@a", z: "2001:db8:1::@big" });
  assertEquals(result.pools, [
    { name: "a", assignedIPv4: 1, assignedIPv6: 1, availableIPv4: 253, availableIPv6: 255 },
    { name: "big", assignedIPv4: 0, assignedIPv6: 1, availableIPv4: 0, availableIPv6: Number.MAX_SAFE_INTEGER },
  ]);
});

Deno.test("allocateAll() never throws on hostile Services", () => {
  const hostile = [
    null,
    {},
    { metadata: null },
    { metadata: { name: 5 } },
    { metadata: { name: "a" }, spec: "x" },
    { metadata: { name: "b" }, spec: { type: "LoadBalancer", ports: "80", clusterIPs: [1, null] } },
    { metadata: { name: "c", annotations: [] }, spec: { type: "LoadBalancer", ipFamilies: ["IPv9"] } },
    {
      metadata: { name: "d" },
      spec: { type: "LoadBalancer" },
      status: { loadBalancer: { ingress: [{ ip: 7 }, "x"] } },
    },
    { metadata: { name: "e" }, spec: { type: "LoadBalancer", ports: [{ port: 1e9 }, { port: "80" }, null] } },
  ] as unknown as ServiceLike[];
  const result = allocateAll({ model: poolsOf({ a: V4 }), services: hostile, namespaces: [null] as unknown as [] });
  assertEquals(result.services.map((s) => `${s.name}:${short(s)}`), [
    "a:ignored:NotLoadBalancer",
    "b:192.0.2.0@a",
    "c:192.0.2.1@a",
    "d:192.0.2.2@a",
    "e:192.0.2.3@a",
  ]);
});

Deno.test("allocateAll() survives a throwing conflict check", () => {
  const result = allocateAll({
    model: poolsOf({ a: { addresses: ["192.0.2.0/31"] } }),
    services: [svc("s")],
    isAddressUsable: (ip) => {
      if (ip === "192.0.2.0") throw new Error("socket closed");
      return { usable: true };
    },
  });
  assertEquals(shortAll(result), { s: "192.0.2.1@a" });
  assertMatch(result.conflicts[0]!.reason, /the conflict check failed: socket closed/);
});

Deno.test("allocateAll() never walks a range: a pool of 2^127 addresses costs what a small one does", () => {
  // Built by hand: the config refuses pools this large, the allocator must still cope with them.
  const huge = {
    name: "huge",
    source: "file" as const,
    ref: { kind: "IPAddressPool", namespace: NS, name: "huge" },
    labels: {},
    ranges: { 4: [], 6: [{ family: 6 as const, first: 0x2000n << 112n, last: (0x4000n << 112n) - 1n }] },
    addresses: ["2000::/2"],
    size: { 4: 0n, 6: 1n << 126n },
    autoAssign: true,
    avoidBuggyIPs: false,
  };
  const services = Array.from({ length: 50 }, (_, i) => svc(`s${i}`, { t: i, family: "6" }));
  services.push(svc("top", { t: 99, family: "6", status: ["3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"] }));
  const start = performance.now();
  const result = allocateAll({ model: { pools: [huge] }, services });
  assert(performance.now() - start < 500);
  assertEquals(short(outcome(result, "s49")), "2000::31@huge");
  assertEquals(short(outcome(result, "top")), "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff@huge");
  assertEquals(result.pools[0]!.assignedIPv6, 51);
  assertEquals(result.pools[0]!.availableIPv6, Number.MAX_SAFE_INTEGER);
});
