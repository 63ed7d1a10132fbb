/** Deciding, synchronously and once, whether lab tests can run here, and saying why not in one line. */
import { newLabId } from "./_plan.ts";
import { MARKER_DIR, removeMarker, writeMarker } from "./_cleanup.ts";

let labReason: { value: string | undefined } | undefined;

function runSync(program: string, args: string[]): { ok: boolean; text: string } {
  try {
    const out = new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "piped" }).outputSync();
    const decoder = new TextDecoder();
    return { ok: out.success, text: (decoder.decode(out.stderr) || decoder.decode(out.stdout)).trim() };
  } catch (error) {
    return { ok: false, text: error instanceof Error ? error.message : String(error) };
  }
}

function probeLab(): string | undefined {
  let uid: number | null;
  try {
    uid = Deno.uid();
  } catch (error) {
    return `cannot read the user id (${error instanceof Error ? error.message : error}); run with -A`;
  }
  if (uid !== 0) return `network namespaces need root, running as uid ${uid}`;
  if (!findTool("ip")) return "the ip command (iproute2) is not installed";
  if (!findTool("setsid")) return "the setsid command (util-linux) is not installed";
  // Try the real thing once: a namespace and a veth pair inside it, then delete it.
  const id = newLabId();
  const name = `${id}-probe`;
  // Marked like a lab, so cleanupStaleLabs() removes the probe if this process dies right here.
  try {
    writeMarker(id);
  } catch (error) {
    return `cannot write lab markers in ${MARKER_DIR}: ${error instanceof Error ? error.message : error}`;
  }
  const add = runSync("ip", ["netns", "add", name]);
  if (!add.ok) {
    removeMarker(id);
    return `ip netns add fails: ${add.text.split("\n")[0]}`;
  }
  try {
    const veth = runSync("ip", ["-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"]);
    if (!veth.ok) return `cannot create a veth pair in a namespace: ${veth.text.split("\n")[0]}`;
    const bridge = runSync("ip", ["-n", name, "link", "add", "br0", "type", "bridge"]);
    if (!bridge.ok) return `cannot create a bridge in a namespace: ${bridge.text.split("\n")[0]}`;
    return undefined;
  } finally {
    runSync("ip", ["netns", "del", name]);
    removeMarker(id);
  }
}

/**
 * Why lab tests cannot run here (not root, `ip netns` or veth pairs unavailable), or undefined when they can.
 * Probes once per process, synchronously, so it can decide `Deno.test({ ignore })`.
 * @example
 * ```ts
 * const skip = labSkipReason();
 * Deno.test({ name: "arping reaches node1", ignore: skip !== undefined, fn: async () => {} });
 * ```
 */
export function labSkipReason(): string | undefined {
  labReason ??= { value: probeLab() };
  return labReason.value;
}

const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Debian packages that provide the tools tests ask for, for the skip message. */
const PACKAGES: Record<string, string> = {
  arping: "arping",
  ndisc6: "ndisc6",
  tcpdump: "tcpdump",
  ip: "iproute2",
  bird: "bird2",
  birdc: "bird2",
  vtysh: "frr",
  gobgp: "gobgp",
  gobgpd: "gobgpd",
  kubectl: "kubectl",
};

function findTool(tool: string): string | undefined {
  let path = "";
  try {
    path = Deno.env.get("PATH") ?? "";
  } catch {
    // No env permission: the standard folders still count.
  }
  const dirs = [...path.split(":").filter((d) => d !== ""), ...SEARCH_DIRS];
  for (const dir of dirs) {
    try {
      const info = Deno.statSync(`${dir}/${tool}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${tool}`;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/**
 * Why a test needing these programs cannot run (which are missing and the Debian package of each), or undefined
 * when all are installed.
 * @example
 * ```ts
 * const skip = labSkipReason() ?? toolSkipReason("arping", "tcpdump");
 * ```
 */
export function toolSkipReason(...tools: string[]): string | undefined {
  const missing = tools.filter((t) => findTool(t) === undefined);
  if (missing.length === 0) return undefined;
  const list = missing.map((t) => (PACKAGES[t] && PACKAGES[t] !== t ? `${t} (package ${PACKAGES[t]})` : t));
  return `missing ${list.join(", ")}: apt-get install ${[...new Set(missing.map((t) => PACKAGES[t] ?? t))].join(" ")}`;
}
