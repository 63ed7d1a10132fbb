/**
 * Interface index, MAC address and flags through `ioctl`, which works for interfaces without an IP address (which
 * `Deno.networkInterfaces()` omits) and without reading `/sys` (which Deno refuses without `--allow-all`).
 * @module
 */

import {
  AF_INET,
  check,
  ENODEV,
  IFF_RUNNING,
  IFF_UP,
  IFNAMSIZ,
  IFREQ_SIZE,
  libc,
  LibcError,
  SIOCGIFFLAGS,
  SIOCGIFHWADDR,
  SIOCGIFINDEX,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
} from "./libc.ts";

/** What `ioctl` says about one network interface. */
export interface InterfaceInfo {
  /** Interface name, e.g. "eth0". */
  name: string;
  /** Kernel interface index (`ifindex`). */
  index: number;
  /** Hardware (MAC) address, 6 bytes for Ethernet. */
  mac: Uint8Array;
  /** ARPHRD_* hardware type (1 = Ethernet). */
  hardwareType: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING: the link has carrier (operationally up). */
  running: boolean;
}

/** Throws a `TypeError` unless `name` can be an interface name (1 to 15 bytes, no "/", ":" is fine, no spaces). */
export function validateInterfaceName(name: string): void {
  const bytes = new TextEncoder().encode(name);
  // IFNAMSIZ includes the terminating NUL; the kernel's dev_valid_name() also refuses "/", whitespace, "." and "..".
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ || /[\s/\0]/.test(name) || name === "." || name === "..") {
    throw new TypeError(`Invalid interface name ${JSON.stringify(name)}`);
  }
}

/** A zeroed `struct ifreq` with the name filled in. */
export function ifreq(name: string): Uint8Array<ArrayBuffer> {
  validateInterfaceName(name);
  const out = new Uint8Array(IFREQ_SIZE);
  out.set(new TextEncoder().encode(name));
  return out;
}

/**
 * Reads index, MAC and flags of `name` with ioctls on `fd` (any socket), or on a throwaway UDP socket when omitted.
 * Throws a `LibcError` (ENODEV when there is no such interface).
 * @example
 * const { index, mac } = interfaceInfo("eth0");
 */
export function interfaceInfo(name: string, fd?: number): InterfaceInfo {
  const lib = libc();
  const socket = fd ?? check("socket", lib.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  try {
    const context = `interface ${JSON.stringify(name)}`;
    const request = ifreq(name);
    const view = new DataView(request.buffer);
    check("ioctl(SIOCGIFINDEX)", lib.ioctl(socket, BigInt(SIOCGIFINDEX), request), context);
    const index = view.getInt32(IFNAMSIZ, true);
    const hw = ifreq(name);
    check("ioctl(SIOCGIFHWADDR)", lib.ioctl(socket, BigInt(SIOCGIFHWADDR), hw), context);
    // ifr_hwaddr is a struct sockaddr: sa_family (the ARPHRD type) then sa_data holding the address.
    const hardwareType = new DataView(hw.buffer).getUint16(IFNAMSIZ, true);
    const mac = hw.slice(IFNAMSIZ + 2, IFNAMSIZ + 8);
    const flagsRequest = ifreq(name);
    check("ioctl(SIOCGIFFLAGS)", lib.ioctl(socket, BigInt(SIOCGIFFLAGS), flagsRequest), context);
    // ifr_flags is a short, so IFF_LOWER_UP (bit 16) is not visible through it; IFF_RUNNING carries the same news.
    const flags = new DataView(flagsRequest.buffer).getUint16(IFNAMSIZ, true);
    return {
      name,
      index,
      mac,
      hardwareType,
      up: (flags & IFF_UP) !== 0,
      running: (flags & IFF_RUNNING) !== 0,
    };
  } finally {
    if (fd === undefined) lib.close(socket);
  }
}

/** Whether an error from {@link interfaceInfo} means the interface does not exist. */
export function isNoSuchInterface(error: unknown): boolean {
  return error instanceof LibcError && error.errno === ENODEV;
}
