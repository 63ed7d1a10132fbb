/** BFD interop with FRR's bfdd: when bfdd falls silent, our BFD session goes down and drops the BGP session. */
import { assert, assertEquals, waitFor } from "../assert.ts";
import type { SpeakerEvent } from "../../src/bgp/mod.ts";
import { bgpInteropLab, type Frr, FRR_BGPD_HEAD, interopSkipReason } from "./_daemons.ts";

const skip = interopSkipReason("frr", "frr_bfd_test");

async function bfddPeerStatus(bfdd: Frr, peer: string): Promise<string> {
  const list = JSON.parse(await bfdd.vtysh("show bfd peers json")) as { peer?: string; status?: string }[];
  return list.find((p) => p.peer === peer)?.status ?? "";
}

Deno.test({
  name: "FRR bfdd: BFD comes up, and bfdd freezing drops our BGP session within the BFD detection time",
  ignore: skip !== undefined,
  fn: async () => {
    await using env = await bgpInteropLab({ nodes: 1 });
    const n1 = env.nodes[0]!;
    const events: { at: number; e: SpeakerEvent }[] = [];
    const speaker = env.speaker(n1, { onEvent: (e) => events.push({ at: Date.now(), e }) });
    const bgpd = await env.startFrr(
      "bgpd",
      `${FRR_BGPD_HEAD} neighbor ${n1.ipv4} remote-as 64500
 neighbor ${n1.ipv4} timers connect 1
`,
    );
    const bfdd = await env.startFrr(
      "bfdd",
      `
bfd
 peer ${n1.ipv4} local-address 198.51.100.1
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 !
!
`,
    );
    speaker.addPeer({
      name: "router",
      address: "198.51.100.1",
      asn: 64501,
      retryMinSeconds: 1,
      bfd: { receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3 },
    });
    speaker.setRoutes("router", [{ prefix: "203.0.113.10/32" }]);
    await waitFor(
      "BGP Established and BFD Up on both sides",
      async () =>
        speaker.peers()[0]?.state === "established" && speaker.peers()[0]?.bfdState === "Up" &&
        (await bfddPeerStatus(bfdd, n1.ipv4)) === "up",
      { timeoutMs: 20_000 },
    );
    const prefixes = JSON.parse(await bgpd.vtysh("show bgp ipv4 unicast json")).routes ?? {};
    assert("203.0.113.10/32" in prefixes);

    const frozenAt = Date.now();
    bfdd.process.kill("SIGSTOP");
    const down = await waitFor(
      "the BGP session to drop on BFD down",
      () => events.find((x) => x.at >= frozenAt && x.e.type === "down" && x.e.reason === "BFD session down"),
      {
        timeoutMs: 5000,
      },
    );
    const took = down.at - frozenAt;
    // Detection time 3 × 100 ms, plus scheduling: far below the 90 s hold time.
    assert(took < 1500, `BGP dropped ${took} ms after bfdd froze`);
    assert(events.some((x) => x.e.type === "bfd" && x.e.state === "Down" && x.e.diag === 1));
    assertEquals(speaker.peers()[0]?.bfdState, "Down");

    bfdd.process.kill("SIGCONT");
    await waitFor(
      "BFD Up and BGP Established again",
      () => speaker.peers()[0]?.bfdState === "Up" && speaker.peers()[0]?.state === "established",
      { timeoutMs: 20_000 },
    );
  },
});
