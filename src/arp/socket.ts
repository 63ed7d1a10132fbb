/**
 * Opening the packet sockets the ARP responder and the conflict probe read from.
 * @module
 */

import { ETH_P_ARP, PacketSocket } from "../net/mod.ts";
import { arpProbeFilter, arpRequestFilter } from "./filter.ts";

/**
 * An ARP socket on `interfaceName` whose kernel filter accepts no request until the responder narrows it to the
 * owned VIPs (needs CAP_NET_RAW); throws a `LibcError` naming the interface on failure.
 */
export function openArpSocket(interfaceName: string): PacketSocket {
  return PacketSocket.open({
    interface: interfaceName,
    protocol: ETH_P_ARP,
    filter: arpRequestFilter({ targets: [] }),
  });
}

/** An ARP socket for {@link probeArp}: it receives every ARP request and reply from other hosts. */
export function openArpProbeSocket(interfaceName: string): PacketSocket {
  return PacketSocket.open({ interface: interfaceName, protocol: ETH_P_ARP, filter: arpProbeFilter() });
}
