import type { LabelRequirement, LabelSelector } from "./model.ts";

/** A selector that matches every object (Kubernetes' `{}`). */
export const MATCH_ALL: LabelSelector = { matchLabels: {}, matchExpressions: [] };

function requirementHolds(req: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.operator) {
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "In":
      return has && req.values.includes(labels[req.key]!);
    case "NotIn":
      // As in apimachinery: a missing label satisfies NotIn.
      return !has || !req.values.includes(labels[req.key]!);
  }
}

/**
 * True when the labels satisfy the selector: every matchLabels pair and every expression.
 *
 * @example
 * ```ts
 * matchesLabels({ matchLabels: { app: "web" }, matchExpressions: [] }, { app: "web" }); // true
 * ```
 */
export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return selector.matchExpressions.every((req) => requirementHolds(req, labels));
}

/** True when any selector matches; an empty list matches everything (MetalLB's rule for nodeSelectors and the like). */
export function matchesAny(selectors: readonly LabelSelector[], labels: Readonly<Record<string, string>>): boolean {
  return selectors.length === 0 || selectors.some((s) => matchesLabels(s, labels));
}
