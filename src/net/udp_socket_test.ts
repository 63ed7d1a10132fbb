// Loopback only: every socket binds 127.0.0.1 or ::1 on a port the kernel picks.
import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
  waitFor,
  waitForTimerTicks,
} from "../../tests/assert.ts";
import { libc, LibcError } from "./libc.ts";
import { ffiSkipReason } from "./testing.ts";
import { decodeSockaddr, encodeSockaddr, type ReceivedDatagram, UdpSocket } from "./udp_socket.ts";

const skip = ffiSkipReason();
// deno-lint-ignore no-console
if (skip !== undefined) console.log(`Skipping UDP socket tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process (see libc.ts)

function ipv6Missing(): string | undefined {
  if (skip !== undefined) return skip;
  try {
    const probe = UdpSocket.open({ address: "::1", port: 0 });
    probe.close();
    return undefined;
  } catch (error) {
    return `no IPv6 loopback here (${(error as Error).message})`;
  }
}
const skip6 = ipv6Missing();
// deno-lint-ignore no-console
if (skip6 !== undefined && skip === undefined) console.log(`Skipping IPv6 UDP socket tests: ${skip6}`);

/** Reads datagrams into `into` until the socket closes or `signal` aborts. */
async function collect(socket: UdpSocket, into: ReceivedDatagram[], signal?: AbortSignal): Promise<void> {
  for await (const datagram of socket.datagrams(signal ? { signal } : {})) into.push(datagram);
}

Deno.test("encodeSockaddr() and decodeSockaddr() round-trip IPv4, IPv6 and numeric zones", () => {
  for (const [address, port] of [["198.51.100.7", 7947], ["2001:db8::1", 1], ["fe80::1%3", 65535]] as const) {
    const bytes = encodeSockaddr(address, port);
    assert(bytes !== undefined, address);
    assertEquals(decodeSockaddr(bytes), { address, port });
  }
  assertEquals(encodeSockaddr("198.51.100.7", 7947)?.length, 16);
  assertEquals(encodeSockaddr("2001:db8::1", 7947)?.length, 28);
  for (const [address, port] of [["nope", 1], ["198.51.100.7%2", 1], ["fe80::1%", 1], ["::1", 70000], ["::1", -1]]) {
    assertEquals(encodeSockaddr(address as string, port as number), undefined, `${address} ${port}`);
  }
  assertEquals(decodeSockaddr(new Uint8Array(28)), undefined, "AF_UNSPEC");
  assertEquals(decodeSockaddr(new Uint8Array(4)), undefined, "too short");
});

Deno.test({
  name: "UdpSocket: IPv4 datagrams arrive with the sender's address and port, without blocking the event loop",
  ignore: skip !== undefined,
}, async () => {
  await using a = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  await using b = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  assert(a.port > 0 && b.port > 0 && a.port !== b.port);
  assertEquals(a.family, 4);
  const received: ReceivedDatagram[] = [];
  const reading = collect(b, received);
  // The reader now waits in poll on a worker thread: timers keep running meanwhile.
  await waitForTimerTicks("the reader waits");
  a.sendTo(Uint8Array.of(1, 2, 3), "127.0.0.1", b.port);
  a.sendTo(new Uint8Array(0), "127.0.0.1", b.port);
  await waitFor("two datagrams", () => received.length === 2, { timeoutMs: 2000 });
  assertEquals(received[0], {
    bytes: Uint8Array.of(1, 2, 3),
    length: 3,
    truncated: false,
    address: "127.0.0.1",
    port: a.port,
  });
  assertEquals(received[1]?.length, 0);
  assertEquals(b.stats, { received: 2, truncated: 0, errors: 0 });
  await b.close();
  await reading;
});

Deno.test({
  name: "UdpSocket: an IPv4 and an IPv6-only socket share one port, and IPv6 datagrams arrive",
  ignore: skip6 !== undefined,
}, async () => {
  await using v4 = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  await using v6 = UdpSocket.open({ address: "::1", port: v4.port });
  await using sender = UdpSocket.open({ address: "::1", port: 0 });
  assertEquals(v6.family, 6);
  assertEquals(v6.port, v4.port);
  const received: ReceivedDatagram[] = [];
  const reading = collect(v6, received);
  sender.sendTo(Uint8Array.of(6), "::1", v6.port);
  await waitFor("the IPv6 datagram", () => received.length === 1, { timeoutMs: 2000 });
  assertEquals(received[0]?.address, "::1");
  assertEquals(received[0]?.port, sender.port);
  await v6.close();
  await reading;
});

Deno.test({
  name: "UdpSocket: a dual-stack IPv6 socket (ipv6Only false) takes the IPv4 port too",
  ignore: skip6 !== undefined,
}, async () => {
  await using dual = UdpSocket.open({ address: "::", port: 0, ipv6Only: false });
  const error = assertThrows(() => UdpSocket.open({ address: "0.0.0.0", port: dual.port }), LibcError);
  assertEquals((error as LibcError).call, "bind");
});

Deno.test({
  name: "UdpSocket: a datagram longer than maxDatagramBytes is delivered cut and marked",
  ignore: skip !== undefined,
}, async () => {
  await using a = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  await using b = UdpSocket.open({ address: "127.0.0.1", port: 0, maxDatagramBytes: 10 });
  const received: ReceivedDatagram[] = [];
  const reading = collect(b, received);
  a.sendTo(new Uint8Array(25).fill(7), "127.0.0.1", b.port);
  await waitFor("the datagram", () => received.length === 1, { timeoutMs: 2000 });
  assertEquals(received[0]?.bytes, new Uint8Array(10).fill(7));
  assertEquals(received[0]?.length, 25);
  assertEquals(received[0]?.truncated, true);
  assertEquals(b.stats.truncated, 1);
  await b.close();
  await reading;
});

Deno.test({
  name: "UdpSocket: a flood is read in batches and every datagram arrives",
  ignore: skip !== undefined,
}, async () => {
  await using a = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  await using b = UdpSocket.open({ address: "127.0.0.1", port: 0, batchSize: 4 });
  const received: ReceivedDatagram[] = [];
  const reading = collect(b, received);
  for (let i = 0; i < 100; i++) a.sendTo(Uint8Array.of(i), "127.0.0.1", b.port);
  await waitFor("100 datagrams", () => received.length === 100, { timeoutMs: 3000 });
  assertEquals(received.map((d) => d.bytes[0]), Array.from({ length: 100 }, (_, i) => i));
  await b.close();
  await reading;
});

Deno.test({
  name: "UdpSocket: aborting ends the reader and keeps the socket; a new reader gets later datagrams",
  ignore: skip !== undefined,
}, async () => {
  await using a = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  await using b = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  const first: ReceivedDatagram[] = [];
  const reading = collect(b, first, stop.signal);
  await new Promise((resolve) => setTimeout(resolve, 20));
  stop.abort();
  await reading;
  const second: ReceivedDatagram[] = [];
  const again = collect(b, second);
  a.sendTo(Uint8Array.of(9), "127.0.0.1", b.port);
  await waitFor("the datagram after the abort", () => second.length === 1, { timeoutMs: 2000 });
  assertEquals(first.length, 0);
  await b.close();
  await again;
});

Deno.test({
  name: "UdpSocket: bad addresses, the other family and a closed socket are refused with clear errors",
  ignore: skip !== undefined,
}, async () => {
  assertThrows(() => UdpSocket.open({ address: "localhost", port: 0 }), TypeError, `"localhost": not an IP address`);
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: 65536 }), RangeError, "from 0 to 65535");
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: 0, maxDatagramBytes: 0 }), RangeError);
  const taken = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  try {
    const error = assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: taken.port }), LibcError);
    assertEquals((error as LibcError).call, "bind");
    assertThrows(() => taken.sendTo(Uint8Array.of(1), "2001:db8::1", 7947), TypeError, "not an IPv4 address");
    assertThrows(() => taken.sendTo(Uint8Array.of(1), "node-b", 7947), TypeError, `"node-b"`);
  } finally {
    await taken.close();
    await taken.close(); // idempotent
  }
  assertThrows(() => taken.sendTo(Uint8Array.of(1), "127.0.0.1", 7947), Error, "closed UDP socket");
});

Deno.test("decodeSockaddr() can drop the zone and give IPv4-mapped addresses as IPv4", () => {
  const scoped = encodeSockaddr("fe80::1%3", 179)!;
  assertEquals(decodeSockaddr(scoped, { zone: false }), { address: "fe80::1", port: 179 });
  const mapped = encodeSockaddr("::ffff:198.51.100.7", 179)!;
  assertEquals(decodeSockaddr(mapped), { address: "::ffff:c633:6407", port: 179 });
  assertEquals(decodeSockaddr(mapped, { unmapIpv4: true }), { address: "198.51.100.7", port: 179 });
  const plain = encodeSockaddr("2001:db8::ffff:1", 179)!;
  assertEquals(decodeSockaddr(plain, { unmapIpv4: true }), { address: "2001:db8::ffff:1", port: 179 });
});

Deno.test({
  name: "UdpSocket: a port range binds a free port in it, starting where random() points",
  ignore: skip !== undefined,
}, async () => {
  await using first = UdpSocket.open({ address: "127.0.0.1", port: 0 });
  const range = { min: first.port, max: first.port + 1 };
  if (range.max > 0xffff) return; // the kernel's pick was the last port: no room for a range above it
  // random() points at the taken port: the next one in the range is used.
  const second = UdpSocket.open({ address: "127.0.0.1", port: range, random: () => 0 });
  try {
    assertEquals(second.port, range.max);
    const error = assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: range }), LibcError);
    assertEquals((error as LibcError).call, "bind");
    assertStringIncludes(error.message, `port ${range.min}-${range.max}: every port is taken`);
  } finally {
    await second.close();
  }
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: { min: 5, max: 4 } }), RangeError, "not 5-4");
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: { min: 1, max: 65536 } }), RangeError);
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: 0, ttl: 256 }), RangeError, "ttl must be");
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: 0, minTtl: 0 }), RangeError, "minTtl must be");
});

Deno.test({
  name: "UdpSocket: with reuseAddress on both, two sockets bind the same port",
  ignore: skip !== undefined,
}, async () => {
  await using a = UdpSocket.open({ address: "127.0.0.1", port: 0, reuseAddress: true });
  await using b = UdpSocket.open({ address: "127.0.0.1", port: a.port, reuseAddress: true });
  assertEquals(b.port, a.port);
  assertThrows(() => UdpSocket.open({ address: "127.0.0.1", port: a.port }), LibcError, "Address already in use");
});

for (const [family, address] of [[4, "127.0.0.1"], [6, "::1"]] as const) {
  Deno.test({
    name: `UdpSocket: minTtl drops IPv${family} datagrams sent with a lower TTL; ttl sets ours`,
    ignore: (family === 4 ? skip : skip6) !== undefined,
  }, async () => {
    await using receiver = UdpSocket.open({ address, port: 0, minTtl: 255 });
    await using low = UdpSocket.open({ address, port: 0, ttl: 254 });
    await using high = UdpSocket.open({ address, port: 0, ttl: 255 });
    const received: ReceivedDatagram[] = [];
    const reading = collect(receiver, received);
    // Loopback does not decrement the TTL: what is sent is what arrives.
    low.sendTo(Uint8Array.of(1), address, receiver.port);
    high.sendTo(Uint8Array.of(2), address, receiver.port);
    low.sendTo(Uint8Array.of(3), address, receiver.port);
    high.sendTo(Uint8Array.of(4), address, receiver.port);
    await waitFor("the TTL 255 datagrams", () => received.length === 2, { timeoutMs: 2000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assertEquals(received.map((d) => [d.bytes[0], d.port]), [[2, high.port], [4, high.port]]);
    assertEquals(receiver.stats.errors, 0);
    await receiver.close();
    await reading;
  });
}
