// deno-lint-ignore-file no-console
import { assert, assertEquals, assertThrows, waitFor } from "../../tests/assert.ts";
import { assembleBpf, BPF_ACCEPT, BPF_DROP } from "./bpf.ts";
import { interfaceInfo, isNoSuchInterface } from "./interface.ts";
import { ETH_P_ARP, ETH_P_IPV6, libc, LibcError } from "./libc.ts";
import { PacketSocket, type ReceivedFrame } from "./packet_socket.ts";
import { formatMac } from "./mac.ts";
import { createLab, labSkipReason } from "../../tests/lab/mod.ts";
import { ffiSkipReason, inNetns } from "./testing.ts";

const skip = ffiSkipReason() ?? labSkipReason();
if (skip !== undefined) console.log(`Skipping real-socket tests: ${skip}`);
else libc(); // opened outside any test: the library lives as long as the process

Deno.test({
  name: "interfaceInfo() reads index and flags of lo and reports ENODEV for a missing interface",
  ignore: skip !== undefined,
  fn() {
    const lo = interfaceInfo("lo");
    assertEquals(lo.index, 1);
    assertEquals(lo.hardwareType, 772); // ARPHRD_LOOPBACK, uapi/linux/if_arp.h
    assert(lo.up);
    const error = assertThrows(() => interfaceInfo("mltnosuch0"), LibcError, "No such device");
    assert(isNoSuchInterface(error));
    assertThrows(() => interfaceInfo("a/b"), TypeError, "Invalid interface name");
    assertThrows(() => interfaceInfo("x".repeat(16)), TypeError, "Invalid interface name");
  },
});

/** A frame from `src` MAC to broadcast with the given ethertype and payload byte. */
function frame(src: Uint8Array, ethertype: number, fill: number, length = 60): Uint8Array {
  const out = new Uint8Array(length).fill(fill);
  out.fill(0xff, 0, 6);
  out.set(src, 6);
  out[12] = ethertype >> 8;
  out[13] = ethertype & 0xff;
  return out;
}

Deno.test({
  name: "PacketSocket sends and receives filtered frames between namespaces, truncates, and closes while waiting",
  ignore: skip !== undefined,
  async fn() {
    await using lab = await createLab({ nodes: 1 });
    const [node, client] = [lab.nodes[0]!, lab.client];
    // Only frames whose byte 14 is 0x01 pass the filter.
    const filter = assembleBpf([
      { op: "ld", size: "byte", offset: 14 },
      { op: "jeq", value: 1, then: "yes", else: "no" },
      { op: "label", name: "yes" },
      { op: "ret", value: BPF_ACCEPT },
      { op: "label", name: "no" },
      { op: "ret", value: BPF_DROP },
    ]);
    const receiver = inNetns(
      node.netns,
      () => PacketSocket.open({ interface: node.iface, protocol: ETH_P_ARP, filter, maxFrameBytes: 128 }),
    );
    const sender = inNetns(
      client.netns,
      () => PacketSocket.open({ interface: client.iface, protocol: ETH_P_ARP }),
    );
    try {
      assertEquals(formatMac(receiver.mac), node.mac);
      assertEquals(formatMac(sender.mac), client.mac);
      const got: ReceivedFrame[] = [];
      const reading = (async () => {
        for await (const f of receiver.frames()) got.push(f);
      })();
      // Give the reader time to sit in poll, proving that a frame wakes it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      sender.send(frame(sender.mac, ETH_P_ARP, 0x02)); // dropped by the filter
      sender.send(frame(sender.mac, ETH_P_IPV6, 0x01)); // other ethertype: not bound to it
      sender.send(frame(sender.mac, ETH_P_ARP, 0x01)); // delivered
      sender.send(frame(sender.mac, ETH_P_ARP, 0x01, 300)); // delivered, truncated to 128
      await waitFor("two frames", () => got.length >= 2, { timeoutMs: 3000 });
      assertEquals(got[0]!.bytes.length, 60);
      assertEquals(got[0]!.truncated, false);
      assertEquals(got[0]!.pktType, 1); // PACKET_BROADCAST
      assertEquals(got[1]!.bytes.length, 128);
      assertEquals(got[1]!.length, 300);
      assertEquals(got[1]!.truncated, true);
      assertEquals(receiver.stats.truncated, 1);
      // A filter swap takes effect at once: now frames with 0x02 pass and 0x01 do not.
      receiver.setFilter(assembleBpf([
        { op: "ld", size: "byte", offset: 14 },
        { op: "jeq", value: 2, then: "yes", else: "no" },
        { op: "label", name: "yes" },
        { op: "ret", value: BPF_ACCEPT },
        { op: "label", name: "no" },
        { op: "ret", value: BPF_DROP },
      ]));
      sender.send(frame(sender.mac, ETH_P_ARP, 0x01));
      sender.send(frame(sender.mac, ETH_P_ARP, 0x02));
      await waitFor("the third frame", () => got.length >= 3, { timeoutMs: 3000 });
      assertEquals(got[2]!.bytes[14], 0x02);
      // Now the reader waits in poll again: close() must wake it and end the loop.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await receiver.close();
      await reading;
      assertEquals(got.length, 3);
      assertThrows(() => receiver.send(frame(receiver.mac, ETH_P_ARP, 1)), Error, "closed");
    } finally {
      await receiver.close();
      await sender.close();
    }
  },
});

