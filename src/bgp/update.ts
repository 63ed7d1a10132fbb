/** UPDATE messages (RFC 4271 §4.3) and End-of-RIB markers (RFC 4724 §2). */
import type { IpCidr } from "../ip/mod.ts";
import { ByteWriter, viewOf } from "./_bytes.ts";
import { Afi, ErrorCode, SAFI_UNICAST, UpdateSubcode } from "./constants.ts";
import { type Decoded, fail, ok } from "./errors.ts";
import {
  type AttributeCodecOptions,
  type AttributeProblem,
  type PathAttributes,
  readAttributes,
  writeAttributes,
} from "./attributes.ts";
import type { AfiSafi } from "./open.ts";
import { readPrefixes, writePrefix } from "./prefix.ts";

/** An UPDATE message. IPv6 (and any MP) routes travel in `attributes.mpReach` / `attributes.mpUnreach`. */
export interface UpdateMessage {
  /** Discriminator. */
  readonly type: "update";
  /** IPv4 prefixes withdrawn in the UPDATE's own field. */
  readonly withdrawn: readonly IpCidr[];
  /** Path attributes. */
  readonly attributes: PathAttributes;
  /** IPv4 prefixes announced in the UPDATE's own field. */
  readonly nlri: readonly IpCidr[];
  /** Malformed attributes the session survives (RFC 7606); empty on a clean UPDATE. */
  readonly problems?: readonly AttributeProblem[];
  /** RFC 7606: the UPDATE's announcements must be handled as withdrawals. */
  readonly treatAsWithdraw?: boolean;
}

function updateError<T>(subcode: number, reason: string): Decoded<T> {
  return fail(ErrorCode.UPDATE_MESSAGE, subcode, reason);
}

/**
 * Decodes an UPDATE body (after the header). Field lengths that overrun the message answer Malformed Attribute
 * List (RFC 4271 §6.3); unparsable NLRI or withdrawn routes answer Invalid Network Field (RFC 7606 §5.3: session
 * reset); malformed attributes follow RFC 7606 and usually leave the session up with `treatAsWithdraw` set.
 */
export function decodeUpdateBody(body: Uint8Array, options: AttributeCodecOptions = {}): Decoded<UpdateMessage> {
  if (body.length < 4) {
    return updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `UPDATE body of ${body.length} octets`);
  }
  const v = viewOf(body);
  const withdrawnLength = v.getUint16(0);
  if (2 + withdrawnLength + 2 > body.length) {
    return updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `withdrawn routes length ${withdrawnLength} overruns the ${body.length}-octet UPDATE body`,
    );
  }
  const attributesLength = v.getUint16(2 + withdrawnLength);
  const attributesStart = 4 + withdrawnLength;
  if (attributesStart + attributesLength > body.length) {
    return updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `withdrawn length ${withdrawnLength} plus attributes length ${attributesLength} overrun the ${body.length}-octet UPDATE body`,
    );
  }
  const withdrawn = readPrefixes(body.subarray(2, 2 + withdrawnLength), 4);
  if (typeof withdrawn === "string") {
    return updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `withdrawn routes: ${withdrawn}`);
  }
  const nlri = readPrefixes(body.subarray(attributesStart + attributesLength), 4);
  if (typeof nlri === "string") return updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${nlri}`);
  const result = readAttributes(
    body.subarray(attributesStart, attributesStart + attributesLength),
    nlri.length > 0,
    options,
  );
  if ("code" in result) return { ok: false, error: result };
  const message: UpdateMessage = {
    type: "update",
    withdrawn,
    attributes: result.attributes,
    nlri,
    problems: result.problems,
    treatAsWithdraw: result.problems.some((p) => p.action === "treat-as-withdraw"),
  };
  return ok(message);
}

/** Encodes an UPDATE body (after the header). */
export function encodeUpdateBody(update: Omit<UpdateMessage, "type">, options: AttributeCodecOptions = {}): Uint8Array {
  const w = new ByteWriter(128);
  w.u16(0);
  for (const p of update.withdrawn) writePrefix(w, p);
  w.patchU16(0, w.length - 2);
  const attributesAt = w.length;
  w.u16(0);
  writeAttributes(w, update.attributes, options);
  w.patchU16(attributesAt, w.length - attributesAt - 2);
  for (const p of update.nlri) writePrefix(w, p);
  return w.finish();
}

/**
 * The family an UPDATE marks as End-of-RIB, or undefined when it is an ordinary UPDATE. RFC 4724 §2: for IPv4
 * unicast an UPDATE with nothing in it; for other families an UPDATE holding only an empty MP_UNREACH_NLRI.
 */
export function endOfRibFamily(update: UpdateMessage): AfiSafi | undefined {
  if (update.withdrawn.length > 0 || update.nlri.length > 0) return undefined;
  const a = update.attributes;
  const keys = Object.keys(a).filter((k) => a[k as keyof typeof a] !== undefined);
  if (keys.length === 0) return { afi: Afi.IPV4, safi: SAFI_UNICAST };
  if (keys.length === 1 && a.mpUnreach && a.mpUnreach.withdrawn.length === 0) {
    return { afi: a.mpUnreach.afi, safi: a.mpUnreach.safi };
  }
  return undefined;
}

/** The End-of-RIB UPDATE for a family (RFC 4724 §2). */
export function endOfRib(family: AfiSafi): UpdateMessage {
  if (family.afi === Afi.IPV4 && family.safi === SAFI_UNICAST) {
    return { type: "update", withdrawn: [], attributes: {}, nlri: [] };
  }
  return {
    type: "update",
    withdrawn: [],
    attributes: { mpUnreach: { afi: family.afi, safi: family.safi, withdrawn: [] } },
    nlri: [],
  };
}
