import { createHash, createHmac } from "node:crypto";
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  clusterHash,
  decodeHeartbeat,
  encodeHeartbeat,
  type Heartbeat,
  MAX_HEARTBEAT_LENGTH,
  newIncarnation,
} from "./heartbeat.ts";

const SAMPLE: Heartbeat = {
  cluster: clusterHash("metallb-system"),
  node: "worker-1.lab",
  incarnation: 0x0123456789abcdefn,
  sequence: 4_000_000_000,
  intervalMs: 200,
  leaving: false,
  starting: true,
  interfaces: ["eth0", "vlan.20", "br-lan"],
};
const KEY = new TextEncoder().encode("a shared secret of the cluster");

Deno.test("encodeHeartbeat() and decodeHeartbeat() round-trip, with and without an HMAC", async (t) => {
  await t.step("plain", () => {
    const bytes = encodeHeartbeat(SAMPLE);
    assertEquals(decodeHeartbeat(bytes), { ok: true, heartbeat: SAMPLE });
  });
  await t.step("signed", () => {
    const bytes = encodeHeartbeat({ ...SAMPLE, leaving: true, starting: false }, KEY);
    assertEquals(decodeHeartbeat(bytes, { key: KEY }), {
      ok: true,
      heartbeat: { ...SAMPLE, leaving: true, starting: false },
    });
  });
  await t.step("largest heartbeat", () => {
    const big: Heartbeat = {
      ...SAMPLE,
      node: "n".repeat(253),
      interfaces: Array.from({ length: 32 }, (_, i) => `if${i}`.padEnd(15, "x")),
    };
    const bytes = encodeHeartbeat(big, KEY);
    assertEquals(bytes.length, MAX_HEARTBEAT_LENGTH);
    assert(decodeHeartbeat(bytes, { key: KEY }).ok);
  });
});

Deno.test("the wire layout is as documented", () => {
  const bytes = encodeHeartbeat({ ...SAMPLE, node: "a", interfaces: ["e"], starting: false, incarnation: 2n });
  assertEquals(bytes.length, 35);
  assertEquals([...bytes.subarray(0, 8)], [0x4d, 0x4c, 0x48, 0x42, 1, 0, 0, 35]);
  assertEquals([...bytes.subarray(8, 16)], [...clusterHash("metallb-system")]);
  assertEquals([...bytes.subarray(16, 24)], [0, 0, 0, 0, 0, 0, 0, 2]);
  assertEquals([...bytes.subarray(24, 35)], [0xee, 0x6b, 0x28, 0x00, 0, 200, 1, 0x61, 1, 1, 0x65]);
});

Deno.test("decodeHeartbeat() refuses bad datagrams with a code", async (t) => {
  const good = encodeHeartbeat(SAMPLE);
  const signed = encodeHeartbeat(SAMPLE, KEY);
  const patch = (base: Uint8Array, at: number, value: number) => {
    const copy = base.slice();
    copy[at] = value;
    return copy;
  };
  const setLength = (b: Uint8Array) => {
    const copy = b.slice();
    new DataView(copy.buffer).setUint16(6, copy.length);
    return copy;
  };
  const cases: [string, Uint8Array, string, Uint8Array?][] = [
    ["empty", new Uint8Array(0), "too-short"],
    ["truncated header", good.subarray(0, 20), "too-short"],
    ["oversized", new Uint8Array(MAX_HEARTBEAT_LENGTH + 1), "too-long"],
    ["wrong magic", patch(good, 0, 0x4e), "bad-magic"],
    ["memberlist-like junk", new TextEncoder().encode("\x00\x01\x02 this is somebody else's protocol"), "bad-magic"],
    ["future version", patch(good, 4, 2), "bad-version"],
    ["unknown flag", patch(good, 5, 0x80), "bad-flags"],
    ["length field lies", patch(good, 7, good[7]! + 1), "bad-length"],
    ["truncated body", setLength(good.subarray(0, good.length - 2)), "bad-interface"],
    ["trailing bytes", setLength(new Uint8Array([...good, 0])), "bad-length"],
    ["interval 0", patch(patch(good, 28, 0), 29, 0), "bad-field"],
    ["empty name", patch(good, 30, 0), "bad-name"],
    ["upper-case name", patch(good, 31, 0x57), "bad-name"],
    ["name runs past the end", patch(good, 30, 250), "bad-name"],
    ["too many interfaces", patch(good, 31 + 12, 33), "bad-interface"],
    ["interface with a slash", patch(good, 31 + 12 + 2, 0x2f), "bad-interface"],
    ["interface name of length 0", patch(good, 31 + 12 + 1, 0), "bad-interface"],
    ["unsigned when a key is set", good, "missing-hmac", KEY],
    ["signed when no key is set", signed, "unexpected-hmac"],
    ["signed with another key", signed, "bad-hmac", new TextEncoder().encode("other")],
    ["signed and tampered", patch(signed, 24, 0), "bad-hmac", KEY],
  ];
  for (const [name, bytes, code, key] of cases) {
    await t.step(name, () => {
      const result = decodeHeartbeat(bytes, key ? { key } : {});
      assert(!result.ok, "expected a refusal");
      assertEquals(result.error, code, result.detail);
    });
  }
});

