/**
 * Interop with BIRD 2 in a namespace lab: our speaker runs in this process with its sockets created inside node
 * namespaces; BIRD runs in the router namespace (198.51.100.1).
 */
import { assert, assertEquals, waitFor } from "../assert.ts";
import type { SpeakerEvent } from "../../src/bgp/mod.ts";
import { bgpInteropLab, interopSkipReason } from "./_daemons.ts";

const skip = interopSkipReason("bird", "bird_test");

const BIRD_HEAD = `
log stderr { warning, error, fatal };
router id 198.51.100.1;
protocol device { }
`;

const BIRD_BASE = `${BIRD_HEAD}template bgp node {
  local as 64501;
  connect retry time 1;
  error wait time 1, 4;
  ipv4 { import all; export none; };
}
`;

Deno.test({
  name: "BIRD receives our IPv4 routes over eBGP and iBGP with next hops, communities, local-pref and aggregates",
  ignore: skip !== undefined,
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 2 });
    const [n1, n2] = [env.nodes[0]!, env.nodes[1]!];
    const bird = await env.startBird(`${BIRD_BASE}
protocol bgp node1 from node { neighbor ${n1.ipv4} as 64500; }
protocol bgp node2 from node { neighbor ${n2.ipv4} as 64501; direct; }
`);
    const ebgp = env.speaker(n1);
    const ibgp = env.speaker(n2, { asn: 64501 });
    ebgp.addPeer({ name: "router", address: "198.51.100.1", asn: 64501 });
    ibgp.addPeer({ name: "router", address: "198.51.100.1", asn: 64501 });
    ebgp.setRoutes("router", [
      { prefix: "203.0.113.10/32", communities: ["64500:100", "no-export"], largeCommunities: ["64500:1:2"] },
      { prefix: "203.0.113.11/32" },
      { prefix: "203.0.113.64/27" },
    ]);
    ibgp.setRoutes("router", [{ prefix: "203.0.113.20/32", localPref: 250, communities: ["64501:7"] }]);
    await waitFor(
      "both sessions Established in BIRD",
      async () => (await bird.bgpState("node1")) === "Established" && (await bird.bgpState("node2")) === "Established",
      { timeoutMs: 15_000 },
    );
    const r1 = await waitFor("BIRD to hold node1's 3 routes", async () => {
      const r = await bird.routes("node1");
      return r.size === 3 ? r : undefined;
    });
    const host = r1.get("203.0.113.10/32")!;
    assertEquals(host.nextHop, n1.ipv4);
    assertEquals(host.asPath, "64500");
    assertEquals(host.communities.sort(), ["(64500,100)", "(65535,65281)"]);
    assertEquals(host.largeCommunities, ["(64500, 1, 2)"]);
    assertEquals(host.localPref, 100, "BIRD sets its default local-pref on eBGP routes");
    assert(r1.has("203.0.113.64/27"), "the aggregate is announced as is");
    const r2 = await waitFor("BIRD to hold node2's iBGP route", async () => {
      const r = await bird.routes("node2");
      return r.size === 1 ? r : undefined;
    });
    const i = r2.get("203.0.113.20/32")!;
    assertEquals([i.nextHop, i.asPath, i.localPref, i.communities], [n2.ipv4, "", 250, ["(64501,7)"]]);

    // Withdrawal of one route; the others stay.
    ebgp.setRoutes("router", [{ prefix: "203.0.113.10/32" }, { prefix: "203.0.113.64/27" }]);
    await waitFor("BIRD to drop the withdrawn route and the communities", async () => {
      const r = await bird.routes("node1");
      return r.size === 2 && !r.has("203.0.113.11/32") && r.get("203.0.113.10/32")?.communities.length === 0;
    });
    // A clean shutdown sends Cease / Administrative Shutdown: BIRD drops the session and every route at once.
    await ebgp.shutdown({ message: "node drained" });
    await waitFor("BIRD to drop node1's routes", async () => (await bird.routes("node1")).size === 0);
    const info = await bird.birdc("show", "protocols", "all", "node1");
    assert(/Administrative shutdown/i.test(info), info);
    assertEquals((await bird.routes("node2")).size, 1, "the other session is untouched");
  },
});

Deno.test({
  name: "BIRD receives IPv6 routes over an IPv6 session (MP-BGP) with our global next hop",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 1 });
    const n1 = env.nodes[0]!;
    const speaker = env.speaker(n1);
    const bird = await env.startBird(`${BIRD_HEAD}protocol bgp node1v6 {
  local ${env.router.ipv6} as 64501;
  neighbor ${n1.ipv6} as 64500;
  connect retry time 1;
  ipv6 { import all; export none; };
}
`);
    speaker.addPeer({ name: "router6", address: env.router.ipv6, asn: 64501, families: ["ipv6"] });
    speaker.setRoutes("router6", [
      { prefix: "2001:db8:200::10/128", largeCommunities: ["64500:6:6"] },
      { prefix: "2001:db8:201::/64" },
      { prefix: "203.0.113.10/32" }, // not negotiated on this session: skipped
    ]);
    const r = await waitFor("BIRD to hold both IPv6 routes", async () => {
      const routes = await bird.routes("node1v6");
      return routes.size === 2 ? routes : undefined;
    }, { timeoutMs: 15_000 });
    assertEquals(r.get("2001:db8:200::10/128")?.nextHop, n1.ipv6);
    assertEquals(r.get("2001:db8:200::10/128")?.largeCommunities, ["(64500, 6, 6)"]);
    assertEquals(speaker.peers()[0]?.stats.skipped, 1);
    speaker.setRoutes("router6", [{ prefix: "2001:db8:201::/64" }]);
    await waitFor("BIRD to drop the withdrawn IPv6 route", async () => (await bird.routes("node1v6")).size === 1);
  },
});

