/**
 * UDP sockets for single-hop BFD (RFC 5881), two net `UdpSocket`s a family: packets leave with TTL/hop limit 255
 * from one source port in 49152-65535, and the receiving socket on port 3784 drops in the kernel anything that did
 * not arrive with TTL 255 (RFC 5881 §5, GTSM), so a spoofed packet from off-link never reaches the state machine.
 * @module
 */
import { LibcError, UdpSocket } from "../net/mod.ts";
import { BFD_CONTROL_PORT } from "./packet.ts";

/** Runs socket creation in a namespace (tests) or as is. */
export type BfdSocketScope = <T>(create: () => T) => T;

/** What the BFD runtime needs from the network for one address family. */
export interface BfdSocket {
  /** Sends a Control packet to a peer's port 3784. */
  send(peer: string, bytes: Uint8Array): void;
  /** Stops receiving and closes. */
  close(): Promise<void>;
}

/** Options for {@link openBfdSocket}. */
export interface BfdSocketOptions {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Receives each datagram that passed the TTL filter. */
  readonly onPacket: (from: string, bytes: Uint8Array) => void;
  /** Where the sockets are created. */
  readonly scope?: BfdSocketScope;
  /** Picks where in 49152-65535 to look for a free source port; default random. */
  readonly random?: () => number;
}

// RFC 5881 §4: the source port MUST be in 49152-65535.
const SOURCE_PORTS = { min: 49152, max: 65535 } as const;
// RFC 5881 §5: sent with TTL 255, and received packets with any other TTL are discarded.
const GTSM_TTL = 255;
// A Control packet is 24 octets, 52 with the longest authentication section (RFC 5880 §4.1).
const MAX_PACKET_BYTES = 512;

/**
 * Opens the receive socket (port 3784, TTL-255 filter) and the send socket (TTL 255, one source port in
 * 49152-65535) of one family.
 */
export function openBfdSocket(options: BfdSocketOptions): BfdSocket {
  const address = options.family === 4 ? "0.0.0.0" : "::";
  const scope = options.scope ?? ((create) => create());
  const receiver = scope(() =>
    UdpSocket.open({
      address,
      port: BFD_CONTROL_PORT,
      reuseAddress: true,
      minTtl: GTSM_TTL,
      maxDatagramBytes: MAX_PACKET_BYTES,
    })
  );
  try {
    const sender = scope(() =>
      UdpSocket.open({
        address,
        port: SOURCE_PORTS,
        ttl: GTSM_TTL,
        ...(options.random ? { random: options.random } : {}),
      })
    );
    return new UdpBfdSocket(receiver, sender, options.onPacket);
  } catch (error) {
    // Nothing reads the receiver yet, so its close finishes at once.
    void receiver.close();
    throw error;
  }
}

class UdpBfdSocket implements BfdSocket {
  readonly #receiver: UdpSocket;
  readonly #sender: UdpSocket;
  readonly #loop: Promise<void>;
  #closed = false;

  constructor(receiver: UdpSocket, sender: UdpSocket, onPacket: (from: string, bytes: Uint8Array) => void) {
    this.#receiver = receiver;
    this.#sender = sender;
    this.#loop = this.#receive(onPacket);
  }

  send(peer: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.#sender.sendTo(bytes, peer, BFD_CONTROL_PORT);
    } catch (error) {
      // A full send buffer or an unreachable neighbour loses one packet; BFD's detection tolerates that.
      if (!(error instanceof LibcError)) throw error;
    }
  }

  async #receive(onPacket: (from: string, bytes: Uint8Array) => void): Promise<void> {
    for await (const datagram of this.#receiver.datagrams()) {
      try {
        // Sessions are keyed by the bare address: a link-local sender's zone is dropped.
        onPacket(datagram.address.replace(/%.*$/, ""), datagram.bytes);
      } catch {
        // The handler guards itself; a throw here must not end the receive loop.
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#receiver.close(), this.#sender.close()]);
    await this.#loop;
  }
}
