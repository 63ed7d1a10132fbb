import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import {
  allocatorLease,
  bgpAdv,
  bgpPeer,
  bgpStatus,
  ipPool,
  l2Adv,
  node,
  nodeLease,
  service,
  slice,
  snapshot,
} from "./_testing.ts";
import { explainCluster } from "./explain.ts";
import { renderJson, renderText } from "./render.ts";
import { STATUS_SCHEMA_VERSION } from "./report.ts";

const EXCLUDE = { "node.kubernetes.io/exclude-from-external-load-balancers": "" };

function cluster() {
  return explainCluster(snapshot({
    services: [
      service("web", { ips: ["198.51.100.10"], annotations: { "metallb.io/ip-allocated-from-pool": "lan" } }),
      service("full", {
        conditions: [{
          type: "metallite.io/AddressAssigned",
          status: "False",
          reason: "PoolExhausted",
          message: 'pool "lan" is exhausted (IPv4)',
        }],
      }),
      service("api", { ips: ["203.0.113.5"], local: true }),
    ],
    nodes: [node("node-a"), node("node-b"), node("node-c", EXCLUDE)],
    endpointSlices: [slice("web", ["node-a", "node-b"]), slice("api", ["node-b"])],
    leases: [
      nodeLease("node-a", 2000),
      nodeLease("node-b", 3000),
      nodeLease("node-c", 50_000),
      allocatorLease("node-a"),
    ],
    metallbConfig: [
      ipPool("lan", ["198.51.100.10/32"]),
      l2Adv("l2", ["lan"]),
      ipPool("public", ["203.0.113.5/32"]),
      bgpAdv("bgp", ["public"]),
      bgpPeer("router1", "198.51.100.1"),
    ],
    serviceBgpStatuses: [bgpStatus("node-b", "api", ["router1"])],
    serviceL2Statuses: [],
  }));
}

Deno.test("renderText() prints the header, the tables and one explanation block per Service", () => {
  const report = cluster();
  const web = report.services.find((s) => s.name === "web")!;
  const text = renderText(report);
  assert(!text.includes("\x1b["), "no colours unless asked");
  const flat = text.replace(/ {2,}/g, " ");
  assertStringIncludes(text, "metallite status · namespace metallb-system");
  assertStringIncludes(text, "Configuration: valid · 2 pools, 1 L2Advertisement, 1 BGPAdvertisement, 1 BGPPeer");
  assertStringIncludes(text, "flag pools not visible");
  assertStringIncludes(text, "Instances: 2 alive, 1 stale, 0 nodes without metallite · allocator: node-a (fresh)");
  assertStringIncludes(flat, " lan 198.51.100.10/32 1/0 - L2 l2\n");
  assertStringIncludes(flat, " default/full pending - - PoolExhausted\n");
  assertStringIncludes(
    flat,
    'reason: PoolExhausted: pools "lan", "public" are exhausted for IPv4 [from its condition metallite.io/AddressAssigned; ' +
      "recomputed: same]",
  );
  assertStringIncludes(text, `L2: ${web.l2!.elected} announces it on all interfaces (no node reports it)`);
  assertStringIncludes(text, "election order for 198.51.100.10 (weight, then sha256(node#ip)):");
  assertStringIncludes(
    text,
    "node-c: dead (its instance is dead or cut off: its node Lease was last renewed 50 s ago)",
  );
  assertStringIncludes(text, "BGP: node-b → router1 (as reported)");
  assertStringIncludes(text, "externalTrafficPolicy Local: serving endpoints on node-b");
  assertStringIncludes(text, "node-a: no-local-endpoint");
  assertStringIncludes(text, "! no node reports announcing it (no ServiceL2Status)");
  assert(text.endsWith("\n"));
});

Deno.test("renderText() colours only when asked", () => {
  const text = renderText(cluster(), { color: true });
  assertStringIncludes(text, "\x1b[31mpending\x1b[0m");
});

Deno.test("renderJson() prints one parseable document with the stable top-level fields", () => {
  const report = cluster();
  const text = renderJson(report);
  const parsed = JSON.parse(text);
  assertEquals(Object.keys(parsed), [
    "schemaVersion",
    "generatedAt",
    "namespace",
    "config",
    "pools",
    "instances",
    "allocator",
    "services",
    "warnings",
  ]);
  assertEquals(parsed.schemaVersion, STATUS_SCHEMA_VERSION);
  assertEquals(parsed, JSON.parse(JSON.stringify(report)));
  const full = parsed.services.find((s: { name: string }) => s.name === "full");
  assertEquals(full.pending.recomputed.code, "PoolExhausted");
  assertEquals(text.trimEnd().split("\n").length > 10, true);
});
