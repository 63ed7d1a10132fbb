/**
 * The kernel fast path, judged by the kernel itself: the program is loaded through the verifier and run on frames
 * with BPF_PROG_TEST_RUN (nothing is sent anywhere). Its answers must be exactly the user-space responder's, and it
 * must leave every case it does not own to user space. Needs root (CAP_BPF, CAP_NET_ADMIN); skipped otherwise.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { libc, LibcError, TCX_NEXT, TCX_REDIRECT, testRunBpfProgram } from "../net/mod.ts";
import { FakeFrameSocket, fuzzSeed, ManualClock, mutateFrame, seededRandom } from "../net/testing.ts";
import { ARP_REPLY, ARP_REQUEST, encodeArpFrame, ipv4Word } from "./codec.ts";
import { ArpOffload, type ArpOffloadEntry } from "./offload.ts";
import { ArpResponder } from "./responder.ts";

libc();

/** BPF_PROG_TEST_RUN runs tc programs on the loopback device unless told otherwise: its index is 1. */
const LOOPBACK_INDEX = 1;
const OUR_MAC = "02:6d:6c:74:00:01";
const CLIENT_MAC = "02:6d:6c:74:00:64";
const CLIENT_IP = "192.0.2.100";
const VIP = "192.0.2.10";
const EINVAL = 22;

function skipReason(): string | undefined {
  if (Deno.build.os !== "linux") return "needs Linux";
  if (Deno.uid() !== 0) return "needs root (CAP_BPF and CAP_NET_ADMIN) to load eBPF programs";
  try {
    ArpOffload.open({ clock: new ManualClock() }).close();
  } catch (error) {
    return `the kernel refuses the program: ${error instanceof Error ? error.message : error}`;
  }
  return undefined;
}
const SKIP = skipReason();
// deno-lint-ignore no-console -- say why the tests are skipped
if (SKIP !== undefined) console.warn(`offload_test: skipped: ${SKIP}`);

function macBytes(text: string): Uint8Array {
  return new Uint8Array(text.split(":").map((part) => parseInt(part, 16)));
}

function request(options: {
  target?: string;
  destination?: string;
  senderMac?: string;
  senderIp?: string;
  operation?: typeof ARP_REQUEST | typeof ARP_REPLY;
} = {}): Uint8Array<ArrayBuffer> {
  const frame = encodeArpFrame({
    operation: options.operation ?? ARP_REQUEST,
    destination: options.destination ?? "ff:ff:ff:ff:ff:ff",
    senderMac: options.senderMac ?? CLIENT_MAC,
    senderIp: options.senderIp ?? CLIENT_IP,
    targetMac: "00:00:00:00:00:00",
    targetIp: options.target ?? VIP,
  });
  return new Uint8Array(frame);
}

function entry(ip = VIP, interfaceIndex = LOOPBACK_INDEX): ArpOffloadEntry {
  return { ip: ipv4Word(ip), interfaceIndex, mac: macBytes(OUR_MAC) };
}

function withOffload(fn: (offload: ArpOffload) => void, options: { leaseMs?: number } = {}): void {
  const offload = ArpOffload.open({ clock: new ManualClock(), ...options });
  try {
    fn(offload);
  } finally {
    offload.close();
  }
}

