import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { silentLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { ManualClock, settle } from "../net/testing.ts";
import { frameMessage } from "./message.ts";
import { type FakePeer, type FakePeerOptions, MemoryTransport } from "./_test_peer.ts";
import type { SpeakerEvent } from "./speaker.ts";
import { createSpeaker, type SpeakerOptions } from "./speaker.ts";

function setup(behaviour: (address: string) => FakePeerOptions | Error, extra: Partial<SpeakerOptions> = {}) {
  const clock = new ManualClock();
  const transport = new MemoryTransport((o) => behaviour(o.address));
  const events: SpeakerEvent[] = [];
  const speaker = createSpeaker({
    asn: 64500,
    routerId: "198.51.100.10",
    clock,
    transport,
    logger: silentLogger,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const state = (name: string) => speaker.peers().find((p) => p.name === name)?.state;
  return { clock, transport, speaker, events, state };
}

const hosts = (n: number, base = 10) =>
  Array.from({ length: n }, (_, i) => ({ prefix: `203.0.${base + (i >> 8)}.${i & 255}/32` }));

Deno.test("speaker establishes a session, announces packed routes and End-of-RIB, then sends only changes", async () => {
  const { clock, transport, speaker, state } = setup(() => ({ asn: 64501 }));
  speaker.setRoutes.bind(speaker);
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501 });
  speaker.setRoutes("r1", [...hosts(1000), { prefix: "2001:db8:5::1/128" }]);
  await clock.advance(0);
  assertEquals(state("r1"), "established");
  const peer = transport.peers[0]!;
  assertEquals(transport.dials[0]?.ttl, 1, "eBGP directly connected uses TTL 1");
  assertEquals(peer.table.size, 1001);
  const updates = peer.ofType("update");
  // 1000 IPv4 /32s fit in 2 UPDATEs; then 1 IPv6 UPDATE; then 2 End-of-RIB markers.
  assertEquals(updates.length, 5);
  assertEquals(updates.slice(-2).map((u) => u.attributes.mpUnreach?.afi ?? 1), [1, 2]);
  const any = peer.table.get("203.0.10.1/32")!;
  assertEquals(any.attributes.nextHop, { family: 4, value: 0xc633640an });
  assertEquals(any.attributes.asPath, [{ type: 2, asns: [64500] }]);
  speaker.setRoutes("r1", hosts(999));
  await settle();
  assertEquals(peer.table.size, 999);
  assertEquals(peer.ofType("update").length, 7, "one UPDATE withdraws the IPv4 prefix, one the IPv6 prefix");
  assertEquals(speaker.peers()[0]?.stats.announced, 999);
  await speaker.shutdown();
  assertEquals(peer.ofType("notification").map((n) => [n.code, n.subcode]), [[6, 2]]);
});

Deno.test("speaker sends keepalives, expires the hold timer of a silent peer and reconnects with backoff", async () => {
  const { clock, transport, speaker, events, state } = setup(() => ({ asn: 64501, holdTime: 9 }));
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501 });
  await clock.advance(0);
  assertEquals(state("r1"), "established");
  const peer = transport.peers[0]!;
  await clock.advance(3000);
  assertEquals(peer.ofType("keepalive").length, 2, "one at OpenConfirm, one after 3 s");
  // The peer keeps talking: no expiry.
  for (let i = 0; i < 4; i++) {
    peer.send({ type: "keepalive" });
    await clock.advance(4000);
  }
  assertEquals(state("r1"), "established");
  // Now it falls silent: 9 s after its last KEEPALIVE (sent 4 s ago) the hold timer expires.
  await clock.advance(4999);
  assertEquals(state("r1"), "established");
  await clock.advance(1);
  assertEquals(peer.ofType("notification").map((n) => [n.code, n.subcode]), [[4, 0]]);
  assert(events.some((e) => e.type === "down" && e.reason === "hold timer expired"));
  // Reconnect after the 1 s IdleHold wait, to a fresh connection.
  assertEquals(transport.dials.length, 1);
  await clock.advance(1000);
  assertEquals(transport.dials.length, 2);
  assertEquals(state("r1"), "established");
  await speaker.shutdown();
});

