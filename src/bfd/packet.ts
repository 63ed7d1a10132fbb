/** BFD Control packets (RFC 5880 §4.1), pure encode/decode; decoding never throws on hostile input. */

/** RFC 5880 §4.1 session states. */
export const BfdState = { ADMIN_DOWN: 0, DOWN: 1, INIT: 2, UP: 3 } as const;
/** One of {@link BfdState}. */
export type BfdStateValue = typeof BfdState[keyof typeof BfdState];

/** RFC 5880 §4.1 diagnostic codes. */
export const BfdDiag = {
  NONE: 0,
  CONTROL_DETECTION_TIME_EXPIRED: 1,
  ECHO_FUNCTION_FAILED: 2,
  NEIGHBOR_SIGNALED_DOWN: 3,
  FORWARDING_PLANE_RESET: 4,
  PATH_DOWN: 5,
  CONCATENATED_PATH_DOWN: 6,
  ADMINISTRATIVELY_DOWN: 7,
  REVERSE_CONCATENATED_PATH_DOWN: 8,
} as const;

/** RFC 5881 §4: single-hop Control packets go to this UDP port. */
export const BFD_CONTROL_PORT = 3784;
/** RFC 5880 §4.1: the mandatory section is 24 octets. */
export const BFD_PACKET_LENGTH = 24;

/** A BFD Control packet; intervals are in microseconds as on the wire. */
export interface BfdPacket {
  /** Protocol version, 1. */
  readonly version: number;
  /** Diagnostic code. */
  readonly diag: number;
  /** Sender's session state. */
  readonly state: BfdStateValue;
  /** P: Poll. */
  readonly poll: boolean;
  /** F: Final. */
  readonly final: boolean;
  /** C: Control Plane Independent. */
  readonly controlPlaneIndependent: boolean;
  /** A: Authentication Present. */
  readonly authenticationPresent: boolean;
  /** D: Demand. */
  readonly demand: boolean;
  /** M: Multipoint (must be 0). */
  readonly multipoint: boolean;
  /** Detect Mult. */
  readonly detectMult: number;
  /** My Discriminator. */
  readonly myDiscriminator: number;
  /** Your Discriminator. */
  readonly yourDiscriminator: number;
  /** Desired Min TX Interval, µs. */
  readonly desiredMinTxUs: number;
  /** Required Min RX Interval, µs. */
  readonly requiredMinRxUs: number;
  /** Required Min Echo RX Interval, µs. */
  readonly requiredMinEchoRxUs: number;
}

/** Encodes a packet (24 octets, no authentication section). */
export function encodeBfdPacket(p: BfdPacket): Uint8Array {
  const b = new Uint8Array(BFD_PACKET_LENGTH);
  const v = new DataView(b.buffer);
  b[0] = ((p.version & 0x7) << 5) | (p.diag & 0x1f);
  b[1] = ((p.state & 0x3) << 6) | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0) | (p.controlPlaneIndependent ? 0x08 : 0) |
    (p.authenticationPresent ? 0x04 : 0) | (p.demand ? 0x02 : 0) | (p.multipoint ? 0x01 : 0);
  b[2] = p.detectMult;
  b[3] = BFD_PACKET_LENGTH;
  v.setUint32(4, p.myDiscriminator >>> 0);
  v.setUint32(8, p.yourDiscriminator >>> 0);
  v.setUint32(12, p.desiredMinTxUs >>> 0);
  v.setUint32(16, p.requiredMinRxUs >>> 0);
  v.setUint32(20, p.requiredMinEchoRxUs >>> 0);
  return b;
}

/**
 * Decodes and validates a packet per RFC 5880 §6.8.6 (the checks that need no session): version 1, a length of
 * at least 24 that fits the datagram, a non-zero Detect Mult and My Discriminator, M clear, no authentication
 * (we do not configure any, so such packets are discarded), and Your Discriminator set unless the sender is Down
 * or AdminDown. Returns the reason for discarding otherwise.
 */
export function decodeBfdPacket(bytes: Uint8Array): BfdPacket | string {
  if (bytes.length < BFD_PACKET_LENGTH) return `packet of ${bytes.length} octets is shorter than 24`;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[0]! >> 5;
  if (version !== 1) return `version ${version} is not 1`;
  const length = bytes[3]!;
  const flags = bytes[1]!;
  const authenticationPresent = (flags & 0x04) !== 0;
  if (length < BFD_PACKET_LENGTH) return `length field ${length} is below 24`;
  if (length > bytes.length) return `length field ${length} exceeds the ${bytes.length}-octet datagram`;
  if (authenticationPresent) return "authentication present, but none is configured";
  const detectMult = bytes[2]!;
  if (detectMult === 0) return "Detect Mult is 0";
  if ((flags & 0x01) !== 0) return "Multipoint bit is set";
  const myDiscriminator = v.getUint32(4);
  if (myDiscriminator === 0) return "My Discriminator is 0";
  const state = (flags >> 6) as BfdStateValue;
  const yourDiscriminator = v.getUint32(8);
  if (yourDiscriminator === 0 && state !== BfdState.DOWN && state !== BfdState.ADMIN_DOWN) {
    return "Your Discriminator is 0 while the sender is not Down";
  }
  return {
    version,
    diag: bytes[0]! & 0x1f,
    state,
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    controlPlaneIndependent: (flags & 0x08) !== 0,
    authenticationPresent,
    demand: (flags & 0x02) !== 0,
    multipoint: false,
    detectMult,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTxUs: v.getUint32(12),
    requiredMinRxUs: v.getUint32(16),
    requiredMinEchoRxUs: v.getUint32(20),
  };
}

/** Names a state for logs. */
export function bfdStateName(state: number): "AdminDown" | "Down" | "Init" | "Up" {
  return (["AdminDown", "Down", "Init", "Up"] as const)[state & 3]!;
}
