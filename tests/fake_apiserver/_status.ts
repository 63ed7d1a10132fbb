/**
 * metav1.Status errors, shaped as a real API server sends them (k8s.io/apimachinery/pkg/api/errors).
 * @module
 */

/** The `details` of a Status. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message: string; field?: string }[];
  retryAfterSeconds?: number;
}

/** An API error: the HTTP code, the Status reason and message. Thrown by the store, sent by the server. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  /** Builds an error with the HTTP code, Status reason ("NotFound", "Conflict" …), message and details. */
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  /** The metav1.Status body. */
  toStatus(): Record<string, unknown> {
    return statusBody(this.code, this.reason, this.message, this.details);
  }
}

/** A metav1.Status object. */
export function statusBody(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): Record<string, unknown> {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: code >= 200 && code < 300 ? "Success" : "Failure",
    message,
    ...(reason !== "" ? { reason } : {}),
    ...(details ? { details } : {}),
    code,
  };
}

/** The "group resource" text Kubernetes puts in messages: `services`, `ipaddresspools.metallb.io`. */
export function qualified(plural: string, group: string): string {
  return group === "" ? plural : `${plural}.${group}`;
}

/** 404 NotFound for one object. */
export function notFound(plural: string, group: string, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualified(plural, group)} "${name}" not found`, {
    name,
    ...(group !== "" ? { group } : {}),
    kind: plural,
  });
}

/** 409 AlreadyExists on create. */
export function alreadyExists(plural: string, group: string, name: string): ApiError {
  return new ApiError(409, "AlreadyExists", `${qualified(plural, group)} "${name}" already exists`, {
    name,
    ...(group !== "" ? { group } : {}),
    kind: plural,
  });
}

/** 409 Conflict on a stale resourceVersion or failed precondition. */
export function conflict(plural: string, group: string, name: string, why: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(plural, group)} "${name}": ${why}`,
    {
      name,
      ...(group !== "" ? { group } : {}),
      kind: plural,
    },
  );
}

/** The message of a stale-resourceVersion conflict, word for word as kube-apiserver sends it. */
export const MODIFIED_MESSAGE =
  "the object has been modified; please apply your changes to the latest version and try again";

/** 422 Invalid with field causes. */
export function invalid(
  kind: string,
  group: string,
  name: string,
  causes: { field: string; message: string; reason?: string }[],
): ApiError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  return new ApiError(422, "Invalid", `${kind}${group !== "" ? "." + group : ""} "${name}" is invalid: ${text}`, {
    name,
    ...(group !== "" ? { group } : {}),
    kind,
    causes: causes.map((c) => ({ reason: c.reason ?? "FieldValueInvalid", message: c.message, field: c.field })),
  });
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

/** 410 Gone / Expired, as a list or watch from a compacted resourceVersion gets it. */
export function expired(message: string): ApiError {
  return new ApiError(410, "Expired", message);
}
