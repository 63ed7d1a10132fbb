/** Real `arping` and `ndisc6` run from a lab host, with their output parsed. */
import type { Lab, LabHost } from "./_lab.ts";

/** Options for {@linkcode arping}. */
export interface ArpingOptions {
  /** Requests to send (default 1). */
  count?: number;
  /**
   * How long arping runs in all (default 500 ms after the last request): it keeps listening until then, so every
   * host that answers is seen, not just the first. arping's `-w`.
   */
  timeoutMs?: number;
  /** Gap between requests (default 100 ms when count > 1). arping's `-W`. */
  intervalMs?: number;
  /** Exit as soon as this many replies arrived (arping's `-C`), for quick polling; duplicates may then go unseen. */
  stopAfterReplies?: number;
  /** Interface to send on (default the host's LAN interface). */
  iface?: string;
}

/** One reply arping printed. */
export interface ArpReply {
  /** Lower-case MAC of the replying host. */
  mac: string;
  /** Round-trip time in milliseconds. */
  rttMs: number;
}

/** What {@linkcode arping} saw. */
export interface ArpingResult {
  /** Every reply, in arrival order (two hosts answering one request give two). */
  replies: ArpReply[];
  /** The distinct MACs that replied, in order of first reply. */
  macs: string[];
  /** arping's exit code (0: some reply, 1: none). */
  code: number;
  /** arping's stdout and stderr, for assertion messages. */
  output: string;
}

/** Options for {@linkcode ndisc}. */
export interface NdiscOptions {
  /** Solicitations to send before giving up (default 2). ndisc6's `-r`. */
  retries?: number;
  /** Wait for an answer to each, in ms (default 500). ndisc6's `-w`. */
  waitMs?: number;
  /** Keep listening for the whole wait and report every answer (ndisc6's `-m`); default stops at the first. */
  multiple?: boolean;
  /** Interface (default the host's LAN interface). */
  iface?: string;
}

/** What {@linkcode ndisc} saw. */
export interface NdiscResult {
  /** The first answering MAC (lower-case), or undefined when none answered. */
  mac: string | undefined;
  /** Every answering MAC, in order (several only with `multiple`). */
  macs: string[];
  code: number;
  output: string;
}

const ARPING_LINE = /^\d+ bytes from ([0-9a-fA-F:]{17}) \(([^)]*)\): index=\d+ time=([\d.]+) (usec|msec|sec)/;
const UNIT_MS: Record<string, number> = { usec: 0.001, msec: 1, sec: 1000 };

/** Parses the reply lines of `arping` (Thomas Habets' arping 2.x, Debian package arping). */
export function parseArping(text: string): ArpReply[] {
  const replies: ArpReply[] = [];
  for (const line of text.split("\n")) {
    const m = ARPING_LINE.exec(line.trim());
    if (m) replies.push({ mac: m[1]!.toLowerCase(), rttMs: Number(m[3]) * UNIT_MS[m[4]!]! });
  }
  return replies;
}

/** Parses the "Target link-layer address: …" lines of `ndisc6`. */
export function parseNdisc6(text: string): string[] {
  const macs: string[] = [];
  for (const m of text.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)) macs.push(m[1]!.toLowerCase());
  return macs;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * Sends ARP requests for `ip` from a host with the real `arping` and reports every reply.
 * @example
 * ```ts
 * const { macs } = await arping(lab, lab.client, vip);
 * assertEquals(macs, [lab.nodes[0]!.mac]); // answered by node1 and by no one else
 * ```
 */
export async function arping(lab: Lab, from: LabHost, ip: string, opts: ArpingOptions = {}): Promise<ArpingResult> {
  const count = opts.count ?? 1;
  const intervalMs = opts.intervalMs ?? 100;
  const timeoutMs = opts.timeoutMs ?? (count - 1) * intervalMs + 500;
  const args = ["arping", "-i", opts.iface ?? from.iface, "-c", String(count), "-w", String(timeoutMs / 1000)];
  if (count > 1 || opts.intervalMs !== undefined) args.push("-W", String(intervalMs / 1000));
  if (opts.stopAfterReplies !== undefined) args.push("-C", String(opts.stopAfterReplies));
  args.push(ip);
  const out = await lab.exec(from, args, { timeoutMs: timeoutMs + 5000 });
  const output = out.stdout + out.stderr;
  if (out.code > 1) throw new Error(`arping ${ip} from ${from.name} failed (code ${out.code}): ${output.trim()}`);
  const replies = parseArping(out.stdout);
  return { replies, macs: unique(replies.map((r) => r.mac)), code: out.code, output };
}

/**
 * Resolves `ip` to a MAC from a host with the real `ndisc6` (a neighbour solicitation to its solicited-node
 * group). ndisc6 ignores advertisements whose IPv6 source is not the target address.
 */
export async function ndisc(lab: Lab, from: LabHost, ip: string, opts: NdiscOptions = {}): Promise<NdiscResult> {
  const retries = opts.retries ?? 2;
  const waitMs = opts.waitMs ?? 500;
  const args = ["ndisc6", "-n", "-r", String(retries), "-w", String(waitMs)];
  if (opts.multiple) args.push("-m");
  args.push(ip, opts.iface ?? from.iface);
  const out = await lab.exec(from, args, { timeoutMs: retries * waitMs + 5000 });
  const output = out.stdout + out.stderr;
  // ndisc6 exits 2 on no answer; anything else non-zero is a usage or socket error worth failing on.
  if (out.code !== 0 && out.code !== 2) throw new Error(`ndisc6 ${ip} from ${from.name} failed: ${output.trim()}`);
  const macs = parseNdisc6(out.stdout);
  return { mac: macs[0], macs: unique(macs), code: out.code, output };
}

/** A neighbour-cache entry, as `ip neigh` shows it. */
export interface NeighbourEntry {
  /** Lower-case MAC, or undefined when the entry has none (INCOMPLETE, FAILED). */
  mac: string | undefined;
  /** Kernel states, e.g. ["REACHABLE"], ["STALE"], ["FAILED"]. */
  state: string[];
}

/**
 * The host's neighbour-cache entry for `ip` on its LAN interface (ARP for IPv4, NDP for IPv6), or undefined when
 * there is none: what the host will send frames for `ip` to, which is what a failover must change.
 */
export async function neighbour(lab: Lab, host: LabHost, ip: string): Promise<NeighbourEntry | undefined> {
  const json = await lab.ip(host, "-j", "neigh", "show", "to", ip, "dev", host.iface);
  const entries = JSON.parse(json.trim() || "[]") as { dst?: string; lladdr?: string; state?: string[] }[];
  const entry = entries[0];
  if (!entry) return undefined;
  return { mac: entry.lladdr?.toLowerCase(), state: entry.state ?? [] };
}
