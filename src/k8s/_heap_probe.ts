/**
 * Measures the heap an informer holding N realistic Services takes. Run with `--v8-flags=--expose-gc`; prints one
 * JSON line `{ "services": N, "heapBytes": ..., "perServiceBytes": ... }`. Used by informer_memory_test.ts.
 * @module
 */
import { json, scriptedFetch } from "./_testing.ts";
import { KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";
import type { Service } from "./types.ts";

const count = Number(Deno.args[0] ?? "10000");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");

function realisticService(i: number): Record<string, unknown> {
  const name = `svc-${i.toString().padStart(5, "0")}`;
  return {
    metadata: {
      name,
      namespace: `team-${i % 50}`,
      uid: crypto.randomUUID(),
      resourceVersion: String(1000 + i),
      creationTimestamp: "2026-11-21T20:00:00Z",
      labels: { app: name, "app.kubernetes.io/part-of": "shop" },
      annotations: { "metallb.io/address-pool": "lan" },
      managedFields: [{
        manager: "kubectl-client-side-apply",
        operation: "Update",
        apiVersion: "v1",
        time: "2026-11-21T20:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:metadata": { "f:labels": { ".": {}, "f:app": {} } }, "f:spec": { "f:ports": {}, "f:type": {} } },
      }],
    },
    spec: {
      type: "LoadBalancer",
      selector: { app: name },
      ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080, nodePort: 30000 + (i % 2000) }],
      clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
      clusterIPs: [`10.96.${(i >> 8) & 255}.${i & 255}`],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      externalTrafficPolicy: "Cluster",
    },
    status: { loadBalancer: { ingress: [{ ip: `198.51.100.${i % 250}`, ipMode: "VIP" }] } },
  };
}

const pageSize = 500;
const { fetch } = scriptedFetch((r) => {
  if (r.url.searchParams.get("watch") === "1") return undefined; // a quiet watch, ended by stop()
  const start = Number(r.url.searchParams.get("continue") ?? "0");
  const items = [];
  for (let i = start; i < Math.min(count, start + pageSize); i++) items.push(realisticService(i));
  const next = start + pageSize < count ? String(start + pageSize) : undefined;
  return json(200, { metadata: { resourceVersion: "99999", ...(next ? { continue: next } : {}) }, items });
});

const client = new KubeClient({ config: { server: "https://192.0.2.1:6443", source: "probe" }, fetch });
gc();
await new Promise((r) => setTimeout(r, 10));
gc();
const before = Deno.memoryUsage().heapUsed;
const informer = new Informer<Service>({ client, path: "/api/v1/services", pageSize });
informer.start();
await informer.synced();
await new Promise((r) => setTimeout(r, 10));
gc();
const after = Deno.memoryUsage().heapUsed;
const size = informer.size;
await informer.stop();
client.close();
const heapBytes = after - before;
// deno-lint-ignore no-console
console.log(JSON.stringify({ services: size, heapBytes, perServiceBytes: Math.round(heapBytes / size) }));
