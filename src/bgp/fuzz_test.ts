import { assert, assertEquals } from "../../tests/assert.ts";
import { silentLogger } from "../log/mod.ts";
import { fuzzSeed, ManualClock, seededRandom, settle } from "../net/testing.ts";
import { checkDecode, fuzzInput } from "./_fuzz.ts";
import { decodeMessage } from "./message.ts";
import { MemoryTransport } from "./_test_peer.ts";
import { createSpeaker } from "./speaker.ts";

const SEED = fuzzSeed();

Deno.test(`fuzz: decodeMessage() never throws and maps every bad message to its NOTIFICATION (seed ${SEED})`, () => {
  const random = seededRandom(SEED);
  let errors = 0;
  for (let i = 0; i < 5000; i++) {
    const input = fuzzInput(random);
    const problem = checkDecode(input, random() < 0.8);
    assert(problem === undefined, `iteration ${i} (FUZZ_SEED=${SEED}): ${problem}`);
    if (!decodeMessage(input).ok) errors++;
  }
  // The corpus must actually exercise the error paths, not only clean messages.
  assert(errors > 1000, `only ${errors} inputs were rejected`);
});

Deno.test(`fuzz: a session answers each hostile message with the decoder's NOTIFICATION (seed ${SEED})`, async () => {
  const random = seededRandom(SEED ^ 0x5a5a);
  const clock = new ManualClock();
  const transport = new MemoryTransport(() => ({ asn: 64501 }));
  const speaker = createSpeaker({ asn: 64500, routerId: "198.51.100.10", clock, transport, logger: silentLogger });
  speaker.addPeer({ name: "r1", address: "198.51.100.1", asn: 64501, retryMaxSeconds: 1 });
  speaker.setRoutes("r1", [{ prefix: "203.0.113.10/32" }]);
  let resets = 0;
  for (let i = 0; i < 300; i++) {
    await clock.advance(1000);
    assertEquals(speaker.peers()[0]?.state, "established", `iteration ${i}: session did not come back`);
    const peer = transport.peers.at(-1)!;
    // Whole messages only: the length field says exactly how many octets follow, as a peer's TCP stream would.
    const input = fuzzInput(random).slice(0, 4096);
    if (input.length < 19) continue;
    input[16] = input.length >> 8;
    input[17] = input.length & 0xff;
    const before = peer.ofType("notification").length;
    peer.sendRaw(input);
    await settle();
    const sent = peer.ofType("notification").slice(before).map((n) => [n.code, n.subcode]);
    const decoded = decodeMessage(input);
    const what = `iteration ${i} (FUZZ_SEED=${SEED}): ${
      Array.from(input.subarray(16, 40), (b) => b.toString(16).padStart(2, "0")).join("")
    }`;
    if (!decoded.ok) {
      assertEquals(sent, [[decoded.error.code, decoded.error.subcode]], what);
      resets++;
    } else if (decoded.value.type === "open") {
      assertEquals(sent, [[5, 3]], what);
      resets++;
    } else {
      assertEquals(sent, [], what);
      if (decoded.value.type === "notification") resets++;
      else assertEquals(speaker.peers()[0]?.state, "established", what);
    }
    // Whatever happened, close the connection so the next iteration starts from a fresh session.
    if (speaker.peers()[0]?.state === "established") {
      peer.sendRaw(new Uint8Array(19)); // bad marker: Connection Not Synchronized
      await settle();
    }
  }
  assert(resets > 50, `only ${resets} resets`);
  await speaker.shutdown();
});
