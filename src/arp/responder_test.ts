import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import { createLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { FakeFrameSocket, ManualClock, settle } from "../net/testing.ts";
import { ARP_REPLY, ARP_REQUEST, decodeArp, encodeArpFrame, encodeArpReply } from "./codec.ts";
import { probeArp } from "./probe.ts";
import { ArpResponder } from "./responder.ts";

const CLIENT_MAC = "02:6d:6c:74:00:64";
const CLIENT_IP = "192.0.2.100";
const VIP = "192.0.2.10";

function request(targetIp: string, options: { destination?: string; senderMac?: string; senderIp?: string } = {}) {
  return encodeArpFrame({
    operation: ARP_REQUEST,
    destination: options.destination ?? "ff:ff:ff:ff:ff:ff",
    senderMac: options.senderMac ?? CLIENT_MAC,
    senderIp: options.senderIp ?? CLIENT_IP,
    targetMac: "00:00:00:00:00:00",
    targetIp,
  });
}

function setup() {
  const clock = new ManualClock();
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(line) });
  const eth0 = new FakeFrameSocket("eth0", "02:6d:6c:74:00:01", 2);
  const eth1 = new FakeFrameSocket("eth1", "02:6d:6c:74:01:01", 3);
  const responder = new ArpResponder({ sockets: [eth0, eth1], clock, registry, logger });
  const count = (name: string, labels: Record<string, string>) => registry.find(name)?.get(labels) ?? 0;
  return { clock, registry, lines, eth0, eth1, responder, count };
}

Deno.test("ArpResponder answers a request for an owned VIP from the interface that received it", async () => {
  const { eth0, eth1, responder, count } = setup();
  responder.announce(VIP, { interfaces: ["eth0", "eth1"] });
  eth0.sent.length = eth1.sent.length = 0;
  const outcome = responder.handleFrame(eth1, request(VIP));
  assertEquals(outcome, { action: "answered", ip: VIP });
  assertEquals(eth0.sent.length, 0);
  assertEquals(eth1.sent.length, 1);
  const reply = decodeArp(eth1.sent[0]!);
  assert(reply.ok);
  assertEquals(reply.frame.destination, CLIENT_MAC);
  assertEquals(reply.frame.source, "02:6d:6c:74:01:01");
  assertEquals(reply.frame.packet, {
    operation: ARP_REPLY,
    senderMac: "02:6d:6c:74:01:01",
    senderIp: VIP,
    targetMac: CLIENT_MAC,
    targetIp: CLIENT_IP,
  });
  assertEquals(count("metallite_arp_replies_total", { interface: "eth1" }), 1);
  // A unicast request to our MAC (a neighbour refreshing its entry) is answered too; so is an RFC 5227 probe.
  assertEquals(responder.handleFrame(eth0, request(VIP, { destination: "02:6d:6c:74:00:01" })).action, "answered");
  assertEquals(responder.handleFrame(eth0, request(VIP, { senderIp: "0.0.0.0" })).action, "answered");
  assertEquals(
    eth0.sent.at(-1),
    encodeArpReply({ request: { ...decodeOk(request(VIP)), senderIp: "0.0.0.0" }, mac: eth0.mac }),
  );
  await responder.close();
});

function decodeOk(frame: Uint8Array) {
  const result = decodeArp(frame);
  assert(result.ok);
  return result.frame.packet;
}

Deno.test("ArpResponder ignores what it must not answer, and counts why", async (t) => {
  const { eth0, eth1, responder, count } = setup();
  responder.announce(VIP, { interfaces: ["eth0"] });
  eth0.sent.length = 0;
  const cases: [string, FakeFrameSocket, Uint8Array, string][] = [
    ["a VIP we do not own", eth0, request("192.0.2.11"), "not_owned"],
    ["an owned VIP on an interface not allowed for it", eth1, request(VIP), "interface_not_allowed"],
    ["a reply", eth0, encodeArpReply({ request: decodeOk(request(VIP)), mac: CLIENT_MAC }), "not_request"],
    ["a request unicast to another MAC", eth0, request(VIP, { destination: "02:6d:6c:74:00:09" }), "not_for_us"],
    ["our own frame", eth0, request(VIP, { senderMac: "02:6d:6c:74:00:01" }), "own_frame"],
  ];
  for (const [name, socket, frame, reason] of cases) {
    await t.step(name, () => {
      assertEquals(responder.handleFrame(socket, frame), { action: "ignored", reason });
      assertEquals(count("metallite_arp_ignored_total", { interface: socket.interfaceName, reason }), 1);
    });
  }
  assertEquals(eth0.sent.length + eth1.sent.length, 0, "nothing was sent");
  await responder.close();
});

