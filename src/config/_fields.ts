/**
 * Readers for untyped JSON (a YAML document or an API object): each returns a typed value or throws
 * {@link Invalid}, which the per-object parser turns into one rejection. Nothing here lets a wrong type through.
 * @module
 */
import type { RejectionCode } from "./model.ts";

/** Thrown inside this folder for a bad field; always caught at the object boundary and turned into a Rejection. */
export class Invalid extends Error {
  override name = "Invalid";
  /** The rejection code. */
  readonly code: RejectionCode;
  constructor(code: RejectionCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A plain JSON object. */
export type Json = Record<string, unknown>;

/** Throws an InvalidField rejection. */
export function invalid(message: string, code: RejectionCode = "InvalidField"): never {
  throw new Invalid(code, message);
}

/** True for a plain object (not an array, not null). */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Shows a value briefly in a message: strings quoted, long values cut. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "bigint" ? `${value}` : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** Reads an optional object field; absent or null gives an empty object. */
export function objectField(obj: Json, key: string, path: string): Json {
  const value = obj[key];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) invalid(`${path}${key} must be an object, not ${typeName(value)}`);
  return value;
}

/** Reads an optional string field. */
export function stringField(obj: Json, key: string, path: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") invalid(`${path}${key} must be a string, not ${typeName(value)} ${show(value)}`);
  return value;
}

/** Reads an optional boolean field. */
export function booleanField(obj: Json, key: string, path: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") invalid(`${path}${key} must be true or false, not ${show(value)}`);
  return value;
}

/** Reads an optional whole-number field within [min, max]. */
export function integerField(obj: Json, key: string, path: string, min: number, max: number): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    invalid(`${path}${key} must be a whole number, not ${show(value)}`);
  }
  if (value < min || value > max) invalid(`${path}${key} ${value} is out of range (${min} to ${max})`);
  return value;
}

/** Reads an optional list field; absent or null gives an empty list. */
export function listField(obj: Json, key: string, path: string): unknown[] {
  const value = obj[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalid(`${path}${key} must be a list, not ${typeName(value)}`);
  return value;
}

/** Reads an optional list of strings, refusing duplicates as MetalLB does. */
export function stringListField(obj: Json, key: string, path: string): string[] {
  const list = listField(obj, key, path);
  const seen = new Set<string>();
  return list.map((item, i) => {
    if (typeof item !== "string") invalid(`${path}${key}[${i}] must be a string, not ${show(item)}`);
    if (seen.has(item)) invalid(`${path}${key} lists ${show(item)} twice`);
    seen.add(item);
    return item;
  });
}

/** Reads a map of string to string (labels, matchLabels). */
export function stringMapField(obj: Json, key: string, path: string): Record<string, string> {
  const map = objectField(obj, key, path);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) {
    if (typeof v !== "string") invalid(`${path}${key}.${k} must be a string, not ${show(v)}`);
    out[k] = v;
  }
  return out;
}

// Kubernetes object names: RFC 1123 subdomains of at most 253 characters.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** True for a valid Kubernetes object name. */
export function isObjectName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

// Label keys: optional DNS-subdomain prefix and "/", then a name of at most 63 characters.
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** True for a valid label key, as apimachinery validates it. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** True for a valid label value (may be empty). */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}
