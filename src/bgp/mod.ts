/**
 * BGP-4 for metallite: a pure message codec (RFC 4271, 4760, 6793, 1997, 8092, 2918, 4724, with RFC 7606 error
 * handling), the session state machine as a pure function, an Adj-RIB-Out that packs UPDATEs, libc TCP sockets
 * with MD5/TTL/GTSM, and the speaker the daemon drives.
 *
 * @example
 * ```ts
 * import { createSpeaker } from "./src/bgp/mod.ts";
 * const speaker = createSpeaker({ asn: 64500, routerId: "198.51.100.10" });
 * speaker.addPeer({ name: "router", address: "198.51.100.1", asn: 64501, password: "s3cret" });
 * speaker.setRoutes("router", [{ prefix: "203.0.113.10/32", communities: ["64500:100"] }]);
 * await speaker.shutdown();
 * ```
 * @module
 */
export {
  createSpeaker,
  libcTransport,
  type Listener,
  type PeerConfig,
  type PeerStatus,
  type Speaker,
  type SpeakerEvent,
  type SpeakerOptions,
  type Transport,
} from "./speaker.ts";
export type { SessionEvent, SessionStats } from "./session.ts";
export { formatCommunity, parseCommunity, parseLargeCommunity, type Route } from "./rib_out.ts";
export type { Negotiated, SessionState } from "./fsm.ts";
export type { BfdProfile } from "../bfd/mod.ts";
export type { BgpConnection, ConnectionHandlers, DialOptions, ListenOptions, SocketScope } from "./socket.ts";
export { type BgpMessage, decodeMessage, encodeMessage, MessageFramer } from "./message.ts";
export { type BgpError, describeNotification } from "./errors.ts";
