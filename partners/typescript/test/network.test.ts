// Against the real network server: tests/test_typescript_client.py starts it, registers a partner and writes
// its key file, then runs these with COALITION_TARGET and COALITION_KEY_FILE set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  EarnRequestSchema, EarnResponseSchema, NetworkService, RedeemRequestSchema, ReverseRequestSchema,
} from "../src/gen/coalition/v1/network_pb.js";
import {
  Code, CoalitionError, IdempotencyKeyReused, InsufficientPoints, PartnerClient, ReceiptInvalid, SignatureInvalid,
  loadKeyFile, newRequestId, publicKeyFromRaw, rawPublicKey, sha256Hex, signRequest, signedHeaderEntries, verifyReceipt,
  verifyRefusalReceipt, type RefusalReceipt,
} from "../src/index.js";
import { createExactTransport } from "../src/wire.js";

const target = process.env.COALITION_TARGET;
const keyFilePath = process.env.COALITION_KEY_FILE;
if (!target || !keyFilePath) throw new Error("set COALITION_TARGET and COALITION_KEY_FILE (tests/test_typescript_client.py does)");
const keyFile = loadKeyFile(keyFilePath);
const network = new PartnerClient(target, keyFile.keyId, keyFile.privateKey, { timeoutMs: 10_000 });
test.after(() => network.close());

test("enroll, earn, redeem: balances and signed receipts", async () => {
  const customerRef = `ts-${newRequestId().slice(0, 12)}`;
  const enrolled = await network.enrollMember({ customerRef });
  assert.equal(enrolled.created, true);
  const memberId = enrolled.member!.memberId;
  assert.equal((await network.enrollMember({ customerRef })).member!.memberId, memberId, "enrolling is safe to repeat");

  const earned = await network.earn(memberId, { amountMinor: 1250n, receiptRef: "r-77", storeId: "s-01" });
  assert.equal(earned.points, 12n); // EUR 12.50 at the default 1 point per major unit, floored
  const earnReceipt = network.lastReceipt!;
  assert.equal(earnReceipt.method, "/coalition.v1.NetworkService/Earn");
  assert.equal(fromBinary(EarnResponseSchema, earnReceipt.responseBytes).transactionId, earned.transactionId);
  assert.equal(fromBinary(EarnRequestSchema, earnReceipt.requestBytes).memberId, memberId);

  await network.earn(memberId, { points: 100n });
  const redeemed = await network.redeem(memberId, 40n, { receiptRef: "r-78" });
  assert.equal(redeemed.points, 40n);
  assert.equal(fromBinary(RedeemRequestSchema, network.lastReceipt!.requestBytes).points, 40n);
  const balance = await network.getBalance(memberId);
  assert.equal(balance.availablePoints, 12n + 100n - 40n);
  const returned = await network.reverse(redeemed.transactionId, { points: 10n, reason: "returned", memberId });
  assert.equal(returned.remainingReversiblePoints, 30n); // found by its member
  assert.equal(fromBinary(ReverseRequestSchema, network.lastReceipt!.requestBytes).memberId, memberId);
  assert.equal((await network.getBalance(memberId)).availablePoints, 12n + 100n - 40n + 10n);

  // The receipt is evidence anyone holding the network's public key can check, independently of the client.
  const keys = (await network.getNetworkKeys()).keys.filter((k) => k.active);
  const networkKey = keys.find((k) => k.keyId === earnReceipt.keyId);
  assert.ok(networkKey, `receipt names key ${earnReceipt.keyId}, not among the active network keys`);
  const trailer = new Headers([["x-coalition-key-id", earnReceipt.keyId], ["x-coalition-signature", earnReceipt.signature]]);
  const check = (request: Uint8Array, response: Uint8Array) =>
    verifyReceipt(trailer, earnReceipt.method, request, response, () => publicKeyFromRaw(networkKey.publicKey));
  assert.equal(await check(earnReceipt.requestBytes, earnReceipt.responseBytes), earnReceipt.keyId);
  const tampered = Buffer.from(earnReceipt.responseBytes);
  tampered[tampered.length - 1] ^= 1;
  await assert.rejects(check(earnReceipt.requestBytes, tampered), /RECEIPT_INVALID|does not match/);
});

