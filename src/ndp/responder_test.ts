import { assert, assertEquals, assertThrows, waitFor } from "../../tests/assert.ts";
import { createLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { FakeFrameSocket, ManualClock, settle } from "../net/testing.ts";
import {
  decodeNdp,
  encodeDadProbe,
  encodeNeighborSolicitation,
  encodeSolicitationReply,
  encodeUnsolicitedAdvertisement,
  type NdpFrame,
  type NeighborSolicitation,
} from "./codec.ts";
import { probeNdp } from "./probe.ts";
import { NdpResponder } from "./responder.ts";

const CLIENT_MAC = "02:6d:6c:74:00:64";
const CLIENT_IP = "fe80::6d:6cff:fe74:64";
const VIP = "2001:db8::10";

function solicitation(target: string, options: { sourceIp?: string; sourceMac?: string } = {}) {
  const sourceIp = options.sourceIp ?? CLIENT_IP;
  const sourceMac = options.sourceMac ?? CLIENT_MAC;
  if (sourceIp === "::") return encodeDadProbe({ mac: sourceMac, ip: target });
  return encodeNeighborSolicitation({ sourceMac, sourceIp, target, sourceLinkLayer: sourceMac });
}

function decodeOk(frame: Uint8Array): NdpFrame {
  const result = decodeNdp(frame);
  if (!result.ok) throw new Error(result.error.message);
  return result.frame;
}

function setup() {
  const clock = new ManualClock();
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(line) });
  const eth0 = new FakeFrameSocket("eth0", "02:6d:6c:74:00:01", 2);
  const eth1 = new FakeFrameSocket("eth1", "02:6d:6c:74:01:01", 3);
  const responder = new NdpResponder({ sockets: [eth0, eth1], clock, registry, logger });
  const count = (name: string, labels: Record<string, string>) => registry.find(name)?.get(labels) ?? 0;
  return { clock, registry, lines, eth0, eth1, responder, count };
}

Deno.test("NdpResponder answers a solicitation for an owned VIP with S and O set, from the VIP", async () => {
  const { eth0, eth1, responder, count } = setup();
  responder.announce(VIP);
  eth0.sent.length = eth1.sent.length = 0;
  assertEquals(responder.handleFrame(eth1, solicitation(VIP)), { action: "answered", ip: VIP, dad: false });
  assertEquals(eth0.sent.length, 0);
  const request = decodeOk(solicitation(VIP)) as NdpFrame & { message: NeighborSolicitation };
  assertEquals(eth1.sent, [encodeSolicitationReply({ request, mac: eth1.mac })]);
  const reply = decodeOk(eth1.sent[0]!);
  assertEquals([reply.sourceIp, reply.destinationIp, reply.destinationMac], [VIP, CLIENT_IP, CLIENT_MAC]);
  assert(reply.message.type === "advertisement" && reply.message.solicited && reply.message.override);
  assertEquals(count("metallite_ndp_replies_total", { interface: "eth1" }), 1);
  await responder.close();
});

Deno.test("NdpResponder defends an owned VIP against a DAD probe: to all-nodes, Solicited clear", async () => {
  const { eth0, responder, lines } = setup();
  responder.announce(VIP);
  eth0.sent.length = 0;
  assertEquals(responder.handleFrame(eth0, solicitation(VIP, { sourceIp: "::" })), {
    action: "answered",
    ip: VIP,
    dad: true,
  });
  const reply = decodeOk(eth0.sent[0]!);
  assertEquals([reply.destinationIp, reply.destinationMac], ["ff02::1", "33:33:00:00:00:01"]);
  assert(reply.message.type === "advertisement" && !reply.message.solicited && reply.message.override);
  assertEquals(lines.filter((l) => l.includes("probes a VIP we own")).length, 1);
  await responder.close();
});

Deno.test("NdpResponder ignores what it must not answer, and counts why", async (t) => {
  const { eth0, eth1, responder, count } = setup();
  responder.announce(VIP, { interfaces: ["eth0"] });
  eth0.sent.length = 0;
  const unicastElsewhere = encodeNeighborSolicitation({
    sourceMac: CLIENT_MAC,
    sourceIp: CLIENT_IP,
    target: VIP,
    destinationIp: VIP,
    destinationMac: "02:6d:6c:74:00:09",
  });
  const toAllNodes = encodeNeighborSolicitation({
    sourceMac: CLIENT_MAC,
    sourceIp: CLIENT_IP,
    target: VIP,
    destinationIp: "ff02::1",
  });
  const cases: [string, FakeFrameSocket, Uint8Array, string][] = [
    ["a VIP we do not own", eth0, solicitation("2001:db8::11"), "not_owned"],
    ["an interface not allowed for the VIP", eth1, solicitation(VIP), "interface_not_allowed"],
    ["an advertisement", eth0, encodeUnsolicitedAdvertisement({ mac: CLIENT_MAC, ip: VIP }), "not_solicitation"],
    ["unicast to another MAC", eth0, unicastElsewhere, "not_for_us"],
    ["a group other than the solicited-node one", eth0, toAllNodes, "not_for_us"],
    ["our own frame", eth0, solicitation(VIP, { sourceMac: "02:6d:6c:74:00:01" }), "own_frame"],
  ];
  for (const [name, socket, frame, reason] of cases) {
    await t.step(name, () => {
      const before = count("metallite_ndp_ignored_total", { interface: socket.interfaceName, reason });
      assertEquals(responder.handleFrame(socket, frame), { action: "ignored", reason });
      assertEquals(count("metallite_ndp_ignored_total", { interface: socket.interfaceName, reason }), before + 1);
    });
  }
  assertEquals(eth0.sent.length + eth1.sent.length, 0);
  await responder.close();
});

