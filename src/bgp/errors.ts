/** Typed decode results: a value, or the RFC 4271 §6 NOTIFICATION the receiver must send. */
import { CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, OpenSubcode, UpdateSubcode } from "./constants.ts";

/** An error that ends a session: the NOTIFICATION code, subcode and data to send, and a one-line reason for logs. */
export interface BgpError {
  /** NOTIFICATION error code (RFC 4271 §4.5). */
  readonly code: number;
  /** NOTIFICATION error subcode. */
  readonly subcode: number;
  /** NOTIFICATION data field, as the RFC asks for this error. */
  readonly data: Uint8Array;
  /** What was wrong, with the offending value. */
  readonly reason: string;
}

/** The outcome of decoding: `ok` with the value, or the error to answer with. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: BgpError };

const EMPTY = new Uint8Array(0);

/** Builds a {@link BgpError}. */
export function bgpError(code: number, subcode: number, reason: string, data: Uint8Array = EMPTY): BgpError {
  return { code, subcode, data, reason };
}

/** Wraps a value as a successful {@link Decoded}. */
export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

/** Wraps an error as a failed {@link Decoded}. */
export function fail<T>(code: number, subcode: number, reason: string, data: Uint8Array = EMPTY): Decoded<T> {
  return { ok: false, error: bgpError(code, subcode, reason, data) };
}

const CODE_NAMES: Record<number, string> = {
  [ErrorCode.MESSAGE_HEADER]: "Message Header Error",
  [ErrorCode.OPEN_MESSAGE]: "OPEN Message Error",
  [ErrorCode.UPDATE_MESSAGE]: "UPDATE Message Error",
  [ErrorCode.HOLD_TIMER_EXPIRED]: "Hold Timer Expired",
  [ErrorCode.FSM]: "Finite State Machine Error",
  [ErrorCode.CEASE]: "Cease",
  [ErrorCode.ROUTE_REFRESH]: "ROUTE-REFRESH Message Error",
};

function invert(table: Record<string, number>): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [name, value] of Object.entries(table)) out[value] = name.toLowerCase().replaceAll("_", " ");
  return out;
}

const SUBCODE_NAMES: Record<number, Record<number, string>> = {
  [ErrorCode.MESSAGE_HEADER]: invert(HeaderSubcode),
  [ErrorCode.OPEN_MESSAGE]: invert(OpenSubcode),
  [ErrorCode.UPDATE_MESSAGE]: invert(UpdateSubcode),
  [ErrorCode.FSM]: invert(FsmSubcode),
  [ErrorCode.CEASE]: invert(CeaseSubcode),
};

/** Names a NOTIFICATION code and subcode for logs, as in `"Cease / administrative shutdown (6/2)"`. */
export function describeNotification(code: number, subcode: number): string {
  const name = CODE_NAMES[code] ?? "Unknown error";
  const sub = SUBCODE_NAMES[code]?.[subcode];
  return `${name}${sub ? ` / ${sub}` : ""} (${code}/${subcode})`;
}
