/**
 * Layer 2 mode on this node: raw ARP/NDP sockets on the LAN interfaces, UDP heartbeats with the other instances,
 * the per-Service election, and what is published about it (the `nodeAssigned` Event, ServiceL2Status objects,
 * this node's Lease). Nothing on the path from a peer's death to our gratuitous ARP touches the API server.
 * @module
 */
import { ArpOffload, ArpResponder, openArpProbeSocket, openArpSocket, probeArp } from "../arp/mod.ts";
import type { Clock } from "../clock/mod.ts";
import type { RunOptions } from "../config/flags.ts";
import type { EventRecorder, KubeApi } from "../k8s/mod.ts";
import { LeaseLock } from "../k8s/mod.ts";
import {
  announcerByFamily,
  createL2Controller,
  createLiveness,
  type L2Controller,
  type Liveness,
  NODE_LEASE_DURATION_SECONDS,
  NODE_LEASE_LABELS,
  NODE_LEASE_RENEW_MS,
  nodeLeaseName,
  openUdpTransport,
  peersFromNodes,
  type ProbeOutcome,
  type VipAnnouncer,
} from "../l2/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import { NdpResponder, openNdpProbeSocket, openNdpSocket, probeNdp } from "../ndp/mod.ts";
import { cidrToRange, parseCidr, parseIp, rangeContains } from "../ip/mod.ts";
import { encodeNodeConfig, NODE_CONFIG_ANNOTATION } from "../status/node_config.ts";
import { VERSION } from "../version.ts";
import type { Caches } from "./caches.ts";
import { createL2Publisher } from "./l2_publisher.ts";
import type { ModelSource } from "./model_source.ts";

/** Interfaces never announced on: loopback and kube-proxy's own dummy devices. */
const NEVER_ANNOUNCE = new Set(["lo", "kube-lb0", "kube-ipvs0"]);

/** A LAN interface of this node, with its networks (for picking where to probe an address). */
export interface LanInterface {
  /** Name, e.g. "eth0". */
  name: string;
  /** Its address/prefix pairs. */
  cidrs: string[];
}

/** The interfaces Layer 2 may use: the `--interface` ones, or every interface with an address but loopback. */
export function lanInterfaces(wanted: readonly string[]): LanInterface[] {
  const byName = new Map<string, LanInterface>();
  for (const nic of Deno.networkInterfaces()) {
    if (NEVER_ANNOUNCE.has(nic.name) || nic.address === "127.0.0.1" || nic.address === "::1") continue;
    let entry = byName.get(nic.name);
    if (!entry) byName.set(nic.name, entry = { name: nic.name, cidrs: [] });
    if (nic.cidr) entry.cidrs.push(nic.cidr);
  }
  const all = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  return wanted.length === 0 ? all : all.filter((i) => wanted.includes(i.name));
}

/** Adapts a responder to the controller: `refresh` (a peer came back after being dead) sends a fresh burst. */
function asAnnouncer(responder: ArpResponder | NdpResponder): VipAnnouncer {
  return {
    announce: (ip, options) => responder.announce(ip, options),
    withdraw: (ip) => responder.withdraw(ip),
    refresh: (ip) => responder.reannounce(ip),
  };
}

/** Options for {@link startLayer2}. */
export interface Layer2Options {
  /** Parsed command line. */
  run: RunOptions;
  /** The cluster. */
  api: KubeApi;
  /** Shared informer caches. */
  caches: Caches;
  /** The live configuration. */
  models: ModelSource;
  /** Events. */
  events: EventRecorder;
  /** Logger. */
  log: Logger;
  /** Metrics. */
  registry: Registry;
  /** Clock of the election's reconciles (heavy: every Service at once); default the monotonic clock. */
  reconcileClock?: Clock;
}

/** Layer 2 on this node. */
export interface Layer2 {
  /** The election controller (for status). */
  controller: L2Controller;
  /** Peer liveness. */
  liveness: Liveness;
  /** Probes an address on the LAN for the allocator's conflict detection. */
  probe(ip: string): Promise<ProbeOutcome>;
  /** Stops answering (withdrawing everything), says goodbye to peers, releases the node Lease. */
  stop(): Promise<void>;
}

/** The kernel fast path for ARP replies when wanted and possible; otherwise says once why user space answers alone. */
function openArpOffload(mode: "auto" | "off", log: Logger): { offload?: ArpOffload } {
  if (mode === "off") return {};
  try {
    return { offload: ArpOffload.open({ logger: log }) };
  } catch (error) {
    log.info("ARP replies come from user space: the kernel fast path (tc eBPF) is not available", {
      reason: error instanceof Error ? error.message : String(error),
    });
    return {};
  }
}

