// deno-lint-ignore-file no-console
import { assert, assertEquals, assertRejects, waitFor } from "../../tests/assert.ts";
import { libc } from "../net/libc.ts";
import { ffiSkipReason } from "../net/testing.ts";
import { type AcceptDecision, type BgpConnection, dialTcp, TcpListener } from "./socket.ts";

const skip = ffiSkipReason();
if (skip === undefined) libc(); // opened before any test, so the sanitizer does not count it
if (skip) console.error(`socket_test: skipping real-socket tests: ${skip}`);

function collect(conn: BgpConnection) {
  const got: number[] = [];
  let closedReason: string | undefined;
  conn.start({ data: (c) => got.push(...c), closed: (r) => (closedReason = r) });
  return { got, closed: () => closedReason };
}

/** A listener on 127.0.0.1 that accepts 127.0.0.1 only, with `decision`, into `accepted`. */
function loopbackListener(accepted: BgpConnection[], decision: AcceptDecision): TcpListener {
  return TcpListener.open({
    address: "127.0.0.1",
    port: 0,
    screen: (remote) => (remote === "127.0.0.1" ? decision : undefined),
    onConnection: (c) => accepted.push(c),
  });
}

Deno.test({
  name: "dialTcp() and TcpListener exchange bytes on loopback with TTL, source address and MD5 keys",
  ignore: skip !== undefined,
  fn: async () => {
    const accepted: BgpConnection[] = [];
    const listener = loopbackListener(accepted, { ttl: 1 });
    try {
      const port = listener.port;
      const client = await dialTcp({ address: "127.0.0.1", port, sourceAddress: "127.0.0.1", ttl: 1, minTtl: 1 });
      const c = collect(client);
      await waitFor("the listener to accept", () => accepted.length === 1);
      const server = accepted[0]!;
      const s = collect(server);
      assertEquals(server.remotePort, client.localPort);
      client.write(new Uint8Array([1, 2, 3]));
      server.write(new Uint8Array([4, 5]));
      await waitFor("bytes both ways", () => s.got.length === 3 && c.got.length === 2);
      client.close();
      await client.closed;
      await waitFor("the server to see the close", () => s.closed() !== undefined);
      await server.closed;

      // With a key for 127.0.0.1 on the listener, only a client with the same password gets through.
      listener.setPassword("127.0.0.1", "right horse");
      const signed = await dialTcp({ address: "127.0.0.1", port, password: "right horse" });
      await waitFor("the signed connection", () => accepted.length === 2);
      signed.close();
      accepted[1]!.start({ data: () => {}, closed: () => {} });
      accepted[1]!.close();
      await Promise.all([signed.closed, accepted[1]!.closed]);
      await assertRejects(
        () => dialTcp({ address: "127.0.0.1", port, password: "wrong", timeoutMs: 600 }),
        Error,
        "timed out",
      );
      await assertRejects(() => dialTcp({ address: "127.0.0.1", port, timeoutMs: 600 }), Error, "timed out");
      assertEquals(accepted.length, 2);
    } finally {
      await listener.close();
    }
  },
});

Deno.test({
  name: "dialTcp() reports a refused connection",
  ignore: skip !== undefined,
  fn: async () => {
    const l = TcpListener.open({ address: "127.0.0.1", port: 0, screen: () => undefined, onConnection: () => {} });
    const port = l.port;
    await l.close();
    const e = await assertRejects(() => dialTcp({ address: "127.0.0.1", port }));
    assert(/refused/i.test(e.message), e.message);
  },
});

Deno.test({
  name: "dialTcp() to an IPv4-mapped IPv6 address reports both ends as IPv4",
  ignore: skip !== undefined,
  fn: async () => {
    const accepted: BgpConnection[] = [];
    const listener = loopbackListener(accepted, {});
    try {
      let client: BgpConnection;
      try {
        client = await dialTcp({ address: "::ffff:127.0.0.1", port: listener.port });
      } catch (error) {
        console.error(`socket_test: no IPv4-mapped IPv6 here (${(error as Error).message})`);
        return;
      }
      assertEquals([client.localAddress, client.remoteAddress, client.remotePort], [
        "127.0.0.1",
        "127.0.0.1",
        listener.port,
      ]);
      await waitFor("the listener to accept", () => accepted.length === 1);
      assertEquals(accepted[0]!.remoteAddress, "127.0.0.1");
      client.close();
      accepted[0]!.start({ data: () => {}, closed: () => {} });
      accepted[0]!.close();
      await Promise.all([client.closed, accepted[0]!.closed]);
    } finally {
      await listener.close();
      await listener.close(); // idempotent
    }
  },
});
