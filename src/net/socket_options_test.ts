// Loopback only: UDP sockets on 127.0.0.1 / ::1, options read back with getsockopt.
import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { assembleBpf, BPF_DROP } from "./bpf.ts";
import {
  AF_INET,
  AF_INET6,
  check,
  IP_MINTTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  libc,
  LibcError,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "./libc.ts";
import { attachSocketFilter, setIntOptions, setTtl } from "./socket_options.ts";
import { ffiSkipReason } from "./testing.ts";

const skip = ffiSkipReason();
// deno-lint-ignore no-console
if (skip !== undefined) console.log(`Skipping socket option tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process (see libc.ts)

function udp(family: number): { fd: number; [Symbol.dispose](): void } {
  const fd = check("socket", libc().socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  return { fd, [Symbol.dispose]: () => libc().close(fd) };
}

function read(fd: number, level: number, option: number): number {
  const value = new Uint8Array(4);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, 4, true);
  check("getsockopt", libc().getsockopt(fd, level, option, value, length));
  return new DataView(value.buffer).getInt32(0, true);
}

Deno.test(
  { name: "setIntOptions() sets the named options and skips undefined ones", ignore: skip !== undefined },
  () => {
    using socket = udp(AF_INET);
    const defaultTtl = read(socket.fd, IPPROTO_IP, IP_TTL);
    setIntOptions(socket.fd, { SO_REUSEADDR: 1, IP_TTL: undefined });
    assertEquals(read(socket.fd, SOL_SOCKET, SO_REUSEADDR), 1);
    assertEquals(read(socket.fd, IPPROTO_IP, IP_TTL), defaultTtl);
  },
);

Deno.test(
  { name: "setTtl() sets TTL and minimum TTL for IPv4 and the hop limit for IPv6", ignore: skip !== undefined },
  () => {
    using v4 = udp(AF_INET);
    setTtl(v4.fd, { family: 4, ttl: 255, minTtl: 254 });
    assertEquals([read(v4.fd, IPPROTO_IP, IP_TTL), read(v4.fd, IPPROTO_IP, IP_MINTTL)], [255, 254]);
    let v6: { fd: number; [Symbol.dispose](): void } | undefined;
    try {
      v6 = udp(AF_INET6);
    } catch {
      return; // no IPv6 in this kernel
    }
    using _v6 = v6;
    setTtl(v6.fd, { family: 6, ttl: 1 });
    setIntOptions(v6.fd, { IPV6_V6ONLY: 1 });
    assertEquals([read(v6.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS), read(v6.fd, IPPROTO_IPV6, IPV6_V6ONLY)], [1, 1]);
  },
);

Deno.test(
  { name: "setTtl() and setIntOptions() name the option the kernel refused", ignore: skip !== undefined },
  () => {
    using socket = udp(AF_INET);
    const error = assertThrows(
      () => setTtl(socket.fd, { family: 4, ttl: 256 }),
      LibcError,
      "setsockopt(IP_TTL) (TTL 256)",
    );
    assertEquals((error as LibcError).errno, 22);
    assertThrows(() => setIntOptions(socket.fd, { IP_MINTTL: -1 }, "peer 192.0.2.1"), LibcError, "(peer 192.0.2.1)");
  },
);

Deno.test({ name: "attachSocketFilter() attaches a classic BPF program", ignore: skip !== undefined }, () => {
  using socket = udp(AF_INET);
  attachSocketFilter(socket.fd, assembleBpf([{ op: "ret", value: BPF_DROP }]));
  // An empty program is refused: the error names the option.
  assertThrows(() => attachSocketFilter(socket.fd, [], "test"), LibcError, "setsockopt(SO_ATTACH_FILTER) (test)");
});
