/**
 * The signed partner client for coalition.v1.NetworkService (the TypeScript twin of partners/client.py).
 *
 *   const network = new PartnerClient("127.0.0.1:50051", keyFile.keyId, keyFile.privateKey);
 *   const { member } = await network.enrollMember({ customerRef: "c-1001" });
 *   await network.earn(member!.memberId, { amountMinor: 1250n, receiptRef: "r-77" });
 *   const evidence = network.lastReceipt;   // the network's signature over this exchange
 *
 * How a call goes (one place: `call`):
 * 1. The request message is serialized once (toBinary). Those bytes are signed and sent on every attempt
 *    (see wire.ts for how the transport is made to send exactly them).
 * 2. Each attempt signs afresh (new timestamp and nonce) and has its own deadline (`timeoutMs`).
 * 3. UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED and RESOURCE_EXHAUSTED are retried with exponential backoff
 *    and jitter, `maxAttempts` attempts in all, with the same bytes, hence the same request_id: a retry
 *    after a lost response returns the stored response instead of posting twice. Nothing else is retried,
 *    and no refusal of a message's size (MESSAGE_TOO_LARGE, or a transport's "larger than max").
 * 4. A mutating call's receipt (trailing metadata) is verified over the exact request and response bytes
 *    with the network keys from GetNetworkKeys (fetched once, refetched once for an unknown key id), or
 *    with keys pinned in the options; it is kept in `lastReceipt`. A refused mutating call's refusal receipt
 *    (status code and reason signed) is verified the same way and kept on the thrown error (`error.receipt`).
 * Failures are thrown as errors.ts types.
 */
import { randomUUID, type KeyObject } from "node:crypto";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  AuthorizeRedemptionRequestSchema,
  BatchEarnRequestSchema,
  CaptureRedemptionRequestSchema,
  CreateCampaignRequestSchema,
  ListCampaignsRequestSchema,
  UpdateCampaignStatusRequestSchema,
  type PartnerCampaign,
  EarnRequestSchema,
  EnrollMemberRequestSchema,
  FindMemberRequestSchema,
  GetBalanceRequestSchema,
  GetNetworkKeysRequestSchema,
  EventSchema,
  ListEventsRequestSchema,
  ListTransactionsRequestSchema,
  PreviewEarnRequestSchema,
  type PreviewEarnResponse,
  NetworkService,
  WatchEventsRequestSchema,
  RedeemRequestSchema,
  ReverseRequestSchema,
  VoidRedemptionRequestSchema,
  type AuthorizeRedemptionResponse,
  type BatchEarnResponse,
  type CaptureRedemptionResponse,
  type EarnResponse,
  type EnrollMemberResponse,
  type Event,
  type Heartbeat,
  type SignedEvent,
  type FindMemberResponse,
  type GetBalanceResponse,
  type GetNetworkKeysResponse,
  type RedeemResponse,
  type ReverseResponse,
  type Transaction,
  type VoidRedemptionResponse,
} from "./gen/coalition/v1/network_pb.js";
import { ConnectError } from "@connectrpc/connect";
import {
  Code, CoalitionError, GRPC_CODE_NAMES, ReceiptInvalid, errorFromConnect, type Receipt, type RefusalReceipt,
} from "./errors.js";
import {
  KEY_ID_HEADER, SIGNATURE_HEADER, SignatureError, publicKeyFromRaw, signRequest, signedHeaderEntries, verifyEvent,
  verifyReceipt, verifyRefusalReceipt,
} from "./signing.js";
import { baseUrlFor, createExactTransport, type ExactTransport, type TlsOptions } from "./wire.js";

export interface PartnerClientOptions {
  /** Deadline of each attempt in milliseconds (default 5000). */
  timeoutMs?: number;
  /** Attempts per call, retries included (default 4). */
  maxAttempts?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Check the network's receipt on every mutating response (default true: leave it on). */
  verifyReceipts?: boolean;
  /** key id -> raw 32-byte public key, given out of band: GetNetworkKeys is then never called. */
  networkKeys?: Record<string, Uint8Array>;
  /** TLS (https): a CA bundle, and a client certificate and key for mutual TLS (see wire.ts TlsOptions).
   * Without it the target is called in plaintext unless it is an https:// URL. */
  tls?: TlsOptions;
  /** Called before each attempt with its number and the SHA-256 of the bytes it sends (for logs). */
  onAttempt?: (attempt: number, method: string, body: Uint8Array) => void;
}

