// deno-lint-ignore-file no-console
/**
 * The NDP responder and probe on real AF_PACKET sockets, in a namespace pair of their own, checked with ndisc6, the
 * client kernel's neighbour table, and tcpdump on the wire.
 */
import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import { Registry } from "../metrics/mod.ts";
import { libc } from "../net/libc.ts";
import { createNetnsPair, inNetns, type NetnsPair, realSocketSkipReason } from "../net/testing.ts";
import { probeNdp } from "./probe.ts";
import { NdpResponder } from "./responder.ts";
import { openNdpProbeSocket, openNdpSocket } from "./socket.ts";

const skip = realSocketSkipReason(["ndisc6", "tcpdump"]);
if (skip !== undefined) console.log(`Skipping NDP real-socket tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process

const VIP = "2001:db8::10";

/** The link-layer address ndisc6 on side b reports for `ip`, or undefined when nobody answers. */
async function ndisc6(pair: NetnsPair, ip: string): Promise<string | undefined> {
  const result = await pair.exec(pair.b, "ndisc6", ["-1", "-r", "2", "-w", "500", ip, pair.b.interface]);
  return result.stdout.match(/Target link-layer address: ([0-9A-F:]{17})/i)?.[1]?.toLowerCase();
}

/** tcpdump on side b printing neighbor advertisements, one line each. */
async function watchAdvertisements(pair: NetnsPair) {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      pair.b.netns,
      "tcpdump",
      "-l",
      "-n",
      "-vv",
      "-e",
      "-i",
      pair.b.interface,
      "icmp6 and ip6[40] == 136",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let listening = false;
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>, onText: (text: string) => void) => {
    for await (const chunk of stream) onText(decoder.decode(chunk));
  };
  const out = pump(child.stdout, (t) => lines.push(...t.split("\n").filter((l) => l.trim() !== "")));
  const err = pump(child.stderr, (t) => listening ||= t.includes("listening"));
  await waitFor("tcpdump to listen", () => listening, { timeoutMs: 5000 });
  return {
    lines,
    async stop() {
      child.kill("SIGTERM");
      await Promise.all([out, err, child.status]);
    },
  };
}

Deno.test({
  name: "NdpResponder answers ndisc6 for an owned VIP and sends unsolicited advertisements seen on the wire",
  ignore: skip !== undefined,
  async fn() {
    const pair = await createNetnsPair();
    try {
      const registry = new Registry();
      const socket = inNetns(pair.a.netns, () => openNdpSocket(pair.a.interface));
      const responder = new NdpResponder({ sockets: [socket], registry });
      const tcpdump = await watchAdvertisements(pair);
      try {
        assertEquals(await ndisc6(pair, VIP), undefined, "no answer before the takeover");
        responder.announce(VIP);
        await waitFor("the first unsolicited advertisement", () => tcpdump.lines.some((l) => l.includes("ff02::1:")));
        assertEquals(await ndisc6(pair, VIP), pair.a.mac);
        // The client's kernel resolves the VIP to our MAC, too (the ping itself gets no answer).
        await pair.exec(pair.b, "ping", ["-6", "-c", "1", "-W", "1", VIP]);
        const neigh = await pair.exec(pair.b, "ip", ["-6", "neigh", "show", VIP, "dev", pair.b.interface]);
        assert(neigh.stdout.includes(pair.a.mac), neigh.stdout);
        responder.withdraw(VIP);
        assertEquals(await ndisc6(pair, VIP), undefined, "no answer after the withdrawal");
        await tcpdump.stop();
        const ours = tcpdump.lines.filter((l) => l.includes(`${VIP} >`));
        const unsolicited = ours.filter((l) => l.includes("> ff02::1:") && l.includes("Flags [override]"));
        const solicited = ours.filter((l) => l.includes("Flags [solicited, override]"));
        assert(unsolicited.length >= 1, `unsolicited NA to ff02::1 with O=1:\n${tcpdump.lines.join("\n")}`);
        assert(solicited.length >= 2, `solicited NAs from the VIP:\n${tcpdump.lines.join("\n")}`);
        assert(
          ours.every((l) => l.includes(`tgt is ${VIP}`) && l.includes(pair.a.mac) && l.includes("sum ok")),
          ours.join("\n"),
        );
        assert((registry.find("metallite_ndp_replies_total")?.get({ interface: pair.a.interface }) ?? 0) >= 2);
      } finally {
        await tcpdump.stop().catch(() => {});
        await responder.close();
      }
    } finally {
      await pair.close();
    }
  },
});

Deno.test({
  name: "probeNdp() finds the responder's and the kernel's MAC, and reports a free address as free",
  ignore: skip !== undefined,
  async fn() {
    const pair = await createNetnsPair();
    try {
      const responder = new NdpResponder({ sockets: [inNetns(pair.a.netns, () => openNdpSocket(pair.a.interface))] });
      const socket = inNetns(pair.b.netns, () => openNdpProbeSocket(pair.b.interface));
      try {
        responder.announce(VIP);
        // Let the unsolicited burst's first frame pass, so the probe sees the DAD answer and not the announcement.
        await new Promise((resolve) => setTimeout(resolve, 50));
        const started = performance.now();
        assertEquals(await probeNdp(VIP, { socket }), { conflict: true, mac: pair.a.mac, evidence: "advertisement" });
        assert(performance.now() - started < 500, "a conflict is reported as soon as the answer comes");
        assertEquals(await probeNdp(pair.a.ipv6, { socket }), {
          conflict: true,
          mac: pair.a.mac,
          evidence: "advertisement",
        });
        const free = performance.now();
        assertEquals(await probeNdp("2001:db8::77", { socket }), { conflict: false });
        const took = performance.now() - free;
        assert(took >= 990 && took < 1300, `a free address takes about the timeout (${took} ms)`);
      } finally {
        await socket.close();
        await responder.close();
      }
    } finally {
      await pair.close();
    }
  },
});
