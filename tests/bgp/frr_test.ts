/** Interop with FRR's bgpd (run by hand, without zebra) in a namespace lab. */
import { assert, assertEquals, waitFor } from "../assert.ts";
import { bgpInteropLab, type Frr, FRR_BGPD_HEAD, interopSkipReason } from "./_daemons.ts";

const skip = interopSkipReason("frr", "frr_test");

interface FrrRoute {
  nexthops?: { ip?: string }[];
  path?: string;
  locPrf?: number;
}

async function frrRoutes(frr: Frr, family: "ipv4" | "ipv6"): Promise<Record<string, FrrRoute[]>> {
  const j = await frr.json(`show bgp ${family} unicast json`);
  return (j.routes ?? {}) as Record<string, FrrRoute[]>;
}

async function peerState(frr: Frr, address: string): Promise<string> {
  const j = await frr.json(`show bgp neighbors ${address} json`);
  return String((j[address] as { bgpState?: string } | undefined)?.bgpState ?? "");
}

Deno.test({
  name: "FRR bgpd receives our routes over IPv4 and IPv6 sessions, with MD5; a wrong password never establishes",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 2 });
    const [n1, n2] = [env.nodes[0]!, env.nodes[1]!];
    const good = env.speaker(n1);
    const bad = env.speaker(n2);
    const frr = await env.startFrr(
      "bgpd",
      `${FRR_BGPD_HEAD} no bgp default ipv4-unicast
 neighbor ${n1.ipv4} remote-as 64500
 neighbor ${n1.ipv4} password metallite
 neighbor ${n1.ipv4} timers connect 1
 neighbor ${n1.ipv6} remote-as 64500
 neighbor ${n1.ipv6} timers connect 1
 neighbor ${n2.ipv4} remote-as 64500
 neighbor ${n2.ipv4} password metallite
 neighbor ${n2.ipv4} timers connect 1
 address-family ipv4 unicast
  neighbor ${n1.ipv4} activate
  neighbor ${n2.ipv4} activate
 exit-address-family
 address-family ipv6 unicast
  neighbor ${n1.ipv6} activate
 exit-address-family
`,
    );
    good.addPeer({
      name: "router",
      address: "198.51.100.1",
      asn: 64501,
      password: "metallite",
      connectTimeoutMs: 1000,
    });
    good.addPeer({ name: "router6", address: env.router.ipv6, asn: 64501, families: ["ipv6"] });
    bad.addPeer({
      name: "router",
      address: "198.51.100.1",
      asn: 64501,
      password: "metalheavy",
      connectTimeoutMs: 1000,
    });
    good.setRoutes("router", [
      { prefix: "203.0.113.10/32", communities: ["64500:100"], largeCommunities: ["64500:1:2"] },
      { prefix: "203.0.113.64/27" },
    ]);
    good.setRoutes("router6", [{ prefix: "2001:db8:200::10/128" }]);
    await waitFor(
      "FRR to establish both sessions",
      async () =>
        (await peerState(frr, n1.ipv4)) === "Established" && (await peerState(frr, n1.ipv6)) === "Established",
      {
        timeoutMs: 20_000,
      },
    );
    const v4 = await waitFor("FRR to hold 2 IPv4 routes", async () => {
      const r = await frrRoutes(frr, "ipv4");
      return Object.keys(r).length === 2 ? r : undefined;
    });
    assertEquals(v4["203.0.113.10/32"]?.[0]?.nexthops?.[0]?.ip, n1.ipv4);
    assertEquals(v4["203.0.113.10/32"]?.[0]?.path, "64500");
    const detail = await frr.vtysh("show bgp ipv4 unicast 203.0.113.10/32");
    assert(detail.includes("Community: 64500:100"), detail);
    assert(detail.includes("Large Community: 64500:1:2"), detail);
    const v6 = await waitFor("FRR to hold the IPv6 route", async () => {
      const r = await frrRoutes(frr, "ipv6");
      return Object.keys(r).length === 1 ? r : undefined;
    });
    assertEquals(v6["2001:db8:200::10/128"]?.[0]?.nexthops?.[0]?.ip, n1.ipv6);
    good.setRoutes("router", [{ prefix: "203.0.113.64/27" }]);
    await waitFor(
      "FRR to drop the withdrawn route",
      async () => Object.keys(await frrRoutes(frr, "ipv4")).length === 1,
    );
    // The wrong password: FRR's kernel drops our unsigned-to-it SYNs, so connects time out, again and again.
    // Under load the failure may be reported differently (a timeout, usually); what matters is that it fails and
    // never establishes.
    await waitFor(
      "the wrong password's connect to fail",
      () => (bad.peers()[0]?.lastError ?? "") !== "",
      { timeoutMs: 20_000 },
    );
    assert((await peerState(frr, n2.ipv4)) !== "Established");
    assertEquals(bad.peers()[0]?.stats.establishedTransitions, 0);
  },
});
