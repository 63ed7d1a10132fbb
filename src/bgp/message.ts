/**
 * BGP messages on the wire: the 19-octet header (RFC 4271 §4.1), a stream framer, and encode/decode for all five
 * message types. Decoding never throws: it returns the NOTIFICATION RFC 4271 §6 prescribes.
 */
import { ByteWriter, u16Bytes, viewOf } from "./_bytes.ts";
import type { AttributeCodecOptions } from "./attributes.ts";
import {
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  MARKER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
} from "./constants.ts";
import { type BgpError, type Decoded, fail, ok } from "./errors.ts";
import { decodeOpenBody, encodeOpenBody, type OpenMessage } from "./open.ts";
import { decodeUpdateBody, encodeUpdateBody, type UpdateMessage } from "./update.ts";

/** A NOTIFICATION message (RFC 4271 §4.5). */
export interface NotificationMessage {
  /** Discriminator. */
  readonly type: "notification";
  /** Error code. */
  readonly code: number;
  /** Error subcode. */
  readonly subcode: number;
  /** Data, whose meaning depends on the code. */
  readonly data: Uint8Array;
}

/** A KEEPALIVE message (RFC 4271 §4.4). */
export interface KeepaliveMessage {
  /** Discriminator. */
  readonly type: "keepalive";
}

/** A ROUTE-REFRESH message (RFC 2918 §3; RFC 7313 names the reserved octet "message subtype"). */
export interface RouteRefreshMessage {
  /** Discriminator. */
  readonly type: "route-refresh";
  /** Address family. */
  readonly afi: number;
  /** Subsequent address family. */
  readonly safi: number;
  /** 0 for a plain request (RFC 7313 defines 1 and 2 for enhanced route refresh). */
  readonly subtype: number;
}

/** Any BGP message. */
export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** Options for encoding and decoding that depend on what the session negotiated. */
export type MessageCodecOptions = AttributeCodecOptions;

// RFC 4271 §6.1 (and RFC 2918 §3 for ROUTE-REFRESH): the smallest length each message type can have.
const MIN_LENGTH: Record<number, number> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

const TYPE_CODES: Record<BgpMessage["type"], number> = {
  open: MessageType.OPEN,
  update: MessageType.UPDATE,
  notification: MessageType.NOTIFICATION,
  keepalive: MessageType.KEEPALIVE,
  "route-refresh": MessageType.ROUTE_REFRESH,
};

/** A message header that passed the §6.1 checks. */
export interface MessageHeader {
  /** Total message length, header included. */
  readonly length: number;
  /** Message type code. */
  readonly type: number;
}

/**
 * Checks the first 19 octets of a message (RFC 4271 §6.1): the all-ones marker, a length of 19-4096 that fits the
 * type, and a known type. Needs at least {@link HEADER_LENGTH} octets.
 */
export function checkHeader(bytes: Uint8Array): Decoded<MessageHeader> {
  if (bytes.length < HEADER_LENGTH) {
    return fail(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `message of ${bytes.length} octets is shorter than a header`,
    );
  }
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (bytes[i] !== 0xff) {
      return fail(ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, `marker octet ${i} is not 0xff`);
    }
  }
  const length = viewOf(bytes).getUint16(MARKER_LENGTH);
  const type = bytes[MARKER_LENGTH + 2]!;
  const lengthData = bytes.slice(MARKER_LENGTH, MARKER_LENGTH + 2);
  if (length < HEADER_LENGTH || length > MAX_MESSAGE_LENGTH) {
    return fail(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `message length ${length} is outside 19-4096`,
      lengthData,
    );
  }
  const min = MIN_LENGTH[type];
  if (min === undefined) {
    return fail(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_TYPE,
      `message type ${type} is unknown`,
      new Uint8Array([type]),
    );
  }
  const exact = type === MessageType.KEEPALIVE;
  if (length < min || (exact && length !== min)) {
    return fail(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `message type ${type} cannot be ${length} octets long`,
      lengthData,
    );
  }
  return ok({ length, type });
}

