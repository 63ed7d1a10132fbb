import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { MAX_MESSAGE_LENGTH } from "./constants.ts";
import { decodeMessage, encodeMessage } from "./message.ts";
import { prefixKey } from "./prefix.ts";
import {
  AdjRibOut,
  formatCommunity,
  parseCommunity,
  parseLargeCommunity,
  planRoutes,
  type Route,
  type SessionContext,
} from "./rib_out.ts";
import type { UpdateMessage } from "./update.ts";

const BOTH = [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }];
const EBGP: SessionContext = { localAsn: 64500, peerAsn: 64501, localAddress: "198.51.100.10", families: BOTH };
const IBGP: SessionContext = { ...EBGP, peerAsn: 64500 };

function hostRoutes(n: number, extra: Partial<Route> = {}): Route[] {
  return Array.from(
    { length: n },
    (_, i) => ({ prefix: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, ...extra }),
  );
}

function wire(updates: UpdateMessage[], fourOctetAs = true) {
  return updates.map((u) => {
    const bytes = encodeMessage(u, { fourOctetAs });
    assert(bytes.length <= MAX_MESSAGE_LENGTH, `UPDATE of ${bytes.length} octets`);
    const d = decodeMessage(bytes, { fourOctetAs });
    assert(d.ok && d.value.type === "update");
    assertEquals(d.value.problems, []);
    return { bytes, update: d.value };
  });
}

Deno.test("parseCommunity() and parseLargeCommunity() read the forms users write", () => {
  assertEquals(parseCommunity("65000:100"), 65000 * 65536 + 100);
  assertEquals(formatCommunity(parseCommunity("65535:65281")), "65535:65281");
  assertEquals(parseCommunity("no-export"), 0xffffff01);
  assertEquals(parseLargeCommunity("large:4200000000:1:2"), { globalAdmin: 4200000000, localData1: 1, localData2: 2 });
  assertThrows(() => parseCommunity("65536:1"), SyntaxError, "65536:1");
  assertThrows(() => parseCommunity("1:2:3"), SyntaxError);
  assertThrows(() => parseLargeCommunity("1:2"), SyntaxError);
  assertThrows(() => parseLargeCommunity("4294967296:1:1"), SyntaxError);
});

Deno.test("planRoutes() sets next hop, AS_PATH and LOCAL_PREF by session type", () => {
  const [r] = [...planRoutes([{ prefix: "203.0.113.10" }], EBGP).planned.values()];
  assertEquals(r?.attributes.asPath, [{ type: 2, asns: [64500] }]);
  assertEquals(r?.attributes.localPref, undefined);
  assertEquals(r?.attributes.nextHop, { family: 4, value: 0xc633640an });
  const [i] = [...planRoutes([{ prefix: "203.0.113.10/32", localPref: 50 }], IBGP).planned.values()];
  assertEquals(i?.attributes.asPath, []);
  assertEquals(i?.attributes.localPref, 50);
  const [d] = [...planRoutes([{ prefix: "203.0.113.10/32" }], IBGP).planned.values()];
  assertEquals(d?.attributes.localPref, 100);
  const [o] = [...planRoutes([{ prefix: "203.0.113.0/24", nextHop: "198.51.100.99" }], EBGP).planned.values()];
  assertEquals(o?.attributes.nextHop, { family: 4, value: 0xc6336463n });
});

Deno.test("planRoutes() skips families the session lacks and routes without a next hop", () => {
  const v4only = { ...EBGP, families: [{ afi: 1, safi: 1 }] };
  const { planned, skipped } = planRoutes([{ prefix: "2001:db8::10/128" }, { prefix: "203.0.113.1/32" }], v4only);
  assertEquals([...planned.keys()], ["203.0.113.1/32"]);
  assertEquals(skipped.length, 1);
  const v6session = { ...EBGP, localAddress: "2001:db8:100::10" };
  assertEquals(
    planRoutes([{ prefix: "203.0.113.1/32" }], v6session).skipped[0]?.reason,
    "no IPv4 next hop on this session (set nextHopV4)",
  );
  assertEquals(
    planRoutes([{ prefix: "203.0.113.1/32" }], { ...v6session, nextHopV4: "198.51.100.10" }).planned.size,
    1,
  );
  assertThrows(() => planRoutes([{ prefix: "203.0.113.1/33" }], EBGP), SyntaxError);
  assertThrows(() => planRoutes([{ prefix: "203.0.113.1/32", med: -1 }], EBGP), RangeError);
});

