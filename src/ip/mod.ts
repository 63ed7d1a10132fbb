/**
 * IPv4 and IPv6 addresses, ranges and CIDRs: parsing, formatting and arithmetic shared by every part of metallite.
 * @module
 */
export * from "./address.ts";
export * from "./range.ts";
