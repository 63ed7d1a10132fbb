import { assert, assertEquals } from "../../tests/assert.ts";
import { runBpf } from "../net/bpf.ts";
import { fuzzSeed, mutateFrame, seededRandom } from "../net/testing.ts";
import {
  ARP_REQUEST,
  type ArpErrorReason,
  decodeArp,
  encodeArpFrame,
  encodeArpProbe,
  encodeArpReply,
  encodeArpReplyFromView,
  encodeGratuitousArp,
  readArp,
} from "./codec.ts";
import { arpRequestFilter } from "./filter.ts";

const REASONS: ReadonlySet<ArpErrorReason> = new Set([
  "truncated",
  "oversized",
  "not_arp",
  "unsupported_hardware",
  "unsupported_protocol",
  "bad_address_length",
  "unsupported_operation",
  "bad_sender",
]);

const SEEDS = [
  encodeArpProbe({ mac: "02:6d:6c:74:00:02", ip: "192.0.2.1" }),
  encodeGratuitousArp({ mac: "02:6d:6c:74:00:01", ip: "192.0.2.10", operation: "reply" }),
  encodeArpFrame({
    operation: ARP_REQUEST,
    destination: "ff:ff:ff:ff:ff:ff",
    senderMac: "02:6d:6c:74:00:02",
    senderIp: "192.0.2.2",
    targetMac: "00:00:00:00:00:00",
    targetIp: "192.0.2.1",
  }),
];

/** Checks one frame: no exception, a known reason on refusal, a faithful re-encoding on success. */
function check(frame: Uint8Array, seed: number, round: number): boolean {
  const where = `seed ${seed} round ${round} frame ${[...frame.subarray(0, 48)].join(",")}`;
  const result = decodeArp(frame);
  if (!result.ok) {
    assert(REASONS.has(result.error.reason), `unknown reason ${result.error.reason} (${where})`);
    assert(result.error.message.length > 0 && !result.error.message.includes("\n"), where);
    return false;
  }
  const { destination, source, packet } = result.frame;
  // Re-encoding what was decoded reproduces the 42 meaningful bytes: nothing was misread.
  const again = encodeArpFrame({ ...packet, destination, source });
  assertEquals([...again.subarray(0, 42)], [...frame.subarray(0, 42)], where);
  // Whatever the decoder accepts as a request, the kernel filter lets through (the filter is never stricter).
  if (packet.operation === ARP_REQUEST) assert(runBpf(arpRequestFilter(), frame) > 0, `filter dropped (${where})`);
  // The responder's byte-level reply is the same frame as the one built from the decoded fields.
  const read = readArp(frame);
  assert(read.ok, where);
  const mac = new Uint8Array([2, 0x6d, 0x6c, 0x74, 0, 1]);
  assertEquals([...encodeArpReplyFromView(read.view, mac)], [...encodeArpReply({ request: packet, mac })], where);
  return true;
}

Deno.test("decodeArp() survives random frames: typed refusals only, never an exception", () => {
  const seed = fuzzSeed();
  const random = seededRandom(seed);
  for (let round = 0; round < 20_000; round++) {
    const frame = new Uint8Array(Math.floor(random() * 120));
    for (let i = 0; i < frame.length; i++) frame[i] = Math.floor(random() * 256);
    // Make a quarter of them look like ARP so the deeper checks are reached.
    if (round % 4 === 0 && frame.length >= 20) frame.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4], 12);
    check(frame, seed, round);
  }
});

Deno.test("decodeArp() survives mutated real frames, and round-trips the ones it accepts", () => {
  const seed = fuzzSeed() + 1;
  const random = seededRandom(seed);
  let accepted = 0;
  for (let round = 0; round < 20_000; round++) {
    const base = SEEDS[round % SEEDS.length]!;
    if (check(mutateFrame(base, random), seed, round)) accepted++;
  }
  // The mutations must leave a fair share decodable, or the round-trip checks prove nothing.
  assert(accepted > 1000, `only ${accepted} mutated frames decoded`);
});
