// deno-lint-ignore-file no-console
/** Integration tests of the lab itself: they build real namespaces, so they need root (else they are skipped). */
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes, waitFor } from "../assert.ts";
import {
  arping,
  capture,
  cleanupStaleLabs,
  createLab,
  gratuitousArps,
  labSkipReason,
  ndisc,
  neighbour,
  startUnixForward,
  toolSkipReason,
  unsolicitedNas,
} from "./mod.ts";
import { unixEcho } from "./_testing.ts";

/** Registers a test that needs labs and these tools; when they are missing it is ignored and says why. */
function labTest(name: string, tools: string[], fn: () => Promise<void>): void {
  const reason = labSkipReason() ?? toolSkipReason(...tools);
  if (reason !== undefined) console.error(`skipping "${name}": ${reason}`);
  Deno.test({ name, ignore: reason !== undefined, fn });
}

async function labNamespaces(id: string): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" ")[0]!).filter((n) =>
    n.startsWith(`${id}-`)
  );
}

/** True while a process runs; a zombie (dead, not yet reaped by its new parent) counts as gone. */
function processExists(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

labTest("arping from the client gets node1's MAC, and only node1's", ["arping"], async () => {
  await using lab = await createLab({ nodes: 3 });
  const [node1, node2] = lab.nodes;
  const result = await arping(lab, lab.client, node1!.ipv4, { count: 2 });
  assertEquals(result.macs, [node1!.mac], result.output);
  assertEquals(result.replies.length, 2, result.output);
  assert(result.replies.every((r) => r.rttMs > 0 && r.rttMs < 1000), result.output);
  assertEquals((await arping(lab, node1!, node2!.ipv4)).macs, [node2!.mac]);
  const nobody = await arping(lab, lab.client, "198.51.100.250", { timeoutMs: 200 });
  assertEquals([nobody.code, nobody.replies], [1, []]);
});

labTest("ndisc6 from the client resolves node1's IPv6 address to node1's MAC", ["ndisc6"], async () => {
  await using lab = await createLab({ nodes: 2 });
  const [node1, node2] = lab.nodes;
  assertEquals((await ndisc(lab, lab.client, node1!.ipv6)).mac, node1!.mac);
  assertEquals((await ndisc(lab, lab.client, node2!.ipv6, { multiple: true, waitMs: 200 })).macs, [node2!.mac]);
  const nobody = await ndisc(lab, lab.client, "2001:db8:100::250", { retries: 1, waitMs: 200 });
  assertEquals(nobody.mac, undefined);
});

labTest("every node has kube-lb0 and kube-proxy's strict-ARP sysctls, so VIPs on kube-lb0 stay silent", [
  "arping",
], async () => {
  await using lab = await createLab({ nodes: 2, router: true });
  for (const node of lab.nodes) {
    assertStringIncludes(await lab.ip(node, "link", "show", "dev", "kube-lb0"), "kube-lb0");
    const sysctl = await lab.exec(node, [
      "cat",
      "/proc/sys/net/ipv4/conf/all/arp_ignore",
      "/proc/sys/net/ipv4/conf/all/arp_announce",
    ]);
    assertEquals(sysctl.stdout.split("\n").slice(0, 2), ["1", "2"], `${node.name}: ${sysctl.stderr}`);
    assertEquals(node.ifindex, Number(/^(\d+):/.exec(await lab.ip(node, "link", "show", "dev", "eth0"))?.[1]));
  }
  // What kube-proxy does with a LoadBalancer IP: the kernel must not answer ARP for it.
  await lab.ip(lab.nodes[0]!, "address", "add", "198.51.100.60/32", "dev", "kube-lb0");
  assertEquals((await arping(lab, lab.client, "198.51.100.60", { timeoutMs: 300 })).replies, []);
  // The router forwards and owns the routed prefix; the client routes it there.
  assertStringIncludes(await lab.ip(lab.router!, "address", "show", "dev", "wan0"), "203.0.113.1/24");
  assertStringIncludes(await lab.ip(lab.client, "route", "show"), "203.0.113.0/24 via 198.51.100.1");
  assertEquals((await lab.exec(lab.router!, ["cat", "/proc/sys/net/ipv4/ip_forward"])).stdout.trim(), "1");
  const ping = await lab.exec(lab.client, ["ping", "-c", "1", "-W", "2", "203.0.113.1"]);
  assertEquals(ping.code, 0, ping.stdout + ping.stderr);
});

labTest("capture() sees the ARP and NDP frames sent during fn, decoded", ["arping", "ndisc6", "tcpdump"], async () => {
  await using lab = await createLab({ nodes: 1 });
  const node1 = lab.nodes[0]!;
  const packets = await capture(lab, lab.client, "arp or icmp6", async () => {
    await arping(lab, lab.client, node1.ipv4, { stopAfterReplies: 1 });
    // An unsolicited ARP (-U) from node1, as a responder's gratuitous ARP on takeover.
    await lab.exec(node1, ["arping", "-U", "-c", "1", "-w", "0", "-i", "eth0", node1.ipv4]);
    await ndisc(lab, lab.client, node1.ipv6);
  }, {
    until: (p) => p.some((x) => x.ndp?.kind === "na" && x.ndp.solicited),
  });
  const request = packets.find((p) => p.arp?.op === "request" && p.arp.targetIp === node1.ipv4 && !p.arp.gratuitous);
  assertEquals(request?.srcMac, lab.client.mac);
  const reply = packets.find((p) => p.arp?.op === "reply" && p.arp.senderIp === node1.ipv4);
  assertEquals([reply?.srcMac, reply?.dstMac, reply?.arp?.senderMac], [node1.mac, lab.client.mac, node1.mac]);
  assertEquals(gratuitousArps(packets, { ip: node1.ipv4, mac: node1.mac }).length, 1);
  const na = packets.find((p) => p.ndp?.kind === "na" && p.ndp.target === node1.ipv6);
  assertEquals(
    [na?.ndp?.solicited, na?.ndp?.override, na?.ndp?.targetLinkAddress, na?.ndp?.checksumOk, na?.ndp?.hopLimit],
    [true, true, node1.mac, true, 255],
  );
  assert(packets.every((p, i) => i === 0 || p.time >= packets[i - 1]!.time));

  // The kernel's own unsolicited NA (ndisc_notify) when an address is added, as a takeover would send. It is
  // sent only for an address added without "nodad" (accept_dad=0 still makes it usable at once).
  await lab.exec(node1, ["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/eth0/ndisc_notify"]);
  const vip = "2001:db8:100::50";
  const announced = await capture(lab, lab.client, "icmp6", async () => {
    await lab.ip(node1, "address", "add", `${vip}/128`, "dev", "eth0");
  }, { until: (p) => unsolicitedNas(p, { target: vip }).length > 0 });
  const unsolicited = unsolicitedNas(announced, { target: vip, mac: node1.mac, override: true });
  assert(unsolicited.length > 0, announced.map((p) => p.line).join("\n"));
  assertEquals(unsolicited[0]!.ndp?.checksumOk, true);
});

labTest("neighbour() shows where the client's kernel sends frames for an address", [], async () => {
  await using lab = await createLab({ nodes: 2 });
  const [node1, node2] = lab.nodes;
  assertEquals(await neighbour(lab, lab.client, node1!.ipv4), undefined);
  for (const ip of [node1!.ipv4, node1!.ipv6]) {
    const ping = await lab.exec(lab.client, ["ping", "-c", "1", "-W", "2", ip]);
    assertEquals(ping.code, 0, ping.stdout + ping.stderr);
    assertEquals((await neighbour(lab, lab.client, ip))?.mac, node1!.mac);
  }
  // A gratuitous ARP from another host for that address moves the existing entry, as a failover does.
  await lab.ip(node2!, "address", "add", `${node1!.ipv4}/32`, "dev", "kube-lb0");
  await lab.exec(node2!, ["arping", "-U", "-c", "1", "-w", "0", "-i", "eth0", "-S", node1!.ipv4, node1!.ipv4]);
  await waitFor("the client's entry to point at node2", async () => {
    return (await neighbour(lab, lab.client, node1!.ipv4))?.mac === node2!.mac;
  }, { timeoutMs: 3000 });
});

labTest("linkDown() silences a host and linkUp() brings it back", ["arping"], async () => {
  await using lab = await createLab({ nodes: 1 });
  const node1 = lab.nodes[0]!;
  await lab.linkDown(node1);
  assertMatch(await lab.ip(node1, "link", "show", "dev", "eth0"), /NO-CARRIER/);
  assertEquals((await arping(lab, lab.client, node1.ipv4, { timeoutMs: 300 })).replies, []);
  await lab.linkUp(node1);
  await waitFor("node1 to answer ARP again", async () => {
    const { macs } = await arping(lab, lab.client, node1.ipv4, { timeoutMs: 300, stopAfterReplies: 1 });
    return macs[0] === node1.mac;
  }, { timeoutMs: 5000 });
});

labTest("spawn() runs a process in the host's namespace, waitForOutput() sees it, kill() ends it", [], async () => {
  await using lab = await createLab({ nodes: 1, client: false });
  const node1 = lab.nodes[0]!;
  const process = lab.spawn(node1, ["sh", "-c", "ip -br address show dev eth0; echo ready >&2; exec sleep 1000"], {
    env: { LAB_TEST: "1" },
  });
  assertEquals(await process.waitForOutput(/ready/), "ready");
  assertStringIncludes(process.stdout(), "198.51.100.11/24");
  assertEquals(process.stderr(), "ready\n");
  assertEquals((await process.waitForMatch(/(\d+\.\d+\.\d+\.\d+)\/24/))[1], node1.ipv4);
  await assertRejects(() => process.waitForOutput(/never printed/, 100), Error, "did not print");
  process.kill();
  assertEquals((await process.exited).signal, "SIGTERM");
  assert(process.hasExited);
  process.kill(); // a no-op once exited

  const env = lab.spawn(node1, ["sh", "-c", "echo value=$LAB_TEST"], { env: { LAB_TEST: "42" } });
  await assertRejects(() => env.waitForOutput(/never printed/), Error, "exited (code 0)");
  assertStringIncludes(env.output(), "value=42");

  const exec = await lab.exec(node1, ["sh", "-c", "cat; exit 3"], { stdin: "input" });
  assertEquals([exec.code, exec.stdout, exec.timedOut], [3, "input", false]);
  const deaf = await lab.exec(node1, ["true"], { stdin: "x".repeat(1 << 20) });
  assertEquals(deaf.code, 0);
  const slow = await lab.exec(node1, ["sleep", "10"], { timeoutMs: 100 });
  assertEquals([slow.code, slow.timedOut], [124, true]);
});

labTest("close() kills every process, also ones ignoring SIGTERM, and deletes every namespace", [], async () => {
  const lab = await createLab({ nodes: 2, api: true, router: true, killGraceMs: 300 });
  assertEquals((await labNamespaces(lab.id)).length, 6);
  const polite = lab.spawn(lab.nodes[0]!, ["sleep", "1000"]);
  const stubborn = lab.spawn(lab.nodes[1]!, ["sh", "-c", "trap '' TERM; echo trapped; sleep 1000; sleep 1000"]);
  await stubborn.waitForOutput(/trapped/);
  const closing = lab.close();
  assert(lab.close() === closing, "close() is idempotent");
  await closing;
  assertEquals((await polite.exited).signal, "SIGTERM");
  assertEquals((await stubborn.exited).signal, "SIGKILL");
  assertEquals(await labNamespaces(lab.id), []);
  assert(!processExists(polite.pid) && !processExists(stubborn.pid));
  await assertRejects(() => lab.exec(lab.client, ["true"]), Error, "closed");
  await lab.close();
});

labTest("await using deletes the lab at the end of its scope", [], async () => {
  let id = "";
  {
    await using lab = await createLab({ nodes: 1, client: false });
    id = lab.id;
    assertEquals((await labNamespaces(id)).length, 2);
  }
  assertEquals(await labNamespaces(id), []);
});

labTest("createLab() aborted half way deletes what it created", [], async () => {
  for (const step of ["namespaces", "lan", "hosts"] as const) {
    const controller = new AbortController();
    let seen: { id: string } | undefined;
    await assertRejects(
      () =>
        createLab({
          nodes: 2,
          signal: controller.signal,
          onStep: (at, lab) => {
            if (at !== step) return;
            seen = { id: lab.id };
            controller.abort();
          },
        }),
      Error,
    );
    assert(seen, `step ${step} was reached`);
    assertEquals(await labNamespaces(seen.id), [], `after aborting at ${step}`);
    let marker = true;
    try {
      Deno.statSync(`/run/metallite-lab/${seen.id}.pid`);
    } catch {
      marker = false;
    }
    assert(!marker, "the owner marker is gone");
  }
});

labTest("createLab() failing half way deletes what it created and names the failed step", [], async () => {
  let id = "";
  const error = await assertRejects(
    () =>
      createLab({
        nodes: 2,
        onStep: (step, lab) => {
          if (step !== "lan") return;
          id = lab.id;
          // Pull a host's namespace away under the lab, so its setup fails for real.
          new Deno.Command("ip", { args: ["netns", "del", `${lab.id}-node2`] }).outputSync();
        },
      }),
    Error,
    'step "hosts"',
  );
  assertStringIncludes(error.message, `${id}-node2`);
  assertEquals(await labNamespaces(id), []);
});

async function holdLab(): Promise<{ child: Deno.ChildProcess; id: string; sleeper: number; done: Promise<void> }> {
  const fixture = new URL("./testdata/hold_lab.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-lock", fixture],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let match: RegExpExecArray | null = null;
  while (!(match = /lab (mlt[0-9a-f]+) pid (\d+)/.exec(text))) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`hold_lab.ts ended without a lab: ${text}`);
    text += value;
  }
  // Drain the rest so the pipe closes with the child.
  const done = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return { child, id: match[1]!, sleeper: Number(match[2]), done };
}

