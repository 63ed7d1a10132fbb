import type { Model, Rejection } from "./model.ts";

/** metav1.Condition (declared here because src/config sits below src/k8s; the shapes are the same). */
export interface StateCondition {
  /** Condition type. */
  readonly type: string;
  /** True, False or Unknown. */
  readonly status: "True" | "False" | "Unknown";
  /** CamelCase reason. */
  readonly reason: string;
  /** Human message. */
  readonly message: string;
  /** RFC 3339 time. */
  readonly lastTransitionTime: string;
  /** Generation observed. */
  readonly observedGeneration?: number;
}

/** status of a MetalLB ConfigurationState object, as MetalLB's controller and speakers write it. */
export interface ConfigurationStateStatus {
  /** Valid when nothing was rejected. */
  readonly result: "Valid" | "Invalid" | "Unknown";
  /** One line per rejected object; empty when valid. */
  readonly errorSummary: string;
  /** MetalLB's single `configReconcilerValid` condition. */
  readonly conditions: readonly StateCondition[];
}

/** Options of {@link configurationState}. */
export interface ConfigurationStateOptions {
  /** RFC 3339 time for lastTransitionTime (MetalLB sets it on every reconcile). */
  readonly now: string;
  /** metadata.generation of the ConfigurationState, when known. */
  readonly observedGeneration?: number;
}

// ConfigurationState's CRD caps a condition message at 32768 characters.
const MAX_MESSAGE = 32768;

/** Condition type MetalLB's config reconciler writes. */
export const CONFIG_CONDITION_TYPE = "configReconcilerValid";

/** One line naming a rejected object, its origin and why, for logs, Events and the error summary. */
export function describeRejection(r: Rejection): string {
  const name = r.ref.namespace ? `${r.ref.namespace}/${r.ref.name}` : r.ref.name || "(unnamed)";
  const where = r.file === undefined ? r.source : `${r.source} ${r.file}`;
  return `${r.ref.kind || "object"} ${name} (${where}) rejected [${r.code}]: ${r.reason}`;
}

function cap(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE - 15)}... (truncated)`;
}

/**
 * The ConfigurationState status for a model: Valid when nothing was rejected, else Invalid with one summary line
 * per rejected object (MetalLB stops at its first error; metallite keeps going, so it lists them all).
 */
export function configurationState(model: Model, options: ConfigurationStateOptions): ConfigurationStateStatus {
  const lines = model.rejected.map(describeRejection);
  const valid = lines.length === 0;
  const message = valid ? "" : cap(`configuration error: ${lines.join("\n")}`);
  return {
    result: valid ? "Valid" : "Invalid",
    errorSummary: message,
    conditions: [{
      type: CONFIG_CONDITION_TYPE,
      status: valid ? "True" : "False",
      reason: valid ? "Reconciled" : "ConfigurationError",
      message,
      lastTransitionTime: options.now,
      ...(options.observedGeneration === undefined ? {} : { observedGeneration: options.observedGeneration }),
    }],
  };
}
