/**
 * Opening the packet sockets the NDP responder and the duplicate-address probe read from.
 * @module
 */

import { ETH_P_IPV6, PacketSocket } from "../net/mod.ts";
import { ndpProbeFilter, ndpSolicitationFilter } from "./filter.ts";

/**
 * An IPv6 packet socket on `interfaceName` whose kernel filter accepts no solicitation until the responder narrows
 * it to the owned VIPs (needs CAP_NET_RAW); throws a `LibcError` naming the interface on failure.
 */
export function openNdpSocket(interfaceName: string): PacketSocket {
  return PacketSocket.open({
    interface: interfaceName,
    protocol: ETH_P_IPV6,
    filter: ndpSolicitationFilter({ targets: [] }),
  });
}

/** A socket for {@link probeNdp}: it receives neighbor solicitations and advertisements from other hosts. */
export function openNdpProbeSocket(interfaceName: string): PacketSocket {
  return PacketSocket.open({ interface: interfaceName, protocol: ETH_P_IPV6, filter: ndpProbeFilter() });
}
