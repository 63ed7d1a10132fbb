/**
 * A TCP listener that pipes each connection byte for byte to a Unix socket. Run inside a lab namespace, it lets
 * daemons in node namespaces reach a fake API server that listens on a Unix socket in the test process.
 *
 * ```sh
 * deno run -A tests/lab/unix_forward.ts --listen 198.51.100.2:6443 --unix /tmp/api.sock
 * ```
 * It prints `unix_forward: listening on HOST:PORT` once it accepts connections, and stops on SIGTERM or SIGINT.
 * @module
 */
import { parseArgs } from "node:util";

/** Options for {@linkcode forwardTcpToUnix}. */
export interface ForwardOptions {
  /** "HOST:PORT" or "[IPV6]:PORT" to listen on. */
  listen: string;
  /** Unix socket every connection is piped to. */
  unixPath: string;
  /** Called with one line per connection that fails (default: written to stderr). */
  onError?: (message: string) => void;
  /**
   * Terminate TLS here with this certificate and key (PEM) and pipe the plain bytes on: for a server that speaks
   * HTTPS on TCP but plain HTTP on its Unix socket, such as the fake API server.
   */
  tls?: { cert: string; key: string };
}

/** A running forwarder. */
export interface Forwarder {
  /** The address actually listened on (port resolved when 0 was asked). */
  addr: Deno.NetAddr;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

/** Splits "HOST:PORT" or "[IPV6]:PORT"; throws a RangeError naming the bad text. */
export function parseHostPort(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RangeError(`Cannot use "${text}" as a listen address: expected HOST:PORT`);
  return { hostname: m[1] ?? m[2]!, port };
}

const CHUNK = 64 * 1024;

/** Copies `from` to `to` until end of stream, then half-closes `to`. */
async function pump(from: Deno.Conn, to: Deno.Conn & { closeWrite(): Promise<void> }): Promise<void> {
  const buffer = new Uint8Array(CHUNK);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) break;
    let written = 0;
    while (written < n) written += await to.write(buffer.subarray(written, n));
  }
  await to.closeWrite();
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** Listens on TCP and pipes each accepted connection to a new connection to the Unix socket. */
export function forwardTcpToUnix(options: ForwardOptions): Forwarder {
  const { hostname, port } = parseHostPort(options.listen);
  const onError = options.onError ?? ((message: string) => {
    Deno.stderr.writeSync(new TextEncoder().encode(`unix_forward: ${message}\n`));
  });
  const listener: Deno.Listener = options.tls
    ? Deno.listenTls({
      hostname,
      port,
      transport: "tcp",
      cert: options.tls.cert,
      key: options.tls.key,
      // As a real API server does: clients that speak HTTP/2 multiplex their watches on one connection.
      alpnProtocols: ["h2", "http/1.1"],
    })
    : Deno.listen({ hostname, port, transport: "tcp" });
  const open = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();

  async function handle(tcp: Deno.Conn): Promise<void> {
    let unix: Deno.UnixConn;
    try {
      unix = await Deno.connect({ transport: "unix", path: options.unixPath });
    } catch (error) {
      onError(`cannot connect to ${options.unixPath}: ${error instanceof Error ? error.message : error}`);
      closeQuietly(tcp);
      return;
    }
    open.add(unix);
    if ("setNoDelay" in tcp) (tcp as Deno.TcpConn).setNoDelay(true);
    // Either direction failing (a reset, close()) ends both, so the other pump's read returns.
    const both = [pump(tcp, unix), pump(unix, tcp)].map((p) =>
      p.catch(() => {
        closeQuietly(tcp);
        closeQuietly(unix);
      })
    );
    await Promise.all(both);
    open.delete(unix);
    closeQuietly(unix);
  }

  const accepting = (async () => {
    try {
      for await (const tcp of listener) {
        open.add(tcp);
        const handler = handle(tcp).finally(() => {
          open.delete(tcp);
          closeQuietly(tcp);
          handlers.delete(handler);
        });
        handlers.add(handler);
      }
    } catch {
      // The listener was closed.
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    async close() {
      try {
        listener.close();
      } catch {
        // Closed already.
      }
      for (const conn of open) closeQuietly(conn);
      await accepting;
      await Promise.all([...handlers]);
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      listen: { type: "string" },
      unix: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
    },
  });
  if (!values.listen || !values.unix) {
    Deno.stderr.writeSync(new TextEncoder().encode("usage: unix_forward.ts --listen HOST:PORT --unix PATH\n"));
    Deno.exit(2);
  }
  const tls = values.cert && values.key
    ? { cert: Deno.readTextFileSync(values.cert), key: Deno.readTextFileSync(values.key) }
    : undefined;
  const forwarder = forwardTcpToUnix({ listen: values.listen, unixPath: values.unix, ...(tls ? { tls } : {}) });
  const stop = async () => {
    await forwarder.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  const { hostname, port } = forwarder.addr;
  const shown = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  Deno.stdout.writeSync(new TextEncoder().encode(`unix_forward: listening on ${shown} -> ${values.unix}\n`));
}
