/**
 * The wire: libc bindings through FFI, AF_PACKET raw sockets with classic BPF filters and UDP sockets that never
 * block the event loop (both wait through `Readiness`), socket options, interface lookups by ioctl, and bpf(2) with
 * a small eBPF assembler for kernel fast paths.
 * @module
 */
export * from "./bpf.ts";
export * from "./bpf_syscall.ts";
export * from "./clock.ts";
export * from "./ebpf.ts";
export * from "./end_of_task.ts";
export * from "./ethernet.ts";
export * from "./frame_readers.ts";
export * from "./interface.ts";
export * from "./libc.ts";
export * from "./mac.ts";
export * from "./packet_socket.ts";
export * from "./page_out.ts";
export * from "./readiness.ts";
export * from "./socket_options.ts";
export * from "./udp_socket.ts";
