import { assertEquals } from "../../tests/assert.ts";
import { BfdDiag, type BfdPacket, BfdState, decodeBfdPacket, encodeBfdPacket } from "./packet.ts";
import { newBfdSession, receive } from "./session.ts";
import { fuzzSeed, mutateFrame, seededRandom } from "../net/testing.ts";

/**
 * BFD Control packets FRR 8.4 bfdd sent to our BfdManager, captured with tcpdump on 2026-11-21 on the router of a
 * throwaway lab (bfdd 198.51.100.1:49152 → us 198.51.100.11:3784, TTL 255; profile 300 ms / 300 ms / 3).
 */
const FRR = {
  /** First packet: Down, My Discriminator 0xd9feb396, slow start at 1 s, echo RX 50 ms. */
  down: "20400318d9feb39600000000000f4240000f42400000c350",
  /** Up with Poll, announcing 300 ms now that the session is Up. */
  upPoll: "20e00318d9feb396126b696a000493e0000493e00000c350",
  /** Down with diagnostic 3 after our AdminDown. */
  neighborDown: "23400318d9feb39600000000000493e0000493e00000c350",
};

function hex(s: string): Uint8Array {
  return new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
}

function decode(s: string): BfdPacket {
  const p = decodeBfdPacket(hex(s));
  if (typeof p === "string") throw new Error(p);
  return p;
}

Deno.test("decodeBfdPacket() reads FRR bfdd's captured packets and re-encodes them byte for byte", () => {
  const down = decode(FRR.down);
  assertEquals([down.state, down.diag, down.detectMult, down.myDiscriminator, down.yourDiscriminator], [
    BfdState.DOWN,
    0,
    3,
    0xd9feb396,
    0,
  ]);
  assertEquals([down.desiredMinTxUs, down.requiredMinRxUs, down.requiredMinEchoRxUs], [1_000_000, 1_000_000, 50_000]);
  const up = decode(FRR.upPoll);
  assertEquals([up.state, up.poll, up.final, up.desiredMinTxUs], [BfdState.UP, true, false, 300_000]);
  assertEquals(decode(FRR.neighborDown).diag, BfdDiag.NEIGHBOR_SIGNALED_DOWN);
  for (const s of Object.values(FRR)) assertEquals(encodeBfdPacket(decode(s)), hex(s));
});

Deno.test("our session handshakes with FRR's captured packets: Down → Init → Up, answering its Poll with Final", () => {
  let s = newBfdSession(0x126b696a);
  const r1 = receive(s, decode(FRR.down));
  s = r1.session;
  assertEquals([s.state, s.remoteDiscr], [BfdState.INIT, 0xd9feb396]);
  const r2 = receive(s, decode(FRR.upPoll));
  s = r2.session;
  assertEquals([s.state, r2.final, r2.sendNow], [BfdState.UP, true, true]);
  const r3 = receive(s, decode(FRR.neighborDown));
  assertEquals([r3.session.state, r3.session.localDiag], [BfdState.DOWN, BfdDiag.NEIGHBOR_SIGNALED_DOWN]);
});

Deno.test("fuzz: decodeBfdPacket() never throws and accepts only what it can re-encode", () => {
  const seed = fuzzSeed();
  const random = seededRandom(seed);
  for (let i = 0; i < 5000; i++) {
    const input = mutateFrame(hex(Object.values(FRR)[i % 3]!), random);
    const p = decodeBfdPacket(input);
    if (typeof p !== "string") assertEquals(decodeBfdPacket(encodeBfdPacket(p)), p, `FUZZ_SEED=${seed} iteration ${i}`);
  }
});