labTest("SIGINT and SIGTERM to the test process delete its labs and kill their processes", [], async () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const { child, id, sleeper, done } = await holdLab();
    assertEquals((await labNamespaces(id)).length, 2);
    child.kill(signal);
    assertEquals((await child.status).code, code);
    await done;
    assertEquals(await labNamespaces(id), [], `after ${signal}`);
    await waitFor(`the lab's sleep to be gone after ${signal}`, () => !processExists(sleeper), { timeoutMs: 3000 });
  }
});

labTest("cleanupStaleLabs() deletes labs whose owner was SIGKILLed and keeps live ones", [], async () => {
  await using mine = await createLab({ nodes: 1, client: false });
  const { child, id, sleeper, done } = await holdLab();
  child.kill("SIGKILL");
  await child.status;
  await done;
  assertEquals((await labNamespaces(id)).length, 2, "SIGKILL leaves the lab behind");
  const report = await cleanupStaleLabs();
  assertEquals(report.removed.filter((n) => n.startsWith(id)).sort(), [`${id}-lan`, `${id}-node1`]);
  assertEquals(await labNamespaces(id), []);
  await waitFor("processes left in the stale lab to be killed", () => !processExists(sleeper), { timeoutMs: 3000 });
  assertEquals(report.kept.filter((n) => n.startsWith(mine.id)).length, 2);
  assertEquals((await labNamespaces(mine.id)).length, 2);
});

