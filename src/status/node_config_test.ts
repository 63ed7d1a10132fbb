import { assert, assertEquals } from "../../tests/assert.ts";
import { parseRange } from "../ip/mod.ts";
import { decodeNodeConfig, encodeNodeConfig, NODE_CONFIG_VERSION } from "./node_config.ts";

const RUN = {
  pools: [{ text: "198.51.100.200-240", range: parseRange("198.51.100.200-240") }],
  interfaces: ["eth0"],
  bgpPeers: [{ address: "198.51.100.1", asn: 64501, port: 179, holdTime: 90, password: "s3cret", ebgpMultihop: 2 }],
  asn: 64500,
  configFiles: ["/etc/metallite/pools.yaml"],
};

Deno.test("encodeNodeConfig() round-trips through decodeNodeConfig() and never carries a password", () => {
  const text = encodeNodeConfig(RUN, { version: "0.1.0", announceInterfaces: ["eth0", "eth1"] });
  assert(!text.includes("s3cret"), text);
  const decoded = decodeNodeConfig(text);
  assert(decoded.ok);
  assertEquals(decoded.config, {
    v: NODE_CONFIG_VERSION,
    version: "0.1.0",
    pools: ["198.51.100.200-240"],
    interfaces: ["eth0"],
    bgpPeers: [{ address: "198.51.100.1", asn: 64501, port: 179, holdTime: 90, multihop: 2, hasPassword: true }],
    asn: 64500,
    configFiles: ["/etc/metallite/pools.yaml"],
    announceInterfaces: ["eth0", "eth1"],
  });
});

Deno.test("decodeNodeConfig() tolerates unknown fields and leaves unknown interfaces undefined", () => {
  const decoded = decodeNodeConfig(JSON.stringify({ v: 1, pools: ["192.0.2.0/28"], future: { x: 1 } }));
  assert(decoded.ok);
  assertEquals(decoded.config.pools, ["192.0.2.0/28"]);
  assertEquals(decoded.config.announceInterfaces, undefined);
  assertEquals(decoded.config.bgpPeers, []);
});

Deno.test("decodeNodeConfig() returns an error for hostile input, never throws", async (t) => {
  const cases: [string, unknown, string][] = [
    ["not a text", 5, "not a text"],
    ["not JSON", "{", "not JSON"],
    ["an array", "[]", "not a JSON object"],
    ["another version", JSON.stringify({ v: 2 }), "unknown version 2"],
    ["pools not texts", JSON.stringify({ v: 1, pools: [1] }), "pools is not a list of texts"],
    ["peer without asn", JSON.stringify({ v: 1, bgpPeers: [{ address: "192.0.2.1" }] }), "bgpPeers[0].asn"],
    ["asn out of range", JSON.stringify({ v: 1, asn: 2 ** 33 }), "asn is not a whole number"],
    ["huge", JSON.stringify({ v: 1, pools: ["x".repeat(70_000)] }), "longer than"],
    ["too many pools", JSON.stringify({ v: 1, pools: Array(300).fill("192.0.2.1") }), "pools is not a list"],
  ];
  for (const [name, input, error] of cases) {
    await t.step(name, () => {
      const decoded = decodeNodeConfig(input);
      assert(!decoded.ok);
      assert(decoded.error.includes(error), decoded.error);
    });
  }
});
