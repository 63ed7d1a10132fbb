import { assert, assertEquals, waitFor } from "../../tests/assert.ts";
import type { PeerConfig, Route, Speaker, SpeakerOptions } from "../bgp/mod.ts";
import { buildModel, type Model, parseCommandLine, parseConfigFile, type RunOptions } from "../config/mod.ts";
import {
  type EndpointSlice,
  type EventRecorder,
  type KubeApi,
  KubeApiError,
  type MetallbObject,
  type Node,
  type Secret,
  type Service,
} from "../k8s/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { Registry } from "../metrics/mod.ts";
import { nodeRouterId, peerConfigFor, startBgp } from "./bgp.ts";
import type { Caches } from "./caches.ts";
import type { ModelSource } from "./model_source.ts";

const NS = "metallb-system";

function modelOf(yaml: string): Model {
  const parsed = parseConfigFile(yaml, { file: "test.yaml" });
  const model = buildModel({ files: parsed.objects, namespace: NS });
  assertEquals([...parsed.rejected, ...model.rejected], []);
  return model;
}

function runOptions(): RunOptions {
  const command = parseCommandLine(["--node-name", "node1"], { env: () => undefined, hostname: () => "node1" });
  assert(command.kind === "run");
  return command.options;
}

const POOL = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: lan, namespace: ${NS} }
spec: { addresses: [203.0.113.0/24] }
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: all, namespace: ${NS} }
spec: { communities: ["64513:1"] }
`;

function peerYaml(name: string, extra = ""): string {
  return `---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: ${name}, namespace: ${NS} }
spec:
  myASN: 64513
  peerASN: 64512
  peerAddress: 198.51.100.1