/** What the user-space responder sends for `frame` on an interface with our MAC owning VIP, or undefined. */
function userSpaceReply(frame: Uint8Array): Uint8Array | undefined {
  const socket = new FakeFrameSocket("eth0", OUR_MAC, LOOPBACK_INDEX);
  const responder = new ArpResponder({ sockets: [socket], clock: new ManualClock(), announceDelaysMs: [] });
  responder.announce(VIP);
  const outcome = responder.handleFrame(socket, frame);
  void responder.close();
  return outcome.action === "answered" ? socket.sent.at(-1) : undefined;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function run(offload: ArpOffload, frame: Uint8Array<ArrayBuffer>) {
  return testRunBpfProgram(offload.programFd, { packet: frame });
}

Deno.test({
  name: "ArpOffload: the kernel answers a request for an owned VIP exactly as user space does, and counts it",
  ignore: SKIP !== undefined,
  fn() {
    withOffload((offload) => {
      offload.sync([entry()]);
      for (const destination of ["ff:ff:ff:ff:ff:ff", OUR_MAC]) {
        const frame = request({ destination });
        const result = run(offload, frame);
        assertEquals(result.verdict, TCX_REDIRECT, `verdict for a request sent to ${destination}`);
        const expected = userSpaceReply(frame);
        assert(expected !== undefined, "user space answers it too");
        assertEquals([...result.packet.subarray(0, 42)], [...expected.subarray(0, 42)]);
      }
      assertEquals(offload.takeReplies(), new Map([[LOOPBACK_INDEX, 2]]));
      assertEquals(offload.takeReplies(), new Map(), "counted once");
    });
  },
});

Deno.test({
  name: "ArpOffload: every case user space must judge goes on to it (TCX_NEXT)",
  ignore: SKIP !== undefined,
  fn() {
    withOffload((offload) => {
      offload.sync([entry()]);
      const cases: Record<string, Uint8Array<ArrayBuffer>> = {
        "not owned": request({ target: "192.0.2.11" }),
        "probe (sender 0.0.0.0)": request({ senderIp: "0.0.0.0" }),
        "announcement (sender = target)": request({ senderIp: VIP }),
        "a reply, not a request": request({ operation: ARP_REPLY }),
        "unicast to another MAC": request({ destination: "02:6d:6c:74:00:99" }),
        "multicast sender MAC": request({ senderMac: "03:6d:6c:74:00:64" }),
        "zero sender MAC": request({ senderMac: "00:00:00:00:00:00" }),
        "our own frame": request({ senderMac: OUR_MAC }),
        "truncated to 41 bytes": request().slice(0, 41),
      };
      const ipv6 = request();
      ipv6.set([0x86, 0xdd], 12);
      cases["IPv6 ethertype"] = ipv6;
      const badLength = request();
      badLength[19] = 16;
      cases["protocol length 16"] = badLength;
      for (const [name, frame] of Object.entries(cases)) {
        assertEquals(run(offload, frame).verdict, TCX_NEXT, name);
      }
      assertEquals(offload.takeReplies(), new Map());
    });
  },
});

Deno.test({
  name: "ArpOffload: a withdrawn VIP, another interface, or a lapsed lease is not answered",
  ignore: SKIP !== undefined,
  fn() {
    withOffload((offload) => {
      offload.sync([entry(VIP, LOOPBACK_INDEX + 1)]);
      assertEquals(run(offload, request()).verdict, TCX_NEXT, "owned on another interface only");
      offload.sync([entry()]);
      assertEquals(run(offload, request()).verdict, TCX_REDIRECT);
      offload.sync([]);
      assertEquals(run(offload, request()).verdict, TCX_NEXT, "withdrawn: silent at once");
    });
    withOffload((offload) => {
      offload.sync([entry()]);
      assertEquals(run(offload, request()).verdict, TCX_NEXT, "lease of 0 ms has run out");
    }, { leaseMs: 0 });
  },
});

Deno.test({
  name: "ArpOffload: fuzzed frames are answered by the kernel only when user space answers them identically",
  ignore: SKIP !== undefined,
  fn() {
    const random = seededRandom(fuzzSeed());
    const seeds = [request(), request({ destination: OUR_MAC }), request({ senderIp: "0.0.0.0" })];
    let answered = 0;
    withOffload((offload) => {
      offload.sync([entry()]);
      for (let i = 0; i < 3000; i++) {
        const frame = new Uint8Array(mutateFrame(seeds[i % seeds.length]!, random));
        // BPF_PROG_TEST_RUN needs an Ethernet header, and refuses more than about a page of data.
        if (frame.length < 14 || frame.length > 3000) continue;
        let result;
        try {
          result = run(offload, frame);
        } catch (error) {
          // The test runner itself refuses a few frames (an IPv4 ethertype with no room for an IPv4 header).
          if (error instanceof LibcError && error.errno === EINVAL) continue;
          throw error;
        }
        const expected = userSpaceReply(frame);
        if (result.verdict === TCX_NEXT) continue;
        assertEquals(result.verdict, TCX_REDIRECT, `verdict for frame ${i}`);
        assert(expected !== undefined, `kernel answered frame ${i} that user space refuses: ${hex(frame)}`);
        assertEquals([...result.packet.subarray(0, 42)], [...expected.subarray(0, 42)], `reply to frame ${i}`);
        answered++;
      }
    });
    assert(answered > 0, "some mutated frames are still plain requests");
  },
});
