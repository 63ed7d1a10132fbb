import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { type Command, parseCommandLine, UsageError } from "./flags.ts";

const env = { env: (name: string) => (name === "NODE_NAME" ? "node-a" : undefined), hostname: () => "host-b" };

function run(args: string[]) {
  const command: Command = parseCommandLine(args, env);
  if (command.kind !== "run") throw new Error(`expected run, got ${command.kind}`);
  return command.options;
}

Deno.test("parseCommandLine() reads the quick start and applies defaults", () => {
  const options = run(["--pool", "192.168.1.200-240"]);
  assertEquals(options.pools.length, 1);
  assertEquals(options.pools[0]!.range.last - options.pools[0]!.range.first, 40n);
  assertEquals(options.nodeName, "node-a");
  assertEquals(options.namespace, "metallb-system");
  assertEquals(options.metricsAddr, { hostname: "0.0.0.0", port: 7472 });
  assertEquals(options.logLevel, "info");
  assertEquals(options.logFormat, "text");
});

Deno.test("parseCommandLine() drops a leading -- and accepts an explicit run", () => {
  assertEquals(run(["--", "run", "--node-name", "n1"]).nodeName, "n1");
  assertEquals(parseCommandLine(["--", "version"], env).kind, "version");
});

Deno.test("parseCommandLine() falls back to the host name without $NODE_NAME", () => {
  const command = parseCommandLine([], { env: () => undefined, hostname: () => "host-b" });
  assertEquals(command.kind === "run" && command.options.nodeName, "host-b");
});

Deno.test("parseCommandLine() reads every documented flag", () => {
  const options = run([
    "--kubeconfig=/tmp/kc",
    "--node-name=n1",
    "--pool=192.0.2.0/28",
    "--pool=2001:db8::10-2001:db8::1f",
    "--interface=eth0",
    "--interface=eth1",
    "--namespace=lb",
    "--config=a.yaml",
    "--bgp-peer=198.51.100.1,asn=64500,port=1179,password=s3cret,source=198.51.100.2,hold-time=30,multihop=2",
    "--asn=4200000001",
    "--metrics-addr=[::1]:9100",
    "--lb-class=metallite",
    "--heartbeat-port=17947",
    "--arp-offload=off",
    "--page-out=off",
    "--log-level=debug",
    "--log-format=json",
  ]);
  assertEquals(options.kubeconfig, "/tmp/kc");
  assertEquals(options.pools.map((p) => p.range.family), [4, 6]);
  assertEquals(options.interfaces, ["eth0", "eth1"]);
  assertEquals(options.bgpPeers, [{
    address: "198.51.100.1",
    asn: 64500,
    port: 1179,
    holdTime: 30,
    password: "s3cret",
    sourceAddress: "198.51.100.2",
    ebgpMultihop: 2,
  }]);
  assertEquals(options.asn, 4200000001);
  assertEquals(options.metricsAddr, { hostname: "::1", port: 9100 });
  assertEquals(options.lbClass, "metallite");
  assertEquals(options.heartbeatPort, 17947);
  assertEquals([options.arpOffload, options.pageOut], ["off", "off"]);
  const defaults = run([]);
  assertEquals([defaults.arpOffload, defaults.pageOut], ["auto", "auto"]);
});

Deno.test("parseCommandLine() rejects bad values with one line naming value and expectation", async (t) => {
  const cases: [string[], string][] = [
    [["--pool", "10.0.0.9-3"], `--pool "10.0.0.9-3" is not valid: range end is below its start`],
    [["--pool", "10.0.0.1-999"], `--pool "10.0.0.1-999" is not valid`],
    [["--bogus"], "Unknown option '--bogus'"],
    [["--pool"], "--pool"],
    [["--asn", "0"], `--asn "0" is not valid: expected a whole number from 1 to 4294967295`],
    [["--asn", "4294967296"], `--asn "4294967296" is not valid`],
    [["--bgp-peer", "198.51.100.1,asn=1"], "--bgp-peer needs --asn"],
    [["--asn", "1", "--bgp-peer", "nope,asn=1"], `"nope" is not an IP address`],
    [["--asn", "1", "--bgp-peer", "198.51.100.1"], "asn=N is required"],
    [["--asn", "1", "--bgp-peer", "198.51.100.1,asn=1,hold-time=2"], "expected 0 or 3 to 65535"],
    [["--asn", "1", "--bgp-peer", "198.51.100.1,asn=1,color=red"], `unknown part "color"`],
    [["--node-name", "Bad_Name"], `--node-name "Bad_Name" is not valid`],
    [["--namespace", "UPPER"], `--namespace "UPPER" is not valid`],
    [["--interface", "this-name-is-too-long"], `--interface "this-name-is-too-long" is not valid`],
    [["--metrics-addr", "nowhere"], `--metrics-addr "nowhere" is not valid`],
    [["--metrics-addr", ":99999"], `--metrics-addr port "99999" is not valid`],
    [["--log-level", "loud"], `--log-level "loud" is not valid: expected one of debug, info, warn, error`],
    [["--log-format", "xml"], `--log-format "xml" is not valid: expected one of text, json`],
    [["--page-out", "always"], `--page-out "always" is not valid: expected one of auto, off`],
    [["frobnicate"], `unknown command "frobnicate"`],
    [["status", "--output", "yaml"], `--output "yaml" is not valid`],
    [["version", "extra"], "version takes no arguments"],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCommandLine(args, env), UsageError, message);
      assertEquals(error.message.includes("\n"), false);
    });
  }
});

Deno.test("parseCommandLine() reads short aliases, repeated flags and --flag=value as before", () => {
  assertEquals(parseCommandLine(["-h"], env).kind, "help");
  assertEquals(parseCommandLine(["status", "-h"], env).kind, "help");
  const status = parseCommandLine(["status", "-o", "json", "--config=a.yaml", "--config", "b.yaml"], env);
  assertEquals(status.kind === "status" && status.options, {
    namespace: "metallb-system",
    output: "json",
    configFiles: ["a.yaml", "b.yaml"],
  });
  const short = parseCommandLine(["status", "-ojson"], env);
  assertEquals(short.kind === "status" && short.options.output, "json");
  assertEquals(run(["--node-name", "n1", "--node-name=n2"]).nodeName, "n2");
  assertEquals(run(["--pool", "192.0.2.0/28", "--"]).pools.length, 1);
});

Deno.test("parseCommandLine() refuses flag syntax errors with one line", async (t) => {
  const cases: [string[], string][] = [
    [["--pool", "--node-name", "n1"], "Option '--pool <value>' needs a value, not '--node-name'"],
    [["--help=yes"], "Option '--help' takes no value (see metallite --help)"],
    [["--pool", "192.0.2.0/28", "stray"], "Unexpected argument 'stray'"],
    [["status", "--pool", "192.0.2.0/28"], "Unknown option '--pool' (see metallite --help)"],
    [["status", "-x"], "Unknown option '-x'"],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCommandLine(args, env), UsageError, message);
      assertEquals(error.message.includes("\n"), false);
    });
  }
});
