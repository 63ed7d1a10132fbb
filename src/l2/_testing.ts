/**
 * Builders of small configuration and cluster objects for the Layer 2 tests.
 * @module
 */
import type { L2Advertisement, LabelSelector, Model, Pool } from "../config/model.ts";
import { parseRange } from "../ip/mod.ts";
import type { EndpointSlice, Node, Service } from "../k8s/types.ts";
import type { FakeClock } from "../clock/fake.ts";
import type { PeerState } from "./election.ts";
import type { HeartbeatTransport } from "./liveness.ts";

/** A selector with only matchLabels. */
export function labelsSelector(matchLabels: Record<string, string>): LabelSelector {
  return { matchLabels, matchExpressions: [] };
}

/** A pool from range texts (both families allowed). */
export function pool(name: string, ranges: string[]): Pool {
  const parsed = ranges.map(parseRange);
  return {
    name,
    source: "file",
    ref: { kind: "IPAddressPool", namespace: "metallb-system", name },
    labels: {},
    ranges: { 4: parsed.filter((r) => r.family === 4), 6: parsed.filter((r) => r.family === 6) },
    addresses: ranges,
    size: { 4: 0n, 6: 0n },
    autoAssign: true,
    avoidBuggyIPs: false,
  };
}

/** An L2Advertisement for some pools, with optional fields. */
export function advertisement(name: string, pools: string[], extra: Partial<L2Advertisement> = {}): L2Advertisement {
  return {
    name,
    source: "file",
    ref: { kind: "L2Advertisement", namespace: "metallb-system", name },
    ipAddressPools: pools,
    ipAddressPoolSelectors: [],
    pools,
    nodeSelectors: [],
    serviceSelectors: [],
    interfaces: [],
    preferredNodeSelectors: [],
    ...extra,
  };
}

/** A model with these pools and advertisements. */
export function model(pools: Pool[], ads: L2Advertisement[]): Pick<Model, "pools" | "l2Advertisements"> {
  return { pools, l2Advertisements: ads };
}

/** A Node object. */
export function node(
  name: string,
  options: { labels?: Record<string, string>; networkUnavailable?: boolean; internalIp?: string } = {},
): Node {
  return {
    metadata: { name, labels: options.labels ?? { "kubernetes.io/hostname": name } },
    status: {
      addresses: options.internalIp ? [{ type: "InternalIP", address: options.internalIp }] : [],
      conditions: [
        { type: "Ready", status: "True" },
        { type: "NetworkUnavailable", status: options.networkUnavailable ? "True" : "False" },
      ],
    },
  };
}

/** A LoadBalancer Service with these ingress IPs. */
export function service(
  name: string,
  ips: string[],
  options: {
    namespace?: string;
    local?: boolean;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    type?: "LoadBalancer" | "ClusterIP";
    loadBalancerClass?: string;
  } = {},
): Service {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? "default",
      uid: `uid-${name}`,
      labels: options.labels ?? {},
      annotations: options.annotations ?? {},
    },
    spec: {
      type: options.type ?? "LoadBalancer",
      externalTrafficPolicy: options.local ? "Local" : "Cluster",
      ...(options.loadBalancerClass ? { loadBalancerClass: options.loadBalancerClass } : {}),
    },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  };
}

/** An EndpointSlice of a Service with endpoints on these nodes (ready unless listed in `notReady`). */
export function slice(
  serviceName: string,
  nodes: string[],
  options: { notReady?: string[]; namespace?: string } = {},
): EndpointSlice {
  const out: EndpointSlice = {
    metadata: {
      name: `${serviceName}-abc`,
      namespace: options.namespace ?? "default",
      labels: { "kubernetes.io/service-name": serviceName },
    },
    addressType: "IPv4",
    endpoints: nodes.map((n, i) => ({
      addresses: [`198.51.100.${100 + i}`],
      nodeName: n,
      conditions: { ready: !(options.notReady ?? []).includes(n) },
    })),
  };
  return out;
}

/** Liveness: these nodes alive with these interfaces (default ["eth0"]). */
export function alivePeers(names: string[], interfaces: string[] = ["eth0"]): Map<string, PeerState> {
  return new Map(names.map((n) => [n, { alive: true, interfaces }]));
}

/** The shared fake clock (src/clock/fake.ts). */
export { FakeClock } from "../clock/fake.ts";

/** A fake network for heartbeat transports: datagrams arrive after `latencyMs` on the fake clock. */
export class FakeHub {
  readonly #clock: FakeClock;
  readonly #latencyMs: number;
  readonly #handlers = new Map<string, (data: Uint8Array, from: string) => void>();
  readonly #silenced = new Set<string>();
  readonly #cut = new Set<string>();
  /** Every datagram sent, in order. */
  readonly sent: { from: string; to: string; data: Uint8Array; at: number }[] = [];

  constructor(clock: FakeClock, latencyMs = 1) {
    this.#clock = clock;
    this.#latencyMs = latencyMs;
  }

  /** A transport for the host with this address. */
  transport(address: string): HeartbeatTransport & { closed: boolean } {
    const state = { closed: false };
    const send = (data: Uint8Array, to: string) => {
      if (state.closed) return;
      this.sent.push({ from: address, to, data, at: this.#clock.now() });
      if (this.#silenced.has(address) || this.#cut.has(`${address}>${to}`)) return;
      this.#clock.setTimer(this.#latencyMs, () => this.#handlers.get(to)?.(data, address));
    };
    const listen = (handler: (data: Uint8Array, from: string) => void) => {
      this.#handlers.set(address, handler);
    };
    const close = () => {
      state.closed = true;
      this.#handlers.delete(address);
      return Promise.resolve();
    };
    return {
      get closed() {
        return state.closed;
      },
      set closed(value: boolean) {
        state.closed = value;
      },
      send,
      listen,
      close,
    };
  }

  /** Drops everything this host sends from now on (its process was killed, or its link went down). */
  silence(address: string): void {
    this.#silenced.add(address);
  }

  /** Drops datagrams from one host to another (one-way partition). */
  cut(from: string, to: string): void {
    this.#cut.add(`${from}>${to}`);
  }

  /** Heals every silence and cut. */
  heal(): void {
    this.#silenced.clear();
    this.#cut.clear();
  }

  /** Delivers raw bytes to a host as if sent from `from`. */
  inject(to: string, data: Uint8Array, from: string): void {
    this.#handlers.get(to)?.(data, from);
  }
}
