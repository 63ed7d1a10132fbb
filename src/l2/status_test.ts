import { createHash } from "node:crypto";
import type { Lease, Node } from "../k8s/types.ts";
import { assert, assertEquals } from "../../tests/assert.ts";
import { node } from "./_testing.ts";
import { nodeLeaseName, peersFromNodes, readNodeLeases, silentPeersWithFreshLeases } from "./peers.ts";
import { addressConflictEvent, buildServiceL2Status, nodeAssignedEvent } from "./status.ts";

Deno.test("buildServiceL2Status() writes MetalLB's shape, labels and naming", async (t) => {
  await t.step("on listed interfaces", () => {
    assertEquals(
      buildServiceL2Status({
        nodeName: "node-a",
        namespace: "metallb-system",
        serviceName: "web",
        serviceNamespace: "shop",
        interfaces: ["eth0", "eth1"],
      }),
      {
        apiVersion: "metallb.io/v1beta1",
        kind: "ServiceL2Status",
        metadata: {
          generateName: "l2-",
          namespace: "metallb-system",
          labels: {
            "metallb.io/node": "node-a",
            "metallb.io/service-name": "web",
            "metallb.io/service-namespace": "shop",
          },
        },
        spec: {},
        status: {
          node: "node-a",
          serviceName: "web",
          serviceNamespace: "shop",
          interfaces: [{ name: "eth0" }, { name: "eth1" }],
        },
      },
    );
  });
  await t.step("on every interface: no interfaces field", () => {
    const s = buildServiceL2Status({
      nodeName: "n",
      namespace: "ns",
      serviceName: "s",
      serviceNamespace: "d",
      interfaces: "all",
    });
    assertEquals(s.status, { node: "n", serviceName: "s", serviceNamespace: "d" });
  });
});

Deno.test("Events use MetalLB's reason and wording", () => {
  assertEquals(nodeAssignedEvent("node-a"), {
    type: "Normal",
    reason: "nodeAssigned",
    message: 'announcing from node "node-a" with protocol "layer2"',
  });
  const warning = addressConflictEvent("198.51.100.200", "02:00:00:00:00:01");
  assertEquals([warning.type, warning.reason], ["Warning", "AddressConflict"]);
  assert(warning.message.includes("02:00:00:00:00:01"));
});

Deno.test("nodeLeaseName() stays a valid object name", () => {
  assertEquals(nodeLeaseName("worker-1"), "metallite-node-worker-1");
  const long = nodeLeaseName("a".repeat(250));
  assert(long.length <= 253);
  assert(long !== nodeLeaseName("a".repeat(249) + "b"));
  // The hash suffix is the first 10 hex digits of sha256(node name), as before node:crypto was dropped.
  assertEquals(long.slice(-11), "-" + createHash("sha256").update("a".repeat(250)).digest("hex").slice(0, 10));
});

Deno.test("peersFromNodes() sends to each Node's first InternalIP", () => {
  const nodes: Node[] = [
    node("node-b", { internalIp: "198.51.100.2" }),
    node("node-a", { internalIp: "2001:db8:100::1" }),
    node("node-c"),
    node("node-a", { internalIp: "198.51.100.9" }),
    { metadata: { name: "" } },
  ];
  assertEquals(peersFromNodes(nodes), [
    { name: "node-a", address: "2001:db8:100::1" },
    { name: "node-b", address: "198.51.100.2" },
    { name: "node-c" },
  ]);
});

Deno.test("node Leases: freshness, and peers silent despite a fresh Lease", () => {
  const now = Date.parse("2026-01-01T00:01:00Z");
  const lease = (nodeName: string, renew: string): Lease => ({
    metadata: { name: `metallite-node-${nodeName}`, namespace: "metallb-system" },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: 30, renewTime: renew },
  });
  const leases = readNodeLeases([
    lease("node-a", "2026-01-01T00:00:55.000000Z"),
    lease("node-b", "2026-01-01T00:00:10.000000Z"),
    lease("node-c", "garbage"),
    lease("node-d", "2026-01-01T00:00:58.000000Z"),
    { metadata: { name: "metallite-allocator" }, spec: { holderIdentity: "node-a" } },
  ], now);
  assertEquals(leases, [
    { node: "node-a", fresh: true, renewedAgoMs: 5000 },
    { node: "node-b", fresh: false, renewedAgoMs: 50_000 },
    { node: "node-c", fresh: false },
    { node: "node-d", fresh: true, renewedAgoMs: 2000 },
  ]);
  const silent = silentPeersWithFreshLeases([
    { name: "node-a", phase: "dead", lastHeardAgoMs: 20_000, interfaces: [] }, // renews, but unheard: blocked
    { name: "node-b", phase: "dead", lastHeardAgoMs: 60_000, interfaces: [] }, // Lease stale too: really dead
    { name: "node-d", phase: "dead", lastHeardAgoMs: 3000, interfaces: [] }, // just killed: Lease not renewed since
  ], leases);
  assertEquals(silent, ["node-a"]);
});
