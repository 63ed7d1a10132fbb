// deno-lint-ignore-file no-console
/**
 * The ARP responder and probe on real AF_PACKET sockets in a namespace lab (tests/lab): the responder's socket is
 * opened inside node1's namespace from this process; the client runs the real arping and tcpdump.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import {
  arping,
  capture,
  createLab,
  gratuitousArps,
  labSkipReason,
  neighbour,
  toolSkipReason,
} from "../../tests/lab/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { libc } from "../net/libc.ts";
import { ffiSkipReason, inNetns } from "../net/testing.ts";
import { ArpOffload } from "./offload.ts";
import { probeArp } from "./probe.ts";
import { ArpResponder } from "./responder.ts";
import { openArpProbeSocket, openArpSocket } from "./socket.ts";

const skip = ffiSkipReason() ?? labSkipReason() ?? toolSkipReason("arping", "tcpdump", "ping");
if (skip !== undefined) console.log(`Skipping ARP lab tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process

const VIP = "198.51.100.200";

Deno.test({
  name: "ArpResponder in a lab: arping gets the owner's MAC, gratuitous ARPs on the wire, silence after withdraw",
  ignore: skip !== undefined,
  async fn(t) {
    await using lab = await createLab({ nodes: 1 });
    const node = lab.nodes[0]!;
    const client = lab.client;
    const registry = new Registry();
    const responder = new ArpResponder({ sockets: [inNetns(node.netns, () => openArpSocket(node.iface))], registry });
    try {
      await t.step("no answer before the takeover", async () => {
        assertEquals((await arping(lab, client, VIP)).macs, []);
      });
      await t.step("takeover: gratuitous ARPs from the node's MAC reach the client", async () => {
        const packets = await capture(lab, client, "arp", () => Promise.resolve(responder.announce(VIP)), {
          until: (p) => gratuitousArps(p, { ip: VIP }).length >= 4,
        });
        const ours = gratuitousArps(packets, { ip: VIP, mac: node.mac });
        assert(ours.length >= 4, `expected the first two rounds of the burst, saw ${packets.length} frames`);
        assertEquals(gratuitousArps(packets, { ip: VIP }).length, ours.length, "only the owner announces");
      });
      await t.step("arping is answered by the owner's MAC and no other", async () => {
        const result = await arping(lab, client, VIP, { count: 3 });
        assertEquals(result.macs, [node.mac], result.output);
        assertEquals(result.replies.length, 3, result.output);
      });
      await t.step("the kernel still answers for the node's own address", async () => {
        assertEquals((await arping(lab, client, node.ipv4)).macs, [node.mac]);
      });
      await t.step("the client's kernel resolves the VIP to the owner", async () => {
        await lab.exec(client, ["ping", "-c", "1", "-W", "1", VIP]);
        assertEquals((await neighbour(lab, client, VIP))?.mac, node.mac);
      });
      await t.step("after withdraw(), nobody answers", async () => {
        responder.withdraw(VIP);
        assertEquals((await arping(lab, client, VIP, { count: 2 })).macs, []);
        assert((registry.find("metallite_arp_replies_total")?.get({ interface: node.iface }) ?? 0) >= 4);
      });
    } finally {
      await responder.close();
    }
  },
});

Deno.test({
  name:
    "ArpResponder with the kernel fast path in a lab: the kernel answers, user space sees none, close() silences it",
  ignore: skip !== undefined || Deno.uid() !== 0,
  async fn(t) {
    await using lab = await createLab({ nodes: 1 });
    const node = lab.nodes[0]!;
    const client = lab.client;
    const registry = new Registry();
    // The link is created for the interface index in the calling thread's namespace: attach inside node1's.
    const responder = inNetns(node.netns, () =>
      new ArpResponder({
        sockets: [openArpSocket(node.iface)],
        registry,
        offload: ArpOffload.open(),
        announceDelaysMs: [],
      }));
    const replies = () => registry.find("metallite_arp_replies_total")?.get({ interface: node.iface }) ?? 0;
    let closed = false;
    try {
      assertEquals(registry.find("metallite_arp_offload_interfaces")?.get({}), 1, "attached to the node's interface");
      responder.announce(VIP);
      await t.step("arping is answered by the owner's MAC, and not by user space", async () => {
        const result = await arping(lab, client, VIP, { count: 3 });
        assertEquals(result.macs, [node.mac], result.output);
        assertEquals(result.replies.length, 3, result.output);
        assertEquals(replies(), 0, "the user-space responder sent no reply: the kernel did");
      });
      await t.step("a probe (sender 0.0.0.0) still reaches user space, which answers it", async () => {
        // arping -0 sends from 0.0.0.0, as an RFC 5227 probe does.
        const out = await lab.exec(client, ["arping", "-0", "-i", client.iface, "-c", "1", "-w", "1", VIP]);
        assert(out.stdout.toLowerCase().includes(node.mac), out.stdout + out.stderr);
        assertEquals(replies(), 1);
      });
      await t.step("after withdraw(), nobody answers", async () => {
        responder.withdraw(VIP);
        assertEquals((await arping(lab, client, VIP, { count: 2 })).macs, []);
      });
      await t.step("after close(), the program is gone and the kernel's replies are counted", async () => {
        responder.announce(VIP);
        assertEquals((await arping(lab, client, VIP, { count: 1 })).macs, [node.mac]);
        await responder.close();
        closed = true;
        assertEquals(replies(), 5, "3 + 1 from the kernel, 1 from user space");
        assertEquals((await arping(lab, client, VIP, { count: 2 })).macs, []);
        const links = await lab.exec(node, ["ip", "-d", "link", "show", node.iface]);
        assert(!links.stdout.includes("tcx"), links.stdout);
      });
    } finally {
      if (!closed) await responder.close();
    }
  },
});

Deno.test({
  name: "probeArp() in a lab: the client's MAC for its address, no conflict for a free one, within a second",
  ignore: skip !== undefined,
  async fn() {
    await using lab = await createLab({ nodes: 1 });
    const node = lab.nodes[0]!;
    const socket = inNetns(node.netns, () => openArpProbeSocket(node.iface));
    try {
      const started = performance.now();
      assertEquals(await probeArp(lab.client.ipv4, { socket }), {
        conflict: true,
        mac: lab.client.mac,
        evidence: "reply",
      });
      assert(performance.now() - started < 500, "a conflict is reported as soon as the answer comes");
      const free = performance.now();
      assertEquals(await probeArp("198.51.100.201", { socket }), { conflict: false });
      const took = performance.now() - free;
      assert(took >= 990 && took < 1300, `a free address takes about the timeout (${took} ms)`);
    } finally {
      await socket.close();
    }
  },
});