Deno.test("speaker backs off while a peer refuses connections", async () => {
  const { clock, transport, speaker, state } = setup(() => new Error("connect refused"));
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501, retryMaxSeconds: 8 });
  await clock.advance(0);
  assertEquals(state("r1"), "active");
  const times: number[] = [];
  const start = clock.now();
  for (let i = 0; i < 30_000; i += 500) {
    const before = transport.dials.length;
    await clock.advance(500);
    if (transport.dials.length > before) times.push((clock.now() - start) / 1000);
  }
  // Waits of 1, 2, 4, 8, 8... seconds between attempts.
  assertEquals(times.slice(0, 5), [1, 3, 7, 15, 23]);
  await speaker.shutdown();
});

Deno.test("a malformed message resets only its own session; the other carries on", async () => {
  const { clock, transport, speaker, state } = setup((a) => ({ asn: a.endsWith(".1") ? 64501 : 64502 }));
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501 });
  speaker.addPeer({ name: "r2", address: "198.51.100.2", asn: 64502 });
  speaker.setRoutes("r1", hosts(3));
  speaker.setRoutes("r2", hosts(3));
  await clock.advance(0);
  const [p1, p2] = [transport.peers[0]!, transport.peers[1]!];
  // An UPDATE whose NLRI says /33: Invalid Network Field.
  p1.sendRaw(frameMessage(2, new Uint8Array([0, 0, 0, 0, 33, 1, 2, 3, 4, 5])));
  await settle();
  assertEquals(p1.ofType("notification").map((n) => [n.code, n.subcode]), [[3, 10]]);
  assertEquals(state("r1"), "idle");
  assertEquals(state("r2"), "established");
  assertEquals(p2.ofType("notification"), []);
  assertEquals(p2.table.size, 3);
  // Bad marker on r2 later: Connection Not Synchronized, and r1 recovers meanwhile.
  await clock.advance(1000);
  assertEquals(state("r1"), "established");
  const bad = new Uint8Array(19).fill(0xff);
  bad[0] = 0;
  p2.sendRaw(bad);
  await settle();
  assertEquals(p2.ofType("notification").map((n) => [n.code, n.subcode]), [[1, 1]]);
  assertEquals(state("r1"), "established");
  await speaker.shutdown();
});

Deno.test("incoming routes are counted and discarded, and RFC 7606 withdrawals are counted", async () => {
  const { clock, transport, speaker, state } = setup(() => ({ asn: 64501 }));
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501 });
  await clock.advance(0);
  const p = transport.peers[0]!;
  const attrs = [0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf5, 0x40, 3, 4, 198, 51, 100, 1];
  for (let i = 0; i < 2000; i++) {
    p.sendRaw(frameMessage(2, new Uint8Array([0, 0, 0, attrs.length, ...attrs, 32, 10, 9, i >> 8, i & 255])));
  }
  // COMMUNITIES of 3 octets: treat-as-withdraw, session stays up.
  const bad = [...attrs, 0xc0, 8, 3, 0, 0, 1];
  p.sendRaw(frameMessage(2, new Uint8Array([0, 0, 0, bad.length, ...bad, 32, 10, 9, 9, 9])));
  await settle();
  await clock.advance(0);
  const s = speaker.peers()[0]!.stats;
  assertEquals(s.prefixesReceived, 2000);
  assertEquals(s.treatAsWithdraw, 1);
  assertEquals(state("r1"), "established");
  await speaker.shutdown();
});

Deno.test("a passive peer is accepted only from its address, with its MD5 key on the listener", async () => {
  const { clock, transport, speaker, state } = setup(() => new Error("must not dial"));
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501, passive: true, password: "pw" });
  assertEquals(transport.passwords.get("198.51.100.1"), "pw");
  assertEquals(transport.listenOptions?.port, 179);
  assertEquals(transport.incoming("198.51.100.66", { asn: 64501 }), undefined);
  const p = transport.incoming("198.51.100.1", { asn: 64501, openFirst: true })!;
  await clock.advance(0);
  assertEquals(state("r1"), "established");
  assertEquals(transport.dials.length, 0);
  await speaker.removePeer("r1");
  assertEquals(p.ofType("notification").map((n) => [n.code, n.subcode]), [[6, 3]]);
  assertEquals(transport.passwords.get("198.51.100.1"), undefined);
  await speaker.shutdown();
});

