import { assert, assertEquals } from "../../tests/assert.ts";
import type { Service } from "../k8s/mod.ts";
import { announcementView } from "./caches.ts";

function web(extra: { rv?: string; annotations?: Record<string, string>; status?: Service["status"] } = {}): Service {
  return {
    metadata: {
      name: "web",
      namespace: "default",
      uid: "u1",
      resourceVersion: extra.rv ?? "1",
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
    status: extra.status ?? { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
  } as Service;
}

Deno.test("announcementView() ignores what only the allocator reads: conditions, its annotation, versions", () => {
  const before = web();
  const after = web({
    rv: "2",
    annotations: { "metallb.io/ip-allocated-from-pool": "lan" },
    status: {
      loadBalancer: { ingress: [{ ip: "192.0.2.10" }] },
      conditions: [{ type: "metallite.io/AddressAssigned", status: "True" }],
    } as Service["status"],
  });
  assertEquals(announcementView(before), announcementView(after));
  // The annotation is dropped from the view, never from the cached object.
  assertEquals(after.metadata.annotations, { "metallb.io/ip-allocated-from-pool": "lan" });
});

Deno.test("announcementView() sees addresses, sharing annotations, labels and spec changes", () => {
  const base = announcementView(web());
  assert(announcementView(web({ status: { loadBalancer: { ingress: [{ ip: "192.0.2.11" }] } } })) !== base);
  assert(announcementView(web({ annotations: { "metallb.io/allow-shared-ip": "k" } })) !== base);
  const labelled = web();
  labelled.metadata.labels = { tier: "edge" };
  assert(announcementView(labelled) !== base);
  const local = web();
  local.spec = { ...local.spec, externalTrafficPolicy: "Local" };
  assert(announcementView(local) !== base);
});
