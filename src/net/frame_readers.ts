/**
 * What the ARP and NDP responders share about their sockets: one read loop per interface that hands each frame to
 * the responder, removal that waits for the loop to end before the socket closes, sending that counts and logs
 * failures once, and the schedule of a gratuitous burst.
 * @module
 */

import type { Logger } from "../log/mod.ts";
import type { Counter } from "../metrics/mod.ts";
import type { Clock } from "./clock.ts";
import type { FrameSocket } from "./packet_socket.ts";

/** Options for {@link FrameReaders}. */
export interface FrameReadersOptions {
  /** Who owns the sockets, for messages: "ArpResponder". */
  owner: string;
  /** The protocol, for messages and log-once keys: "ARP", "NDP". */
  protocol: string;
  /** The owner's logger. */
  logger: Logger;
  /** Counts frames that could not be sent, by `interface`. */
  sendErrors: Counter;
  /** Handles one received frame. */
  onFrame(socket: FrameSocket, bytes: Uint8Array): void;
  /** Handles a frame longer than the receive buffer (its bytes are cut short). */
  onOversized(socket: FrameSocket): void;
}

interface Reader {
  socket: FrameSocket;
  stop: AbortController;
  done: Promise<void>;
}

/**
 * The sockets of one responder, one per interface, each read in its own loop.
 * @example
 * const readers = new FrameReaders({ owner: "ArpResponder", protocol: "ARP", logger, sendErrors,
 *   onFrame: (socket, bytes) => responder.handleFrame(socket, bytes), onOversized: () => {} });
 * readers.add(openArpSocket("eth0"));
 */
export class FrameReaders {
  readonly #options: FrameReadersOptions;
  readonly #readers = new Map<string, Reader>();

  /** Creates an empty set of readers. */
  constructor(options: FrameReadersOptions) {
    this.#options = options;
  }

  /** Starts reading `socket`; throws when its interface already has one. */
  add(socket: FrameSocket): void {
    if (this.#readers.has(socket.interfaceName)) {
      throw new Error(`${this.#options.owner} already has a socket on interface ${socket.interfaceName}`);
    }
    const stop = new AbortController();
    const reader: Reader = { socket, stop, done: Promise.resolve() };
    reader.done = this.#read(socket, stop.signal);
    this.#readers.set(socket.interfaceName, reader);
  }

  /**
   * Stops reading an interface's socket, waits for its loop to end, calls `beforeClose` (e.g. to leave groups), and
   * closes it. False when the interface had no socket.
   */
  async remove(interfaceName: string, beforeClose?: (socket: FrameSocket) => void): Promise<boolean> {
    const reader = this.#readers.get(interfaceName);
    if (reader === undefined) return false;
    this.#readers.delete(interfaceName);
    reader.stop.abort();
    await reader.done;
    beforeClose?.(reader.socket);
    await reader.socket.close();
    return true;
  }

  /** Interfaces with a socket. */
  names(): string[] {
    return [...this.#readers.keys()];
  }

  /** The sockets, in the order they were added. */
  sockets(): FrameSocket[] {
    return [...this.#readers.values()].map((reader) => reader.socket);
  }

  /** The socket of an interface. */
  get(interfaceName: string): FrameSocket | undefined {
    return this.#readers.get(interfaceName)?.socket;
  }

  /** Sends one frame; a failure is counted and logged once per interface, and gives false. */
  send(socket: FrameSocket, frame: Uint8Array): boolean {
    try {
      socket.send(frame);
      return true;
    } catch (error) {
      const { protocol, logger, sendErrors } = this.#options;
      sendErrors.inc({ interface: socket.interfaceName });
      logger.warnOnce(`${protocol.toLowerCase()}-send:${socket.interfaceName}`, `Cannot send ${protocol} frames`, {
        interface: socket.interfaceName,
        error,
      });
      return false;
    }
  }

  async #read(socket: FrameSocket, signal: AbortSignal): Promise<void> {
    try {
      for await (const frame of socket.frames({ signal })) {
        if (frame.truncated) this.#options.onOversized(socket);
        else this.#options.onFrame(socket, frame.bytes);
      }
    } catch (error) {
      this.#options.logger.error(`${this.#options.protocol} socket failed; no longer answering on this interface`, {
        interface: socket.interfaceName,
        error,
      });
    }
  }
}

/** Calls `fire` now for a delay of 0 or less, and after each later delay; returns the function that cancels the rest. */
export function scheduleBurst(clock: Clock, delaysMs: readonly number[], fire: () => void): () => void {
  const cancels: (() => void)[] = [];
  for (const delay of delaysMs) {
    if (delay <= 0) fire();
    else cancels.push(clock.setTimer(delay, fire));
  }
  return () => cancels.forEach((cancel) => cancel());
}
