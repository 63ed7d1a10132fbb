import { assert, assertEquals } from "../../tests/assert.ts";
import { parseIp } from "../ip/mod.ts";
import * as v from "./_test_vectors.ts";
import { AS_TRANS, AttributeType, ErrorCode, MessageType, UpdateSubcode } from "./constants.ts";
import { describeNotification } from "./errors.ts";
import { decodeMessage, encodeMessage, frameMessage, MessageFramer } from "./message.ts";
import { formatBgpId, openAsn, type OpenMessage } from "./open.ts";
import { parsePrefix, prefixKey } from "./prefix.ts";
import { endOfRib, endOfRibFamily, type UpdateMessage } from "./update.ts";

function decodeOk(bytes: Uint8Array, fourOctetAs = true) {
  const d = decodeMessage(bytes, { fourOctetAs });
  if (!d.ok) throw new Error(`decode failed: ${d.error.reason}`);
  return d.value;
}

function decodeErr(bytes: Uint8Array, fourOctetAs = true) {
  const d = decodeMessage(bytes, { fourOctetAs });
  if (d.ok) throw new Error(`decode unexpectedly succeeded: ${JSON.stringify(d.value)}`);
  return d.error;
}

function update(body: number[]): Uint8Array {
  return frameMessage(MessageType.UPDATE, new Uint8Array(body));
}

Deno.test("decodeMessage() reads GoBGP's captured OPEN with its capabilities", () => {
  const open = decodeOk(v.GOBGP_OPEN.bytes) as OpenMessage;
  assertEquals(open.type, "open");
  assertEquals(open.myAs, AS_TRANS);
  assertEquals(openAsn(open), 4200000002);
  assertEquals(open.holdTime, 90);
  assertEquals(formatBgpId(open.bgpId), "198.51.100.2");
  assertEquals(open.capabilities.routeRefresh, true);
  assertEquals(open.capabilities.multiprotocol, [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }]);
  // Capability 73 is FQDN and 5 is RFC 8950's extended next hop; neither is interpreted.
  assertEquals(open.capabilities.unknown?.map((u) => u.code), [73, 5]);
});

Deno.test("decodeMessage() reads BIRD's captured OPEN and re-encodes it byte for byte", () => {
  const open = decodeOk(v.BIRD_OPEN.bytes) as OpenMessage;
  assertEquals(openAsn(open), 65001);
  assertEquals(open.capabilities.gracefulRestart?.restartTime, 120);
  assertEquals(open.capabilities.unknown?.map((u) => u.code), [70, 71]);
  assertEquals(encodeMessage(open), v.BIRD_OPEN.bytes);
});

Deno.test("decodeMessage() reads captured UPDATEs with communities, large communities and MED", () => {
  const u = decodeOk(v.GOBGP_UPDATE_V4.bytes) as UpdateMessage;
  assertEquals(u.nlri.map(prefixKey), ["192.0.2.10/32"]);
  assertEquals(u.attributes.origin, 2);
  assertEquals(u.attributes.asPath, [{ type: 2, asns: [4200000002] }]);
  assertEquals(u.attributes.nextHop, parseIp("198.51.100.2"));
  assertEquals(u.attributes.med, 10);
  assertEquals(u.attributes.communities, [65002 * 65536 + 200]);
  assertEquals(u.attributes.largeCommunities, [{ globalAdmin: 4200000002, localData1: 3, localData2: 4 }]);
  assertEquals(u.treatAsWithdraw, false);
  const b = decodeOk(v.BIRD_UPDATE_V4_COMMUNITIES.bytes) as UpdateMessage;
  assertEquals(b.nlri.map(prefixKey), ["203.0.113.0/24"]);
  assertEquals(b.attributes.communities, [65001 * 65536 + 100]);
  assertEquals(b.attributes.largeCommunities, [{ globalAdmin: 65001, localData1: 1, localData2: 2 }]);
  assertEquals((decodeOk(v.BIRD_UPDATE_V4.bytes) as UpdateMessage).nlri.map(prefixKey), ["203.0.113.128/25"]);
});

