/**
 * The UDP transport for heartbeats, over `node:dgram` (Deno's own `Deno.listenDatagram` still needs
 * `--unstable-net` in Deno 2.9; `node:dgram` needs no flag and never blocks the event loop).
 * @module
 */
import dgram from "node:dgram";
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import type { HeartbeatTransport } from "./liveness.ts";
import { MAX_HEARTBEAT_LENGTH } from "./heartbeat.ts";

/** Options for {@link openUdpTransport}. */
export interface UdpTransportOptions {
  /** Port to listen on (0 picks a free one, for tests). */
  readonly port: number;
  /**
   * Addresses to bind; default `["0.0.0.0", "::"]` (one IPv4 and one IPv6-only socket). An IPv6 socket that cannot
   * be bound (IPv6 disabled on the host) is skipped with a warning as long as another socket is bound.
   */
  readonly bind?: readonly string[];
  /** Log. */
  readonly log?: Logger;
  /** Metrics (send errors). */
  readonly metrics?: Registry;
}

/** A bound UDP transport. */
export interface UdpTransport extends HeartbeatTransport {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
}

function bindSocket(address: string, port: number): Promise<dgram.Socket> {
  const type = address.includes(":") ? "udp6" : "udp4";
  const socket = dgram.createSocket(type === "udp6" ? { type, ipv6Only: true } : { type });
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once("error", failed);
    socket.bind(port, address, () => {
      socket.off("error", failed);
      resolve(socket);
    });
  });
}

/**
 * Opens the heartbeat sockets. Every socket binds the same port, so with port 0 the first socket's port is used for
 * the others.
 *
 * @example
 * ```ts
 * const transport = await openUdpTransport({ port: 7947 });
 * ```
 */
export async function openUdpTransport(options: UdpTransportOptions): Promise<UdpTransport> {
  const log = (options.log ?? silentLogger).with({ part: "heartbeat-udp" });
  const sendErrors = options.metrics?.counter(
    "metallite_heartbeat_send_errors_total",
    "Heartbeat datagrams the kernel refused to send",
  );
  const addresses = options.bind ?? ["0.0.0.0", "::"];
  const sockets: { family: 4 | 6; socket: dgram.Socket }[] = [];
  let port = options.port;
  for (const address of addresses) {
    try {
      const socket = await bindSocket(address, port);
      port = socket.address().port;
      sockets.push({ family: address.includes(":") ? 6 : 4, socket });
    } catch (error) {
      if (address.includes(":") && addresses.length > 1) {
        log.warn("cannot bind the IPv6 heartbeat socket; IPv6 peers will not be heard", { address, error });
        continue;
      }
      for (const s of sockets) s.socket.close();
      throw new Error(`Cannot bind the heartbeat socket on ${address} port ${port}: ${(error as Error).message}`);
    }
  }
  if (sockets.length === 0) throw new Error(`Cannot bind any heartbeat socket on port ${port}`);
  let handler: ((data: Uint8Array, from: string) => void) | undefined;
  for (const { socket } of sockets) {
    socket.on("message", (msg: Uint8Array, rinfo: { address: string }) => {
      // Anything longer than a heartbeat can be is refused before it is copied.
      if (msg.length > MAX_HEARTBEAT_LENGTH + 1) {
        handler?.(new Uint8Array(MAX_HEARTBEAT_LENGTH + 1), rinfo.address);
        return;
      }
      handler?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), rinfo.address);
    });
    socket.on(
      "error",
      (error: Error) => log.warnOnce(`udp-error:${error.message}`, "heartbeat socket error", { error }),
    );
  }
  let closed = false;
  // Sends still in flight; close() lets them leave first so the goodbye heartbeats are not lost.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  return {
    port,
    send(data, address, toPort) {
      if (closed) return;
      const family = address.includes(":") ? 6 : 4;
      const entry = sockets.find((s) => s.family === family);
      if (!entry) {
        sendErrors?.inc();
        log.warnOnce(`udp-nofamily:${family}`, "no heartbeat socket of this family; peer unreachable", { address });
        return;
      }
      inFlight++;
      entry.socket.send(data, toPort, address, (error: Error | null) => {
        if (--inFlight === 0) drained?.();
        if (!error) return;
        sendErrors?.inc();
        log.warnOnce(`udp-send:${address}:${error.message}`, "cannot send a heartbeat", { address, error });
      });
    },
    listen(h) {
      handler = h;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (inFlight > 0) {
        let cancel: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise<void>((resolve) => (cancel = setTimeout(resolve, 200))),
        ]);
        clearTimeout(cancel);
      }
      await Promise.all(sockets.map(({ socket }) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    },
  };
}
