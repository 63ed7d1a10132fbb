/** OPEN messages (RFC 4271 §4.2) and the capabilities they carry (RFC 5492). */
import { ByteWriter, u16Bytes, viewOf } from "./_bytes.ts";
import {
  AS_TRANS,
  BGP_VERSION,
  CapabilityCode,
  ErrorCode,
  OpenSubcode,
  OPTIONAL_PARAMETER_CAPABILITIES,
} from "./constants.ts";
import { type Decoded, fail, ok } from "./errors.ts";

/** An address family and subsequent address family, as in (1, 1) for IPv4 unicast. */
export interface AfiSafi {
  /** Address family identifier: 1 IPv4, 2 IPv6. */
  readonly afi: number;
  /** Subsequent address family identifier: 1 unicast. */
  readonly safi: number;
}

/** One family in the graceful restart capability (RFC 4724 §3). */
export interface GracefulRestartFamily extends AfiSafi {
  /** The F bit: forwarding state for this family was preserved across the restart. */
  readonly forwardingPreserved: boolean;
}

/** The graceful restart capability (RFC 4724 §3). */
export interface GracefulRestartCapability {
  /** The R bit: the sender has restarted. */
  readonly restarting: boolean;
  /** The N bit (RFC 8538): graceful restart also applies to NOTIFICATIONs. */
  readonly notification?: boolean;
  /** Seconds the peer should keep our routes after the session drops (12 bits). */
  readonly restartTime: number;
  /** Families whose forwarding state the sender keeps. */
  readonly families: readonly GracefulRestartFamily[];
}

/** A capability we do not interpret, kept so it can be counted or logged. */
export interface UnknownCapability {
  /** Capability code. */
  readonly code: number;
  /** Raw value. */
  readonly value: Uint8Array;
}

/** The capabilities of an OPEN; an absent field means the capability was not advertised. */
export interface Capabilities {
  /** RFC 4760 multiprotocol: the families the sender will exchange. */
  readonly multiprotocol?: readonly AfiSafi[];
  /** RFC 2918 route refresh. */
  readonly routeRefresh?: boolean;
  /** RFC 6793 4-octet AS: the sender's real AS number. */
  readonly fourOctetAs?: number;
  /** RFC 4724 graceful restart. */
  readonly gracefulRestart?: GracefulRestartCapability;
  /** RFC 8654 extended messages (recognised; we never advertise it, so messages stay within 4096 octets). */
  readonly extendedMessage?: boolean;
  /** Capabilities we received but do not interpret (RFC 5492 §3: ignored, never an error). */
  readonly unknown?: readonly UnknownCapability[];
}

/** An OPEN message. */
export interface OpenMessage {
  /** Discriminator. */
  readonly type: "open";
  /** Protocol version; 4. */
  readonly version: number;
  /** The 2-octet My Autonomous System field (AS_TRANS when the real AS needs 4 octets). */
  readonly myAs: number;
  /** Proposed hold time in seconds: 0 or at least 3. */
  readonly holdTime: number;
  /** BGP identifier as an unsigned 32-bit number. */
  readonly bgpId: number;
  /** Capabilities advertised. */
  readonly capabilities: Capabilities;
}

/** The peer's real AS number: the 4-octet capability when present (RFC 6793 §3), else the My AS field. */
export function openAsn(open: OpenMessage): number {
  return open.capabilities.fourOctetAs ?? open.myAs;
}

/** Formats a BGP identifier as dotted quad. */
export function formatBgpId(id: number): string {
  return [id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff].join(".");
}

/** Parses a dotted-quad BGP identifier; undefined when it is not one. */
export function parseBgpId(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return undefined;
    v = v * 256 + o;
  }
  return v;
}

function writeCapabilities(w: ByteWriter, caps: Capabilities): void {
  const cap = (code: number, body: (w: ByteWriter) => void) => {
    w.u8(code);
    const at = w.length;
    w.u8(0);
    body(w);
    w.patchU8(at, w.length - at - 1);
  };
  for (const f of caps.multiprotocol ?? []) cap(CapabilityCode.MULTIPROTOCOL, (w) => w.u16(f.afi).u8(0).u8(f.safi));
  if (caps.routeRefresh) cap(CapabilityCode.ROUTE_REFRESH, () => {});
  if (caps.gracefulRestart) {
    const gr = caps.gracefulRestart;
    cap(CapabilityCode.GRACEFUL_RESTART, (w) => {
      const flags = (gr.restarting ? 0x8 : 0) | (gr.notification ? 0x4 : 0);
      w.u16((flags << 12) | (gr.restartTime & 0xfff));
      for (const f of gr.families) w.u16(f.afi).u8(f.safi).u8(f.forwardingPreserved ? 0x80 : 0);
    });
  }
  if (caps.fourOctetAs !== undefined) cap(CapabilityCode.FOUR_OCTET_AS, (w) => w.u32(caps.fourOctetAs!));
  if (caps.extendedMessage) cap(CapabilityCode.EXTENDED_MESSAGE, () => {});
  for (const u of caps.unknown ?? []) cap(u.code, (w) => w.bytes(u.value));
}

/** Encodes an OPEN body (without the header); the My AS field becomes AS_TRANS above 65535 (RFC 6793 §4.1). */
export function encodeOpenBody(open: Omit<OpenMessage, "type">): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(open.version).u16(open.myAs > 0xffff ? AS_TRANS : open.myAs).u16(open.holdTime).u32(open.bgpId);
  const caps = new ByteWriter(64);
  writeCapabilities(caps, open.capabilities);
  const capBytes = caps.finish();
  if (capBytes.length === 0) {
    w.u8(0);
  } else {
    // All capabilities in one optional parameter, as BIRD and FRR send them (RFC 5492 §4 allows either).
    w.u8(capBytes.length + 2).u8(OPTIONAL_PARAMETER_CAPABILITIES).u8(capBytes.length).bytes(capBytes);
  }
  return w.finish();
}