Deno.test("decodeMessage() reads IPv6 MP_REACH_NLRI with and without a link-local next hop", () => {
  const b = decodeOk(v.BIRD_UPDATE_V6.bytes) as UpdateMessage;
  assertEquals(b.attributes.mpReach?.nlri.map(prefixKey), ["2001:db8:1::/48"]);
  assertEquals(b.attributes.mpReach?.nextHop, parseIp("2001:db8:100::1"));
  assertEquals(b.attributes.mpReach?.linkLocalNextHop, parseIp("fe80::5447:27ff:fec7:6140"));
  const g = decodeOk(v.GOBGP_UPDATE_V6.bytes) as UpdateMessage;
  assertEquals(g.attributes.mpReach?.nlri.map(prefixKey), ["2001:db8:2::/64"]);
  assertEquals(g.attributes.mpReach?.linkLocalNextHop, undefined);
  assertEquals(g.treatAsWithdraw, false);
});

Deno.test("decodeMessage() reads withdrawals, End-of-RIB markers, KEEPALIVE and a Cease", () => {
  const w = decodeOk(v.GOBGP_WITHDRAW_V4.bytes) as UpdateMessage;
  assertEquals(w.withdrawn.map(prefixKey), ["192.0.2.10/32"]);
  assertEquals(endOfRibFamily(w), undefined);
  assertEquals(endOfRibFamily(decodeOk(v.BIRD_EOR_V4.bytes) as UpdateMessage), { afi: 1, safi: 1 });
  assertEquals(endOfRibFamily(decodeOk(v.BIRD_EOR_V6.bytes) as UpdateMessage), { afi: 2, safi: 1 });
  assertEquals(encodeMessage(endOfRib({ afi: 1, safi: 1 })), v.BIRD_EOR_V4.bytes);
  assertEquals(encodeMessage(endOfRib({ afi: 2, safi: 1 })), v.BIRD_EOR_V6.bytes);
  assertEquals(decodeOk(v.KEEPALIVE.bytes), { type: "keepalive" });
  assertEquals(decodeOk(v.BIRD_CEASE.bytes), { type: "notification", code: 6, subcode: 2, data: new Uint8Array() });
  assertEquals(describeNotification(6, 2), "Cease / administrative shutdown (6/2)");
});

Deno.test("encodeMessage() and decodeMessage() round-trip every captured message", async (t) => {
  for (const m of v.CAPTURED) {
    await t.step(m.name, () => {
      const first = decodeOk(m.bytes);
      assertEquals(decodeOk(encodeMessage(first)), first);
    });
  }
  assertEquals(encodeMessage(decodeOk(v.BIRD_UPDATE_V4_COMMUNITIES.bytes)), v.BIRD_UPDATE_V4_COMMUNITIES.bytes);
  assertEquals(encodeMessage(decodeOk(v.GOBGP_UPDATE_V4.bytes)), v.GOBGP_UPDATE_V4.bytes);
});

Deno.test("decodeMessage() answers header errors with RFC 4271 §6.1 codes", async (t) => {
  const cases: [string, Uint8Array, number, number, number[]?][] = [
    [
      "bad marker",
      (() => {
        const b = v.KEEPALIVE.bytes.slice();
        b[3] = 0;
        return b;
      })(),
      1,
      1,
    ],
    [
      "length below 19",
      (() => {
        const b = v.KEEPALIVE.bytes.slice();
        b[17] = 18;
        return b;
      })(),
      1,
      2,
      [0, 18],
    ],
    [
      "length above 4096",
      (() => {
        const b = v.KEEPALIVE.bytes.slice();
        b[16] = 0x10;
        b[17] = 1;
        return b;
      })(),
      1,
      2,
      [0x10, 1],
    ],
    ["unknown type", frameMessage(9, new Uint8Array()), 1, 3, [9]],
    ["KEEPALIVE with a body", frameMessage(4, new Uint8Array(1)), 1, 2, [0, 20]],
    ["OPEN shorter than 29", frameMessage(1, new Uint8Array(9)), 1, 2, [0, 28]],
    ["UPDATE shorter than 23", frameMessage(2, new Uint8Array(3)), 1, 2, [0, 22]],
    ["NOTIFICATION shorter than 21", frameMessage(3, new Uint8Array(1)), 1, 2, [0, 20]],
  ];
  for (const [name, bytes, code, subcode, data] of cases) {
    await t.step(name, () => {
      const e = decodeErr(bytes);
      assertEquals([e.code, e.subcode], [code, subcode], e.reason);
      if (data) assertEquals([...e.data], data);
    });
  }
});

