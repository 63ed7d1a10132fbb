import { assert, assertEquals, assertThrows } from "../assert.ts";
import { hostBatch, hostSysctls, LAB_NETNS_PATTERN, lanBatch, newLabId, planLab, planNamespaces } from "./_plan.ts";

Deno.test("planLab() lays out hosts, addresses and MACs in documentation ranges", () => {
  const plan = planLab("mlt3f2a9c", { nodes: 2, router: true, api: true });
  assertEquals(plan.lanNetns, "mlt3f2a9c-lan");
  assertEquals(plan.hosts.map((h) => [h.name, h.netns, h.ipv4, h.ipv6, h.mac]), [
    ["router", "mlt3f2a9c-router", "198.51.100.1", "2001:db8:100::1", "02:00:00:00:3f:01"],
    ["api", "mlt3f2a9c-api", "198.51.100.2", "2001:db8:100::2", "02:00:00:00:3f:02"],
    ["node1", "mlt3f2a9c-node1", "198.51.100.11", "2001:db8:100::11", "02:00:00:00:3f:0b"],
    ["node2", "mlt3f2a9c-node2", "198.51.100.12", "2001:db8:100::12", "02:00:00:00:3f:0c"],
    ["client", "mlt3f2a9c-client", "198.51.100.100", "2001:db8:100::100", "02:00:00:00:3f:64"],
  ]);
  assertEquals(planNamespaces(plan).length, 6);
  assertEquals(planLab("mlt3f2a9c").hosts.map((h) => h.name), ["node1", "node2", "node3", "client"]);
  assertEquals(planLab("mlt3f2a9c", { client: false, nodes: 1 }).hosts.map((h) => h.name), ["node1"]);
});

Deno.test("planLab() refuses a bad node count or id", () => {
  assertThrows(() => planLab("mlt3f2a9c", { nodes: 81 }), RangeError, "0 to 80");
  assertThrows(() => planLab("mlt3f2a9c", { nodes: 1.5 }), RangeError);
  assertThrows(() => planLab("lab1", {}), TypeError, "lab1");
});

Deno.test("newLabId() makes ids that lab namespace names match", () => {
  const id = newLabId();
  assertEquals(LAB_NETNS_PATTERN.exec(`${id}-node1`)?.[1], id);
  assert(!LAB_NETNS_PATTERN.test("mlt5cap-a"));
});

Deno.test("lab scripts give nodes kube-lb0 and strict ARP, and the router a routed prefix", () => {
  const plan = planLab("mlt3f2a9c", { nodes: 1, router: true });
  const [router, node, client] = plan.hosts;
  assert(hostBatch(node!, plan).includes("link add kube-lb0 type ifb"));
  assertEquals(
    hostSysctls(node!).filter(([k]) => k.startsWith("net/ipv4")),
    [["net/ipv4/conf/all/arp_ignore", "1"], ["net/ipv4/conf/all/arp_announce", "2"]],
  );
  assert(hostBatch(router!, plan).includes("address add 203.0.113.1/24 dev wan0"));
  assert(hostSysctls(router!).some(([k, v]) => k === "net/ipv4/ip_forward" && v === "1"));
  assert(hostBatch(client!, plan).includes("route add 203.0.113.0/24 via 198.51.100.1"));
  assert(!hostBatch(client!, planLab("mlt3f2a9c", { nodes: 1 })).includes("route add"));
  assert(lanBatch(plan).includes("peer name eth0 address 02:00:00:00:3f:0b netns mlt3f2a9c-node1"));
});
