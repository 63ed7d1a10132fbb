// deno-lint-ignore-file no-console
/** Real sockets on loopback: a peer floods us with UPDATEs and our KEEPALIVEs must keep flowing on time. */
import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import { silentLogger } from "../log/mod.ts";
import { libc } from "../net/libc.ts";
import { ffiSkipReason } from "../net/testing.ts";
import { encodeMessage, frameMessage, KEEPALIVE_BYTES, MessageFramer } from "./message.ts";
import { type BgpConnection, TcpListener } from "./socket.ts";
import { createSpeaker } from "./speaker.ts";

const skip = ffiSkipReason();
if (skip === undefined) libc();
else console.error(`flood_test: skipped: ${skip}`);

Deno.test({
  name: "keepalives keep flowing every second while a peer floods 100,000 UPDATEs at us",
  ignore: skip !== undefined,
  fn: async () => {
    const keepalivesAt: number[] = [];
    let peerConn: BgpConnection | undefined;
    let flooding = true;
    let sentUpdates = 0;
    const attrs = [0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf5, 0x40, 3, 4, 127, 0, 0, 1];
    // One /32 per UPDATE, the worst case for per-message work.
    const update = (i: number) =>
      frameMessage(
        2,
        new Uint8Array([0, 0, 0, attrs.length, ...attrs, 32, 10, (i >> 16) & 255, (i >> 8) & 255, i & 255]),
      );
    let floodDone: Promise<void> = Promise.resolve();
    const listener = TcpListener.open({
      address: "127.0.0.1",
      port: 0,
      screen: () => ({}),
      onConnection: (conn) => {
        peerConn = conn;
        const framer = new MessageFramer();
        let established = false;
        conn.start({
          data: (chunk) => {
            framer.push(chunk);
            for (let f = framer.next(); f instanceof Uint8Array; f = framer.next()) {
              if (f[18] === 1) {
                conn.write(encodeMessage({
                  type: "open",
                  version: 4,
                  myAs: 64501,
                  holdTime: 3,
                  bgpId: 0x7f000002,
                  capabilities: { fourOctetAs: 64501 },
                }));
                conn.write(KEEPALIVE_BYTES);
              } else if (f[18] === 4) {
                keepalivesAt.push(Date.now());
                if (!established) {
                  established = true;
                  floodDone = (async () => {
                    while (flooding && sentUpdates < 100_000) {
                      const batch: Uint8Array[] = [];
                      for (let k = 0; k < 500; k++) batch.push(update(sentUpdates++));
                      const joined = new Uint8Array(batch.reduce((n, b) => n + b.length, 0));
                      let at = 0;
                      for (const b of batch) {
                        joined.set(b, at);
                        at += b.length;
                      }
                      conn.write(joined);
                      await new Promise((r) => setTimeout(r, 20));
                    }
                  })();
                }
              }
            }
          },
          closed: () => {},
        });
      },
    });
    const speaker = createSpeaker({ asn: 64500, routerId: "127.0.0.1", logger: silentLogger });
    try {
      speaker.addPeer({ name: "flooder", address: "127.0.0.1", port: listener.port, asn: 64501, holdTime: 3, ttl: 64 });
      await waitFor("the session", () => speaker.peers()[0]?.state === "established");
      const start = Date.now();
      await waitFor("4 seconds of flooding", () => Date.now() - start > 4000 || sentUpdates >= 100_000, {
        timeoutMs: 20_000,
      });
      flooding = false;
      await floodDone;
      await waitFor("every UPDATE to be counted", () => speaker.peers()[0]!.stats.prefixesReceived === sentUpdates, {
        timeoutMs: 20_000,
      });
      const during = keepalivesAt.filter((t) => t >= start);
      const gaps = during.slice(1).map((t, i) => t - during[i]!);
      console.log(`flood: ${sentUpdates} UPDATEs; keepalive gaps ${gaps.join(", ")} ms`);
      assert(during.length >= 3, `only ${during.length} keepalives during the flood`);
      assert(gaps.every((g) => g < 2000), `keepalive gaps ${gaps}`);
      assertEquals(speaker.peers()[0]?.state, "established");
    } finally {
      await speaker.shutdown();
      peerConn?.close();
      await peerConn?.closed;
      await listener.close();
    }
  },
});
