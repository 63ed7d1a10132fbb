// deno-lint-ignore-file no-console
/**
 * The ARP responder and probe on real AF_PACKET sockets, in a namespace pair of their own, checked with arping.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { Registry } from "../metrics/mod.ts";
import { libc } from "../net/libc.ts";
import { createNetnsPair, inNetns, type NetnsPair, realSocketSkipReason } from "../net/testing.ts";
import { probeArp } from "./probe.ts";
import { ArpResponder } from "./responder.ts";
import { openArpProbeSocket, openArpSocket } from "./socket.ts";

const skip = realSocketSkipReason(["arping"]);
if (skip !== undefined) console.log(`Skipping ARP real-socket tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process

const VIP = "192.0.2.10";

/** MACs that answered `arping` for `ip` from side b. */
async function arping(pair: NetnsPair, ip: string, count = 2): Promise<string[]> {
  const result = await pair.exec(pair.b, "arping", ["-c", String(count), "-w", "1", "-I", pair.b.interface, ip]);
  return [...result.stdout.matchAll(/bytes from ([0-9a-f:]{17}) \(([0-9.]+)\)/g)].map((m) => `${m[1]} ${m[2]}`);
}

Deno.test({
  name: "ArpResponder answers arping for an owned VIP with its MAC, and nothing else",
  ignore: skip !== undefined,
  async fn() {
    const pair = await createNetnsPair();
    try {
      const registry = new Registry();
      const socket = inNetns(pair.a.netns, () => openArpSocket(pair.a.interface));
      const responder = new ArpResponder({ sockets: [socket], registry });
      try {
        assertEquals(await arping(pair, VIP, 1), [], "no answer before the takeover");
        responder.announce(VIP);
        assertEquals(await arping(pair, VIP), [`${pair.a.mac} ${VIP}`, `${pair.a.mac} ${VIP}`]);
        // The kernel still answers for the node's own address; the responder does not interfere.
        assertEquals(await arping(pair, pair.a.ipv4, 1), [`${pair.a.mac} ${pair.a.ipv4}`]);
        // The client's kernel resolves the VIP to our MAC (the ping itself gets no answer: nobody holds the VIP).
        await pair.exec(pair.b, "ping", ["-c", "1", "-W", "1", VIP]);
        const neigh = await pair.exec(pair.b, "ip", ["neigh", "show", VIP, "dev", pair.b.interface]);
        assert(neigh.stdout.includes(pair.a.mac), neigh.stdout);
        responder.withdraw(VIP);
        assertEquals(await arping(pair, VIP, 1), [], "no answer after the withdrawal");
        assertEquals(
          registry.find("metallite_arp_replies_total")?.get({ interface: pair.a.interface }),
          3,
          "two for arping, one for ping",
        );
      } finally {
        await responder.close();
      }
    } finally {
      await pair.close();
    }
  },
});

Deno.test({
  name: "probeArp() finds the MAC of a host using the address, and reports a free one as free within a second",
  ignore: skip !== undefined,
  async fn() {
    const pair = await createNetnsPair();
    try {
      const socket = inNetns(pair.a.netns, () => openArpProbeSocket(pair.a.interface));
      try {
        const started = performance.now();
        assertEquals(await probeArp(pair.b.ipv4, { socket }), { conflict: true, mac: pair.b.mac, evidence: "reply" });
        assert(performance.now() - started < 500, "a conflict is reported as soon as the answer comes");
        const free = performance.now();
        assertEquals(await probeArp("192.0.2.77", { socket }), { conflict: false });
        const took = performance.now() - free;
        assert(took >= 990 && took < 1300, `a free address takes about the timeout (${took} ms)`);
      } finally {
        await socket.close();
      }
    } finally {
      await pair.close();
    }
  },
});