Deno.test("connection collision keeps the connection opened by the higher BGP identifier", async (t) => {
  await t.step("peer has the higher identifier: its connection wins", async () => {
    const { clock, transport, speaker, state } = setup(() => ({ asn: 64501, answer: false }), { acceptIncoming: true });
    speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501 });
    await clock.advance(0);
    assertEquals(state("r1"), "openSent");
    const outgoing = transport.peers[0]!;
    const incoming = transport.incoming("198.51.100.1", { asn: 64501, bgpId: 0xc63364ff, openFirst: true })!;
    await clock.advance(0);
    assertEquals(outgoing.ofType("notification").map((n) => [n.code, n.subcode]), [[6, 7]]);
    assertEquals(state("r1"), "established");
    assertEquals(incoming.ofType("notification"), []);
    await speaker.shutdown();
  });
  await t.step("we have the higher identifier: our connection wins", async () => {
    const { clock, transport, speaker } = setup(() => ({ asn: 64501, answer: false }), { acceptIncoming: true });
    speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501 });
    await clock.advance(0);
    const outgoing = transport.peers[0]!;
    const incoming = transport.incoming("198.51.100.1", { asn: 64501, bgpId: 0xc6336401, openFirst: true })!;
    await clock.advance(0);
    assertEquals(incoming.ofType("notification").map((n) => [n.code, n.subcode]), [[6, 7]]);
    assertEquals(outgoing.ofType("notification"), []);
    await speaker.shutdown();
  });
});

Deno.test("shutdown with restart closes graceful-restart sessions silently", async () => {
  const { clock, transport, speaker } = setup(() => ({ asn: 64501 }));
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501, gracefulRestart: true });
  await clock.advance(0);
  const p: FakePeer = transport.peers[0]!;
  const open = p.ofType("open")[0]!;
  assertEquals(open.capabilities.gracefulRestart?.restartTime, 120);
  // The fake peer does not advertise graceful restart, so a restart still sends Cease.
  await speaker.shutdown({ restart: true });
  assertEquals(p.ofType("notification").length, 1);
  assert(p.closedReason !== undefined);
});

Deno.test("speaker validates peers and counts into the metrics registry", async () => {
  const metrics = new Registry();
  const { clock, speaker } = setup(() => ({ asn: 64501 }), { metrics });
  assertThrows(() => speaker.addPeer({ address: "router", asn: 1 }), TypeError, "not an IP address");
  assertThrows(() => speaker.addPeer({ address: "198.51.100.1", asn: 0 }), RangeError, "AS number 0");
  assertThrows(() => speaker.addPeer({ address: "198.51.100.1", asn: 1, holdTime: 2 }), RangeError, "hold time 2");
  assertThrows(() => speaker.addPeer({ address: "198.51.100.1", asn: 1, password: "x".repeat(81) }), RangeError);
  assertThrows(() => speaker.addPeer({ address: "198.51.100.1", asn: 1, sourceAddress: "2001:db8::1" }), TypeError);
  assertThrows(() => speaker.setRoutes("nobody", []), TypeError);
  speaker.addPeer({ name: "v", address: "198.51.100.9", asn: 64509 });
  assertThrows(() => speaker.setRoutes("v", [{ prefix: "203.0.113.1/33" }]), SyntaxError, "203.0.113.1/33");
  assertThrows(() => speaker.setRoutes("v", [{ prefix: "203.0.113.1", communities: ["x"] }]), SyntaxError, "x");
  assertThrows(() => speaker.setRoutes("v", [{ prefix: "203.0.113.1", localPref: 2 ** 32 }]), RangeError);
  await speaker.removePeer("v");
  assertThrows(() => createSpeaker({ asn: 1, routerId: "0.0.0.0" }), TypeError);
  speaker.addPeer({ address: "198.51.100.1", asn: 64501 });
  speaker.setRoutes("198.51.100.1", hosts(5));
  await clock.advance(0);
  speaker.collectMetrics();
  const text = metrics.render();
  assert(text.includes('metallite_bgp_session_up{peer="198.51.100.1"} 1'), text);
  assert(text.includes('metallite_bgp_announced_prefixes{peer="198.51.100.1"} 5'), text);
  await speaker.shutdown();
});
