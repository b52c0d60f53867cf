"""NetworkService over gRPC: validate at the edge, run one ledger operation in one transaction, map to the wire.

No rule is decided here: the ledger (network.store.ledger, with network.core's rules) decides, this module
translates requests to domain calls and results to responses.

Idempotency: a mutating call first claims (partner, request_id) in the same transaction as its writes. A
retry finds the claim and gets the stored response bytes (so the receipt is identical too); the same key
with another body is refused; a refused call rolls back its claim with everything else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Sequence

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, Engine

from network import errors, validation, webhooks
from network.core import webhooks as webhook_rules
from network.core.campaigns import BasketLine
from network.core.ledger import money_for_points
from network.core.results import EarnItem, EarnResult, SpendRefs, TransactionView
from network.error_status import status_for
from network.errors import DomainError, key_reused
from network.event_feed import EventWakeups
from network.group_commit import GroupCommit
from network.interceptor import current_caller
from network.keys import Caller, key_status_refusal
from network.signer import NetworkSigner
from network.store import events as outbox
from network.store.activation import created_card, issue_activation_code
from network.store.earn import BatchClaim, EarnCall, EarnCommitter, Outcome, autocommit_connection
from network.store.idempotency import claim, store, stored_body_hash
from network.store import consent
from network.store.consent import ConsentPolicy, SpendGuard, Verification
from network.store.ledger import Ledger, parse_uuid
from network.store import webhooks as webhook_store
from network.store import campaigns as campaign_store
from network.store.traffic import TrafficRow, traffic
from protos.coalition.v1 import network_pb2 as pb
from protos.coalition.v1 import network_pb2_grpc

SERVICE = "/coalition.v1.NetworkService/"
MUTATING = frozenset(SERVICE + m for m in ("EnrollMember", "Earn", "BatchEarn", "Redeem", "AuthorizeRedemption",
                                          "CaptureRedemption", "VoidRedemption", "Reverse", "CreateWebhookEndpoint",
                                          "UpdateWebhookEndpoint", "DeleteWebhookEndpoint", "ReplayWebhookEvents",
                                          "CreateCampaign", "UpdateCampaignStatus"))
SPEND_REFUSALS = frozenset({"MEMBER_VERIFICATION_REQUIRED", "MEMBER_VERIFICATION_FAILED", "MEMBER_LOCKED",
                            "CARD_FROZEN", "MEMBER_FROZEN", "VELOCITY_LIMIT"})
PUBLIC = frozenset({SERVICE + "GetNetworkKeys"})
# calls that check key and partner status again inside their write transaction (so may use the key cache)
RECHECKED = frozenset({SERVICE + "Earn", SERVICE + "BatchEarn"})
DEFAULT_PAGE_SIZE = 50  # ListTransactions' and GetTrafficReport's page_size 0
MAX_REPORT_DAYS = 92
MAX_PAGE_SIZE = validation.MAX_PAGE_SIZE  # ListEvents; WatchEvents reads pages of this size
LOT_STATES = {"pending": pb.LOT_STATE_PENDING, "active": pb.LOT_STATE_ACTIVE, "expired": pb.LOT_STATE_EXPIRED,
              "reversed": pb.LOT_STATE_REVERSED}
KINDS = {"earn": pb.TRANSACTION_KIND_EARN, "redeem": pb.TRANSACTION_KIND_REDEEM, "hold": pb.TRANSACTION_KIND_HOLD,
         "capture": pb.TRANSACTION_KIND_CAPTURE, "void": pb.TRANSACTION_KIND_VOID,
         "reverse": pb.TRANSACTION_KIND_REVERSE, "expire": pb.TRANSACTION_KIND_EXPIRE,
         "adjust": pb.TRANSACTION_KIND_ADJUST, "transfer": pb.TRANSACTION_KIND_TRANSFER}


# --- edge validation: network.validation checks every field against its kind ---------------------------------

def basket_lines(req, prefix: str = "") -> tuple[BasketLine, ...]:
    """The basket's lines, each field checked against BasketLine's kinds (path basket[i].field)."""
    for i, line in enumerate(req.basket):
        validation.validate(line, f"{prefix}basket[{i}].")
    return tuple(BasketLine(line.sku, line.category, line.amount_minor) for line in req.basket)


def validate_earn(req: pb.EarnRequest, prefix: str = "") -> EarnItem:
    validation.validate(req, prefix)
    basis = req.WhichOneof("basis")
    if basis is None:
        raise errors.invalid(prefix + "basis", "give either purchase or points")
    lines = basket_lines(req, prefix)
    if basis == "points":
        return EarnItem(req.request_id, req.member_id, None, None, req.points, req.receipt_ref, req.store_id,
                        req.terminal_id, lines)
    return EarnItem(req.request_id, req.member_id, req.purchase.amount_minor, req.purchase.currency, None,
                    req.receipt_ref, req.store_id, req.terminal_id, lines)


def validate_preview(req: pb.PreviewEarnRequest) -> EarnItem:
    validation.validate(req)
    basis = req.WhichOneof("basis")
    if basis is None:
        raise errors.invalid("basis", "give either purchase or points")
    lines = basket_lines(req)
    if basis == "points":
        return EarnItem("", req.member_id, None, None, req.points, store_id=req.store_id, lines=lines)
    return EarnItem("", req.member_id, req.purchase.amount_minor, req.purchase.currency, None,
                    store_id=req.store_id, lines=lines)


def components_message(parts) -> list[pb.EarnComponent]:
    return [pb.EarnComponent(kind=c.kind, campaign_id=c.campaign_id, funder_id=c.funder, points=c.points)
            for c in parts]


def tier_message(progress) -> pb.TierProgress:
    return pb.TierProgress(tier=progress.tier, qualifying_points=progress.qualifying_points,
                           next_tier=progress.next_tier, points_to_next_tier=progress.points_to_next)


def spend_refs(req) -> SpendRefs:
    if req.HasField("basket"):
        return SpendRefs(req.receipt_ref, req.store_id, req.terminal_id, req.basket.amount_minor, req.basket.currency)
    return SpendRefs(req.receipt_ref, req.store_id, req.terminal_id)


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def body_hash(message: Message) -> bytes:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).digest()


def page_token(view: TransactionView) -> str:
    return base64.urlsafe_b64encode(f"{view.created_at.isoformat()}|{view.transaction_id}".encode()).decode()


def parse_page_token(token: str) -> tuple[datetime, uuid.UUID] | None:
    if not token:
        return None
    try:
        created, tx = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(tx)
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid("page_token", "is not a token this service issued") from None


def event_token(after_sequence: int) -> str:
    return base64.urlsafe_b64encode(f"events|{after_sequence}".encode()).decode()


def parse_event_token(token: str) -> int:
    try:
        tag, after = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        if tag != "events" or not after.isdigit():
            raise ValueError(token)
        return int(after)
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid("page_token", "is not a token this service issued") from None


def report_range(start_date: str, end_date: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the inclusive day range start_date..end_date (1 to MAX_REPORT_DAYS days)."""
    first, last = date.fromisoformat(start_date), date.fromisoformat(end_date)  # kind: date, validated
    if last < first:
        raise errors.invalid("end_date", "must not be before start_date")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise errors.invalid("end_date", f"the range covers at most {MAX_REPORT_DAYS} days")
    return (datetime.combine(first, time(), timezone.utc),
            datetime.combine(last + timedelta(days=1), time(), timezone.utc))