function openError<T>(subcode: number, reason: string, data?: Uint8Array): Decoded<T> {
  return fail(ErrorCode.OPEN_MESSAGE, subcode, reason, data);
}

interface MutableCaps {
  multiprotocol?: AfiSafi[];
  routeRefresh?: boolean;
  fourOctetAs?: number;
  gracefulRestart?: GracefulRestartCapability;
  extendedMessage?: boolean;
  unknown?: UnknownCapability[];
}

function parseCapabilities(bytes: Uint8Array, caps: MutableCaps): string | undefined {
  const v = viewOf(bytes);
  let i = 0;
  while (i < bytes.length) {
    if (i + 2 > bytes.length) return `capability header at offset ${i} is truncated`;
    const code = bytes[i]!;
    const len = bytes[i + 1]!;
    if (i + 2 + len > bytes.length) return `capability ${code} of ${len} octets runs past its parameter`;
    const at = i + 2;
    switch (code) {
      case CapabilityCode.MULTIPROTOCOL:
        if (len !== 4) return `multiprotocol capability has length ${len}, expected 4`;
        (caps.multiprotocol ??= []).push({ afi: v.getUint16(at), safi: bytes[at + 3]! });
        break;
      case CapabilityCode.ROUTE_REFRESH:
        caps.routeRefresh = true;
        break;
      case CapabilityCode.FOUR_OCTET_AS:
        if (len !== 4) return `4-octet AS capability has length ${len}, expected 4`;
        caps.fourOctetAs = v.getUint32(at);
        break;
      case CapabilityCode.GRACEFUL_RESTART: {
        if (len < 2 || (len - 2) % 4 !== 0) return `graceful restart capability has length ${len}`;
        const head = v.getUint16(at);
        const families: GracefulRestartFamily[] = [];
        for (let k = at + 2; k < at + len; k += 4) {
          families.push({
            afi: v.getUint16(k),
            safi: bytes[k + 2]!,
            forwardingPreserved: (bytes[k + 3]! & 0x80) !== 0,
          });
        }
        caps.gracefulRestart = {
          restarting: (head & 0x8000) !== 0,
          notification: (head & 0x4000) !== 0,
          restartTime: head & 0xfff,
          families,
        };
        break;
      }
      case CapabilityCode.EXTENDED_MESSAGE:
        caps.extendedMessage = true;
        break;
      default:
        (caps.unknown ??= []).push({ code, value: bytes.slice(at, at + len) });
    }
    i = at + len;
  }
  return undefined;
}

/**
 * Decodes an OPEN body (after the 19-octet header) and checks what needs no configuration: version 4
 * (RFC 4271 §6.2), hold time 0 or ≥ 3, a non-zero BGP identifier (RFC 6286), and only the capabilities
 * optional parameter (others answer Unsupported Optional Parameter). Peer AS and identifier clashes are checked
 * by the session, which knows its configuration.
 */
export function decodeOpenBody(body: Uint8Array): Decoded<OpenMessage> {
  // The header check guarantees at least 10 octets (29 - 19); stay defensive anyway.
  if (body.length < 10) return openError(0, `OPEN body has ${body.length} octets, expected at least 10`);
  const v = viewOf(body);
  const version = body[0]!;
  if (version !== BGP_VERSION) {
    // RFC 4271 §6.2: the data is the largest locally supported version number, in 2 octets.
    return openError(OpenSubcode.UNSUPPORTED_VERSION, `peer speaks BGP version ${version}`, u16Bytes(BGP_VERSION));
  }
  const myAs = v.getUint16(1);
  const holdTime = v.getUint16(3);
  const bgpId = v.getUint32(5);
  let paramsLength = body[9]!;
  let start = 10;
  let extended = false;
  // RFC 9072: a length of 255 followed by type 255 introduces a 2-octet length and 2-octet parameter lengths.
  if (paramsLength === 255 && body.length >= 13 && body[10] === 255) {
    extended = true;
    paramsLength = v.getUint16(11);
    start = 13;
  }
  if (start + paramsLength !== body.length) {
    return openError(0, `optional parameters length ${paramsLength} disagrees with the ${body.length}-octet body`);
  }
  const caps: MutableCaps = {};
  let i = start;
  while (i < body.length) {
    const headLength = extended ? 3 : 2;
    if (i + headLength > body.length) return openError(0, `optional parameter at offset ${i} is truncated`);
    const type = body[i]!;
    const len = extended ? v.getUint16(i + 1) : body[i + 1]!;
    const at = i + headLength;
    if (at + len > body.length) return openError(0, `optional parameter ${type} of ${len} octets overruns the OPEN`);
    if (type !== OPTIONAL_PARAMETER_CAPABILITIES) {
      return openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `unsupported optional parameter type ${type}`);
    }
    const problem = parseCapabilities(body.subarray(at, at + len), caps);
    if (problem) return openError(0, `malformed capabilities: ${problem}`);
    i = at + len;
  }
  if (holdTime === 1 || holdTime === 2) {
    // RFC 4271 §4.2: the hold time must be zero or at least three seconds.
    return openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime} s is neither 0 nor at least 3`);
  }
  if (bgpId === 0) return openError(OpenSubcode.BAD_BGP_IDENTIFIER, "BGP identifier is 0.0.0.0");
  return ok({ type: "open", version, myAs, holdTime, bgpId, capabilities: caps });
}
