import { assert } from "../../tests/assert.ts";
import { runBpf } from "../net/bpf.ts";
import { fuzzSeed, mutateFrame, seededRandom } from "../net/testing.ts";
import {
  decodeNdp,
  encodeDadProbe,
  encodeNeighborSolicitation,
  encodeSolicitationReply,
  encodeSolicitationReplyFromView,
  encodeUnsolicitedAdvertisement,
  icmpv6Checksum,
  type NdpErrorReason,
  type NdpFrame,
  type NeighborSolicitation,
  readNdp,
} from "./codec.ts";
import { ndpSolicitationFilter } from "./filter.ts";

const REASONS: ReadonlySet<NdpErrorReason> = new Set([
  "truncated",
  "oversized",
  "not_ipv6",
  "bad_ip_header",
  "not_icmpv6",
  "not_ndp",
  "bad_hop_limit",
  "bad_code",
  "bad_length",
  "bad_checksum",
  "bad_source",
  "multicast_target",
  "bad_option",
  "bad_dad_destination",
  "dad_with_link_layer",
  "solicited_to_multicast",
]);

const SEEDS = [
  encodeNeighborSolicitation({
    sourceMac: "02:6d:6c:74:00:02",
    sourceIp: "fe80::6d:6cff:fe74:2",
    target: "2001:db8::10",
    sourceLinkLayer: "02:6d:6c:74:00:02",
  }),
  encodeDadProbe({ mac: "02:6d:6c:74:00:02", ip: "2001:db8::10", nonce: new Uint8Array([1, 2, 3, 4, 5, 6]) }),
  encodeUnsolicitedAdvertisement({ mac: "02:6d:6c:74:00:01", ip: "2001:db8::10" }),
];

const ANY_SOLICITATION = ndpSolicitationFilter();

/** Recomputes the ICMPv6 checksum when the frame is long enough, so mutations reach the later checks. */
function fixChecksum(frame: Uint8Array): Uint8Array {
  if (frame.length < 58) return frame;
  const length = Math.min((frame[18]! << 8) | frame[19]!, frame.length - 54);
  const message = frame.slice(54, 54 + length);
  if (message.length < 4) return frame;
  message[2] = message[3] = 0;
  const sum = icmpv6Checksum(frame.subarray(22, 38), frame.subarray(38, 54), message);
  frame[56] = sum >> 8;
  frame[57] = sum & 0xff;
  return frame;
}

/** One frame: no exception; a known reason when refused; an accepted NS yields a valid NA and passes the filter. */
function check(frame: Uint8Array, where: string): boolean {
  const result = decodeNdp(frame);
  if (!result.ok) {
    assert(REASONS.has(result.error.reason), `unknown reason ${result.error.reason} (${where})`);
    assert(result.error.message.length > 0 && !result.error.message.includes("\n"), where);
    return false;
  }
  if (result.frame.message.type === "solicitation") {
    const request = result.frame as NdpFrame & { message: NeighborSolicitation };
    const mac = new Uint8Array([2, 0x6d, 0x6c, 0x74, 0, 1]);
    const encoded = encodeSolicitationReply({ request, mac });
    const read = readNdp(frame);
    assert(read.ok, where);
    const fast = encodeSolicitationReplyFromView(read.view, mac);
    assert(
      encoded.length === fast.length && encoded.every((b, i) => b === fast[i]),
      `byte-level reply differs (${where})`,
    );
    const reply = decodeNdp(encoded);
    assert(
      reply.ok,
      `our reply to an accepted solicitation is invalid: ${!reply.ok && reply.error.message} (${where})`,
    );
    assert(runBpf(ANY_SOLICITATION, frame) > 0, `the filter drops an accepted solicitation (${where})`);
  }
  return true;
}

Deno.test("decodeNdp() survives random frames: typed refusals only, never an exception", () => {
  const seed = fuzzSeed();
  const random = seededRandom(seed);
  for (let round = 0; round < 20_000; round++) {
    const frame = new Uint8Array(Math.floor(random() * 140));
    for (let i = 0; i < frame.length; i++) frame[i] = Math.floor(random() * 256);
    // Most look like IPv6 + ICMPv6 NS/NA with a valid checksum, so the deeper checks run.
    if (round % 4 !== 0 && frame.length >= 78) {
      frame.set([0x86, 0xdd, 0x60], 12);
      frame[18] = 0;
      frame[19] = frame.length - 54;
      frame[20] = 58;
      frame[21] = 255;
      frame[54] = 135 + (round % 2);
      frame[55] = 0;
      fixChecksum(frame);
    }
    check(frame, `seed ${seed} round ${round}`);
  }
});

Deno.test("decodeNdp() survives mutated real frames", () => {
  const seed = fuzzSeed() + 1;
  const random = seededRandom(seed);
  let accepted = 0;
  for (let round = 0; round < 20_000; round++) {
    let frame = mutateFrame(SEEDS[round % SEEDS.length]!, random);
    if (round % 2 === 0) frame = fixChecksum(frame);
    if (check(frame, `seed ${seed} round ${round} frame ${[...frame.subarray(0, 90)].join(",")}`)) accepted++;
  }
  assert(accepted > 1000, `only ${accepted} mutated frames decoded`);
});
