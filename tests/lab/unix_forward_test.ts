import { assertEquals, assertThrows } from "../assert.ts";
import { forwardTcpToUnix, parseHostPort } from "./unix_forward.ts";
import { unixEcho } from "./_testing.ts";

Deno.test("parseHostPort() reads IPv4, names and bracketed IPv6", () => {
  assertEquals(parseHostPort("198.51.100.2:6443"), { hostname: "198.51.100.2", port: 6443 });
  assertEquals(parseHostPort("[2001:db8:100::2]:443"), { hostname: "2001:db8:100::2", port: 443 });
  assertEquals(parseHostPort("localhost:0"), { hostname: "localhost", port: 0 });
  assertThrows(() => parseHostPort("198.51.100.2"), RangeError, "198.51.100.2");
  assertThrows(() => parseHostPort("2001:db8::1:80"), RangeError);
  assertThrows(() => parseHostPort("host:70000"), RangeError);
});

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

Deno.test("forwardTcpToUnix() pipes bytes both ways and passes the half-close on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mlt-forward-" });
  const echo = unixEcho(`${dir}/echo.sock`);
  const errors: string[] = [];
  const forwarder = forwardTcpToUnix({
    listen: "127.0.0.1:0",
    unixPath: `${dir}/echo.sock`,
    onError: (m) => errors.push(m),
  });
  try {
    const payload = crypto.getRandomValues(new Uint8Array(65536)).map((b, i) => b ^ i);
    const big = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += payload.length) big.set(payload.subarray(0, big.length - i), i);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: forwarder.addr.port });
    const reading = readAll(conn);
    for (let i = 0; i < big.length; i += 100_000) await conn.write(big.subarray(i, i + 100_000));
    await conn.closeWrite();
    const echoed = await reading;
    conn.close();
    assertEquals(echoed.length, big.length);
    assertEquals(echoed, big);
    assertEquals(errors, []);
  } finally {
    await forwarder.close();
    await echo.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("forwardTcpToUnix() closes the TCP connection when the Unix socket is missing", async () => {
  const errors: string[] = [];
  const forwarder = forwardTcpToUnix({
    listen: "127.0.0.1:0",
    unixPath: "/nonexistent/api.sock",
    onError: (m) => errors.push(m),
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: forwarder.addr.port });
    assertEquals((await readAll(conn)).length, 0);
    conn.close();
    assertEquals(errors.length, 1);
    assertEquals(errors[0]!.includes("/nonexistent/api.sock"), true);
  } finally {
    await forwarder.close();
  }
});