/** Starts Layer 2 mode. Throws when no raw socket can be opened (metallite needs CAP_NET_RAW). */
export async function startLayer2(options: Layer2Options): Promise<Layer2> {
  const { run, api, caches, models, events, registry } = options;
  const log = options.log.with({ part: "layer2" });
  const interfaces = lanInterfaces(run.interfaces);
  for (const name of run.interfaces) {
    if (!interfaces.some((i) => i.name === name)) {
      log.warn("--interface names an interface without an address on this node", { interface: name });
    }
  }
  const arp = new ArpResponder({ registry, logger: log, ...openArpOffload(run.arpOffload, log) });
  const ndp = new NdpResponder({ registry, logger: log });
  const opened: string[] = [];
  for (const nic of interfaces) {
    try {
      arp.addSocket(openArpSocket(nic.name));
      ndp.addSocket(openNdpSocket(nic.name));
      opened.push(nic.name);
    } catch (error) {
      log.error("cannot open raw sockets; Layer 2 will not answer on this interface", { interface: nic.name, error });
    }
  }
  if (interfaces.length > 0 && opened.length === 0) {
    await Promise.all([arp.close(), ndp.close()]);
    throw new Error("cannot open a raw socket on any interface: metallite needs CAP_NET_RAW (run as root)");
  }
  log.info("answering ARP and NDP", { interfaces: opened });

  const transport = await openUdpTransport({ port: run.heartbeatPort, log, metrics: registry });
  // Liveness and the controller refer to each other: liveness changes poke the controller, which reads liveness.
  const controllerRef: { current?: L2Controller } = {};
  const liveness = createLiveness({
    nodeName: run.nodeName,
    namespace: run.namespace,
    transport,
    port: run.heartbeatPort,
    localInterfaces: () => opened,
    onChange: () => controllerRef.current?.poke(true),
    log,
    metrics: registry,
  });

  const statuses = createL2Publisher({
    api,
    events,
    nodeName: run.nodeName,
    namespace: run.namespace,
    crds: models.crdsInstalled,
    log,
  });
  const live = controllerRef.current = createL2Controller({
    nodeName: run.nodeName,
    read: () => ({
      model: models.current(),
      services: caches.services.list(),
      nodes: caches.nodes.list(),
      endpointSlices: (key) => caches.endpointSlicesOf(key),
      peers: liveness.view(),
    }),
    announcer: announcerByFamily(asAnnouncer(arp), asAnnouncer(ndp)),
    publish: (change) => statuses.publish(change),
    ...(options.reconcileClock ? { clock: options.reconcileClock } : {}),
    ...(run.lbClass === undefined ? {} : { lbClass: run.lbClass }),
    log,
    metrics: registry,
  });
  const offCaches = caches.onAnyChange(() => live.poke());
  const offNodes = caches.nodes.onChange(() => liveness.setPeers(peersFromNodes(caches.nodes.list())));
  const offModel = models.onChange(() => live.poke());
  liveness.start();
  caches.whenSynced().then(() => {
    liveness.setPeers(peersFromNodes(caches.nodes.list()));
    liveness.setReady();
    live.poke(true);
  }, () => {});

  const lease = new LeaseLock({
    leases: api.leases,
    namespace: run.namespace,
    name: nodeLeaseName(run.nodeName),
    identity: run.nodeName,
    leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS,
    labels: { ...NODE_LEASE_LABELS },
    // What this instance runs with, so `metallite status` can explain elections for pools given as flags.
    annotations: () => ({
      [NODE_CONFIG_ANNOTATION]: encodeNodeConfig(run, { version: VERSION, announceInterfaces: opened }),
    }),
  });
  const renew = () =>
    lease.tryAcquireOrRenew().catch((error) => log.warnOnce("node-lease", "cannot renew the node Lease", { error }));
  renew();
  const renewTimer = setInterval(renew, NODE_LEASE_RENEW_MS);

  const probeInterface = (ip: string): string | undefined => {
    const address = parseIp(ip);
    const match = interfaces.find((nic) => nic.cidrs.some((c) => rangeContains(cidrToRange(parseCidr(c)), address)));
    return (match ?? interfaces[0])?.name;
  };

  return {
    controller: live,
    liveness,
    async probe(ip) {
      const nic = probeInterface(ip);
      if (nic === undefined) return {};
      const socket = ip.includes(":") ? openNdpProbeSocket(nic) : openArpProbeSocket(nic);
      try {
        const result = ip.includes(":") ? await probeNdp(ip, { socket }) : await probeArp(ip, { socket });
        return result.conflict ? { mac: result.mac } : {};
      } finally {
        await socket.close();
      }
    },
    async stop() {
      offCaches();
      offNodes();
      offModel();
      live.stop();
      clearInterval(renewTimer);
      await liveness.stop();
      await Promise.all([arp.close(), ndp.close(), statuses.drain()]);
      await lease.release().catch(() => false);
    },
  };
}
