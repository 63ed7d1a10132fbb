// deno-lint-ignore-file no-console -- tests say why they skip
/**
 * The DaemonSet's ClusterRole and Role against the permissions metallite needs, the RBAC evaluator itself, and the
 * check an integration run uses: every request the code made against the fake API server is allowed.
 */
import { assert, assertEquals } from "../assert.ts";
import { ROOT } from "../../scripts/runtime.ts";
import { NEEDED_PERMISSIONS } from "./permissions.ts";
import {
  type ApiRequest,
  checkExampleRbac,
  checkRequests,
  describeGrant,
  type Grant,
  grantsFor,
  isAllowed,
  loadManifests,
  parseManifests,
} from "./rbac.ts";

const NAMESPACE = "metallb-system";
const SA = { namespace: NAMESPACE, name: "metallite" };

function exampleGrants(): Promise<Grant[]> {
  return loadManifests(`${ROOT}/examples/daemonset.yaml`).then((m) => grantsFor(m, SA));
}

Deno.test("the DaemonSet's roles grant exactly the documented permissions", async () => {
  const granted = (await exampleGrants()).map(describeGrant).sort();
  const needed = NEEDED_PERMISSIONS.flatMap((p) =>
    p.verbs.map((verb) =>
      describeGrant({
        verb,
        group: p.group,
        resource: p.resource,
        namespace: p.scope === "namespace" ? NAMESPACE : undefined,
        resourceNames: [],
      })
    )
  ).sort();
  assertEquals(granted, needed);
  for (const p of NEEDED_PERMISSIONS) assert(p.why.length > 10, `${p.resource} has a reason`);
});

Deno.test("the DaemonSet's roles use no wildcard and never grant secrets cluster-wide", async () => {
  const grants = await exampleGrants();
  assertEquals(grants.filter((g) => [g.verb, g.group, g.resource].some((v) => v.includes("*"))), []);
  assertEquals(grants.filter((g) => g.resource === "secrets" && g.namespace === undefined), []);
  assertEquals(
    grants.filter((g) =>
      ["delete", "deletecollection", "escalate", "bind", "impersonate"].includes(g.verb) &&
      g.namespace === undefined
    ),
    [],
  );
});

Deno.test("isAllowed() follows Kubernetes RBAC for scopes, subresources, wildcards and names", async (t) => {
  const manifests = parseManifests(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
  - {apiGroups: [""], resources: ["services"], verbs: ["list"]}
  - {apiGroups: ["metallb.io"], resources: ["*"], verbs: ["get"]}
  - {apiGroups: [""], resources: ["configmaps"], verbs: ["update"], resourceNames: ["only-this"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: ServiceAccount, name: metallite, namespace: metallb-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: leases}
rules: [{apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leases, namespace: metallb-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: leases}
subjects: [{kind: ServiceAccount, name: metallite}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: someone-else}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: leases}
subjects: [{kind: ServiceAccount, name: other, namespace: metallb-system}]
`);
  const grants = grantsFor(manifests, SA);
  const cases: [string, ApiRequest, boolean][] = [
    ["cluster rule in any namespace", { verb: "list", group: "", resource: "services", namespace: "web" }, true],
    ["cluster rule across namespaces", { verb: "list", group: "", resource: "services" }, true],
    ["other verb", { verb: "watch", group: "", resource: "services" }, false],
    ["subresource needs its own rule", {
      verb: "list",
      group: "",
      resource: "services",
      subresource: "status",
      namespace: "web",
    }, false],
    ["resource wildcard", { verb: "get", group: "metallb.io", resource: "bgppeers", namespace: "x", name: "a" }, true],
    ["resource wildcard covers subresources too", {
      verb: "get",
      group: "metallb.io",
      resource: "ipaddresspools",
      subresource: "status",
      name: "a",
    }, true],
    ["resourceNames", { verb: "update", group: "", resource: "configmaps", namespace: "a", name: "only-this" }, true],
    ["resourceNames other", { verb: "update", group: "", resource: "configmaps", namespace: "a", name: "x" }, false],
    ["RoleBinding to a ClusterRole: its namespace", {
      verb: "update",
      group: "coordination.k8s.io",
      resource: "leases",
      namespace: NAMESPACE,
      name: "a",
    }, true],
    ["RoleBinding to a ClusterRole: not elsewhere", {
      verb: "update",
      group: "coordination.k8s.io",
      resource: "leases",
      namespace: "kube-system",
      name: "a",
    }, false],
    ["discovery", { verb: "get", group: "", resource: "", path: "/apis/metallb.io/v1beta1" }, true],
    ["other non-resource URL", { verb: "get", group: "", resource: "", path: "/metrics" }, false],
  ];
  for (const [name, request, allowed] of cases) {
    await t.step(name, () => assertEquals(isAllowed(grants, request), allowed));
  }
});

Deno.test("checkRequests() lists denied requests once and the grants no request used", async () => {
  const grants = await exampleGrants();
  const log: ApiRequest[] = [
    { verb: "list", group: "", resource: "services" },
    { verb: "watch", group: "", resource: "services" },
    { verb: "update", group: "", resource: "services", subresource: "status", namespace: "web", name: "shop" },
    { verb: "create", group: "", resource: "events", namespace: "web" },
    { verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: NAMESPACE, name: "metallite" },
    { verb: "get", group: "", resource: "", path: "/apis/metallb.io/v1beta2" },
    // Not allowed: secrets outside metallite's namespace, deleting Services.
    { verb: "get", group: "", resource: "secrets", namespace: "default", name: "x" },
    { verb: "get", group: "", resource: "secrets", namespace: "default", name: "x" },
    { verb: "delete", group: "", resource: "services", namespace: "web", name: "shop" },
  ];
  const result = checkRequests(grants, log);
  assertEquals(result.denied, ["delete services shop in web", "get secrets x in default"]);
  const unused = result.unused.map(describeGrant);
  assert(!unused.includes("list services cluster-wide"));
  assert(unused.includes("get services cluster-wide"));
  assertEquals(result.unused.length, grants.length - 5);
});

const fakeApiServerPath = `${ROOT}/tests/fake_apiserver/mod.ts`;
const fakeMissing = await Deno.stat(fakeApiServerPath).then(() => undefined, () => "tests/fake_apiserver is missing");
if (fakeMissing) console.error(`skipping the fake API server RBAC test: ${fakeMissing}`);

Deno.test({
  name: "requests metallite's Kubernetes client makes against the fake API server are allowed by the DaemonSet's roles",
  ignore: fakeMissing !== undefined,
  async fn() {
    const { startFakeApiServer } = await import(fakeApiServerPath);
    const k8s = await import("../../src/k8s/mod.ts");
    const server = await startFakeApiServer({ namespaces: ["web"] });
    try {
      server.create("nodes", { apiVersion: "v1", kind: "Node", metadata: { name: "node-a" } });
      server.create("services", {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "shop", namespace: "web" },
        spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
      });
      const api = k8s.createKubeApi({ config: await k8s.loadKubeConfig({ path: server.kubeconfigPath }) });
      try {
        await api.discoverMetallb();
        await api.services.list();
        await api.nodes.list();
        await api.endpointSlices.list();
        await api.ipAddressPools.list({ namespace: NAMESPACE });
        await k8s.updateServiceStatus({
          services: api.services,
          namespace: "web",
          name: "shop",
          update: () => ({ loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } }),
        });
      } finally {
        api.close();
      }
      const result = await checkExampleRbac(server.requests);
      assertEquals(result.denied, []);
      assert(server.requests.length >= 6, `${server.requests.length} requests logged`);
    } finally {
      await server.close();
    }
  },
});
