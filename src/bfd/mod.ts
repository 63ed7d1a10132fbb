/**
 * BFD (RFC 5880, single-hop per RFC 5881), asynchronous mode: a pure packet codec and state machine, UDP sockets
 * with TTL 255 and GTSM filtering through libc, and a manager the BGP speaker uses to drop a session as soon as
 * the path fails. Echo and demand modes are not implemented.
 * @module
 */
export { type BfdChange, BfdManager, type BfdManagerOptions } from "./manager.ts";
export type { BfdProfile } from "./session.ts";
export { BFD_CONTROL_PORT, BfdDiag, type BfdPacket, BfdState, decodeBfdPacket, encodeBfdPacket } from "./packet.ts";
export type { BfdSocket, BfdSocketOptions, BfdSocketScope } from "./socket.ts";
