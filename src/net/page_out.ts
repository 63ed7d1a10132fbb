/**
 * Gives back the resident pages of this process's own code once it stops running it: `madvise(MADV_PAGEOUT)` over
 * every read-only, file-backed mapping (the runtime's executable, its read-only data, shared libraries). Start-up
 * runs a lot of code once (module loading, TLS set-up, parsing the first lists) whose pages then stay resident for
 * the life of the process; a long-lived daemon with a small working set can hand them back. The kernel drops the
 * clean pages, and whatever is still used faults back in from the file on its next use; nothing anonymous (heap,
 * stacks) is touched, so nothing goes to swap.
 *
 * Pages that another process also maps are left alone by the kernel, so this only shrinks what is this process's
 * alone (as a compiled binary's pages are). MADV_PAGEOUT needs Linux 5.4; older kernels answer EINVAL.
 *
 * /proc/self/maps is read through libc: Deno refuses /proc to `--allow-read` without `--allow-all`.
 * @module
 */
import { check, cString, ENOMEM, errno, libc, LibcError, O_CLOEXEC, O_RDONLY } from "./libc.ts";

/** MADV_PAGEOUT, include/uapi/asm-generic/mman-common.h (Linux 5.4). */
export const MADV_PAGEOUT = 21;

/** One line of /proc/PID/maps. */
export interface Mapping {
  /** First address. */
  readonly start: bigint;
  /** One past the last address. */
  readonly end: bigint;
  /** Permissions as printed, e.g. "r-xp". */
  readonly perms: string;
  /** Backing file, or a pseudo-name like "[heap]", or "" for anonymous memory. */
  readonly path: string;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) ([-r][-w][-x][ps]) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+\s*(.*)$/;

/** Parses /proc/PID/maps text; lines that do not have the documented shape (proc(5)) are skipped. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split("\n")) {
    const match = MAPS_LINE.exec(line);
    if (!match) continue;
    const start = BigInt(`0x${match[1]}`);
    const end = BigInt(`0x${match[2]}`);
    if (end <= start) continue;
    out.push({ start, end, perms: match[3]!, path: match[4]! });
  }
  return out;
}

/**
 * The mappings whose pages can be handed back without a write: backed by a file (a path, and not one the kernel
 * marks " (deleted)"), readable and not writable (so every resident page is a clean copy of the file).
 */
export function pageOutCandidates(mappings: readonly Mapping[]): Mapping[] {
  return mappings.filter((m) =>
    m.path.startsWith("/") && !m.path.endsWith(" (deleted)") && m.perms[0] === "r" && m.perms[1] === "-"
  );
}

/** What {@link pageOutCode} did. */
export interface PageOutResult {
  /** Mappings advised. */
  readonly mappings: number;
  /** Bytes of address space advised (resident or not). */
  readonly bytes: number;
}

/** Reads a whole /proc file through libc (Deno refuses /proc to --allow-read). */
export function readProcFile(path: string): string {
  const fd = check("open", libc().open(cString(path), O_RDONLY | O_CLOEXEC), path);
  try {
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = check("read", libc().read(fd, buffer, BigInt(buffer.length)), path);
      if (n === 0) break;
      chunks.push(buffer.slice(0, n));
    }
    const decoder = new TextDecoder();
    return chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
  } finally {
    libc().close(fd);
  }
}

/**
 * Advises MADV_PAGEOUT over every read-only file mapping of this process. Throws a {@link LibcError} when the kernel
 * does not know the advice (EINVAL: before Linux 5.4) or refuses it; a mapping that vanished meanwhile (ENOMEM) is
 * skipped.
 */
export function pageOutCode(): PageOutResult {
  const candidates = pageOutCandidates(parseMaps(readProcFile("/proc/self/maps")));
  let bytes = 0;
  let mappings = 0;
  for (const m of candidates) {
    const length = m.end - m.start;
    const result = libc().madvise(m.start, length, MADV_PAGEOUT);
    if (result !== 0) {
      const error = new LibcError("madvise(MADV_PAGEOUT)", errno(), m.path);
      if (error.errno === ENOMEM) continue;
      throw error;
    }
    mappings++;
    bytes += Number(length);
  }
  return { mappings, bytes };
}