labTest("startUnixForward() pipes TCP from another namespace to a Unix socket in the test process", [
  "bash",
], async () => {
  const dir = await Deno.makeTempDir({ prefix: "mlt-forward-" });
  const echo = unixEcho(`${dir}/api.sock`);
  try {
    await using lab = await createLab({ nodes: 1, api: true });
    const forward = await startUnixForward(lab, lab.api!, { listen: "198.51.100.2:6443", unixPath: `${dir}/api.sock` });
    const hello = await lab.exec(lab.nodes[0]!, [
      "bash",
      "-c",
      "exec 3<>/dev/tcp/198.51.100.2/6443; printf hello >&3; head -c 5 <&3",
    ]);
    assertEquals(hello.stdout, "hello", hello.stderr);
    // 1 MiB of random bytes round trip unchanged.
    const data = crypto.getRandomValues(new Uint8Array(65536));
    const file = new Uint8Array(1 << 20);
    for (let i = 0; i < file.length; i += data.length) file.set(data, i);
    await Deno.writeFile(`${dir}/data`, file);
    const sha = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", file)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const big = await lab.exec(lab.client, [
      "bash",
      "-c",
      `exec 3<>/dev/tcp/198.51.100.2/6443; cat ${dir}/data >&3 & head -c ${file.length} <&3 | sha256sum`,
    ]);
    assertEquals(big.stdout.split(" ")[0], sha, big.stderr);
    forward.kill();
    await forward.exited;
  } finally {
    await echo.close();
    await Deno.remove(dir, { recursive: true });
  }
});
