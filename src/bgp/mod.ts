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
 *
 * Decisions the daemon relies on:
 * - **Sessions.** Active by default (MetalLB's native speaker dials out); `passive` peers and `acceptIncoming`
 *   open listeners on port 179 (or `listenPort`) that accept only configured peer addresses, with one MD5 key per
 *   peer set on the listening socket before accept. Collisions are resolved by BGP identifier (RFC 4271 §6.8).
 *   eBGP peers get TTL 1 unless `ebgpMultihop` (255) or `ttl`; `minTtl` turns on GTSM (RFC 5082) and TTL 255.
 * - **Capabilities.** We send multiprotocol (IPv4/IPv6 unicast as configured), route refresh, 4-octet AS and,
 *   when `gracefulRestart`, graceful restart. Unknown capabilities from the peer are ignored (RFC 5492); a peer
 *   without 4-octet AS gets AS_TRANS plus AS4_PATH; routes of a family the peer did not negotiate are skipped and
 *   counted in `stats.skipped`.
 * - **Incoming routes** are decoded, counted and discarded, never installed. Malformed attributes follow RFC 7606
 *   (treat-as-withdraw or attribute discard, counted); everything else malformed gets RFC 4271 §6's NOTIFICATION
 *   and resets only that session, which comes back after a backoff of 1 s doubling to 60 s.
 * - **Graceful restart (RFC 4724).** With `gracefulRestart` we advertise the capability with a restart time
 *   (default 120 s) and the F bit set, since forwarding (the kernel's, via kube-proxy) survives our restart. On a
 *   planned restart the daemon calls `shutdown({ restart: true })`: sessions whose peer also negotiated graceful
 *   restart are closed without a NOTIFICATION, so the router keeps our routes as stale for the restart time; the
 *   new process is created with `restarting: true` (R bit), re-announces, and sends End-of-RIB, which lets the
 *   router drop whatever we no longer announce. Any other shutdown sends Cease / Administrative Shutdown (RFC 4486,
 *   with an optional RFC 9003 message) so routers withdraw our routes at once.
 * - **BFD.** A peer with a `bfd` profile gets a single-hop BFD session; when it falls from Up the BGP session is
 *   dropped at once with Cease / BFD Down (RFC 9384) and reconnects with the usual backoff.
 * - **Not supported:** IPv6 link-local peer addresses with a zone, BFD echo mode, RFC 8654 extended messages,
 *   ADD-PATH, and changing a peer in place (remove and add it again).
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
export * from "./policy.ts";
export * from "./status.ts";
