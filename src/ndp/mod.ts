/**
 * NDP for Layer 2 mode on IPv6: the NS/NA codec (pure, RFC 4861 validation), kernel filters, the responder for owned
 * IPv6 VIPs, and duplicate address detection used for address-conflict probes.
 * @module
 */
export * from "./codec.ts";
export * from "./filter.ts";
export * from "./probe.ts";
export * from "./responder.ts";
export * from "./socket.ts";
