/** The Coalition partner client for TypeScript: coalition-sig-v1 signing, receipts, typed errors, safe retries. */
export * from "./client.js";
export * from "./errors.js";
export * from "./keyfile.js";
export * from "./signing.js";
export * as network from "./gen/coalition/v1/network_pb.js";
export type { TlsOptions } from "./wire.js";
