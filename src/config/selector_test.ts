import { assertEquals } from "../../tests/assert.ts";
import { formatCommunity, parseCommunity } from "./community.ts";
import type { LabelSelector } from "./model.ts";
import { MATCH_ALL, matchesAny, matchesLabels } from "./selector.ts";
import { parseGoDuration } from "./_duration.ts";

const sel = (matchLabels: Record<string, string>, matchExpressions: LabelSelector["matchExpressions"] = []) => ({
  matchLabels,
  matchExpressions,
});

Deno.test("matchesLabels() follows apimachinery's rules", async (t) => {
  const labels = { app: "web", tier: "front" };
  const cases: [string, LabelSelector, boolean][] = [
    ["empty selector matches all", MATCH_ALL, true],
    ["matchLabels equal", sel({ app: "web" }), true],
    ["matchLabels differ", sel({ app: "db" }), false],
    ["matchLabels missing key", sel({ zone: "a" }), false],
    ["In", sel({}, [{ key: "app", operator: "In", values: ["db", "web"] }]), true],
    ["In missing label", sel({}, [{ key: "zone", operator: "In", values: ["a"] }]), false],
    ["NotIn", sel({}, [{ key: "app", operator: "NotIn", values: ["web"] }]), false],
    ["NotIn missing label holds", sel({}, [{ key: "zone", operator: "NotIn", values: ["a"] }]), true],
    ["Exists", sel({}, [{ key: "tier", operator: "Exists", values: [] }]), true],
    ["DoesNotExist", sel({}, [{ key: "tier", operator: "DoesNotExist", values: [] }]), false],
    ["all must hold", sel({ app: "web" }, [{ key: "tier", operator: "In", values: ["back"] }]), false],
    ["no prototype keys", sel({ constructor: "x" }), false],
  ];
  for (const [what, selector, expected] of cases) {
    await t.step(what, () => assertEquals(matchesLabels(selector, labels), expected));
  }
  await t.step("matchesAny: empty list matches, else any", () => {
    assertEquals(matchesAny([], {}), true);
    assertEquals(matchesAny([sel({ a: "1" }), sel({ app: "web" })], labels), true);
    assertEquals(matchesAny([sel({ a: "1" })], labels), false);
  });
});

Deno.test("parseCommunity() reads standard and large communities as MetalLB does", async (t) => {
  const cases: [string, string | undefined][] = [
    ["65535:65282", "65535:65282"],
    ["0:0", "0:0"],
    ["large:1:2:3", "large:1:2:3"],
    ["large:4294967295:0:4294967295", "large:4294967295:0:4294967295"],
    ["65536:0", undefined],
    ["-1:0", undefined],
    ["1:2:3", undefined],
    ["large:1:2", undefined],
    ["large:1:2:4294967296", undefined],
    ["NO_ADVERTISE", undefined],
    ["", undefined],
    [" 1:2", undefined],
  ];
  for (const [text, expected] of cases) {
    await t.step(JSON.stringify(text), () => {
      const parsed = parseCommunity(text);
      assertEquals(parsed.ok ? formatCommunity(parsed.value) : undefined, expected);
    });
  }
  assertEquals(parseCommunity("NO_ADVERTISE"), {
    ok: false,
    malformed: true,
    error: `"NO_ADVERTISE" is neither a community (N:N or large:N:N:N) nor a known alias`,
  });
  assertEquals(parseCommunity("65535:65282"), { ok: true, value: { kind: "standard", value: 0xffffff02 } });
});

Deno.test("parseGoDuration() reads metav1.Duration text", () => {
  const cases: [string, number | undefined][] = [
    ["90s", 90],
    ["9m0s", 540],
    ["1h30m", 5400],
    ["1.5s", 1.5],
    ["500ms", 0.5],
    ["0", 0],
    ["0s", 0],
    ["", undefined],
    ["90", undefined],
    ["-1s", undefined],
    ["1d", undefined],
    ["s", undefined],
  ];
  for (const [text, expected] of cases) assertEquals(parseGoDuration(text), expected, text);
});
