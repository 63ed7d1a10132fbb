/**
 * TCP for BGP through libc, because `Deno.connect`/`Deno.listen` cannot set TCP_MD5SIG (RFC 2385), IP_TTL /
 * IP_MINTTL (eBGP TTL 1, GTSM per RFC 5082) or bind a source address before connecting. A socket is made and
 * configured with FFI, connected without blocking (nonblocking connect, then `poll` on a worker thread), and its
 * descriptor handed to `node:net`'s `new Socket({ fd })`, which then owns it (verified on Deno 2.9.6: reads, writes
 * and closes the descriptor; `remoteAddress` is not filled in, so addresses come from getsockname/getpeername).
 *
 * `node:net` is imported when the first connection is made (dialled or accepted), never at start-up: importing any
 * `node:` module makes Deno load its Node compatibility layer, about 7 MB that a daemon without BGP sessions (Layer 2
 * only, or peers not up yet) would otherwise carry for nothing.
 * @module
 */
import type { Socket } from "node:net";
import {
  AF_INET,
  AF_INET6,
  check,
  decodeSockaddr,
  EAGAIN,
  EINPROGRESS,
  encodeSockaddr,
  ENOENT,
  errno,
  IPPROTO_TCP,
  libc,
  LibcError,
  POLLERR,
  POLLHUP,
  POLLOUT,
  Readiness,
  setIntOptions,
  setTtl,
  SO_ERROR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_MD5SIG,
} from "../net/mod.ts";

/** A byte stream to one peer, as the session needs it; real ones wrap a TCP socket, tests pass in-memory pairs. */
export interface BgpConnection {
  /** Our address on this connection (the next hop we announce). */
  readonly localAddress: string;
  /** Our port. */
  readonly localPort: number;
  /** The peer's address. */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
  /** Starts delivering received bytes and the end of the stream. Call once. */
  start(handlers: ConnectionHandlers): void;
  /** Queues bytes for sending. */
  write(bytes: Uint8Array): void;
  /** Flushes what is queued, then closes; `closed` settles when the descriptor is gone. */
  close(): void;
  /** Settles once the connection is fully closed. */
  readonly closed: Promise<void>;
}

/** Callbacks of {@link BgpConnection.start}. */
export interface ConnectionHandlers {
  /** Bytes arrived. */
  data(chunk: Uint8Array): void;
  /** The stream ended (peer closed, reset, or we closed it); called once. */
  closed(reason: string): void;
}

/** Runs socket creation inside a network namespace (tests) or as is (the daemon). */
export type SocketScope = <T>(create: () => T) => T;

/** Options for {@link dialTcp}. */
export interface DialOptions {
  /** Peer address. */
  readonly address: string;
  /** Peer port. */
  readonly port: number;
  /** Local address to bind before connecting. */
  readonly sourceAddress?: string;
  /** IP TTL / IPv6 hop limit of our packets (eBGP directly connected: 1; multihop: up to 255). */
  readonly ttl?: number;
  /** Smallest TTL accepted from the peer (GTSM, RFC 5082: 255 - hops + 1). */
  readonly minTtl?: number;
  /** TCP MD5 signature password (RFC 2385), at most 80 octets. */
  readonly password?: string;
  /** Give up connecting after this long; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Abandons the attempt. */
  readonly signal?: AbortSignal;
  /** Where the socket is created; default the process's namespace. */
  readonly scope?: SocketScope;
}

const DEFAULT_SCOPE: SocketScope = (create) => create();
const POLL_SLICE_MS = 100;
/** RFC 2385 / Linux TCP_MD5SIG_MAXKEYLEN. */
export const MD5_MAX_KEY_LENGTH = 80;
// struct tcp_md5sig: sockaddr_storage (128) + flags, prefixlen (2) + keylen (2) + ifindex (4) + key[80].
const TCP_MD5SIG_SIZE = 216;

/** A socket address for `address` and `port`; throws a `TypeError` when the text is not an IP address. */
function sockaddr(address: string, port: number): { family: 4 | 6; bytes: Uint8Array<ArrayBuffer> } {
  const bytes = encodeSockaddr(address, port);
  if (bytes === undefined) throw new TypeError(`Cannot use "${address}" port ${port} for BGP: not an IP address`);
  return { family: new DataView(bytes.buffer).getUint16(0, true) === AF_INET ? 4 : 6, bytes };
}

/** Opens a nonblocking TCP socket of a family (inside `scope`). */
function tcpSocket(family: 4 | 6, scope: SocketScope): number {
  return scope(() =>
    check("socket", libc().socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
  );
}

/**
 * Sets (or with an undefined password, removes) the TCP MD5 key for one peer address on a socket. On a listening
 * socket the key applies to connections from that address, so one listener serves peers with different passwords.
 */
export function setMd5Key(fd: number, peerAddress: string, password: string | undefined): void {
  const key = new TextEncoder().encode(password ?? "");
  if (key.length > MD5_MAX_KEY_LENGTH) {
    throw new RangeError(
      `TCP MD5 password for ${peerAddress} is ${key.length} bytes; at most ${MD5_MAX_KEY_LENGTH} fit`,
    );
  }
  const s = new Uint8Array(TCP_MD5SIG_SIZE);
  s.set(sockaddr(peerAddress, 0).bytes, 0);
  new DataView(s.buffer).setUint16(130, key.length, true);
  s.set(key, 136);
  const result = libc().setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, s, TCP_MD5SIG_SIZE);
  // Removing a key that was never set answers ENOENT; that is fine.
  if (result < 0 && !(password === undefined && errno() === ENOENT)) {
    throw new LibcError("setsockopt", errno(), `TCP_MD5SIG for ${peerAddress}`);
  }
}