Deno.test({
  name: "PacketSocket.open() names the interface when it does not exist",
  ignore: skip !== undefined,
  fn() {
    const error = assertThrows(() => PacketSocket.open({ interface: "mltnosuch0", protocol: ETH_P_ARP }), LibcError);
    assert(error.message.includes('interface "mltnosuch0"'), error.message);
    assertThrows(() => PacketSocket.open({ interface: "lo", protocol: 0 }), RangeError);
  },
});

Deno.test({
  name: "PacketSocket joins and leaves a multicast group",
  ignore: skip !== undefined,
  async fn() {
    await using lab = await createLab({ nodes: 1 });
    const node = lab.nodes[0]!;
    const socket = inNetns(
      node.netns,
      () => PacketSocket.open({ interface: node.iface, protocol: ETH_P_IPV6 }),
    );
    try {
      const group = new Uint8Array([0x33, 0x33, 0xff, 0x00, 0x00, 0x64]);
      socket.addMembership(group);
      const maddr = await lab.exec(node, ["ip", "maddr", "show", "dev", node.iface]);
      assert(maddr.stdout.includes("33:33:ff:00:00:64"), maddr.stdout);
      socket.dropMembership(group);
      const after = await lab.exec(node, ["ip", "maddr", "show", "dev", node.iface]);
      assert(!after.stdout.includes("33:33:ff:00:00:64"), after.stdout);
      assertThrows(() => socket.addMembership(new Uint8Array(5)), TypeError);
    } finally {
      await socket.close();
    }
  },
});

Deno.test({
  name: "PacketSocket.frames() ends on abort while waiting, and a new reader then receives normally",
  ignore: skip !== undefined,
  async fn() {
    await using lab = await createLab({ nodes: 1 });
    const [node, client] = [lab.nodes[0]!, lab.client];
    const receiver = inNetns(
      node.netns,
      () => PacketSocket.open({ interface: node.iface, protocol: ETH_P_ARP }),
    );
    const sender = inNetns(
      client.netns,
      () => PacketSocket.open({ interface: client.iface, protocol: ETH_P_ARP }),
    );
    try {
      const controller = new AbortController();
      let count = 0;
      const first = (async () => {
        for await (const _ of receiver.frames({ signal: controller.signal })) count++;
      })();
      await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort();
      await first;
      assertEquals(count, 0);
      const got: ReceivedFrame[] = [];
      const second = (async () => {
        for await (const f of receiver.frames()) got.push(f);
      })();
      await new Promise((resolve) => setTimeout(resolve, 20));
      sender.send(frame(sender.mac, ETH_P_ARP, 0x07));
      await waitFor("a frame after the abort", () => got.length === 1, { timeoutMs: 3000 });
      await receiver.close();
      await second;
    } finally {
      await receiver.close();
      await sender.close();
    }
  },
});

Deno.test({
  name: "PacketSocket keeps receiving after its link goes down and up, without spinning",
  ignore: skip !== undefined,
  async fn() {
    await using lab = await createLab({ nodes: 1 });
    const [node, client] = [lab.nodes[0]!, lab.client];
    const receiver = inNetns(node.netns, () => PacketSocket.open({ interface: node.iface, protocol: ETH_P_ARP }));
    const sender = inNetns(client.netns, () => PacketSocket.open({ interface: client.iface, protocol: ETH_P_ARP }));
    try {
      const got: ReceivedFrame[] = [];
      const reading = (async () => {
        for await (const f of receiver.frames()) got.push(f);
      })();
      await lab.linkDown(node);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await lab.linkUp(node);
      await waitFor("frames after the link came back", () => {
        sender.send(frame(sender.mac, ETH_P_ARP, 0x05));
        return got.length > 0;
      }, { timeoutMs: 5000, intervalMs: 100 });
      assert(receiver.stats.errors <= 2, `receive errors: ${receiver.stats.errors}`);
      await receiver.close();
      await reading;
    } finally {
      await receiver.close();
      await sender.close();
    }
  },
});
