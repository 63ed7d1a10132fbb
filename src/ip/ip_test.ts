import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { canonicalIp, formatIp, ipFromBytes, ipToBytes, parseIp, tryParseIp } from "./address.ts";
import { formatRange, isBuggyIp, parseCidr, parseRange, rangeSize } from "./range.ts";

Deno.test("parseIp() reads IPv4 and IPv6 and formats them canonically (RFC 5952)", async (t) => {
  const cases: [string, string][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8::", "2001:db8::"],
    ["2001:db8:1:1:1:1:1:1", "2001:db8:1:1:1:1:1:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
  ];
  for (const [input, want] of cases) {
    await t.step(input, () => assertEquals(formatIp(parseIp(input)), want));
  }
});

Deno.test("tryParseIp() refuses malformed addresses", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1::2::3",
      "2001:db8::g",
      "1:2:3:4:5:6:7:8:9",
      "fe80::1%eth0",
      " 1.2.3.4",
      "a",
    ]
  ) {
    assertEquals(tryParseIp(bad), undefined, bad);
  }
});

Deno.test("ipToBytes() and ipFromBytes() round-trip", () => {
  for (const text of ["198.51.100.7", "2001:db8:100::42"]) {
    assertEquals(formatIp(ipFromBytes(ipToBytes(parseIp(text)))), text);
  }
  assertEquals([...ipToBytes(parseIp("192.0.2.1"))], [192, 0, 2, 1]);
  assertThrows(() => ipFromBytes(new Uint8Array(5)), RangeError);
});

Deno.test("parseRange() accepts every pool form users write", async (t) => {
  const cases: [string, string, bigint][] = [
    ["192.168.1.200-240", "192.168.1.200-192.168.1.240", 41n],
    ["192.168.1.200-192.168.1.240", "192.168.1.200-192.168.1.240", 41n],
    ["192.168.1.192/27", "192.168.1.192/27", 32n],
    ["192.168.1.199/27", "192.168.1.192/27", 32n],
    ["203.0.113.5", "203.0.113.5", 1n],
    ["203.0.113.5/32", "203.0.113.5", 1n],
    ["2001:db8::10-2001:db8::1f", "2001:db8::10/124", 16n],
    ["2001:db8::/120", "2001:db8::/120", 256n],
    ["0.0.0.0/0", "0.0.0.0/0", 1n << 32n],
    ["198.51.100.0 - 198.51.100.9", "198.51.100.0-198.51.100.9", 10n],
  ];
  for (const [input, formatted, size] of cases) {
    await t.step(input, () => {
      const r = parseRange(input);
      assertEquals(formatRange(r), formatted);
      assertEquals(rangeSize(r), size);
    });
  }
});

Deno.test("parseRange() explains what is wrong with a bad range", () => {
  assertThrows(() => parseRange("10.0.0.9-3"), RangeError, "range end is below its start");
  assertThrows(() => parseRange("10.0.0.9-300"), SyntaxError, "not an octet");
  assertThrows(() => parseRange("10.0.0.1-2001:db8::1"), SyntaxError, "mixes IPv4 and IPv6");
  assertThrows(() => parseRange("10.0.0.0/33"), SyntaxError, "prefix length must be 0 to 32");
  assertThrows(() => parseRange("banana"), SyntaxError, "expected an address");
  assertThrows(() => parseRange(""), SyntaxError);
});

Deno.test("parseCidr() clears host bits", () => {
  assertEquals(formatIp(parseCidr("2001:db8::1/64").address), "2001:db8::");
});

Deno.test("isBuggyIp() flags .0 and .255 IPv4 addresses only", () => {
  assertEquals(isBuggyIp(parseIp("192.0.2.0")), true);
  assertEquals(isBuggyIp(parseIp("192.0.2.255")), true);
  assertEquals(isBuggyIp(parseIp("192.0.2.1")), false);
  assertEquals(isBuggyIp(parseIp("2001:db8::ff")), false);
  assertEquals(canonicalIp("2001:DB8::0:1"), "2001:db8::1");
});