/** Our or the peer's address of a connected socket, without a zone; IPv4-mapped addresses come back as IPv4. */
function socketAddress(fd: number, which: "getsockname" | "getpeername"): { address: string; port: number } {
  const b = new Uint8Array(128);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 128, true);
  check(which, libc()[which](fd, b, len));
  const decoded = decodeSockaddr(b, { zone: false, unmapIpv4: true });
  if (decoded === undefined) throw new Error(`${which} gave an address that is neither IPv4 nor IPv6`);
  return decoded;
}

async function pollOnce(fd: number, events: number, ms: number): Promise<number> {
  const pfd = new Uint8Array(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, events, true);
  const n = await libc().pollAsync(pfd, 1n, ms);
  return n > 0 ? v.getInt16(6, true) : 0;
}

type NodeNet = typeof import("node:net");
let nodeNet: Promise<NodeNet> | undefined;

/** `node:net`, imported on the first call (see the module doc); later calls share the same import. */
function loadNodeNet(): Promise<NodeNet> {
  nodeNet ??= import("node:net");
  return nodeNet;
}

/** Wraps a connected descriptor; the returned connection owns it. */
function connectionFromFd(net: NodeNet, fd: number): BgpConnection {
  const local = socketAddress(fd, "getsockname");
  const remote = socketAddress(fd, "getpeername");
  setIntOptions(fd, { TCP_NODELAY: 1 });
  return new SocketConnection(new net.Socket({ fd, readable: true, writable: true }), local, remote);
}

/**
 * Connects to a BGP peer with the socket options plain `Deno.connect` cannot set. Rejects with a `LibcError`
 * (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH...) or an `Error` when aborted or timed out.
 */
export async function dialTcp(options: DialOptions): Promise<BgpConnection> {
  const target = sockaddr(options.address, options.port);
  const scope = options.scope ?? DEFAULT_SCOPE;
  const fd = tcpSocket(target.family, scope);
  let owned = true;
  try {
    setTtl(fd, { family: target.family, ttl: options.ttl, minTtl: options.minTtl });
    if (options.password !== undefined && options.password !== "") setMd5Key(fd, options.address, options.password);
    if (options.sourceAddress !== undefined) {
      const source = sockaddr(options.sourceAddress, 0);
      if (source.family !== target.family) {
        throw new TypeError(`Source address ${options.sourceAddress} is not of the family of peer ${options.address}`);
      }
      check("bind", libc().bind(fd, source.bytes, source.bytes.length), `source ${options.sourceAddress}`);
    }
    const r = libc().connect(fd, target.bytes, target.bytes.length);
    if (r < 0) {
      const code = errno();
      if (code !== EINPROGRESS && code !== EAGAIN) {
        throw new LibcError("connect", code, `${options.address}:${options.port}`);
      }
      const deadline = Date.now() + (options.timeoutMs ?? 5000);
      for (;;) {
        if (options.signal?.aborted) throw new Error(`Connecting to ${options.address} was abandoned`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`Connecting to ${options.address}:${options.port} timed out`);
        const events = await pollOnce(fd, POLLOUT, Math.min(POLL_SLICE_MS, left));
        if (events & (POLLOUT | POLLERR | POLLHUP)) break;
      }
      const err = new Uint8Array(4);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, 4, true);
      check("getsockopt", libc().getsockopt(fd, SOL_SOCKET, SO_ERROR, err, len));
      const soError = new DataView(err.buffer).getInt32(0, true);
      if (soError !== 0) throw new LibcError("connect", soError, `${options.address}:${options.port}`);
    }
    const net = await loadNodeNet();
    if (options.signal?.aborted) throw new Error(`Connecting to ${options.address} was abandoned`);
    const conn = connectionFromFd(net, fd);
    owned = false;
    return conn;
  } finally {
    if (owned) libc().close(fd);
  }
}

/** What the listener's owner decides for an incoming connection. */
export interface AcceptDecision {
  /** TTL to set on the accepted connection. */
  readonly ttl?: number;
  /** Minimum TTL to require. */
  readonly minTtl?: number;
}

