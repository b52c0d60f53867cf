// SIGNING.md's test vectors (sections 6, 7, 7.1 and 7.2), read out of the document, reproduced byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create, toBinary } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import {
  EarnRequestSchema, EarnResponseSchema, EventSchema, LotState, TransactionKind,
} from "../src/gen/coalition/v1/network_pb.js";
import {
  SIGNATURE_HEADER, KEY_ID_HEADER, SignatureError, privateKeyFromSeed, publicKeyFromRaw, rawPublicKey, requestMessage,
  eventMessage, refusalMessage, responseMessage, sha256Hex, verifyEvent, signRequest, signedHeaderEntries, verifyReceipt, verifyRefusalReceipt,
} from "../src/signing.js";

const SIGNING_MD = readFileSync(new URL("../../../protos/SIGNING.md", import.meta.url), "utf8");

function vector(headingStart: string): Record<string, string> {
  const section = SIGNING_MD.split(/^## /m).find((s) => s.startsWith(headingStart));
  assert.ok(section, `SIGNING.md has no section ## ${headingStart}`);
  const blocks = [...section.matchAll(/^```text\n([\s\S]*?)^```/gm)];
  assert.equal(blocks.length, 1, "one ```text block of name: value lines");
  return Object.fromEntries(blocks[0][1].split("\n").filter((l) => l.trim()).map((l) => {
    const at = l.indexOf(": ");
    return [l.slice(0, at), l.slice(at + 2)];
  }));
}

const unescape = (shown: string) => Buffer.from(shown.replaceAll("\\n", "\n"), "utf8");
const request = vector("6. Test vector");
const receipt = vector("7. Test vector");
const refusal = vector("7.1 Test vector");

test("the vector's EarnRequest serializes to the documented 45 bytes", () => {
  const earn = create(EarnRequestSchema, {
    requestId: "req-0001", memberId: "m-0042", basis: { case: "purchase", value: { amountMinor: 1250n, currency: "EUR" } },
    receiptRef: "r-77", storeId: "s-01", terminalId: "t-3",
  });
  const body = toBinary(EarnRequestSchema, earn);
  assert.equal(Buffer.from(body).toString("hex"), request.request_hex);
  assert.equal(body.length, 45);
  assert.equal(sha256Hex(body), request.request_sha256_hex);
});

test("the request signature: key, message and signature as documented", () => {
  const key = privateKeyFromSeed(Buffer.from(request.partner_private_key_seed_hex, "hex"));
  assert.equal(rawPublicKey(key).toString("hex"), request.partner_public_key_hex);
  assert.equal(rawPublicKey(key).toString("base64"), request.partner_public_key_base64);
  const body = Buffer.from(request.request_hex, "hex");
  const timestamp = Number(request.timestamp);
  assert.deepEqual(requestMessage(request.method, request.key_id, timestamp, request.nonce, body), unescape(request.message_to_sign));
  const signed = signRequest(key, request.key_id, request.method, body, { timestamp, nonce: request.nonce });
  assert.equal(signed.signature, request.signature_base64);
  assert.deepEqual(signedHeaderEntries(signed), [
    ["x-coalition-key-id", request.key_id], ["x-coalition-timestamp", request.timestamp],
    ["x-coalition-nonce", request.nonce], ["x-coalition-signature", request.signature_base64],
  ]);
});

test("the empty request hashes as documented", () => {
  assert.equal(sha256Hex(new Uint8Array()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

test("the receipt: EarnResponse bytes, message, and the network's signature verify", async () => {
  const response = create(EarnResponseSchema, {
    transactionId: "tx-0001", points: 12n, state: LotState.PENDING,
    availableAt: { seconds: 1737504000n }, expiresAt: { seconds: 1767225600n },
  });
  const responseBytes = toBinary(EarnResponseSchema, response);
  assert.equal(Buffer.from(responseBytes).toString("hex"), receipt.response_hex);
  assert.equal(sha256Hex(responseBytes), receipt.response_sha256_hex);
  const requestBytes = Buffer.from(request.request_hex, "hex");
  assert.deepEqual(responseMessage(receipt.method, receipt.network_key_id, requestBytes, responseBytes),
    unescape(receipt.message_to_sign));
  const networkKey = publicKeyFromRaw(Buffer.from(receipt.network_public_key_hex, "hex"));
  assert.equal(Buffer.from(receipt.network_public_key_hex, "hex").toString("base64"), receipt.network_public_key_base64);
  const trailer = new Headers([[KEY_ID_HEADER, receipt.network_key_id], [SIGNATURE_HEADER, receipt.signature_base64]]);
  assert.equal(await verifyReceipt(trailer, receipt.method, requestBytes, responseBytes, () => networkKey), receipt.network_key_id);
  // one byte changed in the response, or the request, and the receipt no longer holds
  const tampered = Buffer.from(responseBytes);
  tampered[tampered.length - 1] ^= 1;
  await assert.rejects(verifyReceipt(trailer, receipt.method, requestBytes, tampered, () => networkKey),
    (e: unknown) => e instanceof SignatureError && e.reason === "RECEIPT_INVALID");
  await assert.rejects(verifyReceipt(trailer, receipt.method, Buffer.from("x"), responseBytes, () => networkKey), SignatureError);
  await assert.rejects(verifyReceipt(new Headers([[KEY_ID_HEADER, receipt.network_key_id]]), receipt.method,
    requestBytes, responseBytes, () => networkKey), SignatureError);
});

test("the refusal receipt: message and the network's signature over code and reason verify", async () => {
  const requestBytes = Buffer.from(request.request_hex, "hex");
  assert.equal(refusal.network_key_id, receipt.network_key_id);
  assert.equal(sha256Hex(requestBytes), refusal.request_sha256_hex);
  assert.deepEqual(refusalMessage(refusal.method, refusal.network_key_id, requestBytes, refusal.code, refusal.reason),
    unescape(refusal.message_to_sign));
  const networkKey = publicKeyFromRaw(Buffer.from(receipt.network_public_key_hex, "hex"));
  const trailer = new Headers([[KEY_ID_HEADER, refusal.network_key_id], [SIGNATURE_HEADER, refusal.signature_base64]]);
  assert.equal(await verifyRefusalReceipt(trailer, refusal.method, requestBytes, refusal.code, refusal.reason,
    () => networkKey), refusal.network_key_id);
  // the code and the reason are signed: another of either does not verify
  await assert.rejects(verifyRefusalReceipt(trailer, refusal.method, requestBytes, "NOT_FOUND", refusal.reason,
    () => networkKey), (e: unknown) => e instanceof SignatureError && e.reason === "RECEIPT_INVALID");
  await assert.rejects(verifyRefusalReceipt(trailer, refusal.method, requestBytes, refusal.code, "INSUFFICIENT_POINTS",
    () => networkKey), SignatureError);
});

test("the event: bytes, message and the network's signature over them verify; one flipped bit does not", () => {
  const event = vector("7.2 Test vector");
  const body = Buffer.from(event.event_hex, "hex");
  const parsed = fromBinary(EventSchema, body);
  assert.equal(parsed.sequence, 7n);
  assert.equal(parsed.type, "points.earned");
  assert.equal(parsed.transaction?.kind, TransactionKind.EARN);
  assert.equal(sha256Hex(body), event.event_sha256_hex);
  assert.deepEqual(eventMessage(event.network_key_id, body), unescape(event.message_to_sign));
  const key = publicKeyFromRaw(Buffer.from(receipt.network_public_key_hex, "hex"));
  const signature = Buffer.from(event.signature_base64, "base64");
  verifyEvent(body, signature, event.network_key_id, key);
  const tampered = Buffer.from(body);
  tampered[tampered.length - 1] ^= 1;
  assert.throws(() => verifyEvent(tampered, signature, event.network_key_id, key),
    (e: unknown) => e instanceof SignatureError && e.reason === "EVENT_SIGNATURE_INVALID");
});