Deno.test("AdjRibOut packs 10,000 host routes with equal attributes into full 4096-octet UPDATEs", () => {
  const rib = new AdjRibOut();
  const { planned } = planRoutes(
    hostRoutes(10_000, { communities: ["65000:1"], largeCommunities: ["65000:1:2"] }),
    EBGP,
  );
  const msgs = wire(rib.sync(planned));
  const total = msgs.reduce((n, m) => n + m.update.nlri.length, 0);
  assertEquals(total, 10_000);
  // 5 octets per /32: about 800 per message.
  assert(msgs.length <= 13, `${msgs.length} messages`);
  assert(msgs.slice(0, -1).every((m) => m.bytes.length > MAX_MESSAGE_LENGTH - 40));
  assertEquals(rib.size, 10_000);
  // Nothing changed: nothing to send.
  assertEquals(rib.sync(planned), []);
  // Also fits when encoded for a 2-octet peer with our AS above 65535 (AS_TRANS + AS4_PATH).
  const big = planRoutes(hostRoutes(2000), { ...EBGP, localAsn: 4200000000 }).planned;
  wire(new AdjRibOut().sync(big), false);
});

Deno.test("AdjRibOut sends IPv6 routes in MP_REACH_NLRI and withdraws them in MP_UNREACH_NLRI", () => {
  const ctx = { ...EBGP, localAddress: "2001:db8:100::10", linkLocalNextHop: "fe80::1" };
  const routes = Array.from({ length: 500 }, (_, i) => ({ prefix: `2001:db8:5::${i.toString(16)}/128` }));
  const rib = new AdjRibOut();
  const msgs = wire(rib.sync(planRoutes(routes, ctx).planned));
  assertEquals(msgs.reduce((n, m) => n + (m.update.attributes.mpReach?.nlri.length ?? 0), 0), 500);
  assertEquals(msgs[0]!.update.attributes.mpReach?.linkLocalNextHop, {
    family: 6,
    value: 0xfe800000000000000000000000000001n,
  });
  const w = wire(rib.sync(new Map()));
  assertEquals(w.reduce((n, m) => n + (m.update.attributes.mpUnreach?.withdrawn.length ?? 0), 0), 500);
});

Deno.test("AdjRibOut sends only differences: withdrawals, then changed or new routes", () => {
  const rib = new AdjRibOut();
  rib.sync(planRoutes(hostRoutes(3), EBGP).planned);
  const next = planRoutes([
    { prefix: "10.0.0.0/32" },
    { prefix: "10.0.0.1/32", communities: ["65000:7"] },
    { prefix: "10.0.0.9/32" },
  ], EBGP).planned;
  const msgs = wire(rib.sync(next)).map((m) => m.update);
  assertEquals(msgs[0]?.withdrawn.map(prefixKey), ["10.0.0.2/32"]);
  assertEquals(msgs.slice(1).map((m) => m.nlri.map(prefixKey)), [["10.0.0.1/32"], ["10.0.0.9/32"]]);
  assertEquals(msgs[1]?.attributes.communities, [65000 * 65536 + 7]);
  assertEquals(rib.refresh().flatMap((m) => m.nlri.map(prefixKey)).sort(), [
    "10.0.0.0/32",
    "10.0.0.1/32",
    "10.0.0.9/32",
  ]);
  rib.clear();
  assertEquals(rib.size, 0);
});