/** A fresh idempotency key: 32 lowercase hex characters. */
export function newRequestId(): string {
  return randomUUID().replaceAll("-", "");
}

export interface EarnFields {
  amountMinor?: bigint;
  currency?: string;
  points?: bigint;
  receiptRef?: string;
  storeId?: string;
  terminalId?: string;
  requestId?: string;
  /** The basket's lines, for campaigns on categories or SKUs. */
  basket?: { sku: string; category: string; amountMinor: bigint }[];
}

/** An EarnRequest for a purchase (amountMinor) or a fixed award (points): exactly one of the two. */
export function earnRequest(memberId: string, fields: EarnFields): MessageInitShape<typeof EarnRequestSchema> {
  const { amountMinor, currency, points, requestId, ...refs } = fields;
  if ((amountMinor === undefined) === (points === undefined)) {
    throw new Error("give exactly one of amountMinor (a purchase) or points (a fixed award)");
  }
  const basis = amountMinor !== undefined
    ? { case: "purchase" as const, value: { amountMinor, currency: currency ?? "EUR" } }
    : { case: "points" as const, value: points! };
  return { requestId: requestId ?? newRequestId(), memberId, basis, ...refs };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The member's consent to a spend: their PIN or a one-time code (never both), or none. */
function verification(pin?: string, code?: string) {
  if (pin && code) throw new Error("give the member's PIN or a one-time code, not both");
  if (pin) return { method: { case: "pin" as const, value: pin } };
  if (code) return { method: { case: "code" as const, value: code } };
  return undefined;
}

export class PartnerClient {
  /** The receipt of the last successful mutating call (undefined before the first). */
  lastReceipt: Receipt | undefined;
  private readonly transport: ExactTransport;
  private readonly options: Required<Omit<PartnerClientOptions, "networkKeys" | "onAttempt" | "tls">> & PartnerClientOptions;
  private networkKeys: Map<string, KeyObject> | undefined;
  private readonly refetchedFor = new Set<string>();

  constructor(
    readonly target: string,
    readonly keyId: string,
    private readonly privateKey: KeyObject,
    options: PartnerClientOptions = {},
  ) {
    this.options = {
      timeoutMs: 5000, maxAttempts: 4, backoffInitialMs: 100, backoffMaxMs: 2000, verifyReceipts: true, ...options,
    };
    if (this.options.maxAttempts < 1) throw new Error("maxAttempts must be at least 1");
    this.transport = createExactTransport(baseUrlFor(target, options.tls), { tls: options.tls });
    if (options.networkKeys) {
      this.networkKeys = new Map(Object.entries(options.networkKeys).map(([id, raw]) => [id, publicKeyFromRaw(raw)]));
    }
  }

  close(): void {
    this.transport.close();
  }

  // --- members ---------------------------------------------------------------------------------------

  /** `referrerCard`: the card of the member who referred a new member (referral bonus). The sign-up bonus lines,
   * if any, are in the response's `bonuses`. */
  enrollMember(fields: { customerRef?: string; cardNumber?: string; referrerCard?: string; requestId?: string } = {}): Promise<EnrollMemberResponse> {
    const { requestId, ...rest } = fields;
    return this.call(NetworkService.method.enrollMember, EnrollMemberRequestSchema,
      { requestId: requestId ?? newRequestId(), ...rest }, true);
  }

  findMember(by: { memberId: string } | { cardNumber: string } | { customerRef: string }): Promise<FindMemberResponse> {
    const [[field, value]] = Object.entries(by) as [string, string][];
    const lookup = { case: field, value } as MessageInitShape<typeof FindMemberRequestSchema>["lookup"];
    return this.call(NetworkService.method.findMember, FindMemberRequestSchema, { lookup }, false);
  }

  // --- earning and redeeming ---------------------------------------------------------------------------

  /** Points for a purchase (`amountMinor`, `currency`, default EUR) or a fixed award (`points`): one of the two. */
  earn(memberId: string, fields: EarnFields): Promise<EarnResponse> {
    return this.call(NetworkService.method.earn, EarnRequestSchema, earnRequest(memberId, fields), true);
  }

  /** What an earn would give now (base, tier bonus, each campaign with its funder), writing nothing. */
  previewEarn(memberId: string, fields: Omit<EarnFields, "receiptRef" | "terminalId" | "requestId">): Promise<PreviewEarnResponse> {
    const { basis, storeId, basket } = earnRequest(memberId, fields);
    return this.call(NetworkService.method.previewEarn, PreviewEarnRequestSchema,
      { memberId, basis: basis as MessageInitShape<typeof PreviewEarnRequestSchema>["basis"], storeId, basket }, false);
  }

  /** Up to 1,000 earns; each item keeps its own requestId (a fresh one when not given) and gets its own
   * result: `outcome.case` is "earned" or "error" (a google.rpc.Status). */
  batchEarn(items: (EarnFields & { memberId: string })[], requestId?: string): Promise<BatchEarnResponse> {
    const earns = items.map(({ memberId, ...fields }) => earnRequest(memberId, fields));
    return this.call(NetworkService.method.batchEarn, BatchEarnRequestSchema,
      { requestId: requestId ?? newRequestId(), earns }, true);
  }

  /** Spend the member's points. `pin` (the member's PIN) or `code` (a one-time redemption code from the member
   * portal) is the member's consent, signed with the request; without one only small spends for members enrolled
   * at your own till pass (MEMBER_VERIFICATION_REQUIRED otherwise). */
  redeem(memberId: string, points: bigint, fields: {
    basketMinor?: bigint; currency?: string; receiptRef?: string; storeId?: string; terminalId?: string;
    requestId?: string; pin?: string; code?: string;
  } = {}): Promise<RedeemResponse> {
    const { basketMinor, currency, requestId, pin, code, ...refs } = fields;
    const basket = basketMinor === undefined ? undefined : { amountMinor: basketMinor, currency: currency ?? "EUR" };
    return this.call(NetworkService.method.redeem, RedeemRequestSchema,
      { requestId: requestId ?? newRequestId(), memberId, points, basket, verification: verification(pin, code),
        ...refs }, true);
  }

  /** Place a hold: the points become unavailable but are not spent yet (`pin` or `code` as in redeem). */
  authorizeRedemption(memberId: string, points: bigint, fields: {
    basketMinor?: bigint; currency?: string; receiptRef?: string; storeId?: string; terminalId?: string;
    holdTtlSeconds?: number; requestId?: string; pin?: string; code?: string;
  } = {}): Promise<AuthorizeRedemptionResponse> {
    const { basketMinor, currency, requestId, pin, code, ...rest } = fields;
    const basket = basketMinor === undefined ? undefined : { amountMinor: basketMinor, currency: currency ?? "EUR" };
    return this.call(NetworkService.method.authorizeRedemption, AuthorizeRedemptionRequestSchema,
      { requestId: requestId ?? newRequestId(), memberId, points, basket, verification: verification(pin, code),
        ...rest }, true);
  }

  /** Spend at most the held points (0: all of them); the rest of the hold is released. */
  captureRedemption(holdId: string, points = 0n, requestId?: string): Promise<CaptureRedemptionResponse> {
    return this.call(NetworkService.method.captureRedemption, CaptureRedemptionRequestSchema,
      { requestId: requestId ?? newRequestId(), holdId, points }, true);
  }

  voidRedemption(holdId: string, requestId?: string): Promise<VoidRedemptionResponse> {
    return this.call(NetworkService.method.voidRedemption, VoidRedemptionRequestSchema,
      { requestId: requestId ?? newRequestId(), holdId }, true);
  }

  // memberId: the transaction's member; the network then finds it on one database node instead of asking every one.
  reverse(
    transactionId: string,
    fields: { points?: bigint; reason?: string; requestId?: string; memberId?: string } = {},
  ): Promise<ReverseResponse> {
    const { requestId, ...rest } = fields;
    return this.call(NetworkService.method.reverse, ReverseRequestSchema,
      { requestId: requestId ?? newRequestId(), transactionId, ...rest }, true);
  }

  // --- reading ---------------------------------------------------------------------------------------

  getBalance(memberId: string): Promise<GetBalanceResponse> {
    return this.call(NetworkService.method.getBalance, GetBalanceRequestSchema, { memberId }, false);
  }

  /** Every transaction of the partner (optionally of one member), newest first, across all pages. */
  async *listTransactions(memberId = "", pageSize = 50): AsyncGenerator<Transaction> {
    const seen = new Set<string>();
    let pageToken = "";
    do {
      const page = await this.call(NetworkService.method.listTransactions, ListTransactionsRequestSchema,
        { memberId, pageSize, pageToken }, false);
      yield* page.transactions;
      pageToken = page.nextPageToken;
      if (seen.has(pageToken)) throw new CoalitionError(Code.Internal, "the network returned a page token twice", "PAGE_TOKEN_REPEATED");
      seen.add(pageToken);
    } while (pageToken);
  }

  // --- events (SIGNING.md 3.2) -----------------------------------------------------------------------

  /** The Event inside `signed`, once the network's signature over its exact bytes holds (SignatureError
   * EVENT_SIGNATURE_INVALID when it does not). */
  async verifiedEvent(signed: SignedEvent): Promise<Event> {
    verifyEvent(signed.event, signed.signature, signed.networkKeyId, await this.networkKey(signed.networkKeyId));
    return fromBinary(EventSchema, signed.event);
  }

  /** The partner's events after `afterSequence` up to the latest, oldest first, each signature checked. */
  async *listEvents(afterSequence = 0n, pageSize = 100): AsyncGenerator<Event> {
    let pageToken = "";
    do {
      const page = await this.call(NetworkService.method.listEvents, ListEventsRequestSchema,
        { afterSequence, pageSize, pageToken }, false);
      for (const signed of page.events) yield await this.verifiedEvent(signed);
      if (page.nextPageToken && page.nextPageToken === pageToken) {
        throw new CoalitionError(Code.Internal, "the network returned a page token twice", "PAGE_TOKEN_REPEATED");
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  /**
   * The partner's events after `afterSequence`, then each one as the network commits it, until `signal` aborts
   * (or the caller stops iterating). Each signature is checked; an event at or before the last one yielded is
   * skipped (delivery is at least once), a gap throws EVENT_SEQUENCE_GAP. A broken stream (UNAVAILABLE: the
   * network restarting) is reopened after the last event yielded, with backoff, up to `maxAttempts` times in a
   * row. With `heartbeats`, heartbeats are yielded too. Keep the last sequence processed to resume later.
   */
  async *watchEvents(afterSequence = 0n, options: { heartbeats?: boolean; signal?: AbortSignal } = {}):
    AsyncGenerator<Event | Heartbeat> {
    const method = NetworkService.method.watchEvents;
    const fullMethod = `/${method.parent.typeName}/${method.name}`;
    const local = new AbortController();
    const stop = () => local.abort();
    options.signal?.addEventListener("abort", stop);
    let last = afterSequence;
    let failures = 0;
    try {
      while (!local.signal.aborted) {
        const message = create(WatchEventsRequestSchema, { afterSequence: last });
        const body = toBinary(WatchEventsRequestSchema, message);
        const header = new Headers(signedHeaderEntries(signRequest(this.privateKey, this.keyId, fullMethod, body)));
        try {
          const stream = await this.transport.serverStreamExact(method, message, body, header, local.signal);
          for await (const item of stream) {
            failures = 0;
            if (item.item.case === "heartbeat") {
              if (options.heartbeats) yield item.item.value;
              continue;
            }
            if (item.item.case !== "event") continue;
            const event = await this.verifiedEvent(item.item.value);
            if (event.sequence <= last) continue;
            if (event.sequence !== last + 1n) {
              throw new CoalitionError(Code.Internal, `event ${last + 1n} missing: got ${event.sequence}`, "EVENT_SEQUENCE_GAP");
            }
            last = event.sequence;
            yield event;
          }
        } catch (thrown) {
          if (local.signal.aborted) return; // the caller's signal ended the stream
          if (thrown instanceof CoalitionError || thrown instanceof SignatureError) throw thrown;
          const error = errorFromConnect(thrown);
          if (!error.retryable || ++failures >= this.options.maxAttempts) throw error;
          await sleep(this.backoffMs(failures, error));
        }
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
      local.abort();
    }
  }

  /** Not signed, not authenticated: fetch it over TLS, or pin the keys (`networkKeys`). */
  getNetworkKeys(): Promise<GetNetworkKeysResponse> {
    return this.call(NetworkService.method.getNetworkKeys, GetNetworkKeysRequestSchema, {}, false, false);
  }

  // --- your own campaigns ----------------------------------------------------------------------------

  /** A bonus campaign of your own (docs/programme.md): it rewards earns at your stores only (`stores`, or all of
   * yours) and you fund it alone. Amounts as bigint; 0 (or absent) means none. */
  async createCampaign(campaignId: string, fields: {
    name?: string; stores?: string[]; multiplierBps?: bigint; fixedPoints?: bigint; capPoints?: bigint;
    capPeriod?: string; budgetPoints?: bigint; minBasketMinor?: bigint; weekdays?: number[]; requestId?: string;
  } = {}): Promise<PartnerCampaign> {
    const { requestId, name, ...rest } = fields;
    const response = await this.call(NetworkService.method.createCampaign, CreateCampaignRequestSchema,
      { requestId: requestId ?? newRequestId(), campaignId, name: name ?? campaignId, ...rest }, true);
    return response.campaign!;
  }

  /** Your own campaigns, newest first, with their budget burn. */
  async listCampaigns(): Promise<PartnerCampaign[]> {
    return (await this.call(NetworkService.method.listCampaigns, ListCampaignsRequestSchema, {}, false)).campaigns;
  }

  /** Pause, resume or end one of your campaigns (any other id: CAMPAIGN_NOT_FOUND). */
  async updateCampaignStatus(campaignId: string, action: "pause" | "resume" | "end",
                             requestId?: string): Promise<PartnerCampaign> {
    const response = await this.call(NetworkService.method.updateCampaignStatus, UpdateCampaignStatusRequestSchema,
      { requestId: requestId ?? newRequestId(), campaignId, action }, true);
    return response.campaign!;
  }

  // --- the one call path -------------------------------------------------------------------------------

  private async call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    schema: I,
    init: MessageInitShape<I>,
    mutating: boolean,
    signed = true,
  ): Promise<MessageShape<O>> {
    const fullMethod = `/${method.parent.typeName}/${method.name}`;
    const message = create(schema, init);
    const body = toBinary(schema, message); // once: signed and sent as is on every attempt
    for (let attempt = 1; ; attempt++) {
      const header = new Headers(signed ? signedHeaderEntries(signRequest(this.privateKey, this.keyId, fullMethod, body)) : []);
      this.options.onAttempt?.(attempt, fullMethod, body);
      let response;
      try {
        response = await this.transport.unaryExact(method, message, body, header, this.options.timeoutMs);
      } catch (thrown) {
        const error = errorFromConnect(thrown);
        if (!error.retryable || attempt >= this.options.maxAttempts) {
          if (mutating) await this.attachRefusalReceipt(error, thrown, fullMethod, body);
          throw error;
        }
        await sleep(this.backoffMs(attempt, error));
        continue;
      }
      if (mutating) this.lastReceipt = await this.checkedReceipt(fullMethod, body, response.responseBytes, response.trailer);
      return response.message;
    }
  }

  /** Exponential backoff with jitter: uniform in [cap/2, cap], cap = initial * 2^(attempt-1) <= max;
   * a RetryInfo delay from the network raises the wait, within the maximum. */
  private backoffMs(attempt: number, error: CoalitionError): number {
    const cap = Math.min(this.options.backoffMaxMs, this.options.backoffInitialMs * 2 ** (attempt - 1));
    const delay = cap / 2 + Math.random() * (cap / 2);
    return error.retryDelayMs === undefined ? delay : Math.max(delay, Math.min(error.retryDelayMs, this.options.backoffMaxMs));
  }

  private async checkedReceipt(method: string, requestBytes: Uint8Array, responseBytes: Uint8Array, trailer: Headers): Promise<Receipt> {
    const receipt: Receipt = {
      method, requestBytes, responseBytes,
      keyId: trailer.get(KEY_ID_HEADER) ?? "",
      signature: trailer.get(SIGNATURE_HEADER) ?? "",
    };
    if (!this.options.verifyReceipts) return receipt;
    try {
      await verifyReceipt(trailer, method, requestBytes, responseBytes, (keyId) => this.networkKey(keyId));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new ReceiptInvalid(`${method}: ${why} (the call may have been executed: retry with the same ` +
        "request_id to get the stored response)", receipt);
    }
    return receipt;
  }

  /**
   * Keep a refused mutating call's refusal receipt (SIGNING.md 3.1) on `error.receipt`, verified. None in the
   * trailers (a failure before the network answered): the error is thrown as it is. One that does not verify:
   * ReceiptInvalid (with the untrusted refusal as `refusal`). Network keys that cannot be fetched: the refusal
   * is thrown without a receipt rather than hidden behind that second failure.
   */
  private async attachRefusalReceipt(error: CoalitionError, thrown: unknown, method: string, requestBytes: Uint8Array): Promise<void> {
    const trailer = thrown instanceof CoalitionError ? new Headers() : ConnectError.from(thrown).metadata;
    if (!trailer.has(KEY_ID_HEADER) && !trailer.has(SIGNATURE_HEADER)) return;
    const receipt: RefusalReceipt = {
      method, requestBytes, code: GRPC_CODE_NAMES[error.code], reason: error.reason,
      keyId: trailer.get(KEY_ID_HEADER) ?? "", signature: trailer.get(SIGNATURE_HEADER) ?? "",
    };
    if (this.options.verifyReceipts) {
      try {
        await verifyRefusalReceipt(trailer, method, requestBytes, receipt.code, receipt.reason, (keyId) => this.networkKey(keyId));
      } catch (failure) {
        if (failure instanceof SignatureError) {
          throw new ReceiptInvalid(`${method}: refused with ${receipt.code} ${receipt.reason}, but the refusal receipt ` +
            `does not hold (${failure.message}): do not trust this refusal`, receipt, error);
        }
        return; // the network keys could not be fetched: the refusal stands, without evidence
      }
    }
    error.receipt = receipt;
  }

  /** The network's active key `keyId`: fetched once, refetched once for a key id not yet known. */
  async networkKey(keyId: string): Promise<KeyObject> {
    if (this.networkKeys === undefined) this.networkKeys = await this.fetchNetworkKeys();
    let key = this.networkKeys.get(keyId);
    if (key === undefined && !this.options.networkKeys && !this.refetchedFor.has(keyId)) {
      this.refetchedFor.add(keyId);
      this.networkKeys = await this.fetchNetworkKeys();
      key = this.networkKeys.get(keyId);
    }
    if (key === undefined) throw new SignatureError("RECEIPT_INVALID", `receipt signed by unknown or inactive network key ${JSON.stringify(keyId)}`);
    return key;
  }

  private async fetchNetworkKeys(): Promise<Map<string, KeyObject>> {
    const keys = new Map<string, KeyObject>();
    for (const key of (await this.getNetworkKeys()).keys) {
      if (key.active && key.publicKey.length === 32) keys.set(key.keyId, publicKeyFromRaw(key.publicKey));
    }
    return keys;
  }
}
