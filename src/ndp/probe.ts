/**
 * Address-conflict detection for IPv6 before an address is handed out: duplicate address detection as RFC 4862
 * §5.4 describes it (a solicitation from "::" with a nonce, RFC 7527), shortened to about a second.
 * @module
 */

import { canonicalIp } from "../ip/mod.ts";
import { type Clock, formatMac, type FrameSocket, systemClock } from "../net/mod.ts";
import { decodeNdp, encodeDadProbe, solicitedNodeMac } from "./codec.ts";

/** Options for {@link probeNdp}. */
export interface ProbeNdpOptions {
  /** A socket read by nobody else, receiving NS and NA (see `openNdpProbeSocket`). */
  socket: FrameSocket;
  /** How long to listen from the first probe, ms; default 1000 (RFC 4862's RetransTimer is 1 s too). */
  timeoutMs?: number;
  /** Probes sent; default 2. */
  probes?: number;
  /** Gap between probes, ms; default 300. */
  intervalMs?: number;
  /** Clock for the timers; default the real one. */
  clock?: Clock;
  /** Source of the nonce; default `crypto.getRandomValues`. */
  random?: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>;
}

/** Outcome of {@link probeNdp}. */
export type NdpProbeResult =
  | { conflict: false }
  | {
    conflict: true;
    /** MAC of the host that claims the address. */
    mac: string;
    /** An "advertisement" for the address, or another host's "probe" for it at the same time. */
    evidence: "advertisement" | "probe";
  };

/**
 * Probes an IPv6 address on the socket's link and reports the MAC of any host that uses it. Joins the address's
 * solicited-node group for the duration, to see other hosts' probes. Resolves within `timeoutMs`.
 * @example
 * const socket = openNdpProbeSocket("eth0");
 * try {
 *   const result = await probeNdp("2001:db8::10", { socket });
 * } finally {
 *   await socket.close();
 * }
 */
export async function probeNdp(ip: string, options: ProbeNdpOptions): Promise<NdpProbeResult> {
  const target = canonicalIp(ip);
  if (target === undefined || !target.includes(":")) throw new TypeError(`"${ip}" is not an IPv6 address`);
  const { socket } = options;
  const clock = options.clock ?? systemClock;
  const nonce = (options.random ?? ((b) => crypto.getRandomValues(b)))(new Uint8Array(6));
  const probe = encodeDadProbe({ mac: socket.mac, ip: target, nonce });
  const ourMac = formatMac(socket.mac);
  const group = solicitedNodeMac(target);
  const stop = new AbortController();
  const send = (): void => {
    try {
      socket.send(probe);
    } catch {
      // A lost probe makes detection less certain, not wrong; keep listening.
    }
  };
  let joined = false;
  try {
    socket.addMembership(group);
    joined = true;
  } catch {
    // Without the group we still see advertisements (sent to all-nodes); only simultaneous probes may be missed.
  }
  const cancels = [clock.setTimer(options.timeoutMs ?? 1000, () => stop.abort())];
  const probes = options.probes ?? 2;
  for (let i = 1; i < probes; i++) cancels.push(clock.setTimer(i * (options.intervalMs ?? 300), send));
  try {
    const frames = socket.frames({ signal: stop.signal });
    send();
    for await (const frame of frames) {
      const decoded = decodeNdp(frame.bytes);
      if (!decoded.ok) continue;
      const { message, sourceMac, sourceIp } = decoded.frame;
      if (sourceMac === ourMac || message.target !== target) continue;
      if (message.type === "advertisement") {
        return { conflict: true, mac: message.targetLinkLayer ?? sourceMac, evidence: "advertisement" };
      }
      // A probe from "::" with another nonce is another host doing DAD for the same address (RFC 7527 §4.2).
      if (sourceIp === "::" && !sameBytes(message.nonce, nonce)) {
        return { conflict: true, mac: sourceMac, evidence: "probe" };
      }
    }
    return { conflict: false };
  } finally {
    for (const cancel of cancels) cancel();
    stop.abort();
    if (joined) {
      try {
        socket.dropMembership(group);
      } catch {
        // The socket may be closing; its memberships go with it.
      }
    }
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
