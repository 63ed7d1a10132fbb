/**
 * Reading metav1.LabelSelector values from untyped input, with apimachinery's rules.
 * @module
 */
import { invalid, isLabelKey, isLabelValue, isObject, type Json, listField, show, stringMapField } from "./_fields.ts";
import type { LabelRequirement, LabelSelector, SelectorOperator, WeightedSelector } from "./model.ts";

const OPERATORS: readonly SelectorOperator[] = ["In", "NotIn", "Exists", "DoesNotExist"];

function readRequirement(value: unknown, path: string): LabelRequirement {
  if (!isObject(value)) invalid(`${path} must be an object with key, operator and values`);
  const key = value.key;
  const operator = value.operator;
  if (typeof key !== "string" || !isLabelKey(key)) invalid(`${path}.key ${show(key)} is not a valid label key`);
  if (typeof operator !== "string" || !OPERATORS.includes(operator as SelectorOperator)) {
    invalid(`${path}.operator ${show(operator)} is not one of ${OPERATORS.join(", ")}`);
  }
  const values = listField(value, "values", `${path}.`).map((v, i) => {
    if (typeof v !== "string" || !isLabelValue(v)) {
      invalid(`${path}.values[${i}] ${show(v)} is not a valid label value`);
    }
    return v;
  });
  const op = operator as SelectorOperator;
  // apimachinery: In/NotIn need at least one value; Exists/DoesNotExist take none.
  if ((op === "In" || op === "NotIn") && values.length === 0) invalid(`${path}: operator ${op} needs values`);
  if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) {
    invalid(`${path}: operator ${op} takes no values`);
  }
  return { key, operator: op, values };
}

/** Reads one label selector; throws Invalid with the path on a bad one. */
export function readLabelSelector(value: unknown, path: string): LabelSelector {
  if (!isObject(value)) invalid(`${path} must be a label selector object, not ${show(value)}`);
  const matchLabels = stringMapField(value, "matchLabels", `${path}.`);
  for (const [k, v] of Object.entries(matchLabels)) {
    if (!isLabelKey(k)) invalid(`${path}.matchLabels key ${show(k)} is not a valid label key`);
    if (!isLabelValue(v)) invalid(`${path}.matchLabels.${k} ${show(v)} is not a valid label value`);
  }
  const matchExpressions = listField(value, "matchExpressions", `${path}.`).map((r, i) =>
    readRequirement(r, `${path}.matchExpressions[${i}]`)
  );
  const seen = new Set<string>();
  for (const r of matchExpressions) {
    const k = JSON.stringify(r);
    if (seen.has(k)) invalid(`${path}.matchExpressions repeats ${show(r)}`);
    seen.add(k);
  }
  return { matchLabels, matchExpressions };
}

/** Reads a list of selectors, refusing duplicates as MetalLB's validateLabelSelectorDuplicate does. */
export function readSelectorList(obj: Json, key: string, path: string): LabelSelector[] {
  const list = listField(obj, key, path).map((s, i) => readLabelSelector(s, `${path}${key}[${i}]`));
  const seen = new Set<string>();
  for (const s of list) {
    const k = JSON.stringify([Object.entries(s.matchLabels).sort(), s.matchExpressions]);
    if (seen.has(k)) invalid(`${path}${key} repeats the selector ${show(s)}`);
    seen.add(k);
  }
  return list;
}

/** Reads L2Advertisement.spec.preferredNodeSelectors. */
export function readWeightedSelectors(obj: Json, key: string, path: string): WeightedSelector[] {
  return listField(obj, key, path).map((item, i) => {
    const p = `${path}${key}[${i}]`;
    if (!isObject(item)) invalid(`${p} must be an object with weight and preference`);
    const weight = item.weight;
    if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 1 || weight > 100) {
      invalid(`${p}.weight ${show(weight)} must be a whole number from 1 to 100`);
    }
    return { weight, preference: readLabelSelector(item.preference ?? {}, `${p}.preference`) };
  });
}