test("a refusal is a typed error read from google.rpc.Status, and writes nothing", async () => {
  const memberId = (await network.enrollMember()).member!.memberId;
  await network.earn(memberId, { points: 10n });
  let refusal: RefusalReceipt | undefined;
  await assert.rejects(network.redeem(memberId, 11n), (error: unknown) => {
    assert.ok(error instanceof InsufficientPoints, String(error));
    assert.equal(error.code, Code.FailedPrecondition);
    assert.equal(error.reason, "INSUFFICIENT_POINTS");
    assert.equal(error.domain, "coalition.network");
    assert.equal(error.retryable, false);
    refusal = error.receipt as RefusalReceipt; // the network's signed refusal (SIGNING.md 3.1), verified
    return true;
  });
  assert.equal((await network.getBalance(memberId)).availablePoints, 10n);
  assert.ok(refusal, "a refused mutating call carries a refusal receipt");
  assert.deepEqual([refusal.method, refusal.code, refusal.reason],
    ["/coalition.v1.NetworkService/Redeem", "FAILED_PRECONDITION", "INSUFFICIENT_POINTS"]);
  const keys = (await network.getNetworkKeys()).keys.filter((k) => k.active);
  const networkKey = keys.find((k) => k.keyId === refusal!.keyId)!;
  const trailer = new Headers([["x-coalition-key-id", refusal.keyId], ["x-coalition-signature", refusal.signature]]);
  assert.equal(await verifyRefusalReceipt(trailer, refusal.method, refusal.requestBytes, refusal.code, refusal.reason,
    () => publicKeyFromRaw(networkKey.publicKey)), refusal.keyId);
  // a read's refusal carries none
  await assert.rejects(network.getBalance("00000000-0000-4000-8000-000000000000"), (error: unknown) => {
    assert.ok(error instanceof CoalitionError && error.code === Code.NotFound, String(error));
    assert.equal(error.receipt, undefined);
    return true;
  });
  // a refusal receipt that does not verify (the network key pinned to another key) is not trusted
  const forged = rawPublicKey(generateKeyPairSync("ed25519").publicKey);
  const pinned = new PartnerClient(target!, keyFile.keyId, keyFile.privateKey, { networkKeys: { [refusal.keyId]: forged } });
  try {
    await assert.rejects(pinned.redeem(memberId, 11n), (error: unknown) => {
      assert.ok(error instanceof ReceiptInvalid, String(error));
      assert.ok(error.refusal instanceof InsufficientPoints);
      return true;
    });
  } finally {
    pinned.close();
  }

  await assert.rejects(network.earn(memberId, { points: 0n }), (error: unknown) => {
    assert.ok(error instanceof CoalitionError && error.code === Code.InvalidArgument, String(error));
    assert.ok(error.fieldViolations.some((v) => v.field === "points"), JSON.stringify(error.fieldViolations));
    return true;
  });
});

test("a spend carries the member's PIN inside the signed request: a wrong one is refused", async () => {
  const memberId = (await network.enrollMember()).member!.memberId;
  await network.earn(memberId, { points: 10n });
  await assert.rejects(network.redeem(memberId, 5n, { pin: "2580" }), (error: unknown) => {
    assert.ok(error instanceof CoalitionError, String(error));
    assert.equal(error.code, Code.PermissionDenied);
    assert.equal(error.reason, "MEMBER_VERIFICATION_FAILED"); // this member has no PIN: any PIN is wrong, and counts
    assert.equal(error.retryable, false);
    return true;
  });
  assert.equal((await network.getBalance(memberId)).availablePoints, 10n, "the refused spend wrote nothing");
  const held = await network.authorizeRedemption(memberId, 5n); // at its own till, under the contract's limit
  assert.equal(held.points, 5n);
  await network.voidRedemption(held.holdId);
});

