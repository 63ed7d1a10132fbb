import { assert, assertEquals } from "../../tests/assert.ts";
import { libc } from "./libc.ts";
import { type Mapping, pageOutCandidates, pageOutCode, parseMaps, readProcFile } from "./page_out.ts";

// Opened once before any test: the resource sanitizer would count a library opened inside a test.
libc();

// Lines in the shape proc(5) documents, as a 64-bit process prints them.
const SAMPLE = [
  "5581a6c00000-5581a8a00000 r--p 00000000 fd:01 1234567                    /usr/bin/deno",
  "5581a8a00000-5581ae000000 r-xp 01e00000 fd:01 1234567                    /usr/bin/deno",
  "5581ae000000-5581ae400000 rw-p 07400000 fd:01 1234567                    /usr/bin/deno",
  "5581af000000-5581af200000 rw-p 00000000 00:00 0                          [heap]",
  "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ",
  "7f1000000000-7f1000020000 r-xp 00000000 fd:01 222                        /usr/lib/libc.so.6",
  "7f2000000000-7f2000001000 r--s 00000000 fd:01 333                        /root/.cache/deno/v8_code_cache_v2",
  "7f3000000000-7f3000001000 r-xp 00000000 fd:01 444                        /tmp/old build.so (deleted)",
  "7f4000000000-7f4000001000 ---p 00000000 fd:01 222                        /usr/lib/libc.so.6",
  "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]",
  "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
  "not a maps line",
  "7f5000000000-7f4000000000 r--p 00000000 fd:01 1 /backwards",
  "",
].join("\n");

Deno.test("parseMaps reads every well-formed line, with 64-bit addresses, paths with spaces and anonymous memory", () => {
  const maps = parseMaps(SAMPLE);
  assertEquals(maps.length, 11);
  assertEquals(maps[0], { start: 0x5581a6c00000n, end: 0x5581a8a00000n, perms: "r--p", path: "/usr/bin/deno" });
  assertEquals(maps[4]!.path, "");
  assertEquals(maps[7]!.path, "/tmp/old build.so (deleted)");
  assertEquals(maps[10]!.start, 0xffffffffff600000n);
});

Deno.test("pageOutCandidates keeps readable, unwritable file mappings only", () => {
  const paths = pageOutCandidates(parseMaps(SAMPLE)).map((m: Mapping) => `${m.perms} ${m.path}`);
  assertEquals(paths, [
    "r--p /usr/bin/deno",
    "r-xp /usr/bin/deno",
    "r-xp /usr/lib/libc.so.6",
    "r--s /root/.cache/deno/v8_code_cache_v2",
  ]);
});

/** Resident kB of every mapping of `path`, from /proc/self/smaps. */
function residentKb(path: string): number {
  let inside = false;
  let total = 0;
  for (const line of readProcFile("/proc/self/smaps").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.endsWith(` ${path}`);
    else if (inside && line.startsWith("Rss:")) total += Number(line.split(/\s+/)[1]);
  }
  return total;
}

const LIBM = ["/usr/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/aarch64-linux-gnu/libm.so.6", "/lib64/libm.so.6"]
  .find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });

Deno.test({
  name: "pageOutCode hands back the resident pages of a library only this process maps",
  ignore: LIBM === undefined,
  fn() {
    // A private copy (a file of its own, synced so its pages are clean), so no other process shares its pages.
    const dir = Deno.makeTempDirSync({ prefix: "metallite-pageout-" });
    const copy = `${dir}/libm-copy.so`;
    try {
      Deno.copyFileSync(LIBM!, copy);
      using file = Deno.openSync(copy, { read: true });
      file.syncSync();
      const library = Deno.dlopen(copy, { cos: { parameters: ["f64"], result: "f64" } });
      try {
        assertEquals(library.symbols.cos(0), 1);
        const before = residentKb(copy);
        assert(before > 0, "the loader touched the copy's pages");
        const result = pageOutCode();
        assert(result.mappings > 0 && result.bytes > 0, `advised ${result.mappings} mappings, ${result.bytes} bytes`);
        const after = residentKb(copy);
        assert(after < before, `resident ${before} kB before, ${after} kB after`);
        // Still usable: a page that is needed again faults back in from the file.
        assertEquals(library.symbols.cos(Math.PI), -1);
      } finally {
        library.close();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
