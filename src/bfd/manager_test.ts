// deno-lint-ignore-file no-console
import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import { inNetns, ManualClock, settle } from "../net/testing.ts";
import { createLab, labSkipReason } from "../../tests/lab/mod.ts";
import { libc, UdpSocket } from "../net/mod.ts";
import { type BfdChange, BfdManager } from "./manager.ts";
import { BfdState, encodeBfdPacket } from "./packet.ts";
import type { BfdSocket, BfdSocketOptions } from "./socket.ts";

/** Two managers joined by an in-memory "link" that a test can cut. */
function linked(clock: ManualClock) {
  let cut = false;
  const inbox = new Map<string, (from: string, bytes: Uint8Array) => void>();
  const socketFor = (self: string) => (o: BfdSocketOptions): BfdSocket => {
    inbox.set(self, o.onPacket);
    return {
      send: (peer, bytes) => {
        if (cut) return;
        const deliver = inbox.get(peer);
        const copy = bytes.slice();
        queueMicrotask(() => deliver?.(self, copy));
      },
      close: () => Promise.resolve(),
    };
  };
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const a = new BfdManager({ clock, openSocket: socketFor("192.0.2.1"), random });
  const b = new BfdManager({ clock, openSocket: socketFor("192.0.2.2"), random });
  return { a, b, cut: (v: boolean) => (cut = v) };
}

Deno.test("BfdManager sessions come Up, detect a cut link within the detection time, and recover", async () => {
  const clock = new ManualClock();
  const { a, b, cut } = linked(clock);
  const changes: BfdChange[] = [];
  a.add("192.0.2.2", { receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3 }, (c) => changes.push(c));
  b.add("192.0.2.1", { passiveMode: true }, () => {});
  for (let i = 0; i < 30 && a.state("192.0.2.2") !== "Up"; i++) await clock.advance(100);
  assertEquals([a.state("192.0.2.2"), b.state("192.0.2.1")], ["Up", "Up"]);
  await clock.advance(2000);
  assertEquals(a.state("192.0.2.2"), "Up", "periodic packets keep it Up");
  cut(true);
  const cutAt = clock.now();
  while (a.state("192.0.2.2") === "Up") await clock.advance(10);
  const took = clock.now() - cutAt;
  assert(took <= 900 && took >= 600, `detected after ${took} ms`);
  const down = changes.at(-1)!;
  assertEquals([down.previous, down.state, down.diag, down.peer], ["Up", "Down", 1, "192.0.2.2"]);
  cut(false);
  for (let i = 0; i < 50 && a.state("192.0.2.2") !== "Up"; i++) await clock.advance(100);
  assertEquals(a.state("192.0.2.2"), "Up");
  // Removing a session tells the peer with AdminDown.
  a.remove("192.0.2.2");
  await settle();
  assertEquals(b.state("192.0.2.1"), "Down");
  await a.close();
  await b.close();
});

const skip = labSkipReason();
if (skip === undefined) libc();
else console.error(`manager_test: skipping real-socket test: ${skip}`);

Deno.test({
  name: "BFD over real UDP in two namespaces: Up at TTL 255, and packets at TTL 64 are filtered out",
  ignore: skip !== undefined,
  fn: async () => {
    const lab = await createLab({ nodes: 2, client: false });
    const pair = { a: lab.nodes[0]!, b: lab.nodes[1]!, close: () => lab.close() };
    const a = new BfdManager({ scope: (f) => inNetns(pair.a.netns, f) });
    const b = new BfdManager({ scope: (f) => inNetns(pair.b.netns, f) });
    try {
      const profile = { receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3 };
      const changes: BfdChange[] = [];
      a.add(pair.b.ipv4, profile, (change) => changes.push(change));
      b.add(pair.a.ipv4, profile, () => {});
      await waitFor("both sessions Up", () => a.state(pair.b.ipv4) === "Up" && b.state(pair.a.ipv4) === "Up");
      const upAfter = changes.length;
      // A forged AdminDown (any discriminator) from b's namespace at TTL 64 must not reach a's session.
      const forger = inNetns(pair.b.netns, () => UdpSocket.open({ address: "0.0.0.0", port: 0, ttl: 64 }));
      try {
        for (let d = 1; d < 50; d++) {
          const forged = encodeBfdPacket({
            version: 1,
            diag: 7,
            state: BfdState.ADMIN_DOWN,
            poll: false,
            final: false,
            controlPlaneIndependent: false,
            authenticationPresent: false,
            demand: false,
            multipoint: false,
            detectMult: 3,
            myDiscriminator: 1234,
            yourDiscriminator: 0,
            desiredMinTxUs: 1_000_000,
            requiredMinRxUs: 1_000_000,
            requiredMinEchoRxUs: 0,
          });
          forger.sendTo(forged, pair.a.ipv4, 3784);
        }
      } finally {
        await forger.close();
      }
      await new Promise((r) => setTimeout(r, 300));
      // Had one got through, the session would have gone Down (and come back Up on b's next packets).
      assertEquals(changes.slice(upAfter), []);
      assertEquals(a.state(pair.b.ipv4), "Up");
      // Take b away: a notices within the 150 ms detection time (plus scheduling).
      const t0 = Date.now();
      await b.close();
      await waitFor("a to go Down", () => a.state(pair.b.ipv4) === "Down", { timeoutMs: 2000 });
      assert(Date.now() - t0 < 1000);
    } finally {
      await a.close();
      await b.close();
      await pair.close();
    }
  },
});
