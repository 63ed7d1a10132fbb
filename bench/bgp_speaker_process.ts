// deno-lint-ignore-file no-console
/**
 * The speaker as its own process for bench/bgp_announce.ts, run inside a lab node's namespace as the daemon would
 * be: `deno run -A --v8-flags=--expose-gc bench/bgp_speaker_process.ts --asn 64500 --router-id A --peer ADDR:ASN...`.
 * Reads commands on stdin, one per line, and answers on stdout:
 * `announce <peer> <family> <count>` → "announced <epoch ms before setRoutes>", `withdraw <peer>` → "withdrawn <ms>",
 * `mem` → "mem <rss> <heapUsed>" after a full GC, `state` → "state <peer>=<state>...", `quit`.
 * @module
 */
import { createSpeaker, type Route } from "../src/bgp/mod.ts";
import { createLogger } from "../src/log/mod.ts";

function arg(name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) if (Deno.args[i] === name) out.push(Deno.args[i + 1]!);
  return out;
}

/** Host routes from the documentation ranges only: 2001:db8:a::/64 for IPv6, the three TEST-NETs for IPv4. */
export function benchRoutes(family: "ipv4" | "ipv6", count: number): Route[] {
  const out: Route[] = [];
  if (family === "ipv6") {
    for (let i = 0; i < count; i++) {
      out.push({ prefix: `2001:db8:a::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128` });
    }
    return out;
  }
  const nets = ["192.0.2", "198.51.100", "203.0.113"];
  if (count > 768) throw new RangeError("Only 768 IPv4 /32s exist in the documentation ranges");
  for (let i = 0; i < count; i++) out.push({ prefix: `${nets[i >> 8]}.${i & 255}/32` });
  return out;
}

if (import.meta.main) {
  const speaker = createSpeaker({
    asn: Number(arg("--asn")[0]),
    routerId: arg("--router-id")[0]!,
    logger: createLogger({ level: "warn" }),
  });
  for (const p of arg("--peer")) {
    const at = p.lastIndexOf(":");
    const address = p.slice(0, at);
    speaker.addPeer({
      name: address,
      address,
      asn: Number(p.slice(at + 1)),
      families: [address.includes(":") ? "ipv6" : "ipv4"],
    });
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffer = "";
  outer: for await (const chunk of lines) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const [cmd, ...rest] = buffer.slice(0, nl).trim().split(/\s+/);
      buffer = buffer.slice(nl + 1);
      if (cmd === "announce") {
        const routes = benchRoutes(rest[1] as "ipv4" | "ipv6", Number(rest[2]));
        const t = Date.now();
        speaker.setRoutes(rest[0]!, routes);
        console.log(`announced ${t}`);
      } else if (cmd === "withdraw") {
        const t = Date.now();
        speaker.setRoutes(rest[0]!, []);
        console.log(`withdrawn ${t}`);
      } else if (cmd === "mem") {
        for (let i = 0; i < 3; i++) gc?.();
        const m = Deno.memoryUsage();
        console.log(`mem ${m.rss} ${m.heapUsed}`);
      } else if (cmd === "state") {
        console.log(`state ${speaker.peers().map((p) => `${p.name}=${p.state}`).join(" ")}`);
      } else if (cmd === "quit") {
        break outer;
      }
    }
  }
  await speaker.shutdown();
}
