/**
 * ARP for Layer 2 mode: the codec (pure), kernel filters, the responder for owned IPv4 VIPs with its kernel fast
 * path (a tc eBPF program that answers plain requests), and the RFC 5227 probe used for address-conflict detection.
 * @module
 */
export * from "./codec.ts";
export * from "./filter.ts";
export * from "./offload.ts";
export * from "./probe.ts";
export * from "./responder.ts";
export * from "./socket.ts";
