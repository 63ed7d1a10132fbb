import { createHash, createHmac } from "node:crypto";
import { assertEquals } from "../../tests/assert.ts";
import { compareDigests, constantTimeEqual, hmacSha256, sha256, sha256Hex, sha256Words } from "./_sha256.ts";

function hex(words: Uint32Array): string {
  return [...words].map((w) => w.toString(16).padStart(8, "0")).join("");
}

Deno.test("sha256Words() matches node:crypto for every padding boundary and non-ASCII text", async (t) => {
  // FIPS 180-2 appendix B.1 vector, then lengths around the one- and two-block padding limits.
  assertEquals(hex(sha256Words("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const inputs = ["", "node-a#10.0.0.1", "ü#2001:db8::1", "x".repeat(300)];
  for (let n = 50; n <= 130; n++) inputs.push("n".repeat(n));
  for (const input of inputs) {
    await t.step(`${input.length} characters`, () => {
      assertEquals(hex(sha256Words(input)), createHash("sha256").update(input).digest("hex"));
    });
  }
});

Deno.test("compareDigests() orders as the digests' bytes do", () => {
  const names = Array.from({ length: 50 }, (_, i) => `node-${i}#198.51.100.7`);
  const byWords = [...names].sort((a, b) => compareDigests(sha256Words(a), sha256Words(b)));
  const byBytes = [...names].sort((a, b) =>
    Buffer.compare(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest())
  );
  assertEquals(byWords, byBytes);
});

function bytesToHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function fill(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("sha256() and sha256Hex() match node:crypto around the padding boundaries", async (t) => {
  for (const length of [0, 1, 55, 56, 63, 64, 65, 118, 119, 120, 127, 128, 129, 1000]) {
    await t.step(`${length} bytes`, () => {
      const data = Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);
      assertEquals(bytesToHex(sha256(data)), createHash("sha256").update(data).digest("hex"));
      const chars = "k".repeat(length);
      assertEquals(sha256Hex(chars), createHash("sha256").update(chars).digest("hex"));
    });
  }
});

Deno.test("hmacSha256() gives the RFC 4231 §4 test vectors", async (t) => {
  // RFC 4231 "Identifiers and Test Vectors for HMAC-SHA-224, HMAC-SHA-256, HMAC-SHA-384, and HMAC-SHA-512",
  // §4.2-4.8, the HMAC-SHA-256 lines (test case 5's tag is truncated to 128 bits by the RFC).
  const cases: [string, Uint8Array, Uint8Array, string][] = [
    ["1", fill(20, 0x0b), text("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
    [
      "2",
      text("Jefe"),
      text("what do ya want for nothing?"),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ],
    ["3", fill(20, 0xaa), fill(50, 0xdd), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
    [
      "4",
      Uint8Array.from({ length: 25 }, (_, i) => i + 1),
      fill(50, 0xcd),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ],
    ["5", fill(20, 0x0c), text("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"],
    [
      "6",
      fill(131, 0xaa),
      text("Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
    [
      "7",
      fill(131, 0xaa),
      text(
        "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be " +
          "hashed before being used by the HMAC algorithm.",
      ),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ];
  for (const [name, key, data, expected] of cases) {
    await t.step(`test case ${name}`, () => {
      assertEquals(bytesToHex(hmacSha256(key, data)).slice(0, expected.length), expected);
    });
  }
});

Deno.test("hmacSha256() matches node:crypto for keys and data of many lengths", () => {
  for (const keyLength of [0, 1, 32, 63, 64, 65, 200]) {
    for (const dataLength of [0, 1, 55, 64, 100, 829]) {
      const key = Uint8Array.from({ length: keyLength }, (_, i) => (i * 13 + 1) & 0xff);
      const data = Uint8Array.from({ length: dataLength }, (_, i) => (i * 7 + 3) & 0xff);
      assertEquals(
        bytesToHex(hmacSha256(key, data)),
        createHmac("sha256", key).update(data).digest("hex"),
        `key ${keyLength} bytes, data ${dataLength} bytes`,
      );
    }
  }
});

Deno.test("constantTimeEqual() is true only for equal bytes of equal length", () => {
  assertEquals(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  assertEquals(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), true);
  assertEquals(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)), false);
  assertEquals(constantTimeEqual(Uint8Array.of(0x80, 2, 3), Uint8Array.of(0, 2, 3)), false);
  assertEquals(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)), false);
  assertEquals(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)), false);
});