/** Options for {@link TcpListener.open}. */
export interface ListenOptions {
  /** Address to listen on: "0.0.0.0", "::" or a specific one. */
  readonly address: string;
  /** Port; 179 by default in the speaker, 0 for any. */
  readonly port: number;
  /** Where the socket is created. */
  readonly scope?: SocketScope;
  /**
   * Called for each incoming connection with the peer's address; returns the options to apply, or undefined to
   * refuse it (it is closed at once).
   */
  readonly screen: (remoteAddress: string) => AcceptDecision | undefined;
  /** Receives each accepted connection. */
  readonly onConnection: (connection: BgpConnection) => void;
  /** Receives errors of the accept loop, which keeps going. */
  readonly onError?: (error: Error) => void;
}

/**
 * A listening TCP socket made with libc so that MD5 keys (one per peer address) can be set on it before accept.
 * Accepting waits in `poll` on a worker thread through net's `Readiness`, which `close()` wakes.
 */
export class TcpListener {
  readonly #fd: number;
  readonly #readiness: Readiness;
  readonly #options: ListenOptions;
  readonly #family: 4 | 6;
  #loop: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(fd: number, readiness: Readiness, family: 4 | 6, options: ListenOptions) {
    this.#fd = fd;
    this.#readiness = readiness;
    this.#family = family;
    this.#options = options;
  }

  /** Binds, listens and starts accepting. */
  static open(options: ListenOptions): TcpListener {
    const addr = sockaddr(options.address, options.port);
    const fd = tcpSocket(addr.family, options.scope ?? DEFAULT_SCOPE);
    let readiness: Readiness;
    try {
      setIntOptions(fd, { SO_REUSEADDR: 1, IPV6_V6ONLY: addr.family === 6 ? 1 : undefined });
      check("bind", libc().bind(fd, addr.bytes, addr.bytes.length), `${options.address}:${options.port}`);
      check("listen", libc().listen(fd, 64));
      readiness = new Readiness(fd, `BGP listener on ${options.address} port ${options.port}`);
    } catch (error) {
      libc().close(fd);
      throw error;
    }
    const listener = new TcpListener(fd, readiness, addr.family, options);
    listener.#loop = listener.#acceptLoop();
    return listener;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return socketAddress(this.#fd, "getsockname").port;
  }

  /** Address family: 4 or 6. */
  get family(): 4 | 6 {
    return this.#family;
  }

  /** Sets or removes the MD5 key for a peer address on the listening socket. */
  setPassword(peerAddress: string, password: string | undefined): void {
    setMd5Key(this.#fd, peerAddress, password);
  }

  async #acceptLoop(): Promise<void> {
    while (await this.#readiness.wait()) {
      // A connection is waiting: load node:net before accepting (only the first time takes a moment).
      const net = await loadNodeNet();
      if (this.#readiness.closed) break;
      for (;;) {
        const peer = new Uint8Array(128);
        const len = new Uint8Array(4);
        new DataView(len.buffer).setUint32(0, 128, true);
        const cfd = libc().accept4(this.#fd, peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
          const code = errno();
          if (code !== EAGAIN) this.#options.onError?.(new LibcError("accept4", code));
          break;
        }
        this.#handle(net, cfd, decodeSockaddr(peer, { zone: false, unmapIpv4: true })?.address);
      }
    }
  }

  #handle(net: NodeNet, fd: number, remote: string | undefined): void {
    let decision: AcceptDecision | undefined;
    try {
      if (remote === undefined) throw new Error("accept4 gave a peer address that is neither IPv4 nor IPv6");
      decision = this.#options.screen(remote);
      if (decision === undefined) {
        libc().close(fd);
        return;
      }
      setTtl(fd, { family: this.#family, ttl: decision.ttl, minTtl: decision.minTtl });
      this.#options.onConnection(connectionFromFd(net, fd));
    } catch (error) {
      libc().close(fd);
      this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Stops accepting and closes the socket; connections already accepted are not touched. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // The accept loop touches the socket only between waits, never after one that returned false.
    await this.#readiness.close();
    await this.#loop;
  }
}

/** A `node:net` socket as a {@link BgpConnection}. */
class SocketConnection implements BgpConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  #handlers: ConnectionHandlers | undefined;
  #error = "";
  #ended = false;
  #gone = false;
  #killTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: Socket, local: { address: string; port: number }, remote: { address: string; port: number }) {
    this.#socket = socket;
    this.localAddress = local.address;
    this.localPort = local.port;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.#gone = true;
        if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
        this.#handlers?.closed(this.#error || (this.#ended ? "closed by us" : "connection closed by peer"));
        this.#handlers = undefined;
        resolve();
      });
    });
    socket.on("error", (error: Error) => {
      this.#error ||= error.message;
    });
  }

  start(handlers: ConnectionHandlers): void {
    this.#handlers = handlers;
    this.#socket.on("data", (chunk: Uint8Array) => this.#handlers?.data(chunk));
  }

  write(bytes: Uint8Array): void {
    if (this.#ended) return;
    this.#socket.write(bytes);
  }

  close(): void {
    if (this.#ended || this.#gone) return;
    this.#ended = true;
    this.#socket.end();
    // A peer that stops reading would keep a half-closed socket forever; give the NOTIFICATION a second to leave.
    this.#killTimer = setTimeout(() => this.#socket.destroy(), 1000);
  }
}
