import type { BgpCommunity } from "./model.ts";

/** What {@link parseCommunity} returns: the value, or why the text is not one. */
export type CommunityParse =
  | { readonly ok: true; readonly value: BgpCommunity }
  | { readonly ok: false; readonly malformed: boolean; readonly error: string };

function parseUint(text: string, max: number): number | undefined {
  // Go's strconv.ParseUint(s, 10, n), as MetalLB uses: decimal digits only.
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/**
 * Parses a community as MetalLB writes them: `65535:65282` (RFC 1997, two 16-bit halves) or `large:1:2:3`
 * (RFC 8092, three 32-bit numbers). `malformed` is true when the text has neither shape (so it may be an alias),
 * false when it has the shape but a number is out of range.
 *
 * @example
 * ```ts
 * parseCommunity("65535:65282"); // { ok: true, value: { kind: "standard", value: 0xffffff02 } }
 * ```
 */
export function parseCommunity(text: string): CommunityParse {
  const parts = text.split(":");
  if (parts.length === 2) {
    const high = parseUint(parts[0]!, 0xffff);
    const low = parseUint(parts[1]!, 0xffff);
    if (high === undefined || low === undefined) {
      return { ok: false, malformed: false, error: `community "${text}" needs two numbers from 0 to 65535` };
    }
    return { ok: true, value: { kind: "standard", value: high * 0x10000 + low } };
  }
  if (parts.length === 4) {
    if (parts[0] !== "large") {
      return { ok: false, malformed: false, error: `large community "${text}" must be written large:N:N:N` };
    }
    const [g, l1, l2] = parts.slice(1).map((p) => parseUint(p, 0xffffffff));
    if (g === undefined || l1 === undefined || l2 === undefined) {
      return {
        ok: false,
        malformed: false,
        error: `large community "${text}" needs three numbers from 0 to 4294967295`,
      };
    }
    return { ok: true, value: { kind: "large", globalAdmin: g, localData1: l1, localData2: l2 } };
  }
  return {
    ok: false,
    malformed: true,
    error: `"${text}" is neither a community (N:N or large:N:N:N) nor a known alias`,
  };
}

/** Formats a community as MetalLB prints it: `65535:65282` or `large:1:2:3`. */
export function formatCommunity(c: BgpCommunity): string {
  if (c.kind === "standard") return `${Math.floor(c.value / 0x10000)}:${c.value % 0x10000}`;
  return `large:${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}
