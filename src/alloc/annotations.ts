/** Annotations MetalLB reads, current spelling first, then the deprecated metallb.universe.tf one. */
export const ANNOTATIONS = {
  addressPool: ["metallb.io/address-pool", "metallb.universe.tf/address-pool"],
  loadBalancerIPs: ["metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs"],
  allowSharedIp: ["metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"],
} as const;

/** The annotation the allocator writes with the pool name. */
export const ALLOCATED_FROM_POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool";
