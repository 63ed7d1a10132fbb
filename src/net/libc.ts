/**
 * Thin bindings to the C library through one lazily opened `Deno.dlopen` of `libc.so.6`, with the Linux constants
 * the raw-socket (ARP/NDP) and BGP code need, `errno()` and `LibcError`.
 *
 * Opening libc needs `--allow-ffi`; importing this module does not: the library is opened by the first `libc()` call.
 *
 * errno belongs to the calling thread. Read it with `errno()` right after a synchronous call that failed, before
 * any `await`. The `pollAsync` symbol runs on a Deno worker thread, so its errno is not readable: treat a -1 from it
 * as "look again".
 *
 * The library stays open for the life of the process. Deno's resource sanitizer counts a library opened inside a
 * test as a leak, so test files that reach libc call `libc()` once at module top level, before any test runs.
 * @module
 */

/** FFI symbol table of the libc functions metallite uses. */
const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** Same as `poll`, but runs on a worker thread and returns a Promise: waiting never blocks the event loop. */
  pollAsync: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // ioctl(int, unsigned long, ...) and fcntl(int, int, ...) are variadic; on x86_64 and aarch64 Linux a pointer or
  // int passed as a fixed third argument travels in the same register the variadic call would use.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  // open(const char *, int, ...) is variadic; the mode is never needed here (no O_CREAT).
  open: { parameters: ["buffer", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  /** glibc: return free heap memory to the kernel (1 if some was returned). */
  malloc_trim: { parameters: ["usize"], result: "i32" },
  // long syscall(long number, ...) is variadic; integer and pointer arguments travel in the same registers as for a
  // fixed-argument call on x86_64 and aarch64 Linux. Used for bpf(2), which glibc does not wrap.
  syscall: { parameters: ["i64", "i64", "buffer", "u64"], result: "i64" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  /** getrusage(2): CPU time of the process for process_cpu_seconds_total, without node:process. */
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
  /** madvise(2); the address is passed as an integer (mapping addresses come from /proc/self/maps). */
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libc symbol table type, for callers that want to name it. */
export type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/**
 * The libc symbols, opening `libc.so.6` on first use (needs `--allow-ffi`).
 * @example
 * const fd = libc().socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
 */
export function libc(): LibcSymbols {
  library ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return library.symbols;
}

/** Unloads libc (only for a process that is about to exit; later `libc()` calls open it again). */
export function closeLibc(): void {
  library?.close();
  library = undefined;
}

/** The calling thread's errno; only meaningful right after a synchronous libc call that reported failure. */
export function errno(): number {
  const location = libc().__errno_location();
  if (location === null) return 0;
  return new Deno.UnsafePointerView(location).getInt32();
}

/** The C library's text for an errno value, e.g. "Resource temporarily unavailable" for EAGAIN. */
export function strerror(code: number): string {
  const text = libc().strerror(code);
  if (text === null) return `errno ${code}`;
  return Deno.UnsafePointerView.getCString(text);
}

/** A failed libc call: `errno` is the C error number, the message names the call and its context. */
export class LibcError extends Error {
  /** The C error number (e.g. `EAGAIN`). */
  readonly errno: number;
  /** The libc function that failed, e.g. "bind". */
  readonly call: string;

  /** Builds the error; `context` (e.g. `interface "eth0"`) is appended to the message. */
  constructor(call: string, code: number, context?: string) {
    super(`${call}${context === undefined ? "" : ` (${context})`} failed: ${strerror(code)} (errno ${code})`);
    this.name = "LibcError";
    this.errno = code;
    this.call = call;
  }
}

/**
 * Throws a `LibcError` (reading errno at once) when a synchronous libc call returned a negative value; otherwise
 * returns the result as a number.
 * @example
 * const fd = check("socket", libc().socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
 */
export function check(call: string, result: number | bigint, context?: string): number {
  const value = Number(result);
  if (value < 0) throw new LibcError(call, errno(), context);
  return value;
}

/** A NUL-terminated copy of `text` for C string parameters. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const encoded = new TextEncoder().encode(text);
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded);
  return out;
}

/** 16-bit host to network byte order (for protocol numbers in `socket()` and `sockaddr_ll`). */
export function htons(value: number): number {
  return ((value & 0xff) << 8) | ((value >> 8) & 0xff);
}

// ---- Address families and socket types: include/linux/socket.h, include/linux/net.h, asm-generic/fcntl.h ----
/** AF_INET, include/linux/socket.h */
export const AF_INET = 2;
/** AF_INET6, include/linux/socket.h */
export const AF_INET6 = 10;
/** AF_PACKET, include/linux/socket.h */
export const AF_PACKET = 17;
/** SOCK_STREAM, include/linux/net.h */
export const SOCK_STREAM = 1;
/** SOCK_DGRAM, include/linux/net.h */
export const SOCK_DGRAM = 2;
/** SOCK_RAW, include/linux/net.h */
export const SOCK_RAW = 3;
/** SOCK_NONBLOCK = O_NONBLOCK (octal 04000), include/linux/net.h + asm-generic/fcntl.h */
export const SOCK_NONBLOCK = 0o4000;
/** SOCK_CLOEXEC = O_CLOEXEC (octal 02000000), include/linux/net.h + asm-generic/fcntl.h */
export const SOCK_CLOEXEC = 0o2000000;

// ---- Socket levels and options: uapi/asm-generic/socket.h, include/linux/socket.h ----
/** SOL_SOCKET, uapi/asm-generic/socket.h */
export const SOL_SOCKET = 1;
/** SO_REUSEADDR, uapi/asm-generic/socket.h */
export const SO_REUSEADDR = 2;
/** SO_ERROR (pending error of a nonblocking connect), uapi/asm-generic/socket.h */
export const SO_ERROR = 4;
/** SO_SNDBUF, uapi/asm-generic/socket.h */
export const SO_SNDBUF = 7;
/** SO_RCVBUF, uapi/asm-generic/socket.h */
export const SO_RCVBUF = 8;
/** SO_KEEPALIVE, uapi/asm-generic/socket.h */
export const SO_KEEPALIVE = 9;
/** SO_REUSEPORT, uapi/asm-generic/socket.h */
export const SO_REUSEPORT = 15;
/** SO_BINDTODEVICE, uapi/asm-generic/socket.h */
export const SO_BINDTODEVICE = 25;
/** SO_ATTACH_FILTER (classic BPF, struct sock_fprog), uapi/asm-generic/socket.h */
export const SO_ATTACH_FILTER = 26;
/** SO_DETACH_FILTER, uapi/asm-generic/socket.h */
export const SO_DETACH_FILTER = 27;
/** SO_LOCK_FILTER, uapi/asm-generic/socket.h */
export const SO_LOCK_FILTER = 44;
/** SOL_PACKET, include/linux/socket.h */
export const SOL_PACKET = 263;

// ---- IP protocols and options: uapi/linux/in.h, uapi/linux/in6.h, uapi/linux/tcp.h ----
/** IPPROTO_IP, uapi/linux/in.h */
export const IPPROTO_IP = 0;
/** IPPROTO_TCP, uapi/linux/in.h */
export const IPPROTO_TCP = 6;
/** IPPROTO_UDP, uapi/linux/in.h */
export const IPPROTO_UDP = 17;
/** IPPROTO_IPV6, uapi/linux/in.h */
export const IPPROTO_IPV6 = 41;
/** IPPROTO_ICMPV6, uapi/linux/in.h */
export const IPPROTO_ICMPV6 = 58;
/** IP_TTL, uapi/linux/in.h */
export const IP_TTL = 2;
/** IP_MINTTL (GTSM, RFC 5082), uapi/linux/in.h */
export const IP_MINTTL = 21;
/** IPV6_UNICAST_HOPS, uapi/linux/in6.h */
export const IPV6_UNICAST_HOPS = 16;
/** IPV6_MULTICAST_HOPS, uapi/linux/in6.h */
export const IPV6_MULTICAST_HOPS = 18;
/** IPV6_V6ONLY, uapi/linux/in6.h */
export const IPV6_V6ONLY = 26;
/** IPV6_MINHOPCOUNT (GTSM for IPv6), uapi/linux/in6.h */
export const IPV6_MINHOPCOUNT = 73;
/** TCP_NODELAY, uapi/linux/tcp.h */
export const TCP_NODELAY = 1;
/** TCP_MD5SIG (RFC 2385; struct tcp_md5sig), uapi/linux/tcp.h */
export const TCP_MD5SIG = 14;

// ---- Packet sockets: uapi/linux/if_packet.h, uapi/linux/if_ether.h ----
/** PACKET_ADD_MEMBERSHIP (struct packet_mreq), uapi/linux/if_packet.h */
export const PACKET_ADD_MEMBERSHIP = 1;
/** PACKET_DROP_MEMBERSHIP, uapi/linux/if_packet.h */
export const PACKET_DROP_MEMBERSHIP = 2;
/** PACKET_MR_MULTICAST, uapi/linux/if_packet.h */
export const PACKET_MR_MULTICAST = 0;
/** PACKET_MR_PROMISC, uapi/linux/if_packet.h */
export const PACKET_MR_PROMISC = 1;
/** PACKET_OUTGOING (sll_pkttype of frames we sent), uapi/linux/if_packet.h */
export const PACKET_OUTGOING = 4;
/** ETH_P_ALL, uapi/linux/if_ether.h */
export const ETH_P_ALL = 0x0003;
/** ETH_P_IP, uapi/linux/if_ether.h */
export const ETH_P_IP = 0x0800;
/** ETH_P_ARP, uapi/linux/if_ether.h */
export const ETH_P_ARP = 0x0806;
/** ETH_P_IPV6, uapi/linux/if_ether.h */
export const ETH_P_IPV6 = 0x86dd;
/** ARPHRD_ETHER, uapi/linux/if_arp.h */
export const ARPHRD_ETHER = 1;

// ---- ioctl requests and interface flags: uapi/linux/sockios.h, uapi/linux/if.h ----
/** SIOCGIFFLAGS, uapi/linux/sockios.h */
export const SIOCGIFFLAGS = 0x8913;
/** SIOCGIFHWADDR, uapi/linux/sockios.h */
export const SIOCGIFHWADDR = 0x8927;
/** SIOCGIFINDEX, uapi/linux/sockios.h */
export const SIOCGIFINDEX = 0x8933;
/** IFNAMSIZ (interface name buffer, including the NUL), uapi/linux/if.h */
export const IFNAMSIZ = 16;
/** sizeof(struct ifreq) on 64-bit Linux, uapi/linux/if.h */
export const IFREQ_SIZE = 40;
/** IFF_UP, uapi/linux/if.h */
export const IFF_UP = 0x1;
/** IFF_RUNNING, uapi/linux/if.h */
export const IFF_RUNNING = 0x40;
/** IFF_LOWER_UP, uapi/linux/if.h */
export const IFF_LOWER_UP = 0x10000;

// ---- poll, eventfd, fcntl, send/recv flags, shutdown: asm-generic/poll.h, linux/eventfd.h, asm-generic/fcntl.h,
// include/linux/socket.h ----
/** POLLIN, uapi/asm-generic/poll.h */
export const POLLIN = 0x1;
/** POLLOUT, uapi/asm-generic/poll.h */
export const POLLOUT = 0x4;
/** POLLERR, uapi/asm-generic/poll.h */
export const POLLERR = 0x8;
/** POLLHUP, uapi/asm-generic/poll.h */
export const POLLHUP = 0x10;
/** POLLNVAL, uapi/asm-generic/poll.h */
export const POLLNVAL = 0x20;
/** EFD_NONBLOCK, include/uapi/linux/eventfd.h */
export const EFD_NONBLOCK = 0o4000;
/** EFD_CLOEXEC, include/uapi/linux/eventfd.h */
export const EFD_CLOEXEC = 0o2000000;
/** F_GETFL, uapi/asm-generic/fcntl.h */
export const F_GETFL = 3;
/** F_SETFL, uapi/asm-generic/fcntl.h */
export const F_SETFL = 4;
/** O_NONBLOCK, uapi/asm-generic/fcntl.h */
export const O_NONBLOCK = 0o4000;
/** MSG_TRUNC (recv returns the real frame length), include/linux/socket.h */
export const MSG_TRUNC = 0x20;
/** MSG_DONTWAIT, include/linux/socket.h */
export const MSG_DONTWAIT = 0x40;
/** MSG_NOSIGNAL (no SIGPIPE on a closed TCP peer), include/linux/socket.h */
export const MSG_NOSIGNAL = 0x4000;
/** SHUT_RD, include/linux/net.h */
export const SHUT_RD = 0;
/** SHUT_WR, include/linux/net.h */
export const SHUT_WR = 1;
/** SHUT_RDWR, include/linux/net.h */
export const SHUT_RDWR = 2;

// ---- Files and namespaces: uapi/asm-generic/fcntl.h, uapi/linux/sched.h ----
/** O_RDONLY, uapi/asm-generic/fcntl.h */
export const O_RDONLY = 0;
/** O_CLOEXEC, uapi/asm-generic/fcntl.h */
export const O_CLOEXEC = 0o2000000;
/** CLONE_NEWNET (setns: the calling thread's network namespace), uapi/linux/sched.h */
export const CLONE_NEWNET = 0x40000000;

// ---- errno values: uapi/asm-generic/errno-base.h, uapi/asm-generic/errno.h ----
/** EPERM, errno-base.h */
export const EPERM = 1;
/** ENOENT, errno-base.h */
export const ENOENT = 2;
/** EINTR, errno-base.h */
export const EINTR = 4;
/** ENXIO, errno-base.h */
export const ENXIO = 6;
/** EBADF, errno-base.h */
export const EBADF = 9;
/** EAGAIN (= EWOULDBLOCK), errno-base.h */
export const EAGAIN = 11;
/** ENOMEM, errno-base.h */
export const ENOMEM = 12;
/** EACCES, errno-base.h */
export const EACCES = 13;
/** ENODEV, errno-base.h */
export const ENODEV = 19;
/** EINVAL, errno-base.h */
export const EINVAL = 22;
/** EPIPE, errno-base.h */
export const EPIPE = 32;
/** ENETDOWN, errno.h */
export const ENETDOWN = 100;
/** EMSGSIZE, errno.h */
export const EMSGSIZE = 90;
/** EADDRINUSE, errno.h */
export const EADDRINUSE = 98;
/** EADDRNOTAVAIL, errno.h */
export const EADDRNOTAVAIL = 99;
/** ENETUNREACH, errno.h */
export const ENETUNREACH = 101;
/** ECONNRESET, errno.h */
export const ECONNRESET = 104;
/** ENOBUFS, errno.h */
export const ENOBUFS = 105;
/** EISCONN, errno.h */
export const EISCONN = 106;
/** ENOTCONN, errno.h */
export const ENOTCONN = 107;
/** ETIMEDOUT, errno.h */
export const ETIMEDOUT = 110;
/** ECONNREFUSED, errno.h */
export const ECONNREFUSED = 111;
/** EHOSTUNREACH, errno.h */
export const EHOSTUNREACH = 113;
/** EALREADY, errno.h */
export const EALREADY = 114;
/** EINPROGRESS, errno.h */
export const EINPROGRESS = 115;
