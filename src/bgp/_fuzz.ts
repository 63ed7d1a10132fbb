/**
 * Fuzzing support shared by the CI fuzz test and `bench/bgp_fuzz.ts`: inputs built from random bytes and from
 * mutations of captured messages, and an oracle that states, independently of the decoder, which NOTIFICATION a
 * message's header deserves (RFC 4271 §6.1) and which error code its body may map to.
 */
import { mutateFrame } from "../net/testing.ts";
import { CAPTURED } from "./_test_vectors.ts";
import { ErrorCode, MessageType } from "./constants.ts";
import { decodeMessage, encodeMessage } from "./message.ts";

/** One fuzz input. */
export function fuzzInput(random: () => number): Uint8Array {
  const pick = random();
  if (pick < 0.15) {
    // Pure noise.
    const out = new Uint8Array(Math.floor(random() * 64));
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * 256);
    return out;
  }
  if (pick < 0.35) {
    // A valid header with the right length and a noisy body of a random known type.
    const type = 1 + Math.floor(random() * 5);
    const body = new Uint8Array(Math.floor(random() * 80));
    for (let i = 0; i < body.length; i++) body[i] = Math.floor(random() * 256);
    const out = new Uint8Array(19 + body.length);
    out.fill(0xff, 0, 16);
    out[16] = out.length >> 8;
    out[17] = out.length & 0xff;
    out[18] = type;
    out.set(body, 19);
    return out;
  }
  const seed = CAPTURED[Math.floor(random() * CAPTURED.length)]!.bytes;
  const mutated = mutateFrame(seed, random).subarray(0, 4096 + 64);
  // Half the time keep the length field honest so the body decoders, not just the header check, see the damage.
  if (random() < 0.5 && mutated.length >= 19 && mutated.length <= 4096) {
    mutated[16] = mutated.length >> 8;
    mutated[17] = mutated.length & 0xff;
  }
  return mutated;
}

/** What RFC 4271 §6.1 says about a whole message's header, computed without the decoder. */
export function expectedHeaderError(bytes: Uint8Array): [number, number] | undefined {
  if (bytes.length < 19) return [1, 2];
  for (let i = 0; i < 16; i++) if (bytes[i] !== 0xff) return [1, 1];
  const length = (bytes[16]! << 8) | bytes[17]!;
  const type = bytes[18]!;
  if (length < 19 || length > 4096) return [1, 2];
  if (type < 1 || type > 5) return [1, 3];
  const min = [0, 29, 23, 21, 19, 23][type]!;
  if (length < min || (type === MessageType.KEEPALIVE && length !== 19)) return [1, 2];
  if (length !== bytes.length) return [1, 2];
  return undefined;
}

// A well-formed header leaves only errors of the message's own kind (RFC 4271 §6.2, §6.3; RFC 7313 §5).
const BODY_CODE: Record<number, number> = {
  [MessageType.OPEN]: ErrorCode.OPEN_MESSAGE,
  [MessageType.UPDATE]: ErrorCode.UPDATE_MESSAGE,
  [MessageType.ROUTE_REFRESH]: ErrorCode.ROUTE_REFRESH,
};
// Subcodes each kind may use.
const SUBCODES: Record<number, readonly number[]> = {
  [ErrorCode.OPEN_MESSAGE]: [0, 1, 2, 3, 4, 6, 7],
  [ErrorCode.UPDATE_MESSAGE]: [1, 2, 3, 4, 5, 6, 8, 9, 10, 11],
  [ErrorCode.ROUTE_REFRESH]: [1],
};

/**
 * Decodes one input and checks the outcome against the oracle; returns a description of the first violation, or
 * undefined. Exceptions are violations too.
 */
export function checkDecode(bytes: Uint8Array, fourOctetAs: boolean): string | undefined {
  let result;
  try {
    result = decodeMessage(bytes, { fourOctetAs });
  } catch (error) {
    return `decodeMessage threw: ${error instanceof Error ? error.stack : error}`;
  }
  const header = expectedHeaderError(bytes);
  if (header) {
    if (result.ok) return `header error ${header} expected, but decoded ${result.value.type}`;
    if (result.error.code !== header[0] || result.error.subcode !== header[1]) {
      return `header error ${header} expected, got ${result.error.code}/${result.error.subcode} (${result.error.reason})`;
    }
    return undefined;
  }
  const type = bytes[18]!;
  if (!result.ok) {
    const code = BODY_CODE[type];
    if (result.error.code !== code) return `type ${type} got error code ${result.error.code}: ${result.error.reason}`;
    if (!SUBCODES[code]!.includes(result.error.subcode)) {
      return `subcode ${result.error.subcode} is not one of ${code}'s`;
    }
    if (result.error.reason === "") return "an error without a reason";
    return undefined;
  }
  const m = result.value;
  if (m.type === "update" && (m.problems?.length ?? 0) > 0) return undefined;
  // A clean decode must survive a round trip.
  try {
    const again = decodeMessage(encodeMessage(m, { fourOctetAs }), { fourOctetAs });
    if (!again.ok) return `re-encoded ${m.type} no longer decodes: ${again.error.reason}`;
  } catch (error) {
    return `re-encoding threw: ${error instanceof Error ? error.stack : error}`;
  }
  return undefined;
}