Deno.test("ArpResponder defends an owned VIP against another host's announcement, once per second at most", async () => {
  const { clock, eth0, responder, count } = setup();
  responder.announce(VIP, { interfaces: ["eth0"] });
  eth0.sent.length = 0;
  const announcement = request(VIP, { senderIp: VIP });
  assertEquals(responder.handleFrame(eth0, announcement), { action: "ignored", reason: "announcement" });
  assertEquals(eth0.sent.length, 2, "a gratuitous request and reply at once");
  for (const frame of eth0.sent) {
    const sent = decodeOk(frame);
    assertEquals([sent.senderIp, sent.targetIp, sent.senderMac], [VIP, VIP, "02:6d:6c:74:00:01"]);
  }
  // The takeover burst's own timers also send: count only what each announcement makes us send.
  const sentFor = (frame: Uint8Array) => {
    eth0.sent.length = 0;
    responder.handleFrame(eth0, frame);
    return eth0.sent.length;
  };
  assertEquals(sentFor(announcement), 0, "not again at once");
  await clock.advance(999);
  assertEquals(sentFor(announcement), 0, "not again within a second");
  await clock.advance(1);
  assertEquals(sentFor(announcement), 2, "again after a second");
  assertEquals(count("metallite_arp_ignored_total", { interface: "eth0", reason: "announcement" }), 4);
  await responder.close();
});

Deno.test("ArpResponder counts malformed frames and warns once per reason", async () => {
  const { eth0, responder, count, lines } = setup();
  responder.announce(VIP);
  eth0.sent.length = 0;
  for (let i = 0; i < 100; i++) {
    assertEquals(responder.handleFrame(eth0, request(VIP).slice(0, 30)), { action: "malformed", reason: "truncated" });
  }
  const bad = request(VIP);
  bad[21] = 9;
  assertEquals(responder.handleFrame(eth0, bad).action, "malformed");
  assertEquals(count("metallite_arp_malformed_total", { interface: "eth0", reason: "truncated" }), 100);
  assertEquals(count("metallite_arp_malformed_total", { interface: "eth0", reason: "unsupported_operation" }), 1);
  assertEquals(lines.filter((l) => l.includes("malformed ARP")).length, 2);
  assertEquals(eth0.sent.length, 0);
  await responder.close();
});

Deno.test("ArpResponder.announce() sends a gratuitous burst at 0, 0.5, 1, 2 and 4 s on allowed interfaces only", async () => {
  const { clock, eth0, eth1, responder, count } = setup();
  responder.announce(VIP, { interfaces: ["eth1"] });
  assertEquals(eth1.sent.length, 2, "a request and a reply at once");
  assertEquals(eth0.sent.length, 0);
  assertEquals(clock.pendingDelays(), [500, 1000, 2000, 4000]);
  const operations = eth1.sent.map((f) => decodeOk(f).operation);
  assertEquals(operations, [ARP_REQUEST, ARP_REPLY]);
  for (const frame of eth1.sent) {
    const packet = decodeOk(frame);
    assertEquals([packet.senderIp, packet.targetIp, packet.senderMac], [VIP, VIP, "02:6d:6c:74:01:01"]);
  }
  await clock.advance(500);
  assertEquals(eth1.sent.length, 4);
  await clock.advance(3500);
  assertEquals(eth1.sent.length, 10);
  assertEquals(clock.pendingDelays(), []);
  assertEquals(count("metallite_arp_gratuitous_total", { interface: "eth1" }), 10);
  // Announcing again changes nothing; widening the interfaces sends a new burst.
  responder.announce(VIP, { interfaces: ["eth1"] });
  assertEquals(eth1.sent.length, 10);
  responder.announce(VIP);
  assertEquals([eth0.sent.length, eth1.sent.length], [2, 12]);
  // reannounce() starts the burst over, on every allowed interface.
  await clock.advance(5000);
  responder.reannounce();
  assertEquals([eth0.sent.length, eth1.sent.length], [12, 22]);
  assertEquals(clock.pendingDelays(), [500, 1000, 2000, 4000]);
  await responder.close();
  assertEquals(clock.pendingDelays(), []);
});

Deno.test("ArpResponder.withdraw() stops answering at once and cancels the burst", async () => {
  const { clock, eth0, responder } = setup();
  responder.announce(VIP);
  assertEquals(responder.handleFrame(eth0, request(VIP)).action, "answered");
  responder.withdraw(VIP);
  assertEquals(clock.pendingDelays(), []);
  const sent = eth0.sent.length;
  assertEquals(responder.handleFrame(eth0, request(VIP)), { action: "ignored", reason: "not_owned" });
  await clock.advance(5000);
  assertEquals(eth0.sent.length, sent);
  assertEquals(responder.owned().size, 0);
  await responder.close();
});