test("an oversized request is refused by the network as MESSAGE_TOO_LARGE, and sent once", async () => {
  const memberId = (await network.enrollMember()).member!.memberId;
  let attempts = 0;
  const counting = new PartnerClient(target, keyFile.keyId, keyFile.privateKey, {
    timeoutMs: 10_000,
    // only the Earn attempts: checking the refusal's receipt fetches the network's keys through the same client
    onAttempt: (_attempt, method) => { if (method.endsWith("/Earn")) attempts += 1; },
  });
  try {
    await assert.rejects(counting.earn(memberId, { points: 1n, receiptRef: "x".repeat(4.5 * 1024 * 1024) }),
      (error: unknown) => {
        assert.ok(error instanceof CoalitionError && error.code === Code.InvalidArgument, String(error));
        assert.equal(error.reason, "MESSAGE_TOO_LARGE");
        assert.equal(error.retryable, false);
        return true;
      });
  } finally {
    counting.close();
  }
  assert.equal(attempts, 1);
  assert.equal((await network.getBalance(memberId)).availablePoints, 0n);
});

test("the same request_id returns the stored response; with another body it is refused", async () => {
  const memberId = (await network.enrollMember()).member!.memberId;
  const requestId = newRequestId();
  const first = await network.earn(memberId, { points: 25n, requestId });
  const again = await network.earn(memberId, { points: 25n, requestId });
  assert.equal(again.transactionId, first.transactionId);
  assert.equal((await network.getBalance(memberId)).availablePoints, 25n, "posted once");
  await assert.rejects(network.earn(memberId, { points: 26n, requestId }), IdempotencyKeyReused);
});

test("a key the network does not know is refused as a signature error", async () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  const stranger = new PartnerClient(target, keyFile.keyId, privateKey);
  try {
    await assert.rejects(stranger.getBalance("m-1"), (error: unknown) => {
      assert.ok(error instanceof SignatureInvalid, String(error));
      assert.equal(error.reason, "SIGNATURE_INVALID");
      return true;
    });
  } finally {
    stranger.close();
  }
});

test("retries resend the same bytes, with a fresh signature, and stop after maxAttempts", async () => {
  const attempts: string[] = [];
  // Nothing listens on port 1: every attempt is UNAVAILABLE, which is retryable.
  const unreachable = new PartnerClient("127.0.0.1:1", keyFile.keyId, keyFile.privateKey, {
    maxAttempts: 3, backoffInitialMs: 1, backoffMaxMs: 5, timeoutMs: 2000,
    onAttempt: (_attempt, _method, body) => attempts.push(sha256Hex(body)),
  });
  try {
    await assert.rejects(unreachable.earn("m-1", { points: 5n, requestId: "retry-0001" }), (error: unknown) => {
      assert.ok(error instanceof CoalitionError && error.code === Code.Unavailable, String(error));
      assert.equal(error.retryable, true);
      return true;
    });
  } finally {
    unreachable.close();
  }
  assert.equal(attempts.length, 3);
  assert.equal(new Set(attempts).size, 1, "every attempt sends the same request bytes");
});

test("the transport sends the caller's bytes, not its own serialization of the message", async () => {
  const memberId = (await network.enrollMember()).member!.memberId;
  const given = create(EarnRequestSchema, { requestId: newRequestId(), memberId, basis: { case: "points", value: 1n } });
  const sent = create(EarnRequestSchema, { requestId: newRequestId(), memberId, basis: { case: "points", value: 7n } });
  const body = toBinary(EarnRequestSchema, sent);
  const method = "/coalition.v1.NetworkService/Earn";
  const transport = createExactTransport(`http://${target}`);
  try {
    const header = new Headers(signedHeaderEntries(signRequest(keyFile.privateKey, keyFile.keyId, method, body)));
    const response = await transport.unaryExact(NetworkService.method.earn, given, body, header, 10_000);
    assert.equal(response.message.points, 7n, "the network received (and verified the signature over) the body");
    assert.deepEqual(fromBinary(EarnResponseSchema, response.responseBytes).points, 7n);
    assert.ok(response.trailer.get("x-coalition-signature"), "the receipt is in the trailers");
  } finally {
    transport.close();
  }
  assert.equal((await network.getBalance(memberId)).availablePoints, 7n);
});