/** Decodes one complete message (header included; `bytes.length` must equal the header's length). */
export function decodeMessage(bytes: Uint8Array, options: MessageCodecOptions = {}): Decoded<BgpMessage> {
  const header = checkHeader(bytes);
  if (!header.ok) return header;
  if (header.value.length !== bytes.length) {
    return fail(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `header says ${header.value.length} octets but the message has ${bytes.length}`,
      u16Bytes(header.value.length),
    );
  }
  const body = bytes.subarray(HEADER_LENGTH);
  switch (header.value.type) {
    case MessageType.OPEN:
      return decodeOpenBody(body);
    case MessageType.UPDATE:
      return decodeUpdateBody(body, options);
    case MessageType.NOTIFICATION:
      return ok({ type: "notification", code: body[0]!, subcode: body[1]!, data: body.slice(2) });
    case MessageType.KEEPALIVE:
      return ok({ type: "keepalive" });
    default: {
      if (body.length !== 4) {
        // RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, with the whole message as data.
        return fail(ErrorCode.ROUTE_REFRESH, 1, `ROUTE-REFRESH of ${bytes.length} octets`, bytes.slice());
      }
      const v = viewOf(body);
      return ok({ type: "route-refresh", afi: v.getUint16(0), safi: body[3]!, subtype: body[2]! });
    }
  }
}

function bodyOf(message: BgpMessage, options: MessageCodecOptions): Uint8Array {
  switch (message.type) {
    case "open":
      return encodeOpenBody(message);
    case "update":
      return encodeUpdateBody(message, options);
    case "notification": {
      const b = new Uint8Array(2 + message.data.length);
      b[0] = message.code;
      b[1] = message.subcode;
      b.set(message.data, 2);
      return b;
    }
    case "keepalive":
      return new Uint8Array(0);
    case "route-refresh":
      return new ByteWriter(4).u16(message.afi).u8(message.subtype).u8(message.safi).finish();
  }
}

/** Wraps a message body in the 19-octet header. */
export function frameMessage(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + body.length);
  out.fill(0xff, 0, MARKER_LENGTH);
  viewOf(out).setUint16(MARKER_LENGTH, out.length);
  out[MARKER_LENGTH + 2] = type;
  out.set(body, HEADER_LENGTH);
  return out;
}

/**
 * Encodes a message with its header. The caller keeps UPDATEs within 4096 octets (the speaker packs them so);
 * a larger one is returned as is and a peer would reject it.
 */
export function encodeMessage(message: BgpMessage, options: MessageCodecOptions = {}): Uint8Array {
  return frameMessage(TYPE_CODES[message.type], bodyOf(message, options));
}

/** The shared KEEPALIVE, which never changes. */
export const KEEPALIVE_BYTES: Uint8Array = encodeMessage({ type: "keepalive" });

/**
 * Cuts a TCP byte stream into messages. Push what the socket delivers, then take frames until `next()` returns
 * undefined. A bad header is reported as soon as its 19 octets arrive, before waiting for a body that may never come.
 */
export class MessageFramer {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #failed: BgpError | undefined;

  /** Appends bytes from the stream. */
  push(chunk: Uint8Array): void {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
  }

  /** Octets waiting to be framed. */
  get buffered(): number {
    return this.#buffered;
  }

  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.#chunks) {
      const take = Math.min(c.length, n - at);
      out.set(c.subarray(0, take), at);
      at += take;
      if (at === n) break;
    }
    return out;
  }

  #take(n: number): Uint8Array {
    const out = this.#peek(n);
    let left = n;
    while (left > 0) {
      const first = this.#chunks[0]!;
      if (first.length <= left) {
        this.#chunks.shift();
        left -= first.length;
      } else {
        this.#chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= n;
    // A message that sat inside one chunk is a view; copy it so the chunk's memory is not held by the message.
    return out.byteLength === n && out.buffer.byteLength !== n ? out.slice() : out;
  }

  /** The next complete message's bytes, a header error (after which the stream is unusable), or undefined. */
  next(): Uint8Array | BgpError | undefined {
    if (this.#failed) return this.#failed;
    if (this.#buffered < HEADER_LENGTH) return undefined;
    const header = checkHeader(this.#peek(HEADER_LENGTH));
    if (!header.ok) {
      this.#failed = header.error;
      return header.error;
    }
    if (this.#buffered < header.value.length) return undefined;
    return this.#take(header.value.length);
  }
}

/** Builds the Cease NOTIFICATION data carrying a shutdown communication (RFC 9003: length octet + UTF-8, ≤ 255). */
export function shutdownCommunication(text: string): Uint8Array {
  let bytes = new TextEncoder().encode(text);
  if (bytes.length > 255) bytes = bytes.subarray(0, 255);
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

/** The NOTIFICATION that answers a decode error. */
export function notificationFor(error: BgpError): NotificationMessage {
  return { type: "notification", code: error.code, subcode: error.subcode, data: error.data };
}
