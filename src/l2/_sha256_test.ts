import { createHash } from "node:crypto";
import { assertEquals } from "../../tests/assert.ts";
import { compareDigests, sha256Words } from "./_sha256.ts";

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
