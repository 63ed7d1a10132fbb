import { assert, assertEquals, assertRejects, waitFor } from "../../tests/assert.ts";
import { createLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { libc } from "../net/mod.ts";
import { ffiSkipReason } from "../net/testing.ts";
import { clusterHash, decodeHeartbeat, encodeHeartbeat, MAX_HEARTBEAT_LENGTH } from "./heartbeat.ts";
import { createLiveness, type Liveness } from "./liveness.ts";
import { openUdpTransport, type UdpTransport } from "./udp.ts";

const skip = ffiSkipReason();
// deno-lint-ignore no-console
if (skip !== undefined) console.log(`Skipping heartbeat UDP tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process (see src/net/libc.ts)

function ipv6Loopback(): boolean {
  if (skip !== undefined) return false;
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}
const skip6 = skip ?? (ipv6Loopback() ? undefined : "no IPv6 loopback here");

// Loopback only: both instances bind 127.0.0.1 on ports the kernel picks, and send to each other there.
Deno.test({
  name: "liveness over real UDP on loopback: a killed instance is declared dead within the deadline",
  ignore: skip !== undefined,
}, async () => {
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

Deno.test({
  name: "liveness over real UDP on loopback: a graceful stop is seen at once",
  ignore: skip !== undefined,
}, async () => {
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

Deno.test({
  name: "openUdpTransport(): IPv4 and IPv6 sockets on one port, each family sent from its own socket",
  ignore: skip6 !== undefined,
}, async () => {
  const a = await openUdpTransport({ port: 0, bind: ["127.0.0.1", "::1"] });
  const b = await openUdpTransport({ port: 0, bind: ["127.0.0.1", "::1"] });
  try {
    const got: [number, string][] = [];
    b.listen((data, from) => got.push([data[0]!, from]));
    a.send(Uint8Array.of(4), "127.0.0.1", b.port);
    a.send(Uint8Array.of(6), "::1", b.port);
    await waitFor("both datagrams", () => got.length === 2, { timeoutMs: 2000 });
    assertEquals(got.sort(), [[4, "127.0.0.1"], [6, "::1"]]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test({
  name: "openUdpTransport(): a datagram longer than any heartbeat reaches the decoder as too long",
  ignore: skip !== undefined,
}, async () => {
  const a = await openUdpTransport({ port: 0, bind: ["127.0.0.1"] });
  const b = await openUdpTransport({ port: 0, bind: ["127.0.0.1"] });
  try {
    const got: Uint8Array[] = [];
    b.listen((data) => got.push(data));
    const heartbeat = encodeHeartbeat({
      cluster: clusterHash("ns"),
      node: "node-a",
      incarnation: 1n,
      sequence: 1,
      intervalMs: 200,
      leaving: false,
      starting: false,
      interfaces: [],
    });
    a.send(heartbeat, "127.0.0.1", b.port);
    a.send(new Uint8Array(4000), "127.0.0.1", b.port);
    await waitFor("both datagrams", () => got.length === 2, { timeoutMs: 2000 });
    assertEquals(got[0], heartbeat);
    assertEquals(got[1]!.length, MAX_HEARTBEAT_LENGTH + 1);
    assertEquals(decodeHeartbeat(got[1]!), {
      ok: false,
      error: "too-long",
      detail: `${MAX_HEARTBEAT_LENGTH + 1} bytes`,
    });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test({
  name: "openUdpTransport(): unsendable heartbeats are counted and logged once, never thrown",
  ignore: skip !== undefined,
}, async () => {
  const lines: string[] = [];
  const metrics = new Registry();
  const log = createLogger({ write: (line) => lines.push(line) });
  const t = await openUdpTransport({ port: 0, bind: ["127.0.0.1"], log, metrics });
  try {
    for (let i = 0; i < 3; i++) {
      t.send(Uint8Array.of(1), "2001:db8::1", 7947); // no IPv6 socket
      t.send(Uint8Array.of(1), "node-b.example", 7947); // not an address
    }
    assertEquals(metrics.find("metallite_heartbeat_send_errors_total")?.get(), 6);
    assertEquals(lines.length, 2, lines.join("\n"));
    assert(lines[0]!.includes("no heartbeat socket of this family"), lines[0]);
    assert(lines[1]!.includes("cannot send a heartbeat"), lines[1]);
  } finally {
    await t.close();
    await t.close(); // idempotent
  }
  t.send(Uint8Array.of(1), "127.0.0.1", 7947); // after close: ignored
  assertEquals(metrics.find("metallite_heartbeat_send_errors_total")?.get(), 6);
});

Deno.test({
  name: "openUdpTransport(): a port in use is one clear error and leaves nothing open",
  ignore: skip !== undefined,
}, async () => {
  const taken = await openUdpTransport({ port: 0, bind: ["127.0.0.1"] });
  try {
    await assertRejects(
      () => openUdpTransport({ port: taken.port, bind: ["127.0.0.1"] }),
      Error,
      `Cannot bind the heartbeat socket on 127.0.0.1 port ${taken.port}: bind (127.0.0.1 port ${taken.port}) failed`,
    );
  } finally {
    await taken.close();
  }
});
