import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { buildModel } from "./build.ts";
import { parseConfigFile } from "./yaml.ts";

const SAMPLES = new URL("./testdata/metallb_samples/", import.meta.url);
const COMPANION = new URL("./testdata/companion.yaml", import.meta.url);

function sampleNames(): string[] {
  return [...Deno.readDirSync(SAMPLES)].map((e) => e.name).filter((n) => n.endsWith(".yaml")).sort();
}

function load(name: string) {
  return parseConfigFile(Deno.readTextFileSync(new URL(name, SAMPLES)), { file: name });
}

function modelOf(text: string) {
  const parsed = parseConfigFile(text, { file: "test.yaml" });
  return { parsed, model: buildModel({ files: parsed.objects, namespace: "metallb-system" }) };
}

// Samples that name a pool (or peer) they do not define: alone they are rejected with UnknownPool.
const NEEDS_COMPANION = new Set([
  "bgpadv_selectspool_by_list.yaml",
  "bgpadvertisement_communities_localpref.yaml",
  "bgpadvertisement_community_alias.yaml",
  "bgpadvertisement_with_node_selector.yaml",
  "l2adv_selects_pools_by_list.yaml",
]);

Deno.test("parseConfigFile() reads every MetalLB sample, with the objects each names, without a rejection", async (t) => {
  const companion = parseConfigFile(Deno.readTextFileSync(COMPANION), { file: "companion.yaml" });
  assertEquals(companion.rejected, []);
  const names = sampleNames();
  assert(names.length >= 18, `expected MetalLB's 18 samples, found ${names.length}`);
  for (const name of names) {
    await t.step(name, () => {
      const parsed = load(name);
      assertEquals(parsed.rejected, []);
      assert(parsed.objects.length > 0);
      const model = buildModel({ files: [...companion.objects, ...parsed.objects], namespace: "metallb-system" });
      assertEquals(model.rejected, []);
      const alone = buildModel({ files: parsed.objects, namespace: "metallb-system" });
      const codes = alone.rejected.map((r) => r.code);
      assertEquals(codes, NEEDS_COMPANION.has(name) ? ["UnknownPool"] : []);
    });
  }
});

Deno.test("parseConfigFile() skips the Deployment and Service documents of MetalLB's samples", () => {
  const parsed = load("deployment_bgp.yaml");
  assertEquals(parsed.ignored.map((r) => `${r.kind}/${r.name}`), ["Deployment/nginx", "Service/nginx"]);
  assertEquals(parsed.objects.length, 4);
});

Deno.test("MetalLB samples give the values MetalLB reads from them", async (t) => {
  const companion = parseConfigFile(Deno.readTextFileSync(COMPANION), { file: "companion.yaml" }).objects;
  const model = (name: string) =>
    buildModel({ files: [...companion, ...load(name).objects], namespace: "metallb-system" });
  await t.step("ipaddresspool_simple: ranges per family, sizes", () => {
    const pool = model("ipaddresspool_simple.yaml").pools.find((p) => p.name === "example")!;
    assertEquals(pool.ranges[4].map((r) => [r.first, r.last]), [
      [0xc0a80901n, 0xc0a80905n],
      [0xc0a80a00n, 0xc0a80affn],
    ]);
    assertEquals(pool.ranges[6].length, 1);
    assertEquals(pool.size, { 4: 261n, 6: 16n });
    assertEquals(pool.autoAssign, true);
    assertEquals(pool.avoidBuggyIPs, false);
    assertEquals(pool.serviceAllocation, undefined);
  });
  await t.step("ipaddresspool_with_selector: serviceAllocation", () => {
    const pool = model("ipaddresspool_with_selector.yaml").pools.find((p) => p.name.startsWith("ippool"))!;
    assertEquals(pool.avoidBuggyIPs, true);
    assertEquals(pool.serviceAllocation, {
      priority: 50,
      namespaces: ["namespace-a", "namespace-b"],
      namespaceSelectors: [{ matchLabels: { foo: "bar" }, matchExpressions: [] }],
      serviceSelectors: [{ matchLabels: {}, matchExpressions: [{ key: "app", operator: "In", values: ["bar"] }] }],
    });
  });
  await t.step("bgppeer_withsecret: Go durations and the Secret reference", () => {
    const peer = model("bgppeer_withsecret.yaml").bgpPeers.find((p) => p.name === "peer-with-secret")!;
    assertEquals([peer.holdTime, peer.keepaliveTime, peer.peerPort], [540, 0, 179]);
    assertEquals(peer.passwordSecret, { name: "secretname", namespace: "metallb-system" });
    assertEquals(peer.password, undefined);
  });
  await t.step("bgppeer_with_session_options: connectTime", () => {
    const peer = model("bgppeer_with_session_options.yaml").bgpPeers.find((p) => p.name === "peer")!;
    assertEquals(peer.connectTime, 120);
    assertEquals([peer.holdTime, peer.keepaliveTime], [90, 30]);
  });
  await t.step("bgppeer_with_bfdprofile: profile with defaults", () => {
    const m = model("bgppeer_with_bfdprofile.yaml");
    assertEquals(m.bgpPeers.find((p) => p.name === "peer")!.bfdProfile, "testbfdprofile");
    const bfd = m.bfdProfiles[0]!;
    assertEquals([bfd.receiveInterval, bfd.transmitInterval, bfd.detectMultiplier], [380, 270, 3]);
    assertEquals([bfd.echoInterval, bfd.echoMode, bfd.passiveMode, bfd.minimumTtl], [50, false, false, 254]);
  });
  await t.step("bgppeer_with_vrf: vrf", () => {
    assertEquals(model("bgppeer_with_vrf.yaml").bgpPeers.find((p) => p.name === "peer")!.vrf, "red");
  });
  await t.step("bgpadvertisement_community_alias: alias resolved", () => {
    const adv = model("bgpadvertisement_community_alias.yaml").bgpAdvertisements[0]!;
    assertEquals(adv.communities, [{ kind: "standard", value: 0xffffff02 }]);
    assertEquals(adv.localPref, 150);
    assertEquals(adv.pools, ["bgp-with-advertisement"]);
  });
  await t.step("bgpadv_selectspool_by_label: selector resolves pools", () => {
    const adv = model("bgpadv_selectspool_by_label.yaml").bgpAdvertisements[0]!;
    assertEquals(adv.pools, ["bgp-with-advertisement"]);
    assertEquals([adv.aggregationLength, adv.aggregationLengthV6], [32, 128]);
  });
  await t.step("simple_pool_adv_l2: an empty L2Advertisement applies to every pool", () => {
    const m = model("simple_pool_adv_l2.yaml");
    assertEquals(m.l2Advertisements[0]!.pools, m.pools.map((p) => p.name));
    assertEquals(m.l2Advertisements[0]!.interfaces, []);
  });
  await t.step("l2adv_with_node_selector: node selector", () => {
    const adv = model("l2adv_with_node_selector.yaml").l2Advertisements[0]!;
    assertEquals(adv.nodeSelectors, [{
      matchLabels: { "kubernetes.io/hostname": "kind-control-plane" },
      matchExpressions: [],
    }]);
  });
});

