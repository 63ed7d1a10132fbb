/** Capturing frames with tcpdump inside a lab host while a test does something. */
import type { Lab, LabHost } from "./_lab.ts";
import { type CapturedPacket, parseTcpdump } from "./_packets.ts";
import { settlesWithin } from "./_process.ts";

/** Options for {@linkcode capture}. */
export interface CaptureOptions {
  /** Interface to capture on (default the host's LAN interface, eth0). */
  iface?: string;
  /** Only frames received ("in"), sent ("out"), or both (default). */
  direction?: "in" | "out" | "inout";
  /**
   * After fn, keep capturing until this holds for the frames so far (or `timeoutMs` passes, when the frames are
   * returned as they are, for the test's assertion to report). Preferred over guessing how long to linger.
   */
  until?: (packets: CapturedPacket[]) => boolean;
  /** Deadline for `until` (default 5000 ms). */
  timeoutMs?: number;
  /** After fn (and `until`), capture this much longer for frames still in flight (default 100 ms, 0 with until). */
  lingerMs?: number;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3000;
const POLL_MS = 20;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `tcpdump -e -n -tt -xx --immediate-mode` with a pcap `filter` on a host's interface, waits until it is
 * listening, runs `fn`, stops it, and returns the frames with their ARP and NDP fields decoded.
 * @example
 * ```ts
 * const packets = await capture(lab, lab.client, "arp", async () => {
 *   await startDaemon();
 * }, { until: (p) => gratuitousArps(p, { ip: vip }).length > 0 });
 * assert(gratuitousArps(packets, { ip: vip, mac: lab.nodes[0]!.mac }).length > 0);
 * ```
 */
export async function capture(
  lab: Lab,
  host: LabHost,
  filter: string,
  fn: () => Promise<void>,
  opts: CaptureOptions = {},
): Promise<CapturedPacket[]> {
  const args = ["tcpdump", "-i", opts.iface ?? host.iface, "-e", "-n", "-tt", "-xx", "-l", "--immediate-mode"];
  if (opts.direction && opts.direction !== "inout") args.push("-Q", opts.direction);
  if (filter.trim() !== "") args.push(filter);
  const tcpdump = lab.spawn(host, args);
  try {
    // tcpdump prints this on stderr after its filter is attached, so every later frame is seen.
    await tcpdump.waitForOutput(/listening on /, START_TIMEOUT_MS);
    await fn();
    if (opts.until) {
      const deadline = Date.now() + (opts.timeoutMs ?? 5000);
      while (!opts.until(parseTcpdump(tcpdump.stdout())) && Date.now() < deadline && !tcpdump.hasExited) {
        await sleep(POLL_MS);
      }
    }
    const linger = opts.lingerMs ?? (opts.until ? 0 : 100);
    if (linger > 0) await sleep(linger);
  } finally {
    // SIGINT makes tcpdump print what it has read and exit; SIGKILL only if it hangs.
    tcpdump.kill("SIGINT");
    if (!(await settlesWithin(tcpdump.exited, STOP_TIMEOUT_MS))) tcpdump.kill("SIGKILL");
    await tcpdump.exited;
  }
  return parseTcpdump(tcpdump.stdout(), true);
}