function openBody(opts: { version?: number; myAs?: number; hold?: number; id?: number[]; params?: number[] }) {
  const as = opts.myAs ?? 65001;
  const hold = opts.hold ?? 90;
  const params = opts.params ?? [];
  return frameMessage(
    1,
    new Uint8Array([
      opts.version ?? 4,
      as >> 8,
      as & 0xff,
      hold >> 8,
      hold & 0xff,
      ...(opts.id ?? [198, 51, 100, 9]),
      params.length,
      ...params,
    ]),
  );
}

Deno.test("decodeMessage() answers bad OPENs with RFC 4271 §6.2 codes", async (t) => {
  const cases: [string, Uint8Array, number, number[]?][] = [
    ["version 3", openBody({ version: 3 }), 1, [0, 4]],
    ["hold time 1", openBody({ hold: 1 }), 6],
    ["hold time 2", openBody({ hold: 2 }), 6],
    ["BGP identifier 0", openBody({ id: [0, 0, 0, 0] }), 3],
    ["authentication parameter (type 1)", openBody({ params: [1, 1, 0] }), 4],
    ["parameter overrunning the OPEN", openBody({ params: [2, 9, 1, 4] }), 0],
    ["truncated capability", openBody({ params: [2, 3, 1, 4, 0] }), 0],
    ["4-octet AS capability of 2 octets", openBody({ params: [2, 4, 65, 2, 0, 1] }), 0],
  ];
  for (const [name, bytes, subcode, data] of cases) {
    await t.step(name, () => {
      const e = decodeErr(bytes);
      assertEquals([e.code, e.subcode], [ErrorCode.OPEN_MESSAGE, subcode], e.reason);
      if (data) assertEquals([...e.data], data);
    });
  }
  await t.step("hold time 0 and 3 are accepted", () => {
    assertEquals((decodeOk(openBody({ hold: 0 })) as OpenMessage).holdTime, 0);
    assertEquals((decodeOk(openBody({ hold: 3 })) as OpenMessage).holdTime, 3);
  });
  await t.step("RFC 9072 extended optional parameters", () => {
    const caps = [65, 4, 0, 0, 0xfd, 0xe9];
    const bytes = openBody({ params: [] }).slice(0, 28);
    const ext = new Uint8Array([...bytes.subarray(19), 255, 255, 0, caps.length + 3, 2, 0, caps.length, ...caps]);
    const open = decodeOk(frameMessage(1, ext)) as OpenMessage;
    assertEquals(open.capabilities.fourOctetAs, 65001);
  });
});

// Attribute building blocks for hand-made UPDATEs (layouts per RFC 4271 §4.3).
const ORIGIN_IGP = [0x40, 1, 1, 0];
const AS_PATH_65001 = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP = [0x40, 3, 4, 198, 51, 100, 1];
const NLRI = [32, 203, 0, 113, 10];
function withAttrs(attrs: number[], nlri: number[] = NLRI, withdrawn: number[] = []): Uint8Array {
  return update([
    withdrawn.length >> 8,
    withdrawn.length & 0xff,
    ...withdrawn,
    attrs.length >> 8,
    attrs.length & 0xff,
    ...attrs,
    ...nlri,
  ]);
}

