import { assertEquals } from "../../tests/assert.ts";
import { encodeResponse, type HeadLimits, parseRequestHead } from "./_http.ts";

const limits: HeadLimits = { maxHeadBytes: 256, maxTargetBytes: 64, maxHeaders: 4 };
const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("parseRequestHead() reads the method and the path without its query", () => {
  const r = parseRequestHead(bytes("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"), limits);
  assertEquals(r, { kind: "request", head: { method: "GET", path: "/metrics", version: "HTTP/1.1" } });
});

Deno.test("parseRequestHead() accepts bare LF line ends (RFC 9112 §2.2)", () => {
  const r = parseRequestHead(bytes("HEAD /healthz HTTP/1.0\n\n"), limits);
  assertEquals(r, { kind: "request", head: { method: "HEAD", path: "/healthz", version: "HTTP/1.0" } });
});

Deno.test("parseRequestHead() waits for more bytes until the head is complete", () => {
  assertEquals(parseRequestHead(bytes("GET /metr"), limits), { kind: "incomplete" });
  assertEquals(parseRequestHead(bytes("GET /metrics HTTP/1.1\r\nHost: a\r\n"), limits), { kind: "incomplete" });
});

Deno.test("parseRequestHead() answers hostile heads with the status to send", async (t) => {
  const cases: [string, string, number][] = [
    ["request line with two parts", "GET /metrics\r\n\r\n", 400],
    ["target not a path", "GET http://x/metrics HTTP/1.1\r\n\r\n", 400],
    ["target with spaces", "GET /a b HTTP/1.1\r\n\r\n", 400],
    ["bad method", "G(T / HTTP/1.1\r\n\r\n", 400],
    ["non-ASCII", "GET /\u00e9 HTTP/1.1\r\n\r\n", 400],
    ["NUL byte", "GET /\u0000 HTTP/1.1\r\n\r\n", 400],
    ["HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400],
    ["HTTP/2.0 origin-form", "GET / HTTP/2.0\r\n\r\n", 505],
    ["garbage version", "GET / HTTX/1.1\r\n\r\n", 400],
    ["header without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400],
    ["header folding", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400],
    ["too many headers", "GET / HTTP/1.1\r\n" + "A: b\r\n".repeat(5) + "\r\n", 431],
    ["long target", `GET /${"a".repeat(64)} HTTP/1.1\r\n\r\n`, 414],
    ["long target still arriving", `GET /${"a".repeat(100)}`, 414],
    ["head too large", "GET / HTTP/1.1\r\n" + "X: " + "y".repeat(300), 431],
    ["complete head too large", "GET / HTTP/1.1\r\nX: " + "y".repeat(300) + "\r\n\r\n", 431],
  ];
  for (const [name, head, status] of cases) {
    await t.step(name, () => {
      const r = parseRequestHead(bytes(head), limits);
      assertEquals(r.kind === "error" ? r.status : r.kind, status);
    });
  }
});

Deno.test("encodeResponse() writes Content-Length and closes; HEAD omits the body", () => {
  const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  const parts = { status: 200, contentType: "text/plain", body: bytes("ok\n"), headers: { "Retry-After": "1" } };
  const full = new TextDecoder().decode(encodeResponse(parts, date));
  assertEquals(
    full,
    "HTTP/1.1 200 OK\r\nDate: Fri, 02 Jan 2026 03:04:05 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n" +
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nRetry-After: 1\r\n\r\nok\n",
  );
  const head = new TextDecoder().decode(encodeResponse({ ...parts, headOnly: true }, date));
  assertEquals(head, full.slice(0, -3));
});
