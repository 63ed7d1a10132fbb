import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { Registry } from "./mod.ts";

Deno.test("Registry renders counters and gauges in the Prometheus text format", () => {
  const registry = new Registry();
  const requests = registry.counter("metallite_arp_requests_total", "ARP requests seen", ["interface", "result"]);
  requests.inc({ interface: "eth0", result: "answered" });
  requests.inc({ interface: "eth0", result: "answered" }, 2);
  registry.gauge("metallite_up", "Always 1").set(undefined, 1);
  assertEquals(
    registry.render(),
    [
      "# HELP metallite_arp_requests_total ARP requests seen",
      "# TYPE metallite_arp_requests_total counter",
      'metallite_arp_requests_total{interface="eth0",result="answered"} 3',
      "# HELP metallite_up Always 1",
      "# TYPE metallite_up gauge",
      "metallite_up 1",
      "",
    ].join("\n"),
  );
});

Deno.test("Registry returns the same metric for the same name and refuses a clash", () => {
  const registry = new Registry();
  const a = registry.counter("x_total", "x", ["a"]);
  a.inc({ a: "1" });
  assertEquals(registry.counter("x_total", "x", ["a"]).get({ a: "1" }), 1);
  assertThrows(() => registry.gauge("x_total", "x", ["a"]), TypeError, "already registered");
  assertThrows(() => registry.counter("bad name", "x"), TypeError, "Invalid metric name");
  assertThrows(() => a.inc({ a: "1" }, -1), RangeError);
});

Deno.test("Label values are escaped and a flood of label sets is folded into 'other'", () => {
  const registry = new Registry();
  const seen = registry.counter("metallite_conflicts_total", "conflicts", ["mac"]);
  seen.inc({ mac: 'a"b\\c\nd' });
  for (let i = 0; i < 2000; i++) seen.inc({ mac: `m${i}` });
  const text = registry.render();
  assertEquals(text.includes('mac="a\\"b\\\\c\\nd"'), true);
  assertEquals(seen.get({ mac: "other" }), 1001);
  assertEquals(text.split("\n").filter((l) => l.startsWith("metallite_conflicts_total{")).length, 1001);
});
