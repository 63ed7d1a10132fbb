import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { check, cString, EAGAIN, EFD_CLOEXEC, EFD_NONBLOCK, errno, htons, libc, LibcError, POLLIN } from "./libc.ts";
import { ffiSkipReason } from "./testing.ts";

const skip = ffiSkipReason();
// deno-lint-ignore no-console
if (skip !== undefined) console.log(`Skipping libc tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process (see the module doc)

Deno.test("htons() swaps the bytes of a 16-bit value", () => {
  assertEquals(htons(0x0806), 0x0608);
  assertEquals(htons(0x0003), 0x0300);
});

Deno.test("cString() appends a NUL", () => {
  assertEquals([...cString("lo")], [0x6c, 0x6f, 0]);
});

Deno.test({
  name: "libc(): errno() reads EAGAIN after reading an empty nonblocking eventfd",
  ignore: skip !== undefined,
}, () => {
  const fd = check("eventfd", libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  try {
    const buffer = new Uint8Array(8);
    const n = Number(libc().read(fd, buffer, 8n));
    assertEquals(n, -1);
    assertEquals(errno(), EAGAIN);
    const error = new LibcError("read", EAGAIN, "eventfd");
    assertStringIncludes(error.message, "read (eventfd) failed: Resource temporarily unavailable (errno 11)");
  } finally {
    libc().close(fd);
  }
});

Deno.test({
  name: "libc(): pollAsync waits off the event loop and an eventfd write wakes it",
  ignore: skip !== undefined,
}, async () => {
  const fd = check("eventfd", libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  try {
    const fds = new Uint8Array(8);
    const view = new DataView(fds.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    const waiting = libc().pollAsync(fds, 1n, 5_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 1n, true);
    check("write", libc().write(fd, one, 8n));
    assertEquals(await waiting, 1);
    clearInterval(timer);
    assert(ticks > 3, `the event loop kept running while poll waited (${ticks} ticks)`);
    assertEquals(view.getInt16(6, true) & POLLIN, POLLIN);
  } finally {
    libc().close(fd);
  }
});

Deno.test({ name: "libc(): if_nametoindex finds the loopback interface", ignore: skip !== undefined }, () => {
  assertEquals(libc().if_nametoindex(cString("lo")), 1);
});
