/**
 * Address-conflict detection before an address is handed out: an RFC 5227 ARP probe, shortened to fit in about a
 * second so allocation is not held up.
 * @module
 */

import { type Clock, formatMac, type FrameSocket, systemClock } from "../net/mod.ts";
import { ARP_REQUEST, decodeArp, encodeArpProbe } from "./codec.ts";

/** Options for {@link probeArp}. */
export interface ProbeArpOptions {
  /** A socket read by nobody else, receiving ARP requests and replies (see `openArpProbeSocket`). */
  socket: FrameSocket;
  /** How long to listen from the first probe, ms; default 1000. */
  timeoutMs?: number;
  /** Probes sent; default 3 (RFC 5227 PROBE_NUM). */
  probes?: number;
  /** Gap between probes, ms; default 250. RFC 5227 asks for 1 to 2 s, which would hold allocation up for seconds. */
  intervalMs?: number;
  /** Clock for the probe timers; default the real one. */
  clock?: Clock;
}

/** Outcome of {@link probeArp}. */
export type ArpProbeResult =
  | { conflict: false }
  | {
    conflict: true;
    /** MAC of the host that claims the address. */
    mac: string;
    /** "reply" to our probe, "announcement" of the address, or another host's "probe" for it at the same time. */
    evidence: "reply" | "announcement" | "probe";
  };

/**
 * Probes `ip` on the socket's link and reports the MAC of any host that uses it (RFC 5227 §2.1.1). Resolves within
 * `timeoutMs`, earlier on the first conflict. Send errors are not conflicts; they simply leave fewer probes.
 * @example
 * const socket = openArpProbeSocket("eth0");
 * try {
 *   const result = await probeArp("192.0.2.10", { socket });
 *   if (result.conflict) console.warn(`192.0.2.10 is in use by ${result.mac}`);
 * } finally {
 *   await socket.close();
 * }
 */
export async function probeArp(ip: string, options: ProbeArpOptions): Promise<ArpProbeResult> {
  const { socket } = options;
  const clock = options.clock ?? systemClock;
  const probe = encodeArpProbe({ mac: socket.mac, ip });
  const ourMac = formatMac(socket.mac);
  const stop = new AbortController();
  const send = (): void => {
    try {
      socket.send(probe);
    } catch {
      // A lost probe only makes detection less certain; the remaining probes and the listening still run.
    }
  };
  const cancels = [clock.setTimer(options.timeoutMs ?? 1000, () => stop.abort())];
  const probes = options.probes ?? 3;
  for (let i = 1; i < probes; i++) cancels.push(clock.setTimer(i * (options.intervalMs ?? 250), send));
  try {
    const frames = socket.frames({ signal: stop.signal });
    send();
    for await (const frame of frames) {
      const decoded = decodeArp(frame.bytes);
      if (!decoded.ok) continue;
      const packet = decoded.frame.packet;
      if (packet.senderMac === ourMac) continue;
      if (packet.senderIp === ip) {
        const evidence = packet.operation === ARP_REQUEST ? "announcement" : "reply";
        return { conflict: true, mac: packet.senderMac, evidence };
      }
      if (packet.operation === ARP_REQUEST && packet.senderIp === "0.0.0.0" && packet.targetIp === ip) {
        return { conflict: true, mac: packet.senderMac, evidence: "probe" };
      }
    }
    return { conflict: false };
  } finally {
    for (const cancel of cancels) cancel();
    stop.abort();
  }
}