Deno.test("ArpResponder narrows the kernel filter to the owned VIPs of each interface", async () => {
  const { eth0, eth1, responder } = setup();
  assert(!eth0.deliver(request(VIP)), "nothing owned: the filter drops every request");
  responder.announce(VIP, { interfaces: ["eth0"] });
  // Widening follows at the end of the task (a reconcile announcing 500 VIPs rebuilds the filter once); user space
  // answers from the owned set at once.
  assertEquals(responder.handleFrame(eth0, request(VIP)).action, "answered");
  await Promise.resolve();
  assert(eth0.deliver(request(VIP)));
  assert(!eth0.deliver(request("192.0.2.11")));
  assert(!eth1.deliver(request(VIP)), "not allowed on eth1");
  responder.withdraw(VIP);
  assert(!eth0.deliver(request(VIP)));
  await responder.close();
  const open = new ArpResponder({ sockets: [new FakeFrameSocket("eth0", "02:6d:6c:74:00:01")], filterTargets: false });
  const [socket] = [new FakeFrameSocket("eth9", "02:6d:6c:74:09:01")];
  open.addSocket(socket);
  assert(socket.deliver(request("192.0.2.11")), "without target filtering every request reaches user space");
  await open.close();
});

Deno.test("ArpResponder rebuilds each filter once for a task's many announces, and at once on withdrawal", async () => {
  const { eth0, responder } = setup();
  await Promise.resolve();
  const before = eth0.filterSets;
  for (let i = 1; i <= 50; i++) responder.announce(`192.0.2.${i}`);
  assertEquals(eth0.filterSets, before);
  await Promise.resolve();
  assertEquals(eth0.filterSets, before + 1);
  assert(eth0.deliver(request("192.0.2.50")));
  responder.withdraw("192.0.2.50");
  assertEquals(eth0.filterSets, before + 2);
  assert(!eth0.deliver(request("192.0.2.50")), "narrowed before withdraw() returned");
  await responder.close();
});

Deno.test("ArpResponder reads its sockets, counts send errors, and closes them", async () => {
  const { eth0, eth1, responder, count } = setup();
  responder.announce(VIP);
  await Promise.resolve(); // the filter widens at the end of the task
  eth0.sent.length = 0;
  eth0.deliver(request(VIP));
  await waitFor("the reply", () => eth0.sent.length === 1);
  eth1.failSends = new Error("ENOBUFS");
  assertEquals(responder.handleFrame(eth1, request(VIP)), { action: "send_failed", ip: VIP });
  assertEquals(count("metallite_arp_send_errors_total", { interface: "eth1" }), 1);
  await responder.removeSocket("eth1");
  assert(eth1.closed);
  assertEquals(responder.interfaces(), ["eth0"]);
  await responder.close();
  assert(eth0.closed);
  await settle();
});

Deno.test("probeArp() reports no conflict after the timeout, having sent three probes", async () => {
  const clock = new ManualClock();
  const socket = new FakeFrameSocket("eth0", "02:6d:6c:74:00:01");
  const probing = probeArp(VIP, { socket, clock });
  await settle();
  assertEquals(socket.sent.length, 1);
  const probe = decodeOk(socket.sent[0]!);
  assertEquals([probe.senderIp, probe.targetIp, probe.targetMac], ["0.0.0.0", VIP, "00:00:00:00:00:00"]);
  // Our own probe looped back and unrelated traffic are not conflicts.
  socket.deliver(socket.sent[0]!);
  socket.deliver(request("192.0.2.11"));
  await clock.advance(1000);
  assertEquals(await probing, { conflict: false });
  assertEquals(socket.sent.length, 3);
  assertEquals(clock.pendingDelays(), []);
});

Deno.test("probeArp() reports the MAC that answers, at once", async () => {
  const clock = new ManualClock();
  const socket = new FakeFrameSocket("eth0", "02:6d:6c:74:00:01");
  const probing = probeArp(VIP, { socket, clock });
  await settle();
  socket.deliver(encodeArpReply({ request: decodeOk(socket.sent[0]!), mac: "02:6d:6c:74:00:99" }));
  assertEquals(await probing, { conflict: true, mac: "02:6d:6c:74:00:99", evidence: "reply" });
  assertEquals(clock.pendingDelays(), []);
  const again = probeArp(VIP, { socket, clock });
  await settle();
  socket.deliver(request(VIP, { senderIp: "0.0.0.0", senderMac: "02:6d:6c:74:00:98" }));
  assertEquals(await again, { conflict: true, mac: "02:6d:6c:74:00:98", evidence: "probe" });
});
