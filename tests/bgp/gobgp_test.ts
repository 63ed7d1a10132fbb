/** Interop with GoBGP (gobgpd) in a namespace lab. */
import { assert, assertEquals, waitFor } from "../assert.ts";
import { bgpInteropLab, type GobgpPath, interopSkipReason } from "./_daemons.ts";

const skip = interopSkipReason("gobgp", "gobgp_test");

function attr(path: GobgpPath | undefined, type: number): Record<string, unknown> | undefined {
  return path?.attrs.find((a) => a.type === type);
}

Deno.test({
  name: "GoBGP receives IPv4 and IPv6 routes with communities and large communities, and withdrawals",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 1 });
    const n1 = env.nodes[0]!;
    const speaker = env.speaker(n1, { asn: 4200000000 });
    const gobgp = await env.startGobgp(
      `
[global.config]
  as = 64501
  router-id = "198.51.100.1"
  local-address-list = ["198.51.100.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${n1.ipv4}"
    peer-as = 4200000000
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`,
    );
    speaker.addPeer({ name: "router", address: "198.51.100.1", asn: 64501, nextHopV6: n1.ipv6 });
    speaker.setRoutes("router", [
      { prefix: "203.0.113.10/32", communities: ["64500:100"], largeCommunities: ["4200000000:1:2"], med: 5 },
      { prefix: "203.0.113.11/32" },
      { prefix: "2001:db8:200::10/128", communities: ["64500:6"] },
    ]);
    await waitFor("GoBGP to establish", async () => (await gobgp.neighborState(n1.ipv4)) === "established", {
      timeoutMs: 15_000,
    });
    const v4 = await waitFor("GoBGP to hold 2 IPv4 routes", async () => {
      const r = await gobgp.rib("ipv4");
      return Object.keys(r).length === 2 ? r : undefined;
    });
    const p = v4["203.0.113.10/32"]?.[0];
    assertEquals(attr(p, 3)?.nexthop, n1.ipv4);
    assertEquals(attr(p, 4)?.metric, 5);
    assertEquals(attr(p, 8)?.communities, [64500 * 65536 + 100]);
    assertEquals(attr(p, 32)?.value, [{ ASN: 4200000000, LocalData1: 1, LocalData2: 2 }]);
    // Our 4-octet AS travels in AS_PATH as is (both sides have the capability).
    assertEquals(JSON.stringify(attr(p, 2)).includes("4200000000"), true);
    const v6 = await waitFor("GoBGP to hold the IPv6 route", async () => {
      const r = await gobgp.rib("ipv6");
      return Object.keys(r).length === 1 ? r : undefined;
    });
    const mp = attr(v6["2001:db8:200::10/128"]?.[0], 14);
    assert(JSON.stringify(mp).includes(n1.ipv6), JSON.stringify(mp));
    speaker.setRoutes("router", [{ prefix: "203.0.113.11/32" }]);
    await waitFor(
      "GoBGP to drop the withdrawn routes",
      async () =>
        Object.keys(await gobgp.rib("ipv4")).length === 1 && Object.keys(await gobgp.rib("ipv6")).length === 0,
    );
  },
});
