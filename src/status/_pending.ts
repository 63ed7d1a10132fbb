/**
 * Why a Service has no address: what the allocator wrote in the Service's status condition, next to the allocation
 * recomputed from the cluster state.
 * @module
 */
import { ADDRESS_CONDITION_TYPE } from "../alloc/controller.ts";
import type { PendingCode, ServiceOutcome } from "../alloc/types.ts";
import type { Service } from "../k8s/types.ts";
import { isRecord } from "./_validate.ts";
import type { PendingReport } from "./report.ts";

// A Record, so the compiler fails here when src/alloc adds a code.
const PENDING_CODES: Readonly<Record<PendingCode, true>> = {
  NoPools: true,
  NoSuitablePool: true,
  NoPoolForFamily: true,
  PoolExhausted: true,
  UnknownPool: true,
  PoolNotAllowed: true,
  InvalidRequest: true,
  FamilyMismatch: true,
  IpNotInPool: true,
  PoolMismatch: true,
  IpInUse: true,
  SharingKeyMismatch: true,
  BackendMismatch: true,
  PortConflict: true,
  AddressConflict: true,
  NotDualStack: true,
};

/** True for a reason the allocator uses for a pending Service. */
export function isPendingCode(reason: string): reason is PendingCode {
  return Object.hasOwn(PENDING_CODES, reason);
}

/**
 * The pending condition the allocator wrote, if any: its own condition type with status False, else (a writer
 * that spells the type differently) any condition whose reason is a pending code.
 */
export function readPendingCondition(service: Service): PendingReport["reported"] {
  const conditions = service.status?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  const texts = conditions.filter(isRecord).map((c) => ({
    type: typeof c.type === "string" ? c.type : "",
    status: typeof c.status === "string" ? c.status : "",
    reason: typeof c.reason === "string" ? c.reason : "",
    message: typeof c.message === "string" ? c.message : "",
  }));
  const found = texts.find((c) => c.type === ADDRESS_CONDITION_TYPE && c.status === "False") ??
    texts.find((c) => c.type !== ADDRESS_CONDITION_TYPE && isPendingCode(c.reason) && c.status !== "Unknown");
  return found && { type: found.type, reason: found.reason, message: found.message };
}

/** The pending view of a Service without addresses. */
export function explainPending(service: Service, outcome: ServiceOutcome | undefined): PendingReport {
  const reported = readPendingCondition(service);
  let recomputed: PendingReport["recomputed"];
  if (outcome?.state === "assigned") {
    recomputed = { state: "assignable", ips: outcome.ips, pool: outcome.pool };
  } else if (outcome?.state === "pending") {
    recomputed = { state: "pending", code: outcome.code, message: outcome.message };
  } else {
    // Ignored by the allocator (another class): the caller reports it as other-class before asking.
    recomputed = { state: "pending", code: outcome?.code ?? "Unknown", message: outcome?.message ?? "not allocated" };
  }
  const agrees = reported !== undefined && recomputed.state === "pending" && reported.reason === recomputed.code;
  return { ...(reported ? { reported } : {}), recomputed, agrees };
}
