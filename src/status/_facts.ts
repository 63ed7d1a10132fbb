/**
 * Facts about nodes and endpoints the explanations share, read with the same rules as the Layer 2 election
 * (src/l2/election.ts), so the BGP view and the Layer 2 view judge a node alike.
 * @module
 */
import { type EndpointSlice, EXCLUDE_FROM_LB_LABEL, type Node } from "../k8s/types.ts";

/** What the explanations read of a Node. */
export interface NodeFacts {
  /** Node name. */
  readonly name: string;
  /** Its labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Labelled node.kubernetes.io/exclude-from-external-load-balancers. */
  readonly excludedLabel: boolean;
  /** Condition NetworkUnavailable=True. */
  readonly networkUnavailable: boolean;
}

/** Facts of a (validated) Node. */
export function nodeFacts(node: Node): NodeFacts {
  const labels = node.metadata.labels ?? {};
  const conditions = Array.isArray(node.status?.conditions) ? node.status.conditions : [];
  return {
    name: node.metadata.name,
    labels,
    excludedLabel: Object.hasOwn(labels, EXCLUDE_FROM_LB_LABEL),
    networkUnavailable: conditions.some((c) => c?.type === "NetworkUnavailable" && c.status === "True"),
  };
}

/** As MetalLB's `EndpointCanServe`: ready unset or true, or serving. */
function serves(conditions: { ready?: boolean; serving?: boolean } | undefined): boolean {
  if (conditions === undefined || conditions.ready === undefined || conditions.ready === true) return true;
  return conditions.serving === true;
}

/** Whether any endpoint serves, and the nodes holding one. */
export function servingNodes(slices: readonly EndpointSlice[]): { any: boolean; nodes: string[] } {
  const nodes = new Set<string>();
  let any = false;
  for (const slice of slices) {
    for (const ep of slice.endpoints ?? []) {
      if (typeof ep !== "object" || ep === null || !serves(ep.conditions)) continue;
      any = true;
      if (typeof ep.nodeName === "string") nodes.add(ep.nodeName);
    }
  }
  return { any, nodes: [...nodes].sort() };
}
