/**
 * The UDP transport for heartbeats, over `UdpSocket` from src/net (libc through FFI, a reader that waits in `poll` on
 * a worker thread). Not `node:dgram`: importing any `node:` module makes Deno load its Node compatibility layer, about
 * 7 MB the daemon otherwise never needs; and `Deno.listenDatagram` still needs `--unstable-net` in Deno 2.9.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import { UdpSocket } from "../net/mod.ts";
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
  const sockets: UdpSocket[] = [];
  let port = options.port;
  for (const address of addresses) {
    try {
      // Anything longer than a heartbeat can be is cut to one byte more, so the decoder refuses it as too long.
      const socket = UdpSocket.open({ address, port, maxDatagramBytes: MAX_HEARTBEAT_LENGTH + 1 });
      port = socket.port;
      sockets.push(socket);
    } catch (error) {
      if (address.includes(":") && addresses.length > 1) {
        log.warn("cannot bind the IPv6 heartbeat socket; IPv6 peers will not be heard", { address, error });
        continue;
      }
      await Promise.all(sockets.map((s) => s.close()));
      throw new Error(`Cannot bind the heartbeat socket on ${address} port ${port}: ${(error as Error).message}`);
    }
  }
  if (sockets.length === 0) throw new Error(`Cannot bind any heartbeat socket on port ${port}`);
  let handler: ((data: Uint8Array, from: string) => void) | undefined;
  const readers = sockets.map(async (socket) => {
    try {
      for await (const datagram of socket.datagrams()) {
        try {
          handler?.(datagram.bytes, datagram.address);
        } catch (error) {
          log.warnOnce("udp-handler", "heartbeat handler failed", { error });
        }
      }
    } catch (error) {
      log.warnOnce(`udp-error:${(error as Error).message}`, "heartbeat socket error", { error });
    }
  });
  let closed = false;
  return {
    port,
    send(data, address, toPort) {
      if (closed) return;
      const family = address.includes(":") ? 6 : 4;
      const socket = sockets.find((s) => s.family === family);
      if (!socket) {
        sendErrors?.inc();
        log.warnOnce(`udp-nofamily:${family}`, "no heartbeat socket of this family; peer unreachable", { address });
        return;
      }
      try {
        socket.sendTo(data, address, toPort);
      } catch (error) {
        sendErrors?.inc();
        log.warnOnce(`udp-send:${address}:${(error as Error).message}`, "cannot send a heartbeat", { address, error });
      }
    },
    listen(h) {
      handler = h;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Sends leave at once (sendto), so the goodbye heartbeats are out before the sockets close.
      await Promise.all(sockets.map((s) => s.close()));
      await Promise.all(readers);
    },
  };
}
