/**
 * Test support: in-memory connections and a scripted BGP peer built on our own codec, so speaker and session tests
 * run without sockets or sleeping. Only tests import this file.
 */
import { type BgpMessage, decodeMessage, encodeMessage, KEEPALIVE_BYTES, MessageFramer } from "./message.ts";
import type { OpenMessage } from "./open.ts";
import { prefixKey } from "./prefix.ts";
import type { Listener, Transport } from "./speaker.ts";
import type { BgpConnection, ConnectionHandlers, DialOptions, ListenOptions } from "./socket.ts";
import type { UpdateMessage } from "./update.ts";

/** One end of an in-memory byte stream. */
export class MemoryConnection implements BgpConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly closed: Promise<void>;
  other!: MemoryConnection;
  #handlers: ConnectionHandlers | undefined;
  #early: Uint8Array[] = [];
  #ended = false;
  #done = false;
  #resolve!: () => void;

  constructor(local: string, localPort: number, remote: string, remotePort: number) {
    this.localAddress = local;
    this.localPort = localPort;
    this.remoteAddress = remote;
    this.remotePort = remotePort;
    this.closed = new Promise((r) => (this.#resolve = r));
  }

  /** A connected pair: [a, b] where a's writes arrive at b. */
  static pair(a: string, b: string): [MemoryConnection, MemoryConnection] {
    const x = new MemoryConnection(a, 40000, b, 179);
    const y = new MemoryConnection(b, 179, a, 40000);
    x.other = y;
    y.other = x;
    return [x, y];
  }

  start(handlers: ConnectionHandlers): void {
    this.#handlers = handlers;
    for (const c of this.#early.splice(0)) handlers.data(c);
  }

  #deliver(bytes: Uint8Array): void {
    if (this.#done) return;
    if (this.#handlers) this.#handlers.data(bytes);
    else this.#early.push(bytes);
  }

  #finish(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#ended = true;
    this.#handlers?.closed(reason);
    this.#resolve();
  }

  write(bytes: Uint8Array): void {
    if (this.#ended) return;
    const other = this.other;
    const copy = bytes.slice();
    queueMicrotask(() => other.#deliver(copy));
  }

  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    queueMicrotask(() => {
      this.#finish("closed by us");
      this.other.#finish("connection closed by peer");
    });
  }
}

/** Options of a {@link FakePeer}. */
export interface FakePeerOptions {
  /** Its AS number. */
  asn: number;
  /** Its BGP identifier. */
  bgpId?: number;
  /** Its hold time. */
  holdTime?: number;
  /** Families it advertises; default IPv4 and IPv6 unicast. */
  families?: { afi: number; safi: number }[];
  /** Answer our OPEN with its own OPEN and a KEEPALIVE (default true). */
  answer?: boolean;
  /** Send its OPEN as soon as connected (default false). */
  openFirst?: boolean;
}

/** A scripted peer on one connection: answers OPEN, records what it receives, applies our UPDATEs to a table. */
export class FakePeer {
  readonly conn: MemoryConnection;
  readonly received: BgpMessage[] = [];
  readonly table = new Map<string, UpdateMessage>();
  readonly options: FakePeerOptions;
  closedReason: string | undefined;
  #framer = new MessageFramer();

  constructor(conn: MemoryConnection, options: FakePeerOptions) {
    this.conn = conn;
    this.options = options;
    conn.start({
      data: (chunk) => this.#onData(chunk),
      closed: (reason) => (this.closedReason = reason),
    });
    if (options.openFirst) this.send(this.open());
  }

  /** The OPEN this peer sends. */
  open(): OpenMessage {
    return {
      type: "open",
      version: 4,
      myAs: this.options.asn > 0xffff ? 23456 : this.options.asn,
      holdTime: this.options.holdTime ?? 90,
      bgpId: this.options.bgpId ?? 0xc6336401,
      capabilities: {
        fourOctetAs: this.options.asn,
        multiprotocol: this.options.families ?? [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }],
        routeRefresh: true,
      },
    };
  }

  /** Sends a message. */
  send(message: BgpMessage): void {
    this.conn.write(message.type === "keepalive" ? KEEPALIVE_BYTES : encodeMessage(message));
  }

  /** Sends raw bytes. */
  sendRaw(bytes: Uint8Array): void {
    this.conn.write(bytes);
  }

  #onData(chunk: Uint8Array): void {
    this.#framer.push(chunk);
    for (let f = this.#framer.next(); f !== undefined; f = this.#framer.next()) {
      if (!(f instanceof Uint8Array)) throw new Error(`fake peer got a bad header: ${f.reason}`);
      const d = decodeMessage(f);
      if (!d.ok) throw new Error(`fake peer could not decode: ${d.error.reason}`);
      const m = d.value;
      this.received.push(m);
      if (m.type === "open" && (this.options.answer ?? true)) {
        if (!this.options.openFirst) this.send(this.open());
        this.send({ type: "keepalive" });
      }
      if (m.type === "update") this.#apply(m);
    }
  }

  #apply(u: UpdateMessage): void {
    for (const p of u.withdrawn) this.table.delete(prefixKey(p));
    for (const p of u.attributes.mpUnreach?.withdrawn ?? []) this.table.delete(prefixKey(p));
    for (const p of u.nlri) this.table.set(prefixKey(p), u);
    for (const p of u.attributes.mpReach?.nlri ?? []) this.table.set(prefixKey(p), u);
  }

  /** Messages of one type received so far. */
  ofType<T extends BgpMessage["type"]>(type: T): Extract<BgpMessage, { type: T }>[] {
    return this.received.filter((m) => m.type === type) as Extract<BgpMessage, { type: T }>[];
  }
}

/** An in-memory transport: each dial makes a {@link FakePeer} (or fails), and tests can inject incoming connections. */
export class MemoryTransport implements Transport {
  readonly peers: FakePeer[] = [];
  readonly dials: DialOptions[] = [];
  listenOptions: ListenOptions | undefined;
  readonly passwords = new Map<string, string | undefined>();
  /** Decides per dial: peer options, or an Error to fail the connect. */
  behaviour: (options: DialOptions) => FakePeerOptions | Error;
  localAddress = "198.51.100.10";

  constructor(behaviour: (options: DialOptions) => FakePeerOptions | Error) {
    this.behaviour = behaviour;
  }

  dial(options: DialOptions): Promise<BgpConnection> {
    this.dials.push(options);
    const b = this.behaviour(options);
    if (b instanceof Error) return Promise.reject(b);
    const [ours, theirs] = MemoryConnection.pair(this.localAddress, options.address);
    this.peers.push(new FakePeer(theirs, b));
    return Promise.resolve(ours);
  }

  listen(options: ListenOptions): Listener {
    this.listenOptions = options;
    return {
      port: options.port,
      setPassword: (address, password) => void this.passwords.set(address, password),
      close: () => Promise.resolve(),
    };
  }

  /** Simulates a peer connecting to us; returns the peer's side, or undefined when refused. */
  incoming(remote: string, options: FakePeerOptions): FakePeer | undefined {
    const l = this.listenOptions;
    if (!l || l.screen(remote) === undefined) return undefined;
    const [ours, theirs] = MemoryConnection.pair(this.localAddress, remote);
    const peer = new FakePeer(theirs, options);
    this.peers.push(peer);
    l.onConnection(ours);
    return peer;
  }
}
