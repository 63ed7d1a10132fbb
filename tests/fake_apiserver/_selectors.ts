/**
 * Label and field selectors as the API server parses them (k8s.io/apimachinery labels and fields packages):
 * labels support `=`, `==`, `!=`, `in (...)`, `notin (...)`, `key` and `!key`; fields support `=`, `==` and `!=`
 * over the field names each resource indexes.
 * @module
 */

/** A parsed selector: true when an object matches. */
export type Matcher = (obj: Record<string, unknown>) => boolean;

/** Thrown for a selector the server cannot parse; the server answers 400 BadRequest. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

/** Splits a selector on top-level commas (commas inside `in (...)` parentheses stay). */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== "");
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, selector: string): void {
  if (!LABEL_KEY.test(key) || key.length > 316) {
    throw new SelectorError(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  }
}

function checkValue(value: string, selector: string): void {
  if (!LABEL_VALUE.test(value) || value.length > 63) {
    throw new SelectorError(`unable to parse requirement: invalid label value "${value}" in selector "${selector}"`);
  }
}

/** Parses a labelSelector; matches against metadata.labels. */
export function parseLabelSelector(selector: string): Matcher {
  const tests: ((labels: Record<string, string>) => boolean)[] = [];
  for (const term of splitTerms(selector)) {
    const set = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(term);
    if (set) {
      const key = set[1]!;
      checkKey(key, selector);
      const values = new Set(set[3]!.split(",").map((v) => v.trim()).filter((v) => v !== ""));
      for (const v of values) checkValue(v, selector);
      if (set[2] === "in") tests.push((l) => key in l && values.has(l[key]!));
      else tests.push((l) => !(key in l) || !values.has(l[key]!));
      continue;
    }
    const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (cmp) {
      const key = cmp[1]!;
      const value = cmp[3]!.trim();
      checkKey(key, selector);
      checkValue(value, selector);
      if (cmp[2] === "!=") tests.push((l) => l[key] !== value);
      else tests.push((l) => l[key] === value);
      continue;
    }
    if (term.startsWith("!")) {
      const key = term.slice(1).trim();
      checkKey(key, selector);
      tests.push((l) => !(key in l));
      continue;
    }
    checkKey(term, selector);
    tests.push((l) => term in l);
  }
  return (obj) => {
    const meta = obj.metadata as { labels?: Record<string, string> } | undefined;
    const labels = meta?.labels ?? {};
    return tests.every((t) => t(labels));
  };
}

/** Field paths each resource supports in fieldSelector, beyond metadata.name and metadata.namespace. */
const FIELDS: Record<string, string[]> = {
  services: ["spec.type", "spec.clusterIP"],
  nodes: ["spec.unschedulable"],
  events: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  secrets: ["type"],
  pods: ["spec.nodeName", "status.phase", "spec.schedulerName", "spec.serviceAccountName"],
  namespaces: ["status.phase"],
};

function fieldValue(obj: Record<string, unknown>, path: string): string {
  if (path === "source") {
    const source = obj.source as { component?: string } | undefined;
    return source?.component ?? "";
  }
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return "";
  return String(cur);
}

/** Parses a fieldSelector for a resource; unknown fields are a 400, as on a real server. */
export function parseFieldSelector(selector: string, resource: string): Matcher {
  const allowed = new Set(["metadata.name", "metadata.namespace", ...(FIELDS[resource] ?? [])]);
  const tests: Matcher[] = [];
  for (const term of splitTerms(selector)) {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1]!;
    const value = m[3]!.trim();
    if (!allowed.has(field)) {
      throw new SelectorError(`field label not supported: ${field}`);
    }
    if (m[2] === "!=") tests.push((o) => fieldValue(o, field) !== value);
    else tests.push((o) => fieldValue(o, field) === value);
  }
  return (obj) => tests.every((t) => t(obj));
}