Deno.test("decodeMessage() resets the session for the UPDATE errors RFC 7606 keeps fatal", async (t) => {
  const mpReach = [0x80, 14, 9, 0, 2, 1, 4, 1, 2, 3, 4, 0]; // IPv6 with a 4-octet next hop: malformed
  const cases: [string, Uint8Array, number][] = [
    ["withdrawn length overruns the message", update([0, 9, 0, 0]), UpdateSubcode.MALFORMED_ATTRIBUTE_LIST],
    [
      "attributes length overruns the message",
      update([0, 0, 0, 30, 0x40, 1, 1, 0]),
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
    ],
    [
      "NLRI prefix length 33",
      withAttrs([...ORIGIN_IGP, ...AS_PATH_65001, ...NEXT_HOP], [33, 1, 2, 3, 4, 5]),
      UpdateSubcode.INVALID_NETWORK_FIELD,
    ],
    [
      "truncated NLRI",
      withAttrs([...ORIGIN_IGP, ...AS_PATH_65001, ...NEXT_HOP], [32, 1, 2]),
      UpdateSubcode.INVALID_NETWORK_FIELD,
    ],
    ["truncated withdrawn route", withAttrs([], [], [24, 1]), UpdateSubcode.INVALID_NETWORK_FIELD],
    [
      "unrecognised well-known attribute",
      withAttrs([0x40, 99, 0, ...ORIGIN_IGP]),
      UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
    ],
    [
      "malformed MP_REACH_NLRI",
      withAttrs([...ORIGIN_IGP, ...AS_PATH_65001, ...mpReach], []),
      UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
    ],
    [
      "MP_UNREACH_NLRI twice",
      withAttrs([0x80, 15, 3, 0, 2, 1, 0x80, 15, 3, 0, 2, 1], []),
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
    ],
    ["MP_REACH_NLRI with wrong flags", withAttrs([0x40, 14, 3, 0, 2, 1], []), UpdateSubcode.ATTRIBUTE_FLAGS_ERROR],
  ];
  for (const [name, bytes, subcode] of cases) {
    await t.step(name, () => {
      const e = decodeErr(bytes);
      assertEquals([e.code, e.subcode], [ErrorCode.UPDATE_MESSAGE, subcode], e.reason);
    });
  }
  await t.step("attribute errors carry the attribute as data", () => {
    const e = decodeErr(withAttrs([0x40, 99, 1, 7, ...ORIGIN_IGP]));
    assertEquals([...e.data], [0x40, 99, 1, 7]);
  });
});

