/**
 * The wire: libc bindings through FFI, AF_PACKET raw sockets with classic BPF filters that never block the event
 * loop, and interface lookups by ioctl.
 * @module
 */
export * from "./bpf.ts";
export * from "./clock.ts";
export * from "./ethernet.ts";
export * from "./interface.ts";
export * from "./libc.ts";
export * from "./mac.ts";
export * from "./packet_socket.ts";