Deno.test("parseConfigFile() turns bad YAML into rejections and keeps the good documents", async (t) => {
  const good =
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: ok}\nspec: {addresses: [192.0.2.0/28]}";
  const cases: [string, string, RegExp][] = [
    ["unclosed flow list", "a: [1, 2", /not valid YAML/],
    ["tab indentation", "a:\n\tb: 1", /not valid YAML/],
    ["duplicate keys", "a: 1\na: 2", /not valid YAML/],
    ["a scalar document", "just text", /not an object/],
    ["a list document", "- 1\n- 2", /not an object/],
    ["binary garbage", "\u0000\u0001\u00ff{{{:::", /no apiVersion/],
    ["an object without apiVersion", "kind: IPAddressPool\nmetadata: {name: x}", /no apiVersion/],
    [
      "alias bomb",
      "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n" +
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n" +
      "f: [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
      /./,
    ],
  ];
  for (const [what, bad, pattern] of cases) {
    await t.step(what, () => {
      const parsed = parseConfigFile(
        `${good}\n---\n${bad}\n---\n${good.replace("ok", "ok2").replace("0/28", "16/28")}`,
        {
          file: "f.yaml",
        },
      );
      assertEquals(parsed.rejected.length, 1, JSON.stringify(parsed.rejected));
      assertEquals(parsed.rejected[0]!.code, "InvalidDocument");
      assertMatch(parsed.rejected[0]!.reason, /^document 2: /);
      assertMatch(parsed.rejected[0]!.reason, pattern);
      assertEquals(parsed.objects.length, 2);
    });
  }
  await t.step("empty documents and an empty file", () => {
    assertEquals(parseConfigFile("", { file: "e" }), { objects: [], rejected: [], ignored: [] });
    assertEquals(parseConfigFile("---\n---\n# only a comment\n", { file: "e" }).objects, []);
  });
  await t.step("an oversized file", () => {
    const parsed = parseConfigFile("#".repeat(5 * 1024 * 1024), { file: "big" });
    assertEquals(parsed.rejected.length, 1);
    assertMatch(parsed.rejected[0]!.reason, /larger than/);
  });
});

Deno.test("parseConfigFile() passes metallb.io kinds on and skips MetalLB's status kinds", () => {
  const text = [
    "apiVersion: metallb.io/v1beta1\nkind: ServiceL2Status\nmetadata: {name: s}",
    "apiVersion: metallb.io/v1beta1\nkind: IPAdressPool\nmetadata: {name: typo}",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}",
  ].join("\n---\n");
  const { parsed, model } = modelOf(text);
  assertEquals(parsed.ignored.map((r) => r.kind), ["ServiceL2Status", "ConfigMap"]);
  assertEquals(model.rejected.map((r) => [r.code, r.ref.name]), [["UnsupportedVersion", "typo"]]);
});
