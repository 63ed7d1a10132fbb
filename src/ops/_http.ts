/**
 * The little HTTP/1.x the ops endpoint needs: parse a request head (never a body) and build a response, as pure
 * functions over bytes. Hostile input gives a typed error with the status to answer, never an exception.
 * @module
 */

/** Size limits for a request head. */
export interface HeadLimits {
  /** Most bytes of request line plus headers. */
  maxHeadBytes: number;
  /** Most bytes of the request target (path and query). */
  maxTargetBytes: number;
  /** Most header lines. */
  maxHeaders: number;
}

/** A parsed request head. */
export interface RequestHead {
  /** Method token, e.g. "GET". */
  method: string;
  /** Path without the query string. */
  path: string;
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: string;
}

/** What {@link parseRequestHead} found in the bytes read so far. */
export type HeadResult =
  | { kind: "incomplete" }
  | { kind: "request"; head: RequestHead }
  | { kind: "error"; status: 400 | 414 | 431 | 505; reason: string };

// RFC 9110 §5.6.2: a method is a token of tchars; none of ours is longer than 7, allow some slack.
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/;
// RFC 9112 §3.2: origin-form, printable ASCII only.
const TARGET = /^\/[\x21-\x7e]*$/;

function indexOfHeadEnd(bytes: Uint8Array): number {
  // RFC 9112 §2.2 lets a server accept a bare LF as a line end; accept both "\r\n\r\n" and "\n\n".
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i + 1] === 0x0a) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

function decodeAscii(bytes: Uint8Array): string | undefined {
  let text = "";
  for (const b of bytes) {
    if (b > 0x7e || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return undefined;
    text += String.fromCharCode(b);
  }
  return text;
}

/**
 * Parses the request head at the start of `bytes`: the request line and header lines up to the empty line. Returns
 * "incomplete" while more bytes could still make a valid head within the limits.
 */
export function parseRequestHead(bytes: Uint8Array, limits: HeadLimits): HeadResult {
  const end = indexOfHeadEnd(bytes);
  if (end < 0) {
    const lineEnd = bytes.indexOf(0x0a);
    // A request line longer than method + target + version can be refused before the head is complete.
    if (lineEnd < 0 && bytes.length > limits.maxTargetBytes + 32) {
      return { kind: "error", status: 414, reason: "request target too long" };
    }
    if (bytes.length >= limits.maxHeadBytes) return { kind: "error", status: 431, reason: "request head too large" };
    return { kind: "incomplete" };
  }
  if (end > limits.maxHeadBytes) return { kind: "error", status: 431, reason: "request head too large" };
  const text = decodeAscii(bytes.subarray(0, end));
  if (text === undefined) return { kind: "error", status: 400, reason: "request head is not ASCII" };
  const lines = text.split("\n").map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
  // Drop the empty line(s) that end the head.
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3) return { kind: "error", status: 400, reason: "malformed request line" };
  const [method = "", target = "", version = ""] = parts;
  if (!METHOD.test(method)) return { kind: "error", status: 400, reason: "malformed method" };
  if (target.length > limits.maxTargetBytes) return { kind: "error", status: 414, reason: "request target too long" };
  if (!TARGET.test(target)) return { kind: "error", status: 400, reason: "request target is not a path" };
  if (!/^HTTP\/\d\.\d$/.test(version)) return { kind: "error", status: 400, reason: "malformed HTTP version" };
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return { kind: "error", status: 505, reason: "HTTP version not supported" };
  }
  if (lines.length > limits.maxHeaders) return { kind: "error", status: 431, reason: "too many header fields" };
  for (const line of lines) {
    // RFC 9112 §5.2: obsolete line folding must be rejected (or replaced); a header needs a name and a colon.
    if (line.startsWith(" ") || line.startsWith("\t")) {
      return { kind: "error", status: 400, reason: "obsolete header line folding" };
    }
    const colon = line.indexOf(":");
    if (colon <= 0 || !METHOD.test(line.slice(0, colon))) {
      return { kind: "error", status: 400, reason: "malformed header field" };
    }
  }
  const query = target.indexOf("?");
  return { kind: "request", head: { method, path: query < 0 ? target : target.slice(0, query), version } };
}

/** Reason phrases for the statuses the endpoint answers with. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** A response to write: status, extra headers and body. */
export interface ResponseParts {
  /** Status code. */
  status: number;
  /** Content-Type of the body. */
  contentType: string;
  /** Body bytes; sent as Content-Length even when omitted for HEAD. */
  body: Uint8Array;
  /** Extra headers, e.g. Allow or Retry-After. */
  headers?: Readonly<Record<string, string>>;
  /** True for HEAD: headers only. */
  headOnly?: boolean;
}

const encoder = new TextEncoder();

/** Serializes a response; every response closes the connection (one request per connection keeps limits simple). */
export function encodeResponse(parts: ResponseParts, date: Date): Uint8Array {
  const lines = [
    `HTTP/1.1 ${parts.status} ${STATUS_TEXT[parts.status] ?? "Unknown"}`,
    `Date: ${date.toUTCString()}`,
    `Content-Type: ${parts.contentType}`,
    `Content-Length: ${parts.body.length}`,
    "Cache-Control: no-store",
    "X-Content-Type-Options: nosniff",
    "Connection: close",
    ...Object.entries(parts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  if (parts.headOnly || parts.body.length === 0) return head;
  const out = new Uint8Array(head.length + parts.body.length);
  out.set(head, 0);
  out.set(parts.body, head.length);
  return out;
}