Deno.test("NdpResponder counts solicitations failing validation and warns once per reason", async () => {
  const { eth0, responder, count, lines } = setup();
  responder.announce(VIP);
  eth0.sent.length = 0;
  const hops = solicitation(VIP);
  hops[21] = 64;
  for (let i = 0; i < 50; i++) {
    assertEquals(responder.handleFrame(eth0, hops), { action: "malformed", reason: "bad_hop_limit" });
  }
  const checksum = solicitation(VIP);
  checksum[57] = checksum[57]! ^ 0xff;
  assertEquals(responder.handleFrame(eth0, checksum), { action: "malformed", reason: "bad_checksum" });
  assertEquals(count("metallite_ndp_malformed_total", { interface: "eth0", reason: "bad_hop_limit" }), 50);
  assertEquals(lines.filter((l) => l.includes("invalid NDP")).length, 2);
  assertEquals(eth0.sent.length, 0);
  await responder.close();
});

Deno.test("NdpResponder joins solicited-node groups on takeover and leaves them on withdrawal", async () => {
  const { eth0, eth1, responder } = setup();
  responder.announce(VIP, { interfaces: ["eth0"] });
  // 2001:db8:1::10 shares the low 24 bits, so the group, with 2001:db8::10.
  responder.announce("2001:db8:1::10", { interfaces: ["eth0", "eth1"] });
  responder.announce("2001:db8::abcd");
  assertEquals(eth0.groups.size, 0, "groups and filters follow at the end of the task: once for all three");
  await Promise.resolve();
  assertEquals([...eth0.groups].sort(), ["33:33:ff:00:00:10", "33:33:ff:00:ab:cd"]);
  assertEquals([...eth1.groups].sort(), ["33:33:ff:00:00:10", "33:33:ff:00:ab:cd"]);
  responder.withdraw(VIP);
  assertEquals([...eth0.groups].sort(), ["33:33:ff:00:00:10", "33:33:ff:00:ab:cd"], "still needed by 2001:db8:1::10");
  responder.withdraw("2001:db8:1::10");
  assertEquals([...eth0.groups], ["33:33:ff:00:ab:cd"]);
  assertEquals([...eth1.groups], ["33:33:ff:00:ab:cd"]);
  // The kernel filter follows too.
  assert(!eth0.deliver(solicitation(VIP)));
  assert(eth0.deliver(solicitation("2001:db8::abcd")));
  await responder.close();
  assertEquals(eth0.groups.size + eth1.groups.size, 0, "close() leaves every group");
});

Deno.test("NdpResponder.announce() sends unsolicited advertisements at 0, 0.5, 1, 2, 4 s; withdraw() stops them", async () => {
  const { clock, eth0, eth1, responder, count } = setup();
  responder.announce("2001:DB8:0::10", { interfaces: ["eth1"] });
  assertEquals([...responder.owned().keys()], [VIP], "addresses are kept in canonical form");
  assertEquals([eth0.sent.length, eth1.sent.length], [0, 1]);
  assertEquals(eth1.sent[0], encodeUnsolicitedAdvertisement({ mac: eth1.mac, ip: VIP }));
  await clock.advance(1000);
  assertEquals(eth1.sent.length, 3);
  responder.reannounce(VIP);
  assertEquals(eth1.sent.length, 4, "a fresh burst starts at once");
  responder.withdraw(VIP);
  assertEquals(clock.pendingDelays(), []);
  await clock.advance(5000);
  assertEquals(eth1.sent.length, 4);
  assertEquals(count("metallite_ndp_unsolicited_total", { interface: "eth1" }), 4);
  assertEquals(responder.handleFrame(eth1, solicitation(VIP)), { action: "ignored", reason: "not_owned" });
  assertThrows(() => responder.announce("192.0.2.1"), TypeError);
  await responder.close();
});

Deno.test("NdpResponder reads its sockets and closes them", async () => {
  const { eth0, responder } = setup();
  responder.announce(VIP);
  await Promise.resolve(); // the filter widens at the end of the task
  eth0.sent.length = 0;
  eth0.deliver(solicitation(VIP));
  await waitFor("the advertisement", () => eth0.sent.length === 1);
  await responder.close();
  assert(eth0.closed);
  await settle();
});

Deno.test("probeNdp() reports a free address after the timeout, an advertisement or a rival probe at once", async () => {
  const clock = new ManualClock();
  const socket = new FakeFrameSocket("eth0", "02:6d:6c:74:00:01");
  const nonce = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const random = (b: Uint8Array<ArrayBuffer>) => (b.set(nonce), b);
  const free = probeNdp(VIP, { socket, clock, random });
  await settle();
  assertEquals(socket.groups, new Set(["33:33:ff:00:00:10"]));
  assertEquals(socket.sent, [encodeDadProbe({ mac: socket.mac, ip: VIP, nonce })]);
  socket.deliver(socket.sent[0]!); // our own probe, looped back by a switch
  await clock.advance(1000);
  assertEquals(await free, { conflict: false });
  assertEquals(socket.sent.length, 2);
  assertEquals(socket.groups.size, 0);

  const taken = probeNdp(VIP, { socket, clock, random });
  await settle();
  socket.deliver(encodeUnsolicitedAdvertisement({ mac: "02:6d:6c:74:00:99", ip: VIP }));
  assertEquals(await taken, { conflict: true, mac: "02:6d:6c:74:00:99", evidence: "advertisement" });

  const rival = probeNdp(VIP, { socket, clock, random });
  await settle();
  socket.deliver(encodeDadProbe({ mac: "02:6d:6c:74:00:98", ip: VIP, nonce: new Uint8Array(6) }));
  assertEquals(await rival, { conflict: true, mac: "02:6d:6c:74:00:98", evidence: "probe" });
  assertEquals(clock.pendingDelays(), []);
});
