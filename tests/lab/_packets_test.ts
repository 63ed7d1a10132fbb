import { assert, assertEquals } from "../assert.ts";
import { decodeFrame, gratuitousArps, parseTcpdump, unsolicitedNas } from "./_packets.ts";

// Captured in a lab on this project's CI machine (Linux 6.18) with `tcpdump -e -n -tt -xx`: arping -U from node1,
// then ndisc6 from the client and node1's kernel answering.
const CAPTURE = `tcpdump: verbose output suppressed, use -v[v]... for full protocol decode
1795292106.637624 02:00:00:00:f3:0b > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 58: Request who-has 198.51.100.11 (ff:ff:ff:ff:ff:ff) tell 198.51.100.11, length 44
\t0x0000:  ffff ffff ffff 0200 0000 f30b 0806 0001
\t0x0010:  0800 0604 0001 0200 0000 f30b c633 640b
\t0x0020:  ffff ffff ffff c633 640b 0000 0000 0000
\t0x0030:  0000 0000 0000 0000 0000
1795292106.744401 02:00:00:00:f3:64 > 33:33:ff:00:00:11, ethertype IPv6 (0x86dd), length 86: fe80::ff:fe00:f364 > ff02::1:ff00:11: ICMP6, neighbor solicitation, who has 2001:db8:100::11, length 32
\t0x0000:  3333 ff00 0011 0200 0000 f364 86dd 6009
\t0x0010:  08e9 0020 3aff fe80 0000 0000 0000 0000
\t0x0020:  00ff fe00 f364 ff02 0000 0000 0000 0000
\t0x0030:  0001 ff00 0011 8700 6479 0000 0000 2001
\t0x0040:  0db8 0100 0000 0000 0000 0000 0011 0101
\t0x0050:  0200 0000 f364
1795292106.744456 02:00:00:00:f3:0b > 02:00:00:00:f3:64, ethertype IPv6 (0x86dd), length 86: 2001:db8:100::11 > fe80::ff:fe00:f364: ICMP6, neighbor advertisement, tgt is 2001:db8:100::11, length 32
\t0x0000:  0200 0000 f364 0200 0000 f30b 86dd 6000
\t0x0010:  0000 0020 3aff 2001 0db8 0100 0000 0000
\t0x0020:  0000 0000 0011 fe80 0000 0000 0000 0000
\t0x0030:  00ff fe00 f364 8800 d21d 6000 0000 2001
\t0x0040:  0db8 0100 0000 0000 0000 0000 0011 0201
\t0x0050:  0200 0000 f30b
`;

Deno.test("parseTcpdump() reads frames with their time, summary and bytes", () => {
  const packets = parseTcpdump(CAPTURE, true);
  assertEquals(packets.length, 3);
  const [garp, ns, na] = packets;
  assertEquals(garp!.time, 1795292106.637624);
  assertEquals(garp!.raw.length, 58);
  assertEquals(garp!.srcMac, "02:00:00:00:f3:0b");
  assertEquals(garp!.dstMac, "ff:ff:ff:ff:ff:ff");
  assertEquals(garp!.ethertype, 0x0806);
  assert(garp!.line.includes("who-has 198.51.100.11"));
  assertEquals(ns!.ethertype, 0x86dd);
  assertEquals(na!.raw.length, 86);
});

Deno.test("parseTcpdump() leaves out a last frame whose bytes are not all there yet", () => {
  assertEquals(parseTcpdump(CAPTURE).length, 3);
  const cut = CAPTURE.lastIndexOf("\t0x0050");
  assertEquals(parseTcpdump(CAPTURE.slice(0, cut)).length, 2);
  assertEquals(parseTcpdump(CAPTURE.slice(0, cut), true).length, 3);
  assertEquals(parseTcpdump(CAPTURE.slice(0, 400)).length, 0);
  assertEquals(parseTcpdump("", true), []);
  assertEquals(parseTcpdump("garbage\n\t0x0000: zz\n", true), []);
});

Deno.test("decodeFrame() decodes a gratuitous ARP request", () => {
  const [garp] = parseTcpdump(CAPTURE, true);
  assertEquals(garp!.arp, {
    op: "request",
    senderMac: "02:00:00:00:f3:0b",
    senderIp: "198.51.100.11",
    targetMac: "ff:ff:ff:ff:ff:ff",
    targetIp: "198.51.100.11",
    gratuitous: true,
    probe: false,
  });
  assertEquals(gratuitousArps([garp!], { ip: "198.51.100.11", mac: "02:00:00:00:F3:0B" }).length, 1);
  assertEquals(gratuitousArps([garp!], { ip: "198.51.100.12" }).length, 0);
  assertEquals(gratuitousArps([garp!], { mac: "02:00:00:00:f3:0c" }).length, 0);
});

Deno.test("decodeFrame() decodes neighbour solicitations and advertisements with flags and options", () => {
  const [, ns, na] = parseTcpdump(CAPTURE, true);
  assertEquals(ns!.ndp, {
    kind: "ns",
    srcIp: "fe80::ff:fe00:f364",
    dstIp: "ff02::1:ff00:11",
    hopLimit: 255,
    target: "2001:db8:100::11",
    router: false,
    solicited: false,
    override: false,
    sourceLinkAddress: "02:00:00:00:f3:64",
    checksumOk: true,
  });
  assertEquals(na!.ndp?.kind, "na");
  assertEquals(na!.ndp?.solicited, true);
  assertEquals(na!.ndp?.override, true);
  assertEquals(na!.ndp?.targetLinkAddress, "02:00:00:00:f3:0b");
  assertEquals(na!.ndp?.checksumOk, true);
  // A solicited NA is not an unsolicited one.
  assertEquals(unsolicitedNas([na!]).length, 0);
});

Deno.test("unsolicitedNas() matches target, MAC and Override flag", () => {
  const [, , na] = parseTcpdump(CAPTURE, true);
  const raw = na!.raw.slice();
  raw[14 + 40 + 4] = 0x20; // only Override: an unsolicited advertisement
  const unsolicited = { time: 0, line: "", ...decodeFrame(raw) };
  assertEquals(unsolicited.ndp?.checksumOk, false); // flags changed without fixing the checksum
  assertEquals(unsolicitedNas([unsolicited], { target: "2001:0db8:100::11", override: true }).length, 1);
  assertEquals(unsolicitedNas([unsolicited], { override: false }).length, 0);
  assertEquals(unsolicitedNas([unsolicited], { mac: "02:00:00:00:f3:0b" }).length, 1);
  assertEquals(unsolicitedNas([unsolicited], { target: "2001:db8:100::12" }).length, 0);
});

Deno.test("decodeFrame() never throws on truncated or odd frames", () => {
  const [, , na] = parseTcpdump(CAPTURE, true);
  for (let length = 0; length <= na!.raw.length; length++) {
    const frame = decodeFrame(na!.raw.slice(0, length));
    if (length < 14 + 40 + 24) assertEquals(frame.ndp?.target, undefined);
  }
  const junk = new Uint8Array(100).fill(0xff);
  assertEquals(decodeFrame(junk).arp, undefined);
  // An option with length 0 must stop option parsing (RFC 4861 §4.6), not loop.
  const zeroOption = na!.raw.slice();
  zeroOption[14 + 40 + 25] = 0;
  assertEquals(decodeFrame(zeroOption).ndp?.targetLinkAddress, undefined);
});
