/**
 * coalition-sig-v1 (protos/SIGNING.md): the six-line request signature, the five-line response receipt and the
 * six-line refusal receipt, Ed25519 and SHA-256 from Node's built-in `crypto`.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";

export const PROFILE = "coalition-sig-v1";
export const RESPONSE_PROFILE = "coalition-sig-v1-response";
export const REFUSAL_PROFILE = "coalition-sig-v1-refusal";
export const EVENT_PROFILE = "coalition-sig-v1-event";
export const KEY_ID_HEADER = "x-coalition-key-id";
export const TIMESTAMP_HEADER = "x-coalition-timestamp";
export const NONCE_HEADER = "x-coalition-nonce";
export const SIGNATURE_HEADER = "x-coalition-signature";

// Fixed DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI).
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** A receipt or signature that does not hold; `reason` as the Python SDK names it (e.g. RECEIPT_INVALID). */
export class SignatureError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = "SignatureError";
  }
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The exact bytes a request signature covers. */
export function requestMessage(method: string, keyId: string, timestamp: number, nonce: string, body: Uint8Array): Buffer {
  return Buffer.from([PROFILE, method, keyId, String(timestamp), nonce, sha256Hex(body)].join("\n"), "utf8");
}

/** The exact bytes a receipt signature covers. */
export function responseMessage(method: string, networkKeyId: string, requestBody: Uint8Array, responseBody: Uint8Array): Buffer {
  return Buffer.from(
    [RESPONSE_PROFILE, method, networkKeyId, sha256Hex(requestBody), sha256Hex(responseBody)].join("\n"),
    "utf8",
  );
}

/** The exact bytes a refusal receipt covers: `codeName` is the gRPC name of the status code (FAILED_PRECONDITION). */
export function refusalMessage(method: string, networkKeyId: string, requestBody: Uint8Array, codeName: string,
  reason: string): Buffer {
  return Buffer.from([REFUSAL_PROFILE, method, networkKeyId, sha256Hex(requestBody), codeName, reason].join("\n"), "utf8");
}

/** The exact bytes an event signature covers (SIGNING.md 3.2): over the serialized Event as received. */
export function eventMessage(networkKeyId: string, eventBody: Uint8Array): Buffer {
  return Buffer.from([EVENT_PROFILE, networkKeyId, sha256Hex(eventBody)].join("\n"), "utf8");
}

/** Check an event's network signature over its exact bytes; throws SignatureError EVENT_SIGNATURE_INVALID. */
export function verifyEvent(eventBody: Uint8Array, signature: Uint8Array, networkKeyId: string, key: KeyObject): void {
  if (signature.length !== 64 || !verify(null, eventMessage(networkKeyId, eventBody), key, signature)) {
    throw new SignatureError("EVENT_SIGNATURE_INVALID", "event signature does not match");
  }
}

/** 32 characters of [A-Za-z0-9_-]: 24 random bytes as unpadded base64url. */
export function newNonce(): string {
  return randomBytes(24).toString("base64url");
}

export interface SignedHeaders {
  keyId: string;
  timestamp: number;
  nonce: string;
  signature: string; // standard base64 of the 64-byte signature
}

export function signRequest(
  privateKey: KeyObject,
  keyId: string,
  method: string,
  body: Uint8Array,
  options: { timestamp?: number; nonce?: string } = {},
): SignedHeaders {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const nonce = options.nonce ?? newNonce();
  const signature = sign(null, requestMessage(method, keyId, timestamp, nonce, body), privateKey).toString("base64");
  return { keyId, timestamp, nonce, signature };
}

/** The four request metadata entries, each exactly once. */
export function signedHeaderEntries(signed: SignedHeaders): [string, string][] {
  return [
    [KEY_ID_HEADER, signed.keyId],
    [TIMESTAMP_HEADER, String(signed.timestamp)],
    [NONCE_HEADER, signed.nonce],
    [SIGNATURE_HEADER, signed.signature],
  ];
}

/** Check a receipt over the request bytes sent and the response bytes received; return the network key id. */
export function verifyReceipt(
  trailer: Headers,
  method: string,
  requestBody: Uint8Array,
  responseBody: Uint8Array,
  networkKeyFor: (keyId: string) => KeyObject | Promise<KeyObject>,
): Promise<string> {
  return (async () => {
    const keyId = single(trailer, KEY_ID_HEADER);
    const signatureText = single(trailer, SIGNATURE_HEADER);
    if (!/^[A-Za-z0-9+/]{86}==$/.test(signatureText)) {
      throw new SignatureError("RECEIPT_INVALID", "receipt signature is not 64 bytes of standard base64");
    }
    const key = await networkKeyFor(keyId);
    const ok = verify(null, responseMessage(method, keyId, requestBody, responseBody), key,
      Buffer.from(signatureText, "base64"));
    if (!ok) throw new SignatureError("RECEIPT_INVALID", "receipt signature does not match");
    return keyId;
  })();
}

/** Check a refusal receipt (SIGNING.md 3.1) for the status code name and reason received; return the key id. */
export function verifyRefusalReceipt(
  trailer: Headers,
  method: string,
  requestBody: Uint8Array,
  codeName: string,
  reason: string,
  networkKeyFor: (keyId: string) => KeyObject | Promise<KeyObject>,
): Promise<string> {
  return (async () => {
    const keyId = single(trailer, KEY_ID_HEADER);
    const signatureText = single(trailer, SIGNATURE_HEADER);
    if (!/^[A-Za-z0-9+/]{86}==$/.test(signatureText)) {
      throw new SignatureError("RECEIPT_INVALID", "refusal receipt signature is not 64 bytes of standard base64");
    }
    const key = await networkKeyFor(keyId);
    const ok = verify(null, refusalMessage(method, keyId, requestBody, codeName, reason), key,
      Buffer.from(signatureText, "base64"));
    if (!ok) throw new SignatureError("RECEIPT_INVALID", "refusal receipt signature does not match");
    return keyId;
  })();
}

function single(headers: Headers, name: string): string {
  const value = headers.get(name); // Headers joins repeated entries with ", "
  if (value === null || value === "") throw new SignatureError("RECEIPT_INVALID", `receipt lacks ${name}`);
  if (value.includes(",")) throw new SignatureError("RECEIPT_INVALID", `receipt carries ${name} more than once`);
  return value;
}

// --- keys ---------------------------------------------------------------------------------------------

export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
  return createPrivateKey({ format: "der", type: "pkcs8", key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]) });
}

export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey({ format: "pem", key: pem });
  if (key.asymmetricKeyType !== "ed25519") throw new Error("not an Ed25519 private key");
  return key;
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  return createPublicKey({ format: "der", type: "spki", key: Buffer.concat([SPKI_ED25519_PREFIX, raw]) });
}

export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX.length);
}
