/**
 * Real BGP messages captured with tcpdump on 2026-11-21 in a throwaway namespace pair (mlt5cap-a/b, veth,
 * 198.51.100.1 ↔ 198.51.100.2): BIRD 2.0.12 (AS 65001, graceful restart on, exporting static routes with a
 * community and a large community) peering with GoBGP 3.10.0 (AS 4200000002, routes added with `gobgp global rib
 * add`). Used by the codec tests and as the seed corpus of the fuzz tests.
 */

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A captured message with what it is. */
export interface CapturedMessage {
  /** Which implementation sent it, and what it holds. */
  readonly name: string;
  /** The message, header included. */
  readonly bytes: Uint8Array;
}

const M = "ffffffffffffffffffffffffffffffff";

/** GoBGP 3.10.0's OPEN: AS_TRANS, hold 90, id 198.51.100.2, route refresh, MP v4+v6, 4-octet AS 4200000002, GR. */
export const GOBGP_OPEN: CapturedMessage = {
  name: "GoBGP OPEN",
  bytes: hex(
    M + "004101045ba0005ac63364022402220200490402766d000104000100010104000200014104fa56ea020506000100010002",
  ),
};
/** GoBGP's UPDATE: 192.0.2.10/32, ORIGIN incomplete, AS_PATH 4200000002, MED 10, community 65002:200, large 4200000002:3:4. */
export const GOBGP_UPDATE_V4: CapturedMessage = {
  name: "GoBGP UPDATE IPv4 with communities",
  bytes: hex(
    M +
      "004d0200000031400101024002060201fa56ea02400304c63364028004040000000ac00804fdea00c8c0200cfa56ea02000000030000000420c000020a",
  ),
};
/** GoBGP's UPDATE: MP_REACH_NLRI 2001:db8:2::/64 via 2001:db8:100::2 (next hop before the attributes it needs). */
export const GOBGP_UPDATE_V6: CapturedMessage = {
  name: "GoBGP UPDATE IPv6 MP_REACH",
  bytes: hex(
    M + "0045020000002e400101024002060201fa56ea02800e1e0002011020010db8010000000000000000000002004020010db800020000",
  ),
};
/** GoBGP's withdrawal of 192.0.2.10/32. */
export const GOBGP_WITHDRAW_V4: CapturedMessage = {
  name: "GoBGP UPDATE withdrawing 192.0.2.10/32",
  bytes: hex(M + "001c02000520c000020a0000"),
};
/** BIRD 2.0.12's OPEN: AS 65001, hold 90, id 198.51.100.1, MP v4+v6, route refresh, GR 120 s, 4-octet AS, enhanced RR, LLGR. */
export const BIRD_OPEN: CapturedMessage = {
  name: "BIRD OPEN",
  bytes: hex(
    M + "00430104fde9005ac63364012602240104000100010104000200010200400a0078000101000002010041040000fde946004700",
  ),
};
/** A KEEPALIVE (both sent the same bytes). */
export const KEEPALIVE: CapturedMessage = { name: "KEEPALIVE", bytes: hex(M + "001304") };
/** BIRD's UPDATE: 203.0.113.128/25, ORIGIN IGP, AS_PATH 65001, NEXT_HOP 198.51.100.1. */
export const BIRD_UPDATE_V4: CapturedMessage = {
  name: "BIRD UPDATE IPv4",
  bytes: hex(M + "003002000000144001010040020602010000fde9400304c633640119cb007180"),
};
/** BIRD's UPDATE: 203.0.113.0/24 with community 65001:100 and large community 65001:1:2. */
export const BIRD_UPDATE_V4_COMMUNITIES: CapturedMessage = {
  name: "BIRD UPDATE IPv4 with communities",
  bytes: hex(
    M + "0045020000002a4001010040020602010000fde9400304c6336401c00804fde90064c0200c0000fde9000000010000000218cb0071",
  ),
};
/** BIRD's IPv4 End-of-RIB (an empty UPDATE). */
export const BIRD_EOR_V4: CapturedMessage = { name: "BIRD End-of-RIB IPv4", bytes: hex(M + "00170200000000") };
/** BIRD's UPDATE: 2001:db8:1::/48 via 2001:db8:100::1 plus a link-local next hop (32-octet next hop, extended length). */
export const BIRD_UPDATE_V6: CapturedMessage = {
  name: "BIRD UPDATE IPv6 with link-local next hop",
  bytes: hex(
    M +
      "0054020000003d900e002c0002012020010db8010000000000000000000001fe80000000000000544727fffec76140003020010db800014001010040020602010000fde9",
  ),
};
/** BIRD's IPv6 End-of-RIB (an empty MP_UNREACH_NLRI). */
export const BIRD_EOR_V6: CapturedMessage = {
  name: "BIRD End-of-RIB IPv6",
  bytes: hex(M + "001d0200000006800f03000201"),
};
/** BIRD's NOTIFICATION after `birdc disable`: Cease / Administrative Shutdown. */
export const BIRD_CEASE: CapturedMessage = { name: "BIRD Cease", bytes: hex(M + "0015030602") };

/** Every captured message, for round trips and as the fuzz corpus. */
export const CAPTURED: readonly CapturedMessage[] = [
  GOBGP_OPEN,
  GOBGP_UPDATE_V4,
  GOBGP_UPDATE_V6,
  GOBGP_WITHDRAW_V4,
  BIRD_OPEN,
  KEEPALIVE,
  BIRD_UPDATE_V4,
  BIRD_UPDATE_V4_COMMUNITIES,
  BIRD_EOR_V4,
  BIRD_UPDATE_V6,
  BIRD_EOR_V6,
  BIRD_CEASE,
];

/** Hex helper for tests. */
export { hex };
