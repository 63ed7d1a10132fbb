import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import { createLiveness, type Liveness } from "./liveness.ts";
import { openUdpTransport, type UdpTransport } from "./udp.ts";

// Loopback only: both instances bind 127.0.0.1 on ports the kernel picks, and send to each other there.
Deno.test("liveness over real UDP on loopback: a killed instance is declared dead within the deadline", async () => {
  const transports: UdpTransport[] = [];
  const instances: Record<string, Liveness> = {};
  try {
    for (let i = 0; i < 2; i++) {
      transports.push(await openUdpTransport({ port: 0, bind: ["127.0.0.1"] }));
    }
    const [ta, tb] = transports as [UdpTransport, UdpTransport];
    const peers = [
      { name: "node-a", address: "127.0.0.1", port: ta.port },
      { name: "node-b", address: "127.0.0.1", port: tb.port },
    ];
    for (const [name, transport] of [["node-a", ta], ["node-b", tb]] as const) {
      const liveness = createLiveness({
        nodeName: name,
        namespace: "metallb-system",
        transport,
        localInterfaces: () => ["lo"],
      });
      liveness.setPeers(peers);
      liveness.start();
      liveness.setReady();
      instances[name] = liveness;
    }
    const a = instances["node-a"]!;
    await waitFor("node-a to see node-b alive", () => a.view().get("node-b")?.alive, { timeoutMs: 3000 });
    assertEquals(a.view().get("node-b")?.interfaces, ["lo"]);
    await waitFor("node-a ready", () => a.ready, { timeoutMs: 3000 });

    // SIGKILL-like: node-b's sockets vanish without a goodbye.
    await tb.close();
    const killedAt = performance.now();
    await waitFor("node-a to declare node-b dead", () => a.view().get("node-b")?.alive === false, {
      timeoutMs: 3000,
      intervalMs: 10,
    });
    const took = performance.now() - killedAt;
    // 1000 ms dead-after, the last heartbeat up to 200 ms before the kill; allow scheduling slack on a busy machine.
    assert(took <= 1300, `declared dead after ${Math.round(took)} ms`);
    assertEquals(a.report().find((p) => p.name === "node-b")?.phase, "dead");
  } finally {
    for (const l of Object.values(instances)) await l.stop();
    for (const t of transports) await t.close();
  }
});

Deno.test("liveness over real UDP on loopback: a graceful stop is seen at once", async () => {
  const ta = await openUdpTransport({ port: 0, bind: ["127.0.0.1"] });
  const tb = await openUdpTransport({ port: 0, bind: ["127.0.0.1"] });
  const peers = [
    { name: "node-a", address: "127.0.0.1", port: ta.port },
    { name: "node-b", address: "127.0.0.1", port: tb.port },
  ];
  const a = createLiveness({ nodeName: "node-a", namespace: "ns", transport: ta, localInterfaces: () => [] });
  const b = createLiveness({ nodeName: "node-b", namespace: "ns", transport: tb, localInterfaces: () => [] });
  try {
    for (const l of [a, b]) {
      l.setPeers(peers);
      l.start();
      l.setReady();
    }
    await waitFor("node-a to see node-b alive", () => a.view().get("node-b")?.alive, { timeoutMs: 3000 });
    const stoppedAt = performance.now();
    await b.stop();
    await waitFor("node-a to see node-b leave", () => a.report().find((p) => p.name === "node-b")?.phase === "left", {
      timeoutMs: 1000,
      intervalMs: 5,
    });
    assert(performance.now() - stoppedAt < 300);
  } finally {
    await a.stop();
    await b.stop();
  }
});
