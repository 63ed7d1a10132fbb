import { assert, assertEquals } from "../../tests/assert.ts";
import { BfdDiag, type BfdPacket, BfdState, decodeBfdPacket, encodeBfdPacket } from "./packet.ts";
import {
  type BfdSessionState,
  detectionExpired,
  detectionTimeMs,
  newBfdSession,
  receive,
  SLOW_TX_US,
  txIntervalMs,
  txPacket,
} from "./session.ts";

/** Delivers a packet through the codec, as the wire would. */
function wire(p: BfdPacket): BfdPacket {
  const d = decodeBfdPacket(encodeBfdPacket(p));
  if (typeof d === "string") throw new Error(d);
  return d;
}

Deno.test("decodeBfdPacket() round-trips and enforces RFC 5880 §6.8.6", async (t) => {
  const s = newBfdSession(7, {});
  const p = txPacket({ ...s, remoteDiscr: 9, state: BfdState.UP, polling: true });
  assertEquals(wire(p), p);
  const bytes = encodeBfdPacket(p);
  const cases: [string, (b: Uint8Array) => Uint8Array, string][] = [
    ["short", (b) => b.subarray(0, 20), "shorter"],
    ["version 2", (b) => ((b[0] = (2 << 5) | (b[0]! & 0x1f)), b), "version"],
    ["length beyond datagram", (b) => ((b[3] = 40), b), "exceeds"],
    ["length below 24", (b) => ((b[3] = 20), b), "below 24"],
    ["auth bit", (b) => ((b[1] = b[1]! | 0x04), b), "authentication"],
    ["detect mult 0", (b) => ((b[2] = 0), b), "Detect Mult"],
    ["multipoint", (b) => ((b[1] = b[1]! | 0x01), b), "Multipoint"],
    ["my discriminator 0", (b) => (b.fill(0, 4, 8), b), "My Discriminator"],
    ["your discriminator 0 while Up", (b) => (b.fill(0, 8, 12), b), "Your Discriminator"],
  ];
  for (const [name, mutate, reason] of cases) {
    await t.step(name, () => {
      const r = decodeBfdPacket(mutate(bytes.slice()));
      assert(typeof r === "string" && r.includes(reason), String(r));
    });
  }
});

Deno.test("two sessions complete the three-way handshake and speed up with a Poll Sequence", () => {
  let a = newBfdSession(1, { transmitInterval: 300, receiveInterval: 300, detectMultiplier: 3 });
  let b = newBfdSession(2, { transmitInterval: 100, receiveInterval: 200, detectMultiplier: 5 });
  assertEquals(a.desiredMinTxUs, SLOW_TX_US, "slow rate before Up");
  const rb = receive(b, wire(txPacket(a)));
  b = rb.session;
  assertEquals([b.state, rb.changed?.to], [BfdState.INIT, BfdState.INIT]);
  const ra = receive(a, wire(txPacket(b)));
  a = ra.session;
  assertEquals(a.state, BfdState.UP);
  assertEquals([a.desiredMinTxUs, a.polling], [300_000, true]);
  const rb2 = receive(b, wire(txPacket(a)));
  b = rb2.session;
  assertEquals(b.state, BfdState.UP);
  assert(rb2.final, "a P gets an F back at once");
  const finalPacket = txPacket(b, true);
  assertEquals([finalPacket.final, finalPacket.poll], [true, false]);
  a = receive(a, wire(finalPacket)).session;
  assertEquals(a.polling, false);
  // Detection time: remote Detect Mult × max(our Required Min RX, remote Desired Min TX).
  assertEquals(detectionTimeMs(a), 5 * 300);
  assertEquals(detectionTimeMs(b), 3 * 300);
  // TX interval: max(our Desired Min TX, remote Required Min RX), minus 0-25% jitter.
  assertEquals(txIntervalMs(a, () => 0), 225);
  assertEquals(txIntervalMs(a, () => 0.9999), 300 * (0.75 + 0.9999 * 0.25));
  assertEquals(txIntervalMs(b, () => 0), 0.75 * 300);
});

function up(): BfdSessionState {
  return { ...newBfdSession(1), state: BfdState.UP, remoteState: BfdState.UP, remoteDiscr: 2, remoteDetectMult: 3 };
}

Deno.test("sessions go Down on detection timeout, a Down or AdminDown peer, and ignore strangers", () => {
  const expired = detectionExpired(up());
  assertEquals([expired.session.state, expired.session.localDiag], [
    BfdState.DOWN,
    BfdDiag.CONTROL_DETECTION_TIME_EXPIRED,
  ]);
  assertEquals(expired.session.remoteDiscr, 0);
  assertEquals(expired.session.desiredMinTxUs, SLOW_TX_US);
  const peer = newBfdSession(2);
  const down = receive(up(), wire({ ...txPacket(peer), yourDiscriminator: 1 }));
  assertEquals([down.session.state, down.session.localDiag], [BfdState.DOWN, BfdDiag.NEIGHBOR_SIGNALED_DOWN]);
  const admin = receive(up(), wire({ ...txPacket(peer), state: BfdState.ADMIN_DOWN, yourDiscriminator: 1 }));
  assertEquals(admin.session.state, BfdState.DOWN);
  const stranger = receive(up(), wire({ ...txPacket({ ...peer, state: BfdState.UP }), yourDiscriminator: 99 }));
  assertEquals(stranger.session.state, BfdState.UP);
  assertEquals(stranger.resetDetection, false);
  assertEquals(detectionExpired(newBfdSession(1)).changed, undefined, "Down stays Down");
});

Deno.test("a passive session stays silent until its peer speaks", () => {
  const s = newBfdSession(1, { passiveMode: true });
  assertEquals(txIntervalMs(s), undefined);
  const heard = receive(s, wire(txPacket(newBfdSession(2)))).session;
  assertEquals(txIntervalMs(heard, () => 0), 750);
  // A peer that asks for Required Min RX 0 gets no periodic packets.
  assertEquals(txIntervalMs({ ...heard, remoteMinRxUs: 0 }), undefined);
});