test("holds, batch earns and the transaction history", async () => {
  const memberId = (await network.enrollMember()).member!.memberId;
  const batch = await network.batchEarn([
    { memberId, points: 50n, receiptRef: "b-1" },
    { memberId, amountMinor: 2000n, receiptRef: "b-2" },
    { memberId: "no-such-member", points: 5n },
  ]);
  assert.equal(batch.earnedCount, 2);
  assert.equal(batch.refusedCount, 1);
  const refused = batch.results[2].outcome;
  assert.equal(refused.case, "error");
  assert.notEqual(refused.value!.code, 0);

  const hold = await network.authorizeRedemption(memberId, 30n);
  assert.equal((await network.getBalance(memberId)).heldPoints, 30n);
  const captured = await network.captureRedemption(hold.holdId, 20n);
  assert.equal(captured.points, 20n);
  assert.equal(captured.releasedPoints, 10n);
  const other = await network.authorizeRedemption(memberId, 5n);
  assert.equal((await network.voidRedemption(other.holdId)).releasedPoints, 5n);
  assert.equal((await network.getBalance(memberId)).availablePoints, 50n + 20n - 20n);

  const history = [];
  for await (const transaction of network.listTransactions(memberId, 1)) history.push(transaction);
  assert.ok(history.length >= 3, `expected the earns and the capture in the history, got ${history.length}`);
  assert.ok(history.some((t) => t.transactionId === captured.transactionId));
});

test("events: listEvents catches up and watchEvents delivers each new one, signed, in order", async () => {
  const before = [];
  for await (const event of network.listEvents()) before.push(event);
  const last = before.length ? before[before.length - 1].sequence : 0n;
  assert.deepEqual(before.map((e) => e.sequence), before.map((_, i) => BigInt(i + 1)), "numbered 1..n without gaps");
  const memberId = (await network.enrollMember()).member!.memberId;
  const controller = new AbortController();
  const watched = network.watchEvents(last, { signal: controller.signal });
  const earned = await network.earn(memberId, { points: 7n });
  const first = await watched.next();
  controller.abort();
  assert.equal(first.done, false);
  const event = first.value as Awaited<ReturnType<typeof network.verifiedEvent>>;
  assert.equal(event.sequence, last + 1n);
  assert.equal(event.type, "points.earned");
  assert.equal(event.transaction?.transactionId, earned.transactionId);
  assert.equal(event.transaction?.points, 7n);
  assert.equal((await watched.next()).done, true, "the stream ends when its signal aborts");
});

test("campaigns of your own: create, list, pause; another's id is not found", async () => {
  const campaignId = `ts-${newRequestId().slice(0, 12)}`;
  const created = await network.createCampaign(campaignId, { stores: ["s-ts"], fixedPoints: 5n, budgetPoints: 50n });
  assert.deepEqual([created.status, created.stores, created.budgetLeft], ["active", ["s-ts"], 50n]);
  const memberId = (await network.enrollMember()).member!.memberId;
  const earned = await network.earn(memberId, { points: 10n, storeId: "s-ts" });
  const bonus = earned.components.filter((c) => c.kind === "campaign");
  assert.deepEqual(bonus.map((c) => [c.campaignId, c.points]), [[campaignId, 5n]]);
  assert.ok((await network.listCampaigns()).some((c) => c.campaignId === campaignId && c.budgetLeft === 45n));
  assert.equal((await network.updateCampaignStatus(campaignId, "pause")).status, "paused");
  await assert.rejects(network.updateCampaignStatus("ts-nobody-has-this", "end"),
    (e: unknown) => e instanceof CoalitionError && e.reason === "CAMPAIGN_NOT_FOUND");
  await network.updateCampaignStatus(campaignId, "end");
});
