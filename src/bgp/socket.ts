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
import { formatIp, ipFromBytes, ipToBytes, parseIp } from "../ip/mod.ts";
import {
  AF_INET,
  AF_INET6,
  check,
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINPROGRESS,
  errno,
  IP_MINTTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_MINHOPCOUNT,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  libc,
  LibcError,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  SO_ERROR,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_MD5SIG,
  TCP_NODELAY,
} from "../net/libc.ts";

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

/** A `struct sockaddr_in` / `sockaddr_in6` for an address and port. */
export function sockaddr(address: string, port: number): { family: number; bytes: Uint8Array<ArrayBuffer> } {
  const ip = parseIp(address);
  const raw = ipToBytes(ip);
  if (ip.family === 4) {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint16(0, AF_INET, true);
    v.setUint16(2, port);
    b.set(raw, 4);
    return { family: AF_INET, bytes: b };
  }
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET6, true);
  v.setUint16(2, port);
  b.set(raw, 8);
  return { family: AF_INET6, bytes: b };
}

/** Reads an address and port back from a sockaddr (IPv4-mapped IPv6 addresses come back as IPv4). */
export function readSockaddr(b: Uint8Array): { address: string; port: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint16(0, true);
  const port = v.getUint16(2);
  if (family === AF_INET) return { address: formatIp(ipFromBytes(b.subarray(4, 8))), port };
  const raw = b.subarray(8, 24);
  const mapped = raw.subarray(0, 10).every((x) => x === 0) && raw[10] === 0xff && raw[11] === 0xff;
  return { address: formatIp(ipFromBytes(mapped ? raw.subarray(12, 16) : raw)), port };
}

function setInt(fd: number, level: number, option: number, value: number, what: string): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  check("setsockopt", libc().setsockopt(fd, level, option, b, 4), what);
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
  const addr = sockaddr(peerAddress, 0).bytes;
  s.set(addr, 0);
  new DataView(s.buffer).setUint16(130, key.length, true);
  s.set(key, 136);
  const result = libc().setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, s, TCP_MD5SIG_SIZE);
  // Removing a key that was never set answers ENOENT; that is fine.
  if (result < 0 && !(password === undefined && errno() === 2)) {
    throw new LibcError("setsockopt", errno(), `TCP_MD5SIG for ${peerAddress}`);
  }
}

/** Applies TTL and minimum TTL to a socket of the given family. */
export function setTtl(fd: number, family: number, ttl: number | undefined, minTtl: number | undefined): void {
  const v6 = family === AF_INET6;
  if (ttl !== undefined) {
    setInt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, ttl, `TTL ${ttl}`);
  }
  if (minTtl !== undefined) {
    setInt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MINHOPCOUNT : IP_MINTTL, minTtl, `minimum TTL ${minTtl}`);
  }
}

function socketAddress(fd: number, which: "getsockname" | "getpeername"): { address: string; port: number } {
  const b = new Uint8Array(128);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 128, true);
  check(which, libc()[which](fd, b, len));
  return readSockaddr(b);
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
  setInt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  return new SocketConnection(new net.Socket({ fd, readable: true, writable: true }), local, remote);
}

/**
 * Connects to a BGP peer with the socket options plain `Deno.connect` cannot set. Rejects with a `LibcError`
 * (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH...) or an `Error` when aborted or timed out.
 */
export async function dialTcp(options: DialOptions): Promise<BgpConnection> {
  const target = sockaddr(options.address, options.port);
  const scope = options.scope ?? DEFAULT_SCOPE;
  const fd = scope(() => check("socket", libc().socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
  let owned = true;
  try {
    setTtl(fd, target.family, options.ttl, options.minTtl);
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
 * Accepting waits in `poll` on a worker thread together with an eventfd that `close()` writes to.
 */
export class TcpListener {
  readonly #fd: number;
  readonly #wake: number;
  readonly #options: ListenOptions;
  readonly #family: number;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();

  private constructor(fd: number, wake: number, family: number, options: ListenOptions) {
    this.#fd = fd;
    this.#wake = wake;
    this.#family = family;
    this.#options = options;
  }

  /** Binds, listens and starts accepting. */
  static open(options: ListenOptions): TcpListener {
    const addr = sockaddr(options.address, options.port);
    const scope = options.scope ?? DEFAULT_SCOPE;
    const fd = scope(() => check("socket", libc().socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
    let wake = -1;
    try {
      setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
      if (addr.family === AF_INET6) setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
      check("bind", libc().bind(fd, addr.bytes, addr.bytes.length), `${options.address}:${options.port}`);
      check("listen", libc().listen(fd, 64));
      wake = check("eventfd", libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    } catch (error) {
      libc().close(fd);
      throw error;
    }
    const listener = new TcpListener(fd, wake, addr.family, options);
    listener.#loop = listener.#acceptLoop();
    return listener;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return socketAddress(this.#fd, "getsockname").port;
  }

  /** Address family: AF_INET or AF_INET6. */
  get family(): number {
    return this.#family;
  }

  /** Sets or removes the MD5 key for a peer address on the listening socket. */
  setPassword(peerAddress: string, password: string | undefined): void {
    setMd5Key(this.#fd, peerAddress, password);
  }

  async #acceptLoop(): Promise<void> {
    const pfds = new Uint8Array(16);
    const v = new DataView(pfds.buffer);
    v.setInt32(0, this.#fd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, POLLIN, true);
    while (!this.#closed) {
      v.setInt16(6, 0, true);
      v.setInt16(14, 0, true);
      const n = await libc().pollAsync(pfds, 2n, -1);
      if (this.#closed) break;
      if (n <= 0) continue;
      // A connection is waiting: load node:net before accepting (only the first time takes a moment).
      const net = await loadNodeNet();
      if (this.#closed) break;
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
        this.#handle(net, cfd, readSockaddr(peer).address);
      }
    }
  }

  #handle(net: NodeNet, fd: number, remote: string): void {
    let decision: AcceptDecision | undefined;
    try {
      decision = this.#options.screen(remote);
      if (decision === undefined) {
        libc().close(fd);
        return;
      }
      setTtl(fd, this.#family, decision.ttl, decision.minTtl);
      this.#options.onConnection(connectionFromFd(net, fd));
    } catch (error) {
      libc().close(fd);
      this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Stops accepting and closes the socket; connections already accepted are not touched. */
  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigUint64(0, 1n, true);
    libc().write(this.#wake, one, 8n);
    await this.#loop;
    libc().close(this.#fd);
    libc().close(this.#wake);
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