def traffic_page_token(row: TrafficRow) -> str:
    return base64.urlsafe_b64encode(f"{row.day.isoformat()}|{row.store_id}".encode()).decode()


def parse_traffic_page_token(token: str) -> tuple[date, str] | None:
    if not token:
        return None
    try:
        day, store_id = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
        return date.fromisoformat(day), store_id
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid("page_token", "is not a token this service issued") from None


def transaction_message(v: TransactionView) -> pb.Transaction:
    tx = pb.Transaction(transaction_id=v.transaction_id,
                        kind=KINDS[v.kind], member_id=v.member_id, points=v.points, receipt_ref=v.receipt_ref,
                        store_id=v.store_id, terminal_id=v.terminal_id, request_id=v.request_id,
                        related_id=v.related_id, created_at=timestamp(v.created_at))
    if v.amount_minor is not None:
        tx.purchase.CopyFrom(pb.Money(amount_minor=v.amount_minor, currency=v.currency or ""))
    return tx


def event_message(event: outbox.StoredEvent) -> pb.Event:
    message = pb.Event(partner_id=event.partner_id, sequence=event.seq, type=event.type,
                       occurred_at=timestamp(event.occurred_at), subject=event.subject)
    if event.transaction is not None:
        message.transaction.CopyFrom(transaction_message(event.transaction))
    if event.detail:
        message.detail_json = json.dumps(event.detail, sort_keys=True, separators=(",", ":"))
    return message


