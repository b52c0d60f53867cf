/**
 * Typed errors from the network's rich gRPC status: the `grpc-status-details-bin` trailer holds a
 * google.rpc.Status whose details carry an ErrorInfo (domain "coalition.network", a stable `reason`),
 * for INVALID_ARGUMENT a BadRequest (field violations), and possibly a RetryInfo.
 *
 *   CoalitionError              any refused or failed call: code, reason, metadata, fieldViolations, retryable
 *   ├── InsufficientPoints      FAILED_PRECONDITION / INSUFFICIENT_POINTS
 *   ├── IdempotencyKeyReused    ALREADY_EXISTS / IDEMPOTENCY_KEY_REUSED
 *   ├── SignatureInvalid        UNAUTHENTICATED / any coalition-sig-v1 refusal
 *   ├── PartnerSuspended        PERMISSION_DENIED / PARTNER_SUSPENDED
 *   └── ReceiptInvalid          client side: a mutating response's (or refusal's) receipt did not verify
 * A refused mutating call's error carries the network's verified refusal receipt in `receipt` (SIGNING.md 3.1).
 * Switch on `code` first and `reason` second; a reason you do not know is handled by its code.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { StatusSchema } from "./gen/google/rpc/status_pb.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export { Code };
export const ERROR_DOMAIN = "coalition.network";
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";

/** Codes that mean "safe to send the same bytes again": the client retries these, nothing else. */
export const RETRYABLE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Aborted,
  Code.ResourceExhausted,
]);

/** The transport's own refusal of a message over a size limit (gRPC: "message larger than max"; Connect: "...
 * larger than configured readMaxBytes"): the same bytes would be refused again, so it is not retried, like the
 * network's INVALID_ARGUMENT / MESSAGE_TOO_LARGE. */
const TRANSPORT_TOO_LARGE = /larger than (max|configured)/i;

/** Whether the client sends the same bytes again after this status. */
export function isRetryable(code: Code, message: string): boolean {
  if (code === Code.ResourceExhausted && TRANSPORT_TOO_LARGE.test(message)) return false;
  return RETRYABLE_CODES.has(code);
}

export const SIGNATURE_REASONS: ReadonlySet<string> = new Set([
  "SIGNATURE_INVALID", "SIGNATURE_MISSING", "TIMESTAMP_STALE", "TIMESTAMP_INVALID", "NONCE_INVALID",
  "KEY_UNKNOWN", "KEY_REVOKED",
]);

export interface FieldViolation {
  field: string;
  description: string;
}

export class CoalitionError extends Error {
  readonly retryable: boolean;
  /** A refused mutating call: the network's verified refusal receipt (undefined when none came). */
  receipt: Receipt | RefusalReceipt | undefined;

  constructor(
    readonly code: Code,
    message: string,
    readonly reason = "",
    readonly domain = "",
    readonly metadata: Readonly<Record<string, string>> = {},
    readonly fieldViolations: readonly FieldViolation[] = [],
    readonly retryDelayMs: number | undefined = undefined,
  ) {
    super(`${Code[code]}${reason ? " " + reason : ""}: ${message}`);
    this.name = new.target.name;
    this.retryable = isRetryable(code, message);
  }
}

export class InsufficientPoints extends CoalitionError {}
export class IdempotencyKeyReused extends CoalitionError {}
export class SignatureInvalid extends CoalitionError {}
export class PartnerSuspended extends CoalitionError {}

/** The evidence of one mutating exchange, kept with the error when its receipt did not verify. */
export interface Receipt {
  method: string;
  requestBytes: Uint8Array;
  responseBytes: Uint8Array;
  keyId: string;
  signature: string;
}

/** The evidence of a refused mutating call: the network signed `code` (gRPC name) and `reason` for these bytes. */
export interface RefusalReceipt {
  method: string;
  requestBytes: Uint8Array;
  code: string;
  reason: string;
  keyId: string;
  signature: string;
}

/** The gRPC name of a status code, as signed in a refusal receipt (connect's names differ: Canceled). */
export const GRPC_CODE_NAMES: Readonly<Record<Code, string>> = {
  [Code.Canceled]: "CANCELLED", [Code.Unknown]: "UNKNOWN", [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED", [Code.NotFound]: "NOT_FOUND", [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED", [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION", [Code.Aborted]: "ABORTED", [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED", [Code.Internal]: "INTERNAL", [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS", [Code.Unauthenticated]: "UNAUTHENTICATED",
};

export class ReceiptInvalid extends CoalitionError {
  constructor(message: string, receipt: Receipt | RefusalReceipt, readonly refusal?: CoalitionError) {
    super(Code.Unknown, message, "RECEIPT_INVALID");
    this.receipt = receipt;
  }
}

function classFor(code: Code, reason: string): typeof CoalitionError {
  if (code === Code.FailedPrecondition && reason === "INSUFFICIENT_POINTS") return InsufficientPoints;
  if (code === Code.AlreadyExists && reason === "IDEMPOTENCY_KEY_REUSED") return IdempotencyKeyReused;
  if (code === Code.Unauthenticated && SIGNATURE_REASONS.has(reason)) return SignatureInvalid;
  if (code === Code.PermissionDenied && reason === "PARTNER_SUSPENDED") return PartnerSuspended;
  return CoalitionError;
}

/** The google.rpc.Status of a failed call, from the error's trailers (undefined when it sent none). */
export function statusDetails(metadata: Headers) {
  const encoded = metadata.get(STATUS_DETAILS_TRAILER);
  if (!encoded) return undefined;
  return fromBinary(StatusSchema, Buffer.from(encoded, "base64")); // binary metadata: base64, padding optional
}

/** The most specific CoalitionError for what the transport threw. */
export function errorFromConnect(error: unknown): CoalitionError {
  if (error instanceof CoalitionError) return error;
  const connectError = ConnectError.from(error);
  const status = statusDetails(connectError.metadata);
  let reason = "";
  let domain = "";
  let metadata: Record<string, string> = {};
  const violations: FieldViolation[] = [];
  let retryDelayMs: number | undefined;
  for (const detail of status?.details ?? []) {
    const info = anyUnpack(detail, ErrorInfoSchema);
    if (info) {
      reason = info.reason;
      domain = info.domain;
      metadata = { ...info.metadata };
    }
    const badRequest = anyUnpack(detail, BadRequestSchema);
    for (const v of badRequest?.fieldViolations ?? []) violations.push({ field: v.field, description: v.description });
    const retryInfo = anyUnpack(detail, RetryInfoSchema);
    if (retryInfo?.retryDelay) {
      retryDelayMs = Number(retryInfo.retryDelay.seconds) * 1000 + retryInfo.retryDelay.nanos / 1e6;
    }
  }
  const Class = classFor(connectError.code, reason);
  return new Class(connectError.code, status?.message || connectError.rawMessage, reason, domain, metadata,
    violations, retryDelayMs);
}