Deno.test({
  name: "TCP MD5 with BIRD: the right password establishes, a wrong one never does",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 2 });
    const [n1, n2] = [env.nodes[0]!, env.nodes[1]!];
    const good = env.speaker(n1);
    const bad = env.speaker(n2);
    const bird = await env.startBird(`${BIRD_BASE}
protocol bgp node1 from node { neighbor ${n1.ipv4} as 64500; password "metal lite"; }
protocol bgp node2 from node { neighbor ${n2.ipv4} as 64500; password "metal lite"; }
`);
    good.addPeer({
      name: "router",
      address: "198.51.100.1",
      asn: 64501,
      password: "metal lite",
      connectTimeoutMs: 1000,
    });
    bad.addPeer({ name: "router", address: "198.51.100.1", asn: 64501, password: "wrong", connectTimeoutMs: 1000 });
    good.setRoutes("router", [{ prefix: "203.0.113.10/32" }]);
    await waitFor("the MD5 session to be Established", async () => (await bird.bgpState("node1")) === "Established", {
      timeoutMs: 15_000,
    });
    await waitFor("BIRD to hold the route", async () => (await bird.routes("node1")).size === 1);
    // Give the wrong password a few connect attempts: never Established on either side.
    await new Promise((r) => setTimeout(r, 3000));
    assert((await bird.bgpState("node2")) !== "Established");
    assert(bad.peers()[0]?.state !== "established");
    assertEquals(bad.peers()[0]?.stats.establishedTransitions, 0);
  },
});

Deno.test({
  name: "BIRD going silent expires our hold timer; BIRD restarting is reconnected with our routes",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 1 });
    const n1 = env.nodes[0]!;
    const events: SpeakerEvent[] = [];
    const speaker = env.speaker(n1, { onEvent: (e) => events.push(e) });
    const bird = await env.startBird(`${BIRD_BASE}
protocol bgp node1 from node { neighbor ${n1.ipv4} as 64500; }
`);
    speaker.addPeer({ name: "router", address: "198.51.100.1", asn: 64501, holdTime: 3, retryMaxSeconds: 2 });
    speaker.setRoutes("router", [{ prefix: "203.0.113.10/32" }, { prefix: "203.0.113.11/32" }]);
    await waitFor("Established", () => speaker.peers()[0]?.state === "established", { timeoutMs: 15_000 });
    assertEquals(speaker.peers()[0]?.negotiated?.holdTime, 3);

    // Freeze BIRD: no KEEPALIVEs for 3 s, so our hold timer expires.
    const frozenAt = Date.now();
    bird.process.kill("SIGSTOP");
    await waitFor(
      "the hold timer to expire",
      () => events.some((e) => e.type === "down" && e.reason === "hold timer expired"),
      {
        timeoutMs: 10_000,
      },
    );
    const took = Date.now() - frozenAt;
    assert(took >= 2000 && took < 6000, `hold timer expired after ${took} ms`);
    bird.process.kill("SIGCONT");
    await waitFor(
      "Established again after BIRD thaws",
      async () => speaker.peers()[0]?.state === "established" && (await bird.routes("node1")).size === 2,
      { timeoutMs: 20_000 },
    );

    // Kill BIRD outright and start it again: we reconnect and re-announce.
    await bird.stop("SIGKILL");
    await waitFor("our session to notice", () => speaker.peers()[0]?.state !== "established", { timeoutMs: 10_000 });
    await bird.start();
    await waitFor("BIRD to hold our routes again", async () => (await bird.routes("node1")).size === 2, {
      timeoutMs: 20_000,
    });
    assert((speaker.peers()[0]?.stats.establishedTransitions ?? 0) >= 3);
  },
});

Deno.test({
  name: "BIRD and our speaker dialling each other at once settle on one session (collision resolution)",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 1 });
    const n1 = env.nodes[0]!;
    // Our identifier (198.51.100.11) is higher than BIRD's (198.51.100.1), so our outgoing connection must win.
    const speaker = env.speaker(n1, { acceptIncoming: true });
    const bird = await env.startBird(`${BIRD_BASE}
protocol bgp node1 from node { neighbor ${n1.ipv4} as 64500; connect delay time 0; }
`);
    speaker.addPeer({ name: "router", address: "198.51.100.1", asn: 64501 });
    speaker.setRoutes("router", [{ prefix: "203.0.113.10/32" }]);
    await waitFor("BIRD to hold the route", async () => (await bird.routes("node1")).size === 1, {
      timeoutMs: 15_000,
    });
    await new Promise((r) => setTimeout(r, 2000));
    assertEquals(speaker.peers()[0]?.state, "established");
    assertEquals(speaker.peers()[0]?.stats.establishedTransitions, 1, "one session, established once");
    assertEquals(await bird.bgpState("node1"), "Established");
  },
});

Deno.test({
  name: "a passive peer: BIRD connects to our listener, signed with the MD5 key set on the listening socket",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 1 });
    const n1 = env.nodes[0]!;
    const speaker = env.speaker(n1);
    speaker.addPeer({ name: "router", address: "198.51.100.1", asn: 64501, passive: true, password: "metal lite" });
    speaker.setRoutes("router", [{ prefix: "203.0.113.10/32" }]);
    const bird = await env.startBird(`${BIRD_BASE}
protocol bgp node1 from node { neighbor ${n1.ipv4} as 64500; password "metal lite"; connect delay time 0; }
`);
    await waitFor(
      "BIRD to hold the route over the session it opened",
      async () => (await bird.routes("node1")).size === 1,
      { timeoutMs: 15_000 },
    );
    assertEquals(speaker.peers()[0]?.state, "established");
  },
});