Deno.test("decodeHeartbeat() never throws on random or mutated input", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const good = encodeHeartbeat(SAMPLE, KEY);
  for (let i = 0; i < 5000; i++) {
    const bytes = i % 2 === 0 ? good.slice() : new Uint8Array(Math.floor(rand() * 900));
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips && bytes.length > 0; f++) {
      bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    }
    const result = decodeHeartbeat(bytes, i % 3 === 0 ? {} : { key: KEY });
    assert(typeof result.ok === "boolean");
  }
});

Deno.test("encodeHeartbeat() refuses values our own code must never send", () => {
  assertThrows(() => encodeHeartbeat({ ...SAMPLE, node: "Bad_Name" }), TypeError);
  assertThrows(() => encodeHeartbeat({ ...SAMPLE, interfaces: ["a/b"] }), TypeError);
  assertThrows(() => encodeHeartbeat({ ...SAMPLE, interfaces: Array(33).fill("eth0") }), RangeError);
  assertThrows(() => encodeHeartbeat({ ...SAMPLE, intervalMs: 5 }), RangeError);
});

Deno.test("clusterHash() differs by namespace and newIncarnation() grows with time", () => {
  assert(clusterHash("a").join() !== clusterHash("b").join());
  assertEquals(clusterHash("a").length, 8);
  assert(newIncarnation(1000, () => 0.99) < newIncarnation(1001, () => 0));
});

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("heartbeats are byte for byte those of the node:crypto version (mixed versions interoperate)", () => {
  // Recorded from the encoder of commit 33ea272, which used node:crypto's createHash and createHmac.
  const sample: Heartbeat = {
    ...SAMPLE,
    node: "node-a",
    incarnation: 0x0123456789abn,
    sequence: 7,
    interfaces: ["eth0", "br-lan"],
  };
  const body = "4d4c484201020032b471b8703ed7498100000123456789ab0000000700c8066e6f64652d610204657468300662722d6c616e";
  assertEquals(hex(clusterHash("metallb-system")), "b471b8703ed74981");
  assertEquals(hex(encodeHeartbeat(sample)), body);
  const signed = hex(encodeHeartbeat(sample, new TextEncoder().encode("s3cret-key")));
  assertEquals(
    signed,
    "4d4c484201060052b471b8703ed7498100000123456789ab0000000700c8066e6f64652d610204657468300662722d6c616e" +
      "bfd31f41c686308ca8dd554622bca0316e3decad7f875dd3f376eb64948b2082",
  );
});

Deno.test("the cluster hash and the HMAC are node:crypto's sha256 and HMAC-SHA256", () => {
  for (const namespace of ["metallb-system", "x", "ü-namespace".repeat(20)]) {
    const expected = createHash("sha256").update(`metallite-heartbeat/${namespace}`).digest().subarray(0, 8);
    assertEquals(hex(clusterHash(namespace)), hex(expected));
  }
  for (const key of [KEY, new Uint8Array(100).fill(7), new Uint8Array(1)]) {
    const bytes = encodeHeartbeat(SAMPLE, key);
    const body = bytes.subarray(0, bytes.length - 32);
    assertEquals(hex(bytes.subarray(bytes.length - 32)), createHmac("sha256", key).update(body).digest("hex"));
    assert(decodeHeartbeat(bytes, { key }).ok);
  }
});
