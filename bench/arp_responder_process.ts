/**
 * The ARP responder as its own process, for the ARP benchmarks (bench/arp_latency.ts, bench/arp_flood_cpu.ts),
 * which start it inside a lab node's namespace:
 *
 *   ip netns exec <node> deno run -A bench/arp_responder_process.ts --interface eth0 --vip 198.51.100.200 \
 *     [--vip ...] [--filter targets|requests|none] [--offload]
 *
 * `--filter targets` (default) narrows the kernel filter to the owned VIPs, as the daemon does; `requests` lets
 * every ARP request through (the responder's `filterTargets: false`); `none` attaches no BPF filter at all, so
 * every ARP frame reaches user space. `--offload` adds the kernel fast path (tc eBPF), as the daemon's default
 * `--arp-offload auto` does. Prints one JSON line `{"ready":true,"pid":N}` once answering, and on SIGTERM
 * one JSON line of counters before it exits.
 * @module
 */
import { ArpOffload, ArpResponder, openArpSocket } from "../src/arp/mod.ts";
import { Registry } from "../src/metrics/mod.ts";
import type { FrameSocket } from "../src/net/mod.ts";

function args(): { iface: string; vips: string[]; filter: string; offload: boolean } {
  const out = { iface: "eth0", vips: [] as string[], filter: "targets", offload: false };
  for (let i = 0; i < Deno.args.length; i += 2) {
    const [flag, value] = [Deno.args[i], Deno.args[i + 1] ?? ""];
    if (flag === "--offload") {
      out.offload = true;
      i--;
    } else if (flag === "--interface") out.iface = value;
    else if (flag === "--vip") out.vips.push(value);
    else if (flag === "--filter") out.filter = value;
    else throw new TypeError(`Unknown argument ${flag}`);
  }
  if (!["targets", "requests", "none"].includes(out.filter)) throw new TypeError(`Unknown --filter ${out.filter}`);
  return out;
}

const options = args();
const packetSocket = openArpSocket(options.iface);
let socket: FrameSocket = packetSocket;
if (options.filter === "none") {
  // Drop the filter openArpSocket attached (SO_DETACH_FILTER would do too) and ignore the responder's updates.
  packetSocket.setFilter([{ code: 0x06, jt: 0, jf: 0, k: 0xffffffff }]);
  socket = {
    interfaceName: packetSocket.interfaceName,
    interfaceIndex: packetSocket.interfaceIndex,
    mac: packetSocket.mac,
    send: (frame) => packetSocket.send(frame),
    frames: (o) => packetSocket.frames(o),
    setFilter: () => {},
    addMembership: (mac) => packetSocket.addMembership(mac),
    dropMembership: (mac) => packetSocket.dropMembership(mac),
    close: () => packetSocket.close(),
  };
}
const registry = new Registry();
const responder = new ArpResponder({
  sockets: [socket],
  registry,
  filterTargets: options.filter === "targets",
  announceDelaysMs: [0],
  ...(options.offload ? { offload: ArpOffload.open() } : {}),
});
for (const vip of options.vips) responder.announce(vip);

const write = (value: unknown) => Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(value) + "\n"));
write({ ready: true, pid: Deno.pid });

let stopping = false;
Deno.addSignalListener("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  const sum = (name: string) =>
    registry.render().split("\n").filter((l) => l.startsWith(name + "{"))
      .reduce((total, line) => total + Number(line.split(" ").at(-1)), 0);
  write({
    replies: sum("metallite_arp_replies_total"),
    ignored: sum("metallite_arp_ignored_total"),
    malformed: sum("metallite_arp_malformed_total"),
    received: packetSocket.stats.received,
  });
  await responder.close();
  Deno.exit(0);
});
