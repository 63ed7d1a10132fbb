// deno-lint-ignore-file no-console
/**
 * The NDP responder and probe on real AF_PACKET sockets in a namespace lab (tests/lab): the responder's socket is
 * opened inside node1's namespace from this process; the client runs the real ndisc6 and tcpdump.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import {
  capture,
  type CapturedPacket,
  createLab,
  labSkipReason,
  ndisc,
  neighbour,
  toolSkipReason,
  unsolicitedNas,
} from "../../tests/lab/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { libc } from "../net/libc.ts";
import { ffiSkipReason, inNetns } from "../net/testing.ts";
import { probeNdp } from "./probe.ts";
import { NdpResponder } from "./responder.ts";
import { openNdpProbeSocket, openNdpSocket } from "./socket.ts";

const skip = ffiSkipReason() ?? labSkipReason() ?? toolSkipReason("ndisc6", "tcpdump", "ping");
if (skip !== undefined) console.log(`Skipping NDP lab tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process

const VIP = "2001:db8:100::200";

Deno.test({
  name: "NdpResponder in a lab: ndisc6 gets the owner's MAC, valid NAs on the wire, silence after withdraw",
  ignore: skip !== undefined,
  async fn(t) {
    await using lab = await createLab({ nodes: 1 });
    const node = lab.nodes[0]!;
    const client = lab.client;
    const registry = new Registry();
    const responder = new NdpResponder({ sockets: [inNetns(node.netns, () => openNdpSocket(node.iface))], registry });
    const advertisements = (packets: CapturedPacket[]) =>
      packets.filter((p) => p.ndp?.kind === "na" && p.ndp.target === VIP);
    try {
      await t.step("no answer before the takeover", async () => {
        assertEquals((await ndisc(lab, client, VIP)).mac, undefined);
      });
      await t.step("takeover: unsolicited NAs to all-nodes with Override, from the VIP", async () => {
        const packets = await capture(lab, client, "icmp6", () => Promise.resolve(responder.announce(VIP)), {
          until: (p) => unsolicitedNas(p, { target: VIP }).length >= 2,
        });
        const ours = unsolicitedNas(packets, { target: VIP, mac: node.mac, override: true });
        assert(ours.length >= 2, `expected two rounds of the burst, saw ${packets.length} frames`);
        for (const p of ours) {
          assertEquals([p.ndp!.srcIp, p.ndp!.dstIp, p.ndp!.hopLimit, p.srcMac], [VIP, "ff02::1", 255, node.mac]);
        }
      });
      await t.step(
        "ndisc6 is answered by the owner's MAC and no other; the NA is solicited, from the VIP",
        async () => {
          let result: Awaited<ReturnType<typeof ndisc>> | undefined;
          const packets = await capture(lab, client, "icmp6", async () => {
            result = await ndisc(lab, client, VIP, { multiple: true });
          });
          assertEquals(result?.macs, [node.mac], result?.output);
          const solicited = advertisements(packets).filter((p) => p.ndp!.solicited);
          assert(solicited.length >= 1, "a solicited NA on the wire");
          for (const p of solicited) {
            assertEquals([p.ndp!.srcIp, p.ndp!.override, p.ndp!.targetLinkAddress], [VIP, true, node.mac]);
          }
        },
      );
      await t.step("the client's kernel resolves the VIP to the owner", async () => {
        await lab.exec(client, ["ping", "-6", "-c", "1", "-W", "1", VIP]);
        assertEquals((await neighbour(lab, client, VIP))?.mac, node.mac);
      });
      await t.step("after withdraw(), nobody answers", async () => {
        responder.withdraw(VIP);
        assertEquals((await ndisc(lab, client, VIP)).mac, undefined);
        assert((registry.find("metallite_ndp_replies_total")?.get({ interface: node.iface }) ?? 0) >= 2);
      });
    } finally {
      await responder.close();
    }
  },
});

Deno.test({
  name: "probeNdp() in a lab: finds the client's and the responder's MAC, no conflict for a free address",
  ignore: skip !== undefined,
  async fn() {
    await using lab = await createLab({ nodes: 2 });
    const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
    const responder = new NdpResponder({ sockets: [inNetns(node2.netns, () => openNdpSocket(node2.iface))] });
    const socket = inNetns(node1.netns, () => openNdpProbeSocket(node1.iface));
    try {
      responder.announce(VIP, {});
      const started = performance.now();
      assertEquals(await probeNdp(lab.client.ipv6, { socket }), {
        conflict: true,
        mac: lab.client.mac,
        evidence: "advertisement",
      });
      assert(performance.now() - started < 500, "a conflict is reported as soon as the answer comes");
      assertEquals(await probeNdp(VIP, { socket }), { conflict: true, mac: node2.mac, evidence: "advertisement" });
      const free = performance.now();
      assertEquals(await probeNdp("2001:db8:100::201", { socket }), { conflict: false });
      const took = performance.now() - free;
      assert(took >= 990 && took < 1300, `a free address takes about the timeout (${took} ms)`);
    } finally {
      await socket.close();
      await responder.close();
    }
  },
});