def partner_campaign_message(own: campaign_store.OwnCampaign) -> pb.PartnerCampaign:
    c = own.campaign
    return pb.PartnerCampaign(campaign_id=c.campaign_id, name=c.name, status=own.status, stores=c.conditions.stores,
                              multiplier_bps=c.effects.multiplier_bps, fixed_points=c.effects.fixed_points,
                              cap_points=c.effects.cap_points or 0, cap_period=c.effects.cap_period,
                              budget_points=c.budget_points or 0, budget_left=own.budget_left or 0,
                              awarded_points=own.awarded_points, min_basket_minor=c.conditions.min_basket_minor or 0,
                              weekdays=c.conditions.weekdays)


def webhook_endpoint_message(endpoint: webhook_store.Endpoint) -> pb.WebhookEndpoint:
    return pb.WebhookEndpoint(endpoint_id=endpoint.endpoint_id, url=endpoint.url, event_types=endpoint.event_types,
                              enabled=endpoint.enabled, disabled_reason=endpoint.disabled_reason or "",
                              delivered_through_sequence=endpoint.delivered_through,
                              created_at=timestamp(endpoint.created_at), updated_at=timestamp(endpoint.updated_at))


def webhook_delivery_message(delivery: webhook_store.Delivery) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(endpoint_id=delivery.endpoint_id, sequence=delivery.seq,
                              webhook_id=webhook_rules.webhook_id(delivery.partner_id, delivery.seq),
                              attempt=delivery.attempt, replay=delivery.replay, delivered=delivery.delivered,
                              status_code=delivery.status_code or 0, error=delivery.error or "",
                              latency_ms=delivery.latency_ms, attempted_at=timestamp(delivery.attempted_at))


def earn_response(result: EarnResult) -> pb.EarnResponse:
    return pb.EarnResponse(transaction_id=result.transaction_id, points=result.points, state=LOT_STATES[result.state],
                           available_at=timestamp(result.available_at), expires_at=timestamp(result.expires_at),
                           components=components_message(result.components), total_points=result.total_points,
                           tier=result.tier)


_EARN_TAILS: dict[tuple, bytes] = {}  # (points, state, available_at, expires_at, components, tier) -> fields 2..
_EARN_TAILS_MAX = 4096


def earn_response_bytes(result: EarnResult) -> bytes:
    """earn_response(result).SerializeToString(), built as the transaction id's field followed by the other
    fields' bytes, which the earns of one group commit mostly share (one partner's lots share their instants, and
    the earns of one amount their lines): protobuf writes fields in number order, so the two pieces put together
    are the same bytes. The tail is keyed by everything it holds (total_points follows from points and
    components)."""
    key = (result.points, result.state, result.available_at, result.expires_at, result.components, result.tier)
    tail = _EARN_TAILS.get(key)
    if tail is None:
        if len(_EARN_TAILS) >= _EARN_TAILS_MAX:
            _EARN_TAILS.clear()
        # proto3 leaves an empty transaction id out: the bytes of every field after it
        tail = _EARN_TAILS[key] = earn_response(dataclasses.replace(result, transaction_id="")).SerializeToString()
    return pb.EarnResponse(transaction_id=result.transaction_id).SerializeToString() + tail


def _varint(value: int) -> bytes:
    """A non-negative int as a protobuf varint: seven bits a byte, low first, the high bit set on all but the last."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(tag: bytes, body: bytes) -> bytes:
    return tag + _varint(len(body)) + body


_RESULTS, _REQUEST_ID, _EARNED = b"\x0a", b"\x0a", b"\x12"  # BatchEarnResponse.results = 1; BatchEarnResult 1, 2


def batch_earn_response_bytes(request_ids: Sequence[str], outcomes: Sequence[Outcome]) -> bytes:
    """The BatchEarnResponse of these items, serialized: the bytes protobuf writes for it (fields in number order,
    an empty string left out), put together from each earned item's stored EarnResponse bytes instead of parsing
    them back into messages first. A refusal's Status is built as a message (refusals are rare)."""
    parts = []
    earned = 0
    for request_id, outcome in zip(request_ids, outcomes):
        if outcome.refusal is not None:
            entry = pb.BatchEarnResult(request_id=request_id, error=status_for(outcome.refusal)).SerializeToString()
        else:
            entry = (_length_delimited(_REQUEST_ID, request_id.encode()) if request_id else b"") + \
                _length_delimited(_EARNED, outcome.response)
            earned += 1
        parts.append(_length_delimited(_RESULTS, entry))
    parts.append(pb.BatchEarnResponse(earned_count=earned, refused_count=len(outcomes) - earned).SerializeToString())
    return b"".join(parts)


