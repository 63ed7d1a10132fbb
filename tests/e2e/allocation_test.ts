// deno-lint-ignore-file no-console -- tests say why they skip
/**
 * The allocator and Layer 2 together, end to end in a namespace lab with three real instances: Services get
 * addresses from the `--pool` flag; an address another host already uses is probed, skipped and reported; the owner
 * of a VIP changes when its node is excluded, when the endpoint of an `externalTrafficPolicy: Local` Service moves,
 * and nobody answers once the Service is deleted; gratuitous ARPs and unsolicited NAs are seen on the wire; and
 * every request the instances made is allowed by the example DaemonSet's RBAC role.
 */
import { assert, assertEquals, waitFor } from "../assert.ts";
import { arping, capture, gratuitousArps, labSkipReason, ndisc, toolSkipReason, unsolicitedNas } from "../lab/mod.ts";
import { BUNDLE_PATH } from "../../scripts/runtime.ts";
import { checkExampleRbac } from "../examples/rbac.ts";
import { type Cluster, createCluster } from "./cluster.ts";

const skip = labSkipReason() ?? toolSkipReason("arping", "ndisc6", "tcpdump") ??
  (await Deno.stat(BUNDLE_PATH).then(() => undefined, () => `${BUNDLE_PATH} is missing (run deno task bundle)`));
if (skip) console.error(`skipping allocation end-to-end tests: ${skip}`);

const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";

function ingress(cluster: Cluster, name: string): string[] {
  const list = cluster.api.get("services", "default", name)?.status?.loadBalancer?.ingress ?? [];
  return list.map((i: { ip?: string }) => i.ip).filter(Boolean);
}

async function answeredBy(cluster: Cluster, ip: string): Promise<string[]> {
  const byMac = new Map(cluster.lab.nodes.map((n) => [n.mac, n.name]));
  const from = cluster.lab.client;
  if (ip.includes(":")) {
    const r = await ndisc(cluster.lab, from, ip, { retries: 1 });
    return r.macs.map((m) => byMac.get(m) ?? m);
  }
  const r = await arping(cluster.lab, from, ip, { count: 2 });
  return r.macs.map((m) => byMac.get(m) ?? m);
}

/** Waits until exactly one node answers for `ip` and returns it. */
function settledOwner(cluster: Cluster, ip: string, not?: string): Promise<string> {
  return waitFor(`one node${not ? ` other than ${not}` : ""} to answer for ${ip}`, async () => {
    const nodes = await answeredBy(cluster, ip);
    return nodes.length === 1 && nodes[0] !== not ? nodes[0] : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
}

Deno.test({ name: "allocation, conflicts and ownership changes end to end", ignore: skip !== undefined }, async (t) => {
  await using cluster = await createCluster({
    nodes: 3,
    args: ["--pool", "198.51.100.200-203", "--pool", "2001:db8:100::200-2001:db8:100::203"],
  });
  const { lab, api } = cluster;
  // A host on the LAN already uses the first pool address (the classic overlap with a router's DHCP range).
  await lab.ip(lab.client, "addr", "add", "198.51.100.200/24", "dev", lab.client.iface);

  const steps: boolean[] = [];
  try {
    steps.push(
      await t.step("an address another host answers for is skipped and reported with its MAC", async () => {
        cluster.createService({ name: "web" });
        const ips = await waitFor(
          "web to get an address",
          () => ingress(cluster, "web").length ? ingress(cluster, "web") : undefined,
          {
            timeoutMs: 20_000,
          },
        );
        assertEquals(ips, ["198.51.100.201"]);
        const warning = await waitFor(
          "a Warning Event naming the client's MAC",
          () =>
            api.list("events", "default").find((e: { reason?: string; message?: string }) =>
              e.reason === "AddressConflict" && e.message?.includes(lab.client.mac)
            ),
          { timeoutMs: 10_000 },
        );
        assert(warning.message.includes("198.51.100.200"), warning.message);
        await settledOwner(cluster, "198.51.100.201");
      }),
    );

    steps.push(
      await t.step("excluding the owner's node moves the VIP, and the new owner sends gratuitous ARPs", async () => {
        const ip = ingress(cluster, "web")[0]!;
        const owner = await settledOwner(cluster, ip);
        const next = lab.nodes.find((n) => n.name !== owner)!;
        let newOwner = "";
        const packets = await capture(lab, lab.client, "arp", async () => {
          const node = api.get("nodes", undefined, owner);
          api.update("nodes", {
            ...node,
            metadata: { ...node.metadata, labels: { ...node.metadata.labels, [EXCLUDE_LABEL]: "" } },
          });
          newOwner = await settledOwner(cluster, ip, owner);
        }, { until: (p) => gratuitousArps(p, { ip }).length > 0 });
        const mac = lab.nodes.find((n) => n.name === newOwner)!.mac;
        assert(gratuitousArps(packets, { ip, mac }).length > 0, `no gratuitous ARP from ${newOwner} for ${ip}`);
        assert(next !== undefined);
        const node = api.get("nodes", undefined, owner);
        const labels = { ...node.metadata.labels };
        delete labels[EXCLUDE_LABEL];
        api.update("nodes", { ...node, metadata: { ...node.metadata, labels } });
      }),
    );

    steps.push(
      await t.step("externalTrafficPolicy Local: the VIP follows the ready endpoint", async () => {
        cluster.createService({ name: "local", trafficPolicy: "Local", endpointNode: "node3" });
        const ip = await waitFor("local to get an address", () => ingress(cluster, "local")[0], { timeoutMs: 20_000 });
        assertEquals(await settledOwner(cluster, ip), "node3");
        const slice = api.get("endpointslices", "default", "local-abc12");
        slice.endpoints[0].nodeName = "node2";
        api.update("endpointslices", slice);
        assertEquals(await settledOwner(cluster, ip, "node3"), "node2");
      }),
    );

    steps.push(
      await t.step("an IPv6 Service is answered over NDP, with unsolicited NAs on takeover", async () => {
        let ip = "";
        const packets = await capture(lab, lab.client, "icmp6", async () => {
          cluster.createService({ name: "v6", ipFamilies: ["IPv6"] });
          ip = await waitFor("v6 to get an address", () => ingress(cluster, "v6")[0], { timeoutMs: 20_000 });
          await settledOwner(cluster, ip);
        }, { until: (p) => ip !== "" && unsolicitedNas(p, { target: ip }).length > 0 });
        assert(ip.startsWith("2001:db8:100::20"), ip);
        assert(unsolicitedNas(packets, { target: ip }).length > 0, `no unsolicited NA for ${ip}`);
      }),
    );

    steps.push(
      await t.step("deleting the Service stops every answer for its VIP", async () => {
        const ip = ingress(cluster, "web")[0]!;
        api.delete("services", "default", "web");
        await waitFor(`nobody to answer for ${ip}`, async () => (await answeredBy(cluster, ip)).length === 0, {
          timeoutMs: 10_000,
          intervalMs: 200,
        });
      }),
    );

    steps.push(
      await t.step("every request the instances made is allowed by the example RBAC role", async () => {
        const { denied } = await checkExampleRbac(api.requests);
        assertEquals(denied, []);
      }),
    );
  } finally {
    if (steps.includes(false)) {
      for (const [name, process] of cluster.daemons) console.error(`--- ${name}\n${process.output().slice(-5000)}`);
    }
  }
});
