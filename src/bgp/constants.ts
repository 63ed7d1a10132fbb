/** Numbers from the BGP RFCs, each with its source, shared by the codec, the state machine and the speaker. */

/** RFC 4271 §4.1: every message starts with 16 octets of 0xff. */
export const MARKER_LENGTH = 16;
/** RFC 4271 §4.1: marker (16) + length (2) + type (1). */
export const HEADER_LENGTH = 19;
/** RFC 4271 §4.1: the largest message without the extended-message capability (RFC 8654), which we never send. */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 4271 §4.2: the only BGP version we speak. */
export const BGP_VERSION = 4;
/** RFC 4271 port. */
export const BGP_PORT = 179;
/** RFC 6793 §9: the 2-octet AS number that stands for a 4-octet one in the OPEN's My AS field and AS_PATH. */
export const AS_TRANS = 23456;

/** RFC 4271 §4.1 message types, plus ROUTE-REFRESH from RFC 2918. */
export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;

/** RFC 4271 §4.5 NOTIFICATION error codes (plus RFC 7313's ROUTE-REFRESH Message Error). */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

/** RFC 4271 §6.1 Message Header Error subcodes. */
export const HeaderSubcode = {
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

/** RFC 4271 §6.2 OPEN Message Error subcodes, plus RFC 5492's Unsupported Capability. */
export const OpenSubcode = {
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
} as const;

/** RFC 4271 §6.3 UPDATE Message Error subcodes. */
export const UpdateSubcode = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN: 6,
  INVALID_NEXT_HOP: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** RFC 6608 Finite State Machine Error subcodes. */
export const FsmSubcode = {
  UNSPECIFIED: 0,
  UNEXPECTED_IN_OPEN_SENT: 1,
  UNEXPECTED_IN_OPEN_CONFIRM: 2,
  UNEXPECTED_IN_ESTABLISHED: 3,
} as const;

/** RFC 4486 Cease subcodes. */
export const CeaseSubcode = {
  MAX_PREFIXES: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
} as const;

/** RFC 5492 optional parameter type that carries capabilities. */
export const OPTIONAL_PARAMETER_CAPABILITIES = 2;

/** Capability codes (IANA "Capability Codes" registry). */
export const CapabilityCode = {
  /** RFC 4760 */
  MULTIPROTOCOL: 1,
  /** RFC 2918 */
  ROUTE_REFRESH: 2,
  /** RFC 8654 (recognised, never advertised) */
  EXTENDED_MESSAGE: 6,
  /** RFC 4724 */
  GRACEFUL_RESTART: 64,
  /** RFC 6793 */
  FOUR_OCTET_AS: 65,
  /** RFC 7911 (recognised, never advertised) */
  ADD_PATH: 69,
  /** RFC 7313 (recognised, never advertised) */
  ENHANCED_ROUTE_REFRESH: 70,
} as const;

/** Path attribute type codes (RFC 4271 §5, RFC 1997, RFC 4760, RFC 6793, RFC 8092). */
export const AttributeType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITY: 32,
} as const;

/** RFC 4271 §4.3 attribute flag bits. */
export const AttributeFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** RFC 4271 §5.1.1 ORIGIN values. */
export const Origin = { IGP: 0, EGP: 1, INCOMPLETE: 2 } as const;

/** RFC 4271 §4.3 and RFC 5065 AS_PATH segment types. */
export const AsPathSegmentType = { AS_SET: 1, AS_SEQUENCE: 2, AS_CONFED_SEQUENCE: 3, AS_CONFED_SET: 4 } as const;

/** Address family identifiers (IANA) and the one SAFI we use. */
export const Afi = { IPV4: 1, IPV6: 2 } as const;
/** Subsequent address family identifier for unicast (RFC 4760). */
export const SAFI_UNICAST = 1;
