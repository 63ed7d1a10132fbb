import { assertEquals } from "../assert.ts";
import { parseArping, parseNdisc6 } from "./_tools.ts";

Deno.test("parseArping() reads every reply's MAC and round-trip time in ms", () => {
  // arping 2.23 (Debian package arping) output, two hosts answering one request.
  const text = `ARPING 198.51.100.50
42 bytes from 02:00:00:00:96:0C (198.51.100.50): index=0 time=9.655 usec
42 bytes from 02:00:00:00:96:0b (198.51.100.50): index=1 time=1.5 msec
60 bytes from 02:00:00:00:96:0d (198.51.100.50): index=2 time=2 sec

--- 198.51.100.50 statistics ---
1 packets transmitted, 2 packets received,   0% unanswered (1 extra)
`;
  const replies = parseArping(text);
  assertEquals(replies.map((r) => r.mac), ["02:00:00:00:96:0c", "02:00:00:00:96:0b", "02:00:00:00:96:0d"]);
  assertEquals(replies.map((r) => Math.round(r.rttMs * 1e6) / 1e6), [0.009655, 1.5, 2000]);
  assertEquals(parseArping("ARPING 198.51.100.99\nTimeout\n"), []);
});

Deno.test("parseNdisc6() reads the target link-layer addresses", () => {
  const text = `Soliciting 2001:db8:100::50 (2001:db8:100::50) on eth0...
Target link-layer address: 02:00:00:00:96:0D
 from 2001:db8:100::50
Target link-layer address: 02:00:00:00:96:0C
 from 2001:db8:100::50
`;
  assertEquals(parseNdisc6(text), ["02:00:00:00:96:0d", "02:00:00:00:96:0c"]);
  assertEquals(parseNdisc6("Timed out.\nNo response.\n"), []);
});