def run_mutation(engine: Engine, method: str, request: Message,
                 operation: Callable[[Connection, str], Message], *, retention_seconds: int) -> bytes:
    """Run a mutating call once per (caller, request_id): claim the key, operate, store the response bytes."""
    partner_id = current_caller().partner_id
    with engine.begin() as conn:
        stored = claim(conn, partner_id, method, request.request_id, body_hash(request), retention_seconds)
        if stored is not None:
            return stored
        response = operation(conn, partner_id).SerializeToString()
        store(conn, partner_id, request.request_id, response)
        return response


class NetworkServicer(network_pb2_grpc.NetworkServiceServicer):
    def __init__(self, engine: Engine, ledger: Ledger, network_keys: Callable[[], list[pb.NetworkKey]],
                 *, earned: Callable[[int], None] | None = None,
                 group_linger_seconds: float = 0.002, commit_timeout_seconds: float = 30.0,
                 signer: NetworkSigner, wakeups: EventWakeups | None = None,
                 event_poll_seconds: float = 5.0, event_heartbeat_seconds: float = 15.0,
                 activation_code_ttl: timedelta = timedelta(days=30),
                 consent_policy: ConsentPolicy | None = None, spend_refused: Callable[[str], None] | None = None,
                 webhook_allow_http_localhost: bool = False, outbox_enabled: bool = True):
        """`earned(n)` is told how many earn transactions each earn commit wrote (for metrics). `signer` signs
        events (ListEvents, WatchEvents); `wakeups` wakes WatchEvents streams (without: they poll)."""
        self._engine = engine
        self._signer = signer
        self._wakeups = wakeups
        self._event_poll_seconds = event_poll_seconds
        self._event_heartbeat_seconds = event_heartbeat_seconds
        self._activation_code_ttl = activation_code_ttl
        self._webhook_allow_http_localhost = webhook_allow_http_localhost
        self._ledger = ledger
        self._consent_policy = consent_policy or ConsentPolicy()
        self._spend_refused = spend_refused  # told the reason of each consent, freeze or velocity refusal (metrics)
        self._network_keys = network_keys
        self._commit_timeout_seconds = commit_timeout_seconds
        self._earns = EarnCommitter(
            ledger, earn_response_bytes, committed=earned, outbox=outbox_enabled)
        self._group_commit = GroupCommit(
            engine, lambda connection, calls: self._earns.post(connection, calls, lock_early=True)[0],
            linger_seconds=group_linger_seconds)

    def close(self) -> None:
        self._group_commit.close()

    def _mutate(self, method: str, request: Message, operation: Callable[[Connection, str], Message]) -> bytes:
        return run_mutation(self._engine, method, request, operation,
                            retention_seconds=self._ledger.idempotency_retention_seconds)

    def _read(self, operation: Callable[[Connection, str], Message]) -> Message:
        with self._engine.connect() as conn:
            return operation(conn, current_caller().partner_id)

    # --- members -------------------------------------------------------------------------------------------

    def EnrollMember(self, request: pb.EnrollMemberRequest, context) -> bytes:
        validation.validate(request)

        def enroll(conn: Connection, partner_id: str) -> pb.EnrollMemberResponse:
            view, created = self._ledger.enroll_member(conn, partner_id, request.customer_ref, request.card_number)
            # only the partner that created the card gets its activation code: another brand that the card joins
            # (or anyone who knows the number) must not be able to link it to an account of their own
            member_id = uuid.UUID(view.member_id)
            code = (issue_activation_code(conn, member_id, self._ledger.clock(), self._activation_code_ttl)
                    if created and created_card(conn, member_id, partner_id) else "")
            bonuses = self._ledger.welcome(conn, partner_id, view.member_id, request.referrer_card) if created else []
            return pb.EnrollMemberResponse(member=self._member(view), created=created, activation_code=code,
                                           bonuses=components_message(bonuses))
        return self._mutate("EnrollMember", request, enroll)

    @staticmethod
    def _member(view) -> pb.Member:
        return pb.Member(member_id=view.member_id, card_number=view.card_number, customer_ref=view.customer_ref,
                         enrolled_at=timestamp(view.enrolled_at))

    def FindMember(self, request: pb.FindMemberRequest, context) -> pb.FindMemberResponse:
        lookup = request.WhichOneof("lookup")
        if lookup is None:
            raise errors.invalid("lookup", "give member_id, card_number or customer_ref")
        validation.validate(request)
        def find(conn: Connection, partner_id: str) -> pb.FindMemberResponse:
            view = self._ledger.find_member(conn, partner_id, **{lookup: getattr(request, lookup)})
            return pb.FindMemberResponse(member=self._member(view),
                                         tier=tier_message(self._ledger.tier_progress(conn, view.member_id)))
        return self._read(find)

    # --- earn ----------------------------------------------------------------------------------------------

    async def Earn(self, request: pb.EarnRequest, context) -> bytes:
        """A coroutine on the server's event loop: it waits for its group commit without holding a thread."""
        item = validate_earn(request)
        caller = current_caller()
        outcome = await self._group_commit.submit(caller.partner_id, item.request_id,
                                                   EarnCall(caller, item, body_hash(request)),
                                                   timeout=self._commit_timeout_seconds)
        if not isinstance(outcome, Outcome):  # ("duplicate-in-batch", leader's Outcome): a retry that raced its
            # original inside one batch (GroupCommit)
            _, leader = outcome
            if not leader.refused and await asyncio.get_running_loop().run_in_executor(
                    None, stored_body_hash, self._engine, caller.partner_id, item.request_id,
                    self._ledger.idempotency_retention_seconds) == body_hash(request):
                return leader.response
            raise key_reused(item.request_id)
        if outcome.refusal is not None:
            raise outcome.refusal
        return outcome.response

    def BatchEarn(self, request: pb.BatchEarnRequest, context) -> bytes:
        validation.validate(request)  # the batch's own fields; each item is checked on its own below
        caller = current_caller()
        outcomes: list[Outcome | None] = [None] * len(request.earns)
        valid: list[int] = []
        calls: list[EarnCall] = []
        seen: set[str] = set()
        for i, earn in enumerate(request.earns):
            try:
                item = validate_earn(earn, prefix=f"earns[{i}].")
                if item.request_id in seen:
                    raise errors.invalid(f"earns[{i}].request_id", "appears twice in this batch")
                if item.request_id == request.request_id:
                    raise errors.invalid(f"earns[{i}].request_id", "must differ from the batch's own request_id")
                seen.add(item.request_id)
                valid.append(i)
                calls.append(EarnCall(caller, item, body_hash(earn)))
            except DomainError as exc:
                outcomes[i] = Outcome(refusal=exc)

        def respond(posted: list[Outcome]) -> bytes:
            for i, outcome in zip(valid, posted):
                outcomes[i] = outcome
            return batch_earn_response_bytes([earn.request_id for earn in request.earns], outcomes)

        claim = BatchClaim(caller.partner_id, request.request_id, body_hash(request), respond)
        with autocommit_connection(self._engine) as dbapi:
            _, response = self._earns.post(dbapi, calls, claim)
        return response

    def PreviewEarn(self, request: pb.PreviewEarnRequest, context) -> pb.PreviewEarnResponse:
        """Earn's evaluation (network.store.earn_plan.plan_earns) for the caller, nothing written or claimed."""
        item = validate_preview(request)

        def preview(conn: Connection, partner_id: str) -> pb.PreviewEarnResponse:
            result = self._ledger.preview_earn(conn, partner_id, item)
            return pb.PreviewEarnResponse(points=result.points, components=components_message(result.components),
                                          total_points=result.total_points, tier=result.tier)
        return self._read(preview)

    # --- spending ------------------------------------------------------------------------------------------

    def _spend(self, method: str, request, operation: Callable[[Connection, str, SpendGuard], Message]) -> bytes:
        """A spend with the member's consent (network.store.consent): the PIN or code is verified before the
        transaction (a failure is recorded on its own and refused), the guard runs inside it under the member's
        lock. A request already answered is replayed without verifying again. Consent refusals are counted."""
        try:
            partner_id = current_caller().partner_id
            verification = Verification(request.verification.pin, request.verification.code)
            checked = False  # a request already answered is replayed by the claim; otherwise the guard refuses it
            if verification.given and stored_body_hash(self._engine, partner_id, request.request_id,
                                                       self._ledger.idempotency_retention_seconds) != body_hash(request):
                consent.verify(self._engine, parse_uuid(request.member_id, "member_id"), verification, request.points,
                               self._ledger.clock(), self._consent_policy, partner_id)
                checked = True
            guard = SpendGuard(partner_id, verification, self._consent_policy,
                               pin_verified=checked and bool(verification.pin))
            return self._mutate(method, request, lambda conn, caller: operation(conn, caller, guard))
        except DomainError as exc:
            if exc.reason in SPEND_REFUSALS and self._spend_refused is not None:
                self._spend_refused(exc.reason)
            raise

    def Redeem(self, request: pb.RedeemRequest, context) -> bytes:
        validation.validate(request)
        refs = spend_refs(request)

        def redeem(conn: Connection, partner_id: str, guard: SpendGuard) -> pb.RedeemResponse:
            result = self._ledger.redeem(conn, partner_id, request.member_id, request.points, refs, request.request_id,
                                         guard)
            return pb.RedeemResponse(transaction_id=result.transaction_id, points=result.points,
                                     value=pb.Money(amount_minor=result.value_minor, currency=result.currency))
        return self._spend("Redeem", request, redeem)

    def AuthorizeRedemption(self, request: pb.AuthorizeRedemptionRequest, context) -> bytes:
        validation.validate(request)
        refs = spend_refs(request)

        def authorize(conn: Connection, partner_id: str, guard: SpendGuard) -> pb.AuthorizeRedemptionResponse:
            result = self._ledger.authorize(conn, partner_id, request.member_id, request.points, refs,
                                            request.hold_ttl_seconds, request.request_id, guard)
            return pb.AuthorizeRedemptionResponse(hold_id=result.hold_id, points=result.points,
                                                  expires_at=timestamp(result.expires_at))
        return self._spend("AuthorizeRedemption", request, authorize)

    def CaptureRedemption(self, request: pb.CaptureRedemptionRequest, context) -> bytes:
        validation.validate(request)

        def capture(conn: Connection, partner_id: str) -> pb.CaptureRedemptionResponse:
            result = self._ledger.capture(conn, partner_id, request.hold_id, request.points, request.request_id)
            return pb.CaptureRedemptionResponse(transaction_id=result.transaction_id, points=result.points,
                                                released_points=result.released_points,
                                                value=pb.Money(amount_minor=result.value_minor, currency=result.currency))
        return self._mutate("CaptureRedemption", request, capture)

    def VoidRedemption(self, request: pb.VoidRedemptionRequest, context) -> bytes:
        validation.validate(request)

        def void(conn: Connection, partner_id: str) -> pb.VoidRedemptionResponse:
            result = self._ledger.void(conn, partner_id, request.hold_id, request.request_id)
            return pb.VoidRedemptionResponse(transaction_id=result.transaction_id,
                                             released_points=result.released_points)
        return self._mutate("VoidRedemption", request, void)

    def Reverse(self, request: pb.ReverseRequest, context) -> bytes:
        validation.validate(request)

        def reverse(conn: Connection, partner_id: str) -> pb.ReverseResponse:
            result = self._ledger.reverse(conn, partner_id, request.transaction_id, request.points, request.reason,
                                          request.request_id, member_id=request.member_id)
            return pb.ReverseResponse(transaction_id=result.transaction_id, points=result.points,
                                      remaining_reversible_points=result.remaining_reversible_points)
        return self._mutate("Reverse", request, reverse)

    # --- reads ---------------------------------------------------------------------------------------------

    def GetBalance(self, request: pb.GetBalanceRequest, context) -> pb.GetBalanceResponse:
        validation.validate(request)

        def balance(conn: Connection, partner_id: str) -> pb.GetBalanceResponse:
            b = self._ledger.balance(conn, partner_id, request.member_id)
            return pb.GetBalanceResponse(member_id=b.member_id, available_points=b.available, pending_points=b.pending,
                                         held_points=b.held, expiring_30d_points=b.expiring_30d, as_of=timestamp(b.as_of),
                                         tier=tier_message(self._ledger.tier_progress(conn, b.member_id)))
        return self._read(balance)

    def ListTransactions(self, request: pb.ListTransactionsRequest, context) -> pb.ListTransactionsResponse:
        validation.validate(request)
        size = request.page_size or DEFAULT_PAGE_SIZE
        after = parse_page_token(request.page_token)

        def history(conn: Connection, partner_id: str) -> pb.ListTransactionsResponse:
            views = self._ledger.list_transactions(conn, partner_id, request.member_id, size + 1, after)
            response = pb.ListTransactionsResponse()
            response.transactions.extend(transaction_message(v) for v in views[:size])
            if len(views) > size:
                response.next_page_token = page_token(views[size - 1])
            return response
        return self._read(history)

    def GetTrafficReport(self, request: pb.GetTrafficReportRequest, context) -> pb.GetTrafficReportResponse:
        validation.validate(request)
        start, end = report_range(request.start_date, request.end_date)
        size = request.page_size or DEFAULT_PAGE_SIZE
        after = parse_traffic_page_token(request.page_token)
        point_value = self._ledger.point_value_minor

        def report(conn: Connection, partner_id: str) -> pb.GetTrafficReportResponse:
            rows = traffic(conn, partner_id, start, end, size + 1, after)
            response = pb.GetTrafficReportResponse(currency=self._ledger.network_currency)
            for row in rows[:size]:
                response.rows.add(
                    date=row.day.isoformat(), store_id=row.store_id, earn_count=row.earn_count,
                    earned_points=row.earned_points, purchase_amount_minor=row.purchase_amount_minor,
                    redemption_count=row.redemption_count, redeemed_points=row.redeemed_points,
                    redeemed_value_minor=money_for_points(row.redeemed_points, point_value),
                    basket_amount_minor=row.basket_amount_minor, reversal_count=row.reversal_count,
                    reversed_points=row.reversed_points)
            if len(rows) > size:
                response.next_page_token = traffic_page_token(rows[size - 1])
            return response
        return self._read(report)

    # --- webhooks --------------------------------------------------------------------------------------------

    def CreateWebhookEndpoint(self, request: pb.CreateWebhookEndpointRequest, context) -> bytes:
        validation.validate(request)

        def create(conn: Connection, partner_id: str) -> pb.CreateWebhookEndpointResponse:
            endpoint = webhooks.create(conn, partner_id, request.url, list(request.event_types),
                                       allow_http_localhost=self._webhook_allow_http_localhost)
            return pb.CreateWebhookEndpointResponse(endpoint=webhook_endpoint_message(endpoint), secret=endpoint.secret)
        return self._mutate("CreateWebhookEndpoint", request, create)

    def ListWebhookEndpoints(self, request: pb.ListWebhookEndpointsRequest, context) -> pb.ListWebhookEndpointsResponse:
        validation.validate(request)
        return self._read(lambda conn, partner_id: pb.ListWebhookEndpointsResponse(
            endpoints=[webhook_endpoint_message(e) for e in webhook_store.endpoints(conn, partner_id)]))

    def UpdateWebhookEndpoint(self, request: pb.UpdateWebhookEndpointRequest, context) -> bytes:
        validation.validate(request)

        def update(conn: Connection, partner_id: str) -> pb.UpdateWebhookEndpointResponse:
            endpoint = webhooks.update(conn, partner_id, request.endpoint_id, url=request.url,
                                       event_types=list(request.event_types), state=request.state,
                                       allow_http_localhost=self._webhook_allow_http_localhost)
            return pb.UpdateWebhookEndpointResponse(endpoint=webhook_endpoint_message(endpoint))
        return self._mutate("UpdateWebhookEndpoint", request, update)

    def DeleteWebhookEndpoint(self, request: pb.DeleteWebhookEndpointRequest, context) -> bytes:
        validation.validate(request)

        def delete(conn: Connection, partner_id: str) -> pb.DeleteWebhookEndpointResponse:
            webhooks.delete(conn, partner_id, request.endpoint_id)
            return pb.DeleteWebhookEndpointResponse()
        return self._mutate("DeleteWebhookEndpoint", request, delete)

    # --- the partner's own campaigns ------------------------------------------------------------------------

    def CreateCampaign(self, request: pb.CreateCampaignRequest, context) -> bytes:
        validation.validate(request)

        def create(conn: Connection, partner_id: str) -> pb.CreateCampaignResponse:
            campaign = campaign_store.partner_campaign(
                partner_id, request.campaign_id, request.name, list(request.stores), request.multiplier_bps,
                request.fixed_points, request.cap_points, request.cap_period, request.budget_points,
                request.min_basket_minor, list(request.weekdays))
            campaign_store.create_campaign(conn, campaign, f"partner:{partner_id}", "", owner=partner_id)
            [own] = campaign_store.own_campaigns(conn, partner_id, request.campaign_id)
            return pb.CreateCampaignResponse(campaign=partner_campaign_message(own))
        return self._mutate("CreateCampaign", request, create)

    def ListCampaigns(self, request: pb.ListCampaignsRequest, context) -> pb.ListCampaignsResponse:
        validation.validate(request)
        return self._read(lambda conn, partner_id: pb.ListCampaignsResponse(
            campaigns=[partner_campaign_message(c) for c in campaign_store.own_campaigns(conn, partner_id)]))

    def UpdateCampaignStatus(self, request: pb.UpdateCampaignStatusRequest, context) -> bytes:
        validation.validate(request)

        def update(conn: Connection, partner_id: str) -> pb.UpdateCampaignStatusResponse:
            campaign_store.set_campaign_status(conn, request.campaign_id, request.action, f"partner:{partner_id}",
                                               owner=partner_id)
            [own] = campaign_store.own_campaigns(conn, partner_id, request.campaign_id)
            return pb.UpdateCampaignStatusResponse(campaign=partner_campaign_message(own))
        return self._mutate("UpdateCampaignStatus", request, update)

    def ListWebhookDeliveries(self, request: pb.ListWebhookDeliveriesRequest,
                              context) -> pb.ListWebhookDeliveriesResponse:
        validation.validate(request)

        def log(conn: Connection, partner_id: str) -> pb.ListWebhookDeliveriesResponse:
            if request.endpoint_id:
                webhooks.owned(conn, partner_id, request.endpoint_id)
            found = webhook_store.deliveries(conn, partner_id=partner_id, endpoint_id=request.endpoint_id or None,
                                             limit=request.page_size or DEFAULT_PAGE_SIZE)
            return pb.ListWebhookDeliveriesResponse(deliveries=[webhook_delivery_message(d) for d in found])
        return self._read(log)

    def ReplayWebhookEvents(self, request: pb.ReplayWebhookEventsRequest, context) -> bytes:
        validation.validate(request)

        def replay(conn: Connection, partner_id: str) -> pb.ReplayWebhookEventsResponse:
            replay_id, first, last = webhooks.replay(conn, partner_id, request.endpoint_id, request.first_sequence,
                                                     request.last_sequence, f"partner:{partner_id}")
            return pb.ReplayWebhookEventsResponse(replay_id=replay_id, first_sequence=first, last_sequence=last)
        return self._mutate("ReplayWebhookEvents", request, replay)

    def GetNetworkKeys(self, request: pb.GetNetworkKeysRequest, context) -> pb.GetNetworkKeysResponse:
        validation.validate(request)
        return pb.GetNetworkKeysResponse(keys=self._network_keys())

    # --- events ----------------------------------------------------------------------------------------------

    def _signed(self, event: outbox.StoredEvent) -> pb.SignedEvent:
        body = event_message(event).SerializeToString()
        return pb.SignedEvent(event=body, signature=self._signer.event_signature(body),
                              network_key_id=self._signer.key_id)

    def _events_page(self, caller: Caller, after: int, size: int) -> tuple[list[pb.SignedEvent], int]:
        """Up to `size` of the caller's events after `after`, signed, and its high-water sequence: one snapshot.
        A key revoked or a partner suspended since the call began is refused here (a stream lives long)."""
        with self._engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            refusal = key_status_refusal(caller, *outbox.key_and_partner_status(conn, caller.key_id))
            if refusal is not None:
                raise refusal
            found = outbox.read_events(conn, caller.partner_id, after, size)
            high = outbox.high_water(conn, caller.partner_id)
        return [self._signed(e) for e in found], high

    def ListEvents(self, request: pb.ListEventsRequest, context) -> pb.ListEventsResponse:
        validation.validate(request)
        size = request.page_size or DEFAULT_PAGE_SIZE
        after = parse_event_token(request.page_token) if request.page_token else request.after_sequence
        signed, high = self._events_page(current_caller(), after, size)
        response = pb.ListEventsResponse(events=signed, high_water_sequence=high)
        if signed and len(signed) == size:
            response.next_page_token = event_token(after + len(signed))
        return response

    async def WatchEvents(self, request: pb.WatchEventsRequest, context):
        """Every event after the cursor, then each one as it commits; a heartbeat after a quiet spell.

        Pages of MAX_PAGE_SIZE are read in the thread pool; each is written to the stream before the next is
        read, so a slow reader holds the server back by one page (gRPC's flow control does the rest)."""
        validation.validate(request)
        after = request.after_sequence
        caller = current_caller()
        loop = asyncio.get_running_loop()
        wakeups = self._wakeups.subscribe(caller.partner_id) if self._wakeups else contextlib.nullcontext(asyncio.Event())
        with wakeups as woken:
            quiet_since = loop.time()
            while True:
                woken.clear()  # before reading: a commit after the read wakes the wait below
                signed, high = await loop.run_in_executor(None, self._events_page, caller, after, MAX_PAGE_SIZE)
                for item in signed:
                    yield pb.WatchEventsResponse(event=item)
                if signed:
                    after += len(signed)
                    quiet_since = loop.time()
                    if len(signed) == MAX_PAGE_SIZE:
                        continue
                quiet = loop.time() - quiet_since
                if quiet >= self._event_heartbeat_seconds:
                    yield pb.WatchEventsResponse(heartbeat=pb.Heartbeat(high_water_sequence=high,
                                                                        sent_at=timestamp(datetime.now(timezone.utc))))
                    quiet_since = loop.time()
                    continue
                wait = min(self._event_poll_seconds, self._event_heartbeat_seconds - quiet)
                try:
                    await asyncio.wait_for(woken.wait(), wait)
                except asyncio.TimeoutError:
                    pass
