/**
 * A throwaway PKI made with the `openssl` command: a CA, a serving certificate for the fake API server (SANs
 * 127.0.0.1, ::1, localhost plus extra IPs), and a client certificate for kubeconfigs that want one.
 * ECDSA P-256 keeps generation fast.
 * @module
 */
import { join } from "node:path";

/** The files and PEM texts of the generated PKI. */
export interface Pki {
  caPem: string;
  caPath: string;
  certPem: string;
  keyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    throw new Error(`Cannot run openssl (needed for the fake API server's certificates): ${String(error)}`);
  }
  if (!output.success) {
    const err = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`openssl ${args[0]} failed: ${err}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Generates CA, serving and client certificates into `dir`. */
export async function generatePki(dir: string, extraSans: string[]): Promise<Pki> {
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=metallite-fake-apiserver-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ], dir); // deno-fmt-ignore
  const sans = ["IP:127.0.0.1", "IP:::1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default.svc"];
  for (const san of extraSans) sans.push(/^[0-9.]+$|:/.test(san) ? `IP:${san}` : `DNS:${san}`);
  await Deno.writeTextFile(
    join(dir, "server.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${sans.join(",")}`,
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    join(dir, "client.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  await Promise.all([
    openssl(["req", ...EC, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"], dir),
    openssl([
      "req",
      ...EC,
      "-keyout",
      "client.key",
      "-out",
      "client.csr",
      "-subj",
      "/O=system:masters/CN=metallite-test",
    ], dir),
  ]);
  const sign = (name: string) => [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-set_serial",
    String(Date.now() * 1000 + Math.floor(Math.random() * 1000)) + (name === "server" ? "1" : "2"),
    "-out",
    `${name}.crt`,
    "-days",
    "825",
    "-extfile",
    `${name}.ext`,
  ]; // deno-fmt-ignore
  await openssl(sign("server"), dir);
  await openssl(sign("client"), dir);
  const read = (f: string) => Deno.readTextFile(join(dir, f));
  const [caPem, certPem, keyPem, clientCertPem, clientKeyPem] = await Promise.all([
    read("ca.crt"),
    read("server.crt"),
    read("server.key"),
    read("client.crt"),
    read("client.key"),
  ]);
  return { caPem, caPath: join(dir, "ca.crt"), certPem, keyPem, clientCertPem, clientKeyPem };
}
