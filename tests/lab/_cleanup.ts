/**
 * Making sure labs never outlive their test: owner markers, signal and exit hooks that tear down live labs, and a
 * sweep for labs whose owning process died.
 */
import { execCommand, IP } from "./_process.ts";
import { LAB_NETNS_PATTERN, netnsBatch } from "./_plan.ts";

/** Folder of owner markers: `<id>.pid` holds the owning process's pid and start time. */
export const MARKER_DIR = "/run/metallite-lab";

/** A live lab, as the exit hooks see it. */
export interface Cleanable {
  id: string;
  /** Kills the lab's processes and deletes its namespaces without awaiting anything. */
  cleanupSync(): void;
}

interface Marker {
  pid: number;
  /** Field 22 of /proc/PID/stat, so a recycled pid is not mistaken for the owner. */
  start: string;
}

/** Start time of a process in clock ticks since boot, or undefined when it does not exist. */
function processStart(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses; fields after the last ")" are plain.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

function markerPath(id: string): string {
  return `${MARKER_DIR}/${id}.pid`;
}

/** Records this process as the owner of lab `id`. */
export function writeMarker(id: string): void {
  Deno.mkdirSync(MARKER_DIR, { recursive: true });
  const marker: Marker = { pid: Deno.pid, start: processStart(Deno.pid) ?? "" };
  Deno.writeTextFileSync(markerPath(id), JSON.stringify(marker) + "\n");
}

/** Forgets the owner marker of lab `id`. */
export function removeMarker(id: string): void {
  try {
    Deno.removeSync(markerPath(id));
  } catch {
    // Never written, or removed already.
  }
}

/** "alive", "dead", or "unknown" when there is no readable marker. */
function ownerState(id: string): "alive" | "dead" | "unknown" {
  let marker: Marker;
  try {
    marker = JSON.parse(Deno.readTextFileSync(markerPath(id)));
  } catch {
    return "unknown";
  }
  if (typeof marker.pid !== "number") return "unknown";
  const start = processStart(marker.pid);
  if (start === undefined) return "dead";
  return marker.start === "" || start === marker.start ? "alive" : "dead";
}

const live = new Set<Cleanable>();
let hooked = false;

function onSignal(code: number): void {
  cleanupAllSync();
  Deno.exit(code);
}
const onSigint = () => onSignal(130);
const onSigterm = () => onSignal(143);
// Uncaught errors end the process without "unload"; clean up and let the default handling go on.
const onUnload = () => cleanupAllSync();

function cleanupAllSync(): void {
  for (const lab of [...live]) {
    try {
      lab.cleanupSync();
    } catch {
      // Keep going: the other labs must still go.
    }
    live.delete(lab);
  }
}

/**
 * Tracks a live lab; the first one installs SIGINT/SIGTERM, exit and uncaught-error hooks that tear every live
 * lab down.
 */
export function registerLab(lab: Cleanable): void {
  live.add(lab);
  if (hooked) return;
  hooked = true;
  Deno.addSignalListener("SIGINT", onSigint);
  Deno.addSignalListener("SIGTERM", onSigterm);
  globalThis.addEventListener("unload", onUnload);
  globalThis.addEventListener("error", onUnload);
  globalThis.addEventListener("unhandledrejection", onUnload);
}

/** Stops tracking a lab; the last one removes the hooks again, so test sanitizers see nothing left over. */
export function unregisterLab(lab: Cleanable): void {
  live.delete(lab);
  if (!hooked || live.size > 0) return;
  hooked = false;
  Deno.removeSignalListener("SIGINT", onSigint);
  Deno.removeSignalListener("SIGTERM", onSigterm);
  globalThis.removeEventListener("unload", onUnload);
  globalThis.removeEventListener("error", onUnload);
  globalThis.removeEventListener("unhandledrejection", onUnload);
}

/** Ids of labs this process has open. */
export function liveLabIds(): Set<string> {
  return new Set([...live].map((l) => l.id));
}

/** Names of all network namespaces. */
export async function listNetns(): Promise<string[]> {
  const out = await execCommand(IP, ["netns", "list"], { timeoutMs: 10_000 });
  if (out.code !== 0) throw new Error(`ip netns list failed: ${out.stderr.trim()}`);
  return parseNetnsList(out.stdout);
}

/** Parses `ip netns list` output ("name" or "name (id: N)" per line). */
export function parseNetnsList(text: string): string[] {
  return text.split("\n").map((l) => l.trim().split(" ")[0] ?? "").filter((n) => n !== "");
}

/** Kills whatever still runs in the namespaces, then deletes them; never throws for ones already gone. */
export async function deleteNamespaces(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  // Processes keep a deleted namespace alive (and keep running); list them first, with one shell for all.
  const script = names.map((n) => `ip netns pids ${n} 2>/dev/null`).join("; ") + "; true";
  const pids = await execCommand("sh", ["-c", script], { timeoutMs: 10_000 });
  for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  const out = await execCommand(IP, ["-force", "-batch", "-"], { stdin: netnsBatch(names, "del"), timeoutMs: 30_000 });
  if (out.code !== 0 && !/No such file/.test(out.stderr)) {
    throw new Error(`Deleting lab namespaces failed: ${out.stderr.trim()}`);
  }
}

/** Deletes namespaces synchronously, for signal and exit hooks where nothing can be awaited. */
export function deleteNamespacesSync(names: readonly string[]): void {
  for (const name of names) {
    const pids = new Deno.Command(IP, { args: ["netns", "pids", name], stdout: "piped", stderr: "null" }).outputSync();
    for (const pid of new TextDecoder().decode(pids.stdout).split(/\s+/).filter((p) => /^\d+$/.test(p))) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    new Deno.Command(IP, { args: ["netns", "del", name], stdout: "null", stderr: "null" }).outputSync();
  }
}

/** Options for {@linkcode cleanupStaleLabs}. */
export interface CleanupOptions {
  /**
   * Also delete lab-named namespaces that have no owner marker at all (default false: another tool may be creating
   * them right now).
   */
  unmarked?: boolean;
}

/** What {@linkcode cleanupStaleLabs} did. */
export interface CleanupReport {
  /** Namespaces deleted. */
  removed: string[];
  /** Lab-named namespaces left alone: their owner is alive, or they have no marker. */
  kept: string[];
}

/**
 * Deletes lab namespaces (`mlt…-…`) whose owning process has died, killing what still runs in them; labs of live
 * processes, this one's included, are left alone. Does nothing when not run as root.
 * @example
 * ```ts
 * await cleanupStaleLabs(); // at the top of a test file, before creating labs
 * ```
 */
export async function cleanupStaleLabs(options: CleanupOptions = {}): Promise<CleanupReport> {
  // Without root there can be no labs of ours, and nothing could be deleted anyway.
  if (Deno.uid() !== 0) return { removed: [], kept: [] };
  const mine = liveLabIds();
  const byId = new Map<string, string[]>();
  for (const name of await listNetns()) {
    const match = LAB_NETNS_PATTERN.exec(name);
    if (!match) continue;
    const id = match[1]!;
    byId.set(id, [...(byId.get(id) ?? []), name]);
  }
  const removed: string[] = [];
  const kept: string[] = [];
  for (const [id, names] of byId) {
    const state = mine.has(id) ? "alive" : ownerState(id);
    if (state === "dead" || (state === "unknown" && options.unmarked)) {
      await deleteNamespaces(names);
      removeMarker(id);
      removed.push(...names);
    } else {
      kept.push(...names);
    }
  }
  // Markers of owners that died after deleting their namespaces but before removing the marker.
  try {
    for (const entry of Deno.readDirSync(MARKER_DIR)) {
      const id = entry.name.replace(/\.pid$/, "");
      if (!byId.has(id) && !mine.has(id) && ownerState(id) === "dead") removeMarker(id);
    }
  } catch {
    // No marker folder yet.
  }
  return { removed, kept };
}