${extra}`;
}

Deno.test("nodeRouterId() takes the node's first IPv4 InternalIP, then ExternalIP", () => {
  const node = (addresses: { type: string; address: string }[]): Node => ({
    metadata: { name: "n" },
    status: { addresses },
  });
  assertEquals(
    nodeRouterId(
      node([{ type: "InternalIP", address: "2001:db8::1" }, { type: "InternalIP", address: "198.51.100.7" }]),
    ),
    "198.51.100.7",
  );
  assertEquals(nodeRouterId(node([{ type: "ExternalIP", address: "192.0.2.1" }])), "192.0.2.1");
  assertEquals(nodeRouterId(node([{ type: "Hostname", address: "n" }])), undefined);
  assertEquals(nodeRouterId(undefined), undefined);
  assertEquals(nodeRouterId({ metadata: { name: "n" }, status: { addresses: "junk" } } as unknown as Node), undefined);
});

Deno.test("peerConfigFor() maps a BGPPeer onto the speaker's settings", async (t) => {
  await t.step("every session option", () => {
    const model = modelOf(`
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: { name: fast, namespace: ${NS} }
spec: { receiveInterval: 100, transmitInterval: 100, detectMultiplier: 5 }
${
      peerYaml(
        "full",
        `  peerPort: 1179
  sourceAddress: 198.51.100.11
  routerID: 192.0.2.9
  holdTime: 30s
  keepaliveTime: 10s
  connectTime: 5s
  ebgpMultiHop: true
  enableGracefulRestart: true
  dualStackAddressFamily: true
  bfdProfile: fast
`,
      )
    }`);
    const config = peerConfigFor(model.bgpPeers[0]!, model, "s3cret") as PeerConfig;
    assertEquals(config, {
      name: "full",
      address: "198.51.100.1",
      asn: 64512,
      localAsn: 64513,
      port: 1179,
      routerId: "192.0.2.9",
      sourceAddress: "198.51.100.11",
      holdTime: 30,
      keepaliveTime: 10,
      password: "s3cret",
      ebgpMultihop: true,
      gracefulRestart: true,
      families: ["ipv4", "ipv6"],
      retryMinSeconds: 5,
      retryMaxSeconds: 5,
      bfd: {
        receiveInterval: 100,
        transmitInterval: 100,
        detectMultiplier: 5,
        passiveMode: false,
        echoMode: false,
        echoInterval: 50,
        minimumTtl: 254,
      },
    });
  });
  await t.step("an IPv4 peer carries IPv4 only; dynamicASN internal peers with our own AS", () => {
    const model = modelOf(`
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: dyn, namespace: ${NS} }
spec: { myASN: 64513, dynamicASN: internal, peerAddress: 198.51.100.1 }
`);
    const config = peerConfigFor(model.bgpPeers[0]!, model, undefined) as PeerConfig;
    assertEquals([config.asn, config.families, config.password], [64513, ["ipv4"], undefined]);
  });
  await t.step("what the speaker cannot do is refused with a reason", () => {
    const model = modelOf(`
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: ext, namespace: ${NS} }
spec: { myASN: 64513, dynamicASN: external, peerAddress: 198.51.100.1 }
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: vrf, namespace: ${NS} }
spec: { myASN: 64513, peerASN: 64512, peerAddress: 198.51.100.2, vrf: red }
`);
    const reasons = model.bgpPeers.map((p) =>
      (peerConfigFor(p, model, undefined) as { unsupported: string }).unsupported
    );
    assertEquals(reasons, ["dynamicASN: external is not supported; set spec.peerASN", 'VRF "red" is not supported']);
  });
});

/** A speaker that records what it is told. */
function fakeSpeaker() {
  const calls: string[] = [];
  const routes = new Map<string, readonly Route[]>();
  let created: SpeakerOptions | undefined;
  const peers = new Map<string, PeerConfig>();
  const speaker: Speaker = {
    addPeer(peer) {
      peers.set(peer.name!, peer);
      calls.push(`add ${peer.name}${peer.password ? " (password)" : ""}`);
    },
    removePeer(name) {
      peers.delete(name);
      routes.delete(name);
      calls.push(`remove ${name}`);
      return Promise.resolve();
    },
    setRoutes(peer, list) {
      routes.set(peer, list);
      calls.push(`routes ${peer}: ${list.map((r) => r.prefix).join(",")}`);
    },
    bfdDown() {},
    peers: () => [],
    collectMetrics() {},
    shutdown(options) {
      calls.push(`shutdown ${options?.message ?? ""}`);
      return Promise.resolve();
    },
  };
  return {
    calls,
    routes,
    peers,
    options: () => created,
    create: (options: SpeakerOptions) => {
      created = options;
      return speaker;
    },
  };
}

/** In-memory caches, model source and API with the subset startBgp uses. */
function fakeWorld(yaml: string) {
  const handlers = new Set<() => void>();
  const modelHandlers = new Set<(m: Model) => void>();
  let model = modelOf(yaml);
  const services = new Map<string, Service>();
  const slices = new Map<string, EndpointSlice[]>();
  const node: Node = {
    metadata: { name: "node1", labels: {} },
    status: { addresses: [{ type: "InternalIP", address: "198.51.100.11" }] },
  };
  const caches = {
    synced: () => true,
    whenSynced: () => Promise.resolve(),
    onAnyChange(h: () => void) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    nodes: { get: (name: string) => (name === "node1" ? node : undefined) },
    services: { list: () => [...services.values()] },
    endpointSlicesOf: (key: string) => slices.get(key) ?? [],
  } as unknown as Caches;
  const models = {
    current: () => model,
    onChange(h: (m: Model) => void) {
      modelHandlers.add(h);
      return () => modelHandlers.delete(h);
    },
    crdsInstalled: true,
  } as unknown as ModelSource;
  const statuses = new Map<string, MetallbObject>([[
    "bgp-stale",
    { metadata: { name: "bgp-stale", namespace: NS, labels: { "metallb.io/node": "node1" } } },
  ]]);
  const secretStore = new Map<string, Secret>();
  let counter = 0;
  const notFound = (what: string) =>
    new KubeApiError({ status: 404, reason: "NotFound", message: `${what} not found`, method: "GET", path: what });
  const api = {
    secrets: {
      get: ({ name }: { name: string }) => {
        const s = secretStore.get(name);
        return s ? Promise.resolve(s) : Promise.reject(notFound(name));
      },
    },
    serviceBgpStatuses: {
      list: () => Promise.resolve({ items: [...statuses.values()], resourceVersion: "1" }),
      create: (o: MetallbObject) => {
        const name = `bgp-${++counter}`;
        const stored = { ...o, metadata: { ...o.metadata, name }, status: {} };
        statuses.set(name, stored);
        return Promise.resolve(stored);
      },
      get: ({ name }: { name: string }) => Promise.resolve(statuses.get(name)!),
      updateStatus: (o: MetallbObject) => {
        statuses.set(o.metadata.name, o);
        return Promise.resolve(o);
      },
      delete: ({ name }: { name: string }) => {
        if (!statuses.delete(name)) return Promise.reject(notFound(name));
        return Promise.resolve();
      },
    },
  } as unknown as KubeApi;
  const events: string[] = [];
  const recorder = {
    record: (o: { name: string }, d: { message: string }) => {
      events.push(`${o.name}: ${d.message}`);
      return Promise.resolve();
    },
  } as unknown as EventRecorder;
  const changed = () => handlers.forEach((h) => h());
  return {
    caches,
    models,
    api,
    events,
    recorder,
    statuses,
    secretStore,
    addService(name: string, ip: string) {
      services.set(`default/${name}`, {
        metadata: { name, namespace: "default", uid: `uid-${name}` },
        spec: { type: "LoadBalancer", externalTrafficPolicy: "Cluster" },
        status: { loadBalancer: { ingress: [{ ip }] } },
      });
      slices.set(`default/${name}`, [{
        metadata: { name: `${name}-x`, namespace: "default" },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.0.0.1"], nodeName: "node2" }],
      }]);
      changed();
    },
    deleteService(name: string) {
      services.delete(`default/${name}`);
      changed();
    },
    setModel(yaml: string) {
      model = modelOf(yaml);
      modelHandlers.forEach((h) => h(model));
    },
  };
}

function statusSummary(statuses: Map<string, MetallbObject>): string[] {
  return [...statuses.values()].map((o) => {
    const s = o.status as { serviceName?: string; peers?: string[] } | undefined;
    return `${o.metadata.labels?.["metallb.io/service-name"]}:${s?.serviceName}:${(s?.peers ?? []).join(",")}`;
  }).sort();
}

Deno.test("startBgp() runs the selected peers, announces, publishes and cleans up", async () => {
  const world = fakeWorld(POOL + peerYaml("router"));
  const speaker = fakeSpeaker();
  const bgp = await startBgp({
    run: runOptions(),
    api: world.api,
    caches: world.caches,
    models: world.models,
    events: world.recorder,
    log: silentLogger,
    registry: new Registry(),
    createSpeaker: speaker.create,
    minIntervalMs: 0,
  });
  try {
    await waitFor("the peer added", () => speaker.peers.has("router"));
    assertEquals([speaker.options()?.asn, speaker.options()?.routerId], [64513, "198.51.100.11"]);
    await waitFor("the stale ServiceBGPStatus deleted", () => !world.statuses.has("bgp-stale"));

    world.addService("web", "203.0.113.10");
    await waitFor("the route", () => speaker.routes.get("router")?.length === 1);
    assertEquals(speaker.routes.get("router"), [{ prefix: "203.0.113.10/32", communities: ["64513:1"] }]);
    await waitFor("a ServiceBGPStatus", () => statusSummary(world.statuses).join() === "web:web:router");
    assertEquals(world.events, ['web: announcing from node "node1" with protocol "bgp"']);

    // A changed BGPPeer is re-created; a new one added.
    world.setModel(POOL + peerYaml("router", "  holdTime: 30s\n") + peerYaml("spare", "  peerPort: 1179\n"));
    await waitFor("router re-created and spare added", () => speaker.calls.includes("add spare"));
    assert(speaker.calls.includes("remove router"), speaker.calls.join("\n"));
    await waitFor("routes to both", () => speaker.routes.get("spare")?.length === 1);
    assertEquals(speaker.routes.get("router")?.length, 1, "the re-created peer gets its routes again");
    await waitFor("both peers in the status", () => statusSummary(world.statuses).join() === "web:web:router,spare");
    assertEquals(world.events.length, 1, "no second Event while the Service stays announced");

    world.deleteService("web");
    await waitFor("routes withdrawn", () => speaker.routes.get("router")?.length === 0);
    await waitFor("the status deleted", () => world.statuses.size === 0);
  } finally {
    await bgp.stop();
  }
  assertEquals(speaker.calls.at(-1), "shutdown metallite stopping");
});

Deno.test("startBgp() reads a passwordSecret, and runs the peer only while the Secret is usable", async () => {
  const world = fakeWorld(POOL + peerYaml("router", `  passwordSecret: { name: pw, namespace: ${NS} }\n`));
  const speaker = fakeSpeaker();
  const warnings: string[] = [];
  const log = {
    ...silentLogger,
    warnOnce: (_k: string, m: string, f?: Record<string, unknown>) => warnings.push(`${m}: ${f?.reason}`),
  };
  const bgp = await startBgp({
    run: runOptions(),
    api: world.api,
    caches: world.caches,
    models: world.models,
    events: world.recorder,
    log: { ...log, with: () => log },
    registry: new Registry(),
    createSpeaker: speaker.create,
    minIntervalMs: 0,
    secretRetryMs: 20,
  });
  const secret = (type: string, password: string): Secret => ({
    metadata: { name: "pw", namespace: NS },
    type,
    data: { password: btoa(password) },
  });
  try {
    await waitFor("a warning about the missing Secret", () => warnings.some((w) => w.includes("pw not found")));
    assertEquals(speaker.peers.size, 0);
    world.secretStore.set("pw", secret("Opaque", "s3cret"));
    await waitFor("a warning about its type", () => warnings.some((w) => w.includes("kubernetes.io/basic-auth")));
    assertEquals(speaker.peers.size, 0);
    world.secretStore.set("pw", secret("kubernetes.io/basic-auth", "s3cret"));
    await waitFor("the peer started with the password", () => speaker.peers.get("router")?.password === "s3cret");
    world.secretStore.delete("pw");
    // A good password is read again only every minute: the session stays.
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(speaker.peers.get("router")?.password, "s3cret");
  } finally {
    await bgp.stop();
  }
  assert(!JSON.stringify(warnings).includes("s3cret"), "the password is never logged");
});