Deno.test("decodeMessage() treats malformed attributes as withdrawals per RFC 7606", async (t) => {
  const base = [...ORIGIN_IGP, ...AS_PATH_65001, ...NEXT_HOP];
  const cases: [string, number[], "treat-as-withdraw" | "attribute-discard", number][] = [
    [
      "ORIGIN value 3",
      [0x40, 1, 1, 3, ...AS_PATH_65001, ...NEXT_HOP],
      "treat-as-withdraw",
      UpdateSubcode.INVALID_ORIGIN,
    ],
    [
      "ORIGIN of 2 octets",
      [0x40, 1, 2, 0, 0, ...AS_PATH_65001, ...NEXT_HOP],
      "treat-as-withdraw",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    [
      "AS_PATH segment overrun",
      [...ORIGIN_IGP, 0x40, 2, 4, 2, 2, 0, 1, ...NEXT_HOP],
      "treat-as-withdraw",
      UpdateSubcode.MALFORMED_AS_PATH,
    ],
    [
      "AS_PATH segment type 7",
      [...ORIGIN_IGP, 0x40, 2, 6, 7, 1, 0, 0, 0, 1, ...NEXT_HOP],
      "treat-as-withdraw",
      UpdateSubcode.MALFORMED_AS_PATH,
    ],
    [
      "NEXT_HOP of 5 octets",
      [...ORIGIN_IGP, ...AS_PATH_65001, 0x40, 3, 5, 1, 2, 3, 4, 5],
      "treat-as-withdraw",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    [
      "missing NEXT_HOP",
      [...ORIGIN_IGP, ...AS_PATH_65001],
      "treat-as-withdraw",
      UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
    ],
    [
      "missing ORIGIN",
      [...AS_PATH_65001, ...NEXT_HOP],
      "treat-as-withdraw",
      UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
    ],
    [
      "ORIGIN flagged optional",
      [0xc0, 1, 1, 0, ...AS_PATH_65001, ...NEXT_HOP],
      "treat-as-withdraw",
      UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
    ],
    ["MED of 3 octets", [...base, 0x80, 4, 3, 0, 0, 1], "treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR],
    ["LOCAL_PREF of 2 octets", [...base, 0x40, 5, 2, 0, 1], "treat-as-withdraw", UpdateSubcode.ATTRIBUTE_LENGTH_ERROR],
    [
      "COMMUNITIES of 3 octets",
      [...base, 0xc0, 8, 3, 0, 0, 1],
      "treat-as-withdraw",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    [
      "LARGE_COMMUNITY of 11 octets",
      [...base, 0xc0, 32, 11, ...new Array(11).fill(1)],
      "treat-as-withdraw",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    [
      "last attribute overruns the attributes field",
      [...base, 0xc0, 8, 8, 0, 0],
      "treat-as-withdraw",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    [
      "ATOMIC_AGGREGATE with a value",
      [...base, 0x40, 6, 1, 0],
      "attribute-discard",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    [
      "AGGREGATOR of 5 octets",
      [...base, 0xc0, 7, 5, 0, 0, 0, 0, 0],
      "attribute-discard",
      UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
    ],
    ["ORIGIN twice", [...base, 0x40, 1, 1, 2], "attribute-discard", UpdateSubcode.MALFORMED_ATTRIBUTE_LIST],
  ];
  for (const [name, attrs, action, subcode] of cases) {
    await t.step(name, () => {
      // The last-attribute overrun case must cut the field short: write the attributes length as given.
      const u = decodeOk(withAttrs(attrs)) as UpdateMessage;
      assertEquals(u.problems?.map((p) => [p.action, p.subcode]), [[action, subcode]]);
      assertEquals(u.treatAsWithdraw, action === "treat-as-withdraw");
    });
  }
  await t.step("a discarded duplicate keeps the first value", () => {
    const u = decodeOk(withAttrs([...base, 0x40, 1, 1, 2])) as UpdateMessage;
    assertEquals(u.attributes.origin, 0);
  });
  await t.step("an unknown optional attribute is kept raw, not an error", () => {
    const u = decodeOk(withAttrs([...base, 0xc0, 99, 2, 1, 2])) as UpdateMessage;
    assertEquals(u.problems, []);
    assertEquals(u.attributes.other?.[0]?.code, 99);
  });
});

Deno.test("AS numbers above 65535 travel as AS_TRANS plus AS4_PATH to a 2-octet peer and merge back", () => {
  const msg: UpdateMessage = {
    type: "update",
    withdrawn: [],
    nlri: [parsePrefix("192.0.2.1/32")],
    attributes: { origin: 0, asPath: [{ type: 2, asns: [4200000001] }], nextHop: parseIp("198.51.100.1") },
  };
  const bytes = encodeMessage(msg, { fourOctetAs: false });
  const raw = decodeOk(bytes, true) as UpdateMessage; // read as if 4-octet to see the raw segments
  assert(raw.attributes.other === undefined);
  const two = decodeOk(bytes, false) as UpdateMessage;
  assertEquals(two.attributes.asPath, [{ type: 2, asns: [4200000001] }]);
  // The 2-octet AS_PATH itself holds AS_TRANS.
  const asPathAt = bytes.indexOf(AttributeType.AS_PATH, 23);
  assertEquals([bytes[asPathAt + 4], bytes[asPathAt + 5]], [AS_TRANS >> 8, AS_TRANS & 0xff]);
});

Deno.test("encodeMessage() writes My AS as AS_TRANS and the real AS in the capability", () => {
  const open: OpenMessage = {
    type: "open",
    version: 4,
    myAs: 4200000001,
    holdTime: 90,
    bgpId: 0xc6336409,
    capabilities: { fourOctetAs: 4200000001, multiprotocol: [{ afi: 1, safi: 1 }] },
  };
  const back = decodeOk(encodeMessage(open)) as OpenMessage;
  assertEquals(back.myAs, AS_TRANS);
  assertEquals(openAsn(back), 4200000001);
});

Deno.test("MessageFramer cuts a stream split at arbitrary points and reports a bad header at once", () => {
  const stream = new Uint8Array(v.CAPTURED.reduce((n, m) => n + m.bytes.length, 0));
  let at = 0;
  for (const m of v.CAPTURED) {
    stream.set(m.bytes, at);
    at += m.bytes.length;
  }
  const framer = new MessageFramer();
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += 7) {
    framer.push(stream.subarray(i, i + 7));
    for (let f = framer.next(); f !== undefined; f = framer.next()) {
      assert(f instanceof Uint8Array);
      got.push(f);
    }
  }
  assertEquals(got, v.CAPTURED.map((m) => m.bytes));
  const bad = new MessageFramer();
  const header = v.KEEPALIVE.bytes.slice();
  header[16] = 0xff; // length 65299
  bad.push(header);
  const e = bad.next();
  assert(e !== undefined && !(e instanceof Uint8Array));
  assertEquals([e.code, e.subcode], [1, 2]);
});
