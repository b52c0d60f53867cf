"""The signed partner client for coalition.v1.NetworkService.

    from partners.client import PartnerClient
    with PartnerClient("network.example:443", "acme-2025-01", private_key, tls=True) as network:
        member = network.enroll_member(customer_ref="c-1001").member
        earned = network.earn(member.member_id, amount_minor=1250, receipt_ref="r-77")
        evidence = network.last_receipt          # keep it: the network's signature over this exchange

How a call goes (one place: `PartnerClient._call`):

1. The request message is serialized once. Those bytes are what is signed and what is sent, on every
   attempt: protobuf serialization is not canonical, so nothing is ever re-serialized.
2. Each attempt signs the bytes afresh (coalition-sig-v1: new timestamp and nonce) and sends them with a
   deadline of `timeout` seconds through a raw-bytes gRPC callable.
3. UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED and RESOURCE_EXHAUSTED are retried with exponential backoff and
   jitter, at most `max_attempts` attempts in all (not a RESOURCE_EXHAUSTED from gRPC's own message size limit,
   and never INVALID_ARGUMENT / MESSAGE_TOO_LARGE: the same bytes would be refused again). A mutating request carries `request_id`, the
   idempotency key, which stays the same across attempts (the bytes are the same), so a retry after a
   lost response returns the stored response instead of posting twice. Nothing else is retried.
4. A mutating call's response must carry the network's receipt in its trailing metadata; it is verified
   over the exact request and response bytes with the network keys from GetNetworkKeys (fetched once,
   refetched once when a receipt names a key the client does not know), and kept in `last_receipt`.
   A refused mutating call carries a refusal receipt (status code and reason signed): verified the same way
   and kept on the raised error as `error.receipt` (a RefusalReceipt).
5. The response bytes are parsed and returned. Failures raise `partners.errors` types.

One client is safe to share between threads; `last_receipt` is per thread.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import DecodeError, Message

from partners import signing, sodium
from partners.errors import CoalitionError, Internal, ReceiptInvalid, error_from_rpc
from protos.coalition.v1 import network_pb2, settlement_pb2

SERVICE = "coalition.v1.NetworkService"
UNSIGNED_METHODS = frozenset({"GetNetworkKeys"})
METHODS = (
    "EnrollMember",
    "FindMember",
    "Earn",
    "BatchEarn",
    "Redeem",
    "AuthorizeRedemption",
    "CaptureRedemption",
    "VoidRedemption",
    "Reverse",
    "GetBalance",
    "ListTransactions",
    "GetNetworkKeys",
    "PreviewEarn",
    "GetTrafficReport",
    "ListEvents",
    "CreateWebhookEndpoint",
    "ListWebhookEndpoints",
    "UpdateWebhookEndpoint",
    "DeleteWebhookEndpoint",
    "ListWebhookDeliveries",
    "ReplayWebhookEvents",
    "CreateCampaign",
    "ListCampaigns",
    "UpdateCampaignStatus",
)
STREAMING_METHODS = ("WatchEvents",)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the network's limit on a request or response (network.proto)
# A request over MAX_MESSAGE_BYTES is still sent, for the network to refuse with INVALID_ARGUMENT /
# MESSAGE_TOO_LARGE (not retried); past MAX_SEND_BYTES the channel refuses it itself (RESOURCE_EXHAUSTED "Sent
# message larger than max", not retried either).
MAX_SEND_BYTES = 16 * 1024 * 1024
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_send_message_length", MAX_SEND_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)
_MAX_REMEMBERED_UNKNOWN_KEYS = 256

ResponseT = TypeVar("ResponseT", bound=Message)


SETTLEMENT_SERVICE = "coalition.v1.SettlementService"
SETTLEMENT_METHODS = ("ListStatements", "GetStatement", "AcknowledgeStatement", "DisputeStatement",
                      "GetPartnerPosition")


def full_method(method_name: str) -> str:
    """"Earn" -> "/coalition.v1.NetworkService/Earn", the name that is signed and called
    ("ListStatements" -> "/coalition.v1.SettlementService/ListStatements")."""
    return f"/{SETTLEMENT_SERVICE if method_name in SETTLEMENT_METHODS else SERVICE}/{method_name}"


def new_request_id() -> str:
    """A fresh idempotency key: 32 lowercase hex characters (uuid4)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Receipt:
    """One mutating exchange and the network's signature over it: evidence in a dispute.

    Verify later with `partners.signing.verify_receipt({"x-coalition-key-id": [key_id],
    "x-coalition-signature": [signature]}, method, request_bytes, response_bytes, network_key_for)`.
    """

    method: str
    request_bytes: bytes
    response_bytes: bytes
    key_id: str
    signature: str  # standard base64, as received

    def trailing_metadata(self) -> dict[str, list[str]]:
        return {signing.KEY_ID_HEADER: [self.key_id], signing.SIGNATURE_HEADER: [self.signature]}


@dataclass(frozen=True)
class RefusalReceipt:
    """A refused mutating call and the network's signature over its refusal (coalition-sig-v1-refusal): the
    evidence that the network refused this request with this status code and reason. Kept on the raised error
    as `error.receipt` once verified.

    Verify later with `partners.signing.verify_refusal_receipt({"x-coalition-key-id": [key_id],
    "x-coalition-signature": [signature]}, method, request_bytes, code, reason, network_key_for)`.
    """

    method: str
    request_bytes: bytes
    code: str  # the status code's name, e.g. "FAILED_PRECONDITION"
    reason: str  # the ErrorInfo reason
    key_id: str
    signature: str  # standard base64, as received

    def trailing_metadata(self) -> dict[str, list[str]]:
        return {signing.KEY_ID_HEADER: [self.key_id], signing.SIGNATURE_HEADER: [self.signature]}


def _money(amount_minor: int, currency: str) -> network_pb2.Money:
    return network_pb2.Money(amount_minor=amount_minor, currency=currency)


def _spend_request(message_type: type[ResponseT], member_id: str, points: int, basket_minor: int | None,
                   currency: str, pin: str | None = None, code: str | None = None, **fields: Any) -> ResponseT:
    """A RedeemRequest or AuthorizeRedemptionRequest (same spending fields; the basket only when given; the
    member's PIN or one-time code, signed with the rest, when given: one of them, never both)."""
    if pin and code:
        raise ValueError("give the member's PIN or a one-time code, not both")
    request = message_type(member_id=member_id, points=points, **fields)
    if basket_minor is not None:
        request.basket.CopyFrom(_money(basket_minor, currency))
    if pin:
        request.verification.pin = pin
    elif code:
        request.verification.code = code
    return request


def earn_request(
    member_id: str,
    *,
    amount_minor: int | None = None,
    currency: str = "EUR",
    points: int | None = None,
    receipt_ref: str = "",
    store_id: str = "",
    terminal_id: str = "",
    request_id: str | None = None,
    basket: Iterable[Mapping[str, Any]] = (),
) -> network_pb2.EarnRequest:
    """An EarnRequest for a purchase (amount_minor) or a fixed number of points: exactly one of the two. `basket`:
    the purchase's lines as dicts of sku, category and amount_minor (for campaigns on categories or SKUs)."""
    if (amount_minor is None) == (points is None):
        raise ValueError("give exactly one of amount_minor (a purchase) or points (a fixed award)")
    request = network_pb2.EarnRequest(
        request_id=request_id or new_request_id(),
        member_id=member_id,
        receipt_ref=receipt_ref,
        store_id=store_id,
        terminal_id=terminal_id,
        basket=[network_pb2.BasketLine(**line) for line in basket],
    )
    if amount_minor is not None:
        request.purchase.CopyFrom(_money(amount_minor, currency))
    else:
        request.points = points  # type: ignore[assignment]
    return request


class PartnerClient:
    """A coalition-sig-v1 signed client of coalition.v1.NetworkService for one partner key.

    target: "host:port". key_id / private_key: the partner's registered Ed25519 key.
    timeout: the deadline of each attempt, in seconds. max_attempts: attempts per call, retries included.
    verify_receipts: check the network's signature on every mutating response (leave it on).
    network_keys: {key_id: raw 32-byte public key} obtained out of band; when given, GetNetworkKeys is
    never called and only these keys verify receipts (pin them when the channel is not TLS).
    tls / root_certificates / certificate_chain / tls_private_key: TLS, optionally mutual; TLS is used
    when `tls` is true or any of the three PEM values is given.
    """

    def __init__(
        self,
        target: str,
        key_id: str,
        private_key: Ed25519PrivateKey,
        *,
        timeout: float = 5.0,
        max_attempts: int = 4,
        verify_receipts: bool = True,
        channel_options: Sequence[tuple[str, Any]] = DEFAULT_CHANNEL_OPTIONS,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        tls_private_key: bytes | None = None,
        network_keys: Mapping[str, bytes] | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 2.0,
    ):
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.target = target
        self.key_id = key_id
        self._private_key = sodium.SodiumSigningKey(private_key)  # signs through libsodium (partners.sodium)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._verify_receipts = verify_receipts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._random = random.Random()
        self._random_lock = threading.Lock()
        options = list(channel_options)
        if tls or root_certificates or certificate_chain or tls_private_key:
            credentials = grpc.ssl_channel_credentials(root_certificates, tls_private_key, certificate_chain)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        # Raw-bytes callables: no serializer, no deserializer. The client owns the bytes on both sides.
        self._callables = {
            name: self._channel.unary_unary(full_method(name), request_serializer=None, response_deserializer=None)
            for name in (*METHODS, *SETTLEMENT_METHODS)
        }
        self._streams = {
            name: self._channel.unary_stream(full_method(name), request_serializer=None, response_deserializer=None)
            for name in STREAMING_METHODS
        }
        self._keys_lock = threading.Lock()
        self._keys_pinned = network_keys is not None
        self._network_keys: dict[str, sodium.SodiumVerifyKey] | None = (
            {kid: sodium.SodiumVerifyKey(raw) for kid, raw in network_keys.items()}
            if network_keys is not None
            else None
        )
        self._refetched_for: set[str] = set()
        self._local = threading.local()

    # --- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "PartnerClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def last_receipt(self) -> Receipt | None:
        """The receipt of this thread's last successful mutating call (None before the first)."""
        return getattr(self._local, "receipt", None)

    # --- members -----------------------------------------------------------------------------------

    def enroll_member(
        self, *, customer_ref: str = "", card_number: str = "", request_id: str | None = None,
        referrer_card: str = "",
    ) -> network_pb2.EnrollMemberResponse:
        """Enrol a member; `referrer_card`: the card of the member who referred a new member (referral bonus)."""
        request = network_pb2.EnrollMemberRequest(
            request_id=request_id or new_request_id(), customer_ref=customer_ref, card_number=card_number,
            referrer_card=referrer_card,
        )
        return self._call("EnrollMember", request, network_pb2.EnrollMemberResponse, mutating=True)

    def find_member(
        self, *, member_id: str | None = None, card_number: str | None = None, customer_ref: str | None = None
    ) -> network_pb2.FindMemberResponse:
        given = {k: v for k, v in (("member_id", member_id), ("card_number", card_number),
                                   ("customer_ref", customer_ref)) if v is not None}
        if len(given) != 1:
            raise ValueError("give exactly one of member_id, card_number, customer_ref")
        request = network_pb2.FindMemberRequest(**given)
        return self._call("FindMember", request, network_pb2.FindMemberResponse, mutating=False)

    # --- earning -----------------------------------------------------------------------------------

    def earn(
        self,
        member_id: str,
        *,
        amount_minor: int | None = None,
        currency: str = "EUR",
        points: int | None = None,
        receipt_ref: str = "",
        store_id: str = "",
        terminal_id: str = "",
        request_id: str | None = None,
        basket: Iterable[Mapping[str, Any]] = (),
    ) -> network_pb2.EarnResponse:
        request = earn_request(
            member_id,
            amount_minor=amount_minor,
            currency=currency,
            points=points,
            receipt_ref=receipt_ref,
            store_id=store_id,
            terminal_id=terminal_id,
            request_id=request_id,
            basket=basket,
        )
        return self._call("Earn", request, network_pb2.EarnResponse, mutating=True)

    def preview_earn(
        self,
        member_id: str,
        *,
        amount_minor: int | None = None,
        currency: str = "EUR",
        points: int | None = None,
        store_id: str = "",
        basket: Iterable[Mapping[str, Any]] = (),
    ) -> network_pb2.PreviewEarnResponse:
        """What an earn would give now (base, tier, each campaign with its funder); nothing is written."""
        earn = earn_request(member_id, amount_minor=amount_minor, currency=currency, points=points,
                            store_id=store_id, basket=basket)
        request = network_pb2.PreviewEarnRequest(member_id=member_id, store_id=store_id, basket=earn.basket)
        if amount_minor is not None:
            request.purchase.CopyFrom(earn.purchase)
        else:
            request.points = earn.points
        return self._call("PreviewEarn", request, network_pb2.PreviewEarnResponse, mutating=False)

    def batch_earn(
        self, items: Iterable[network_pb2.EarnRequest | Mapping[str, Any]], request_id: str | None = None
    ) -> network_pb2.BatchEarnResponse:
        """Up to 1,000 earns. Items are EarnRequests or dicts of `earn_request` arguments; an item without
        a request_id gets a fresh one. A refused item's `error` converts with errors.error_from_status."""
        earns = []
        for item in items:
            if isinstance(item, network_pb2.EarnRequest):
                earn = network_pb2.EarnRequest()
                earn.CopyFrom(item)
                if not earn.request_id:
                    earn.request_id = new_request_id()
            else:
                fields = dict(item)
                earn = earn_request(fields.pop("member_id"), **fields)
            earns.append(earn)
        request = network_pb2.BatchEarnRequest(request_id=request_id or new_request_id(), earns=earns)
        return self._call("BatchEarn", request, network_pb2.BatchEarnResponse, mutating=True)

    # --- redeeming ---------------------------------------------------------------------------------

    def redeem(
        self,
        member_id: str,
        points: int,
        *,
        basket_minor: int | None = None,
        currency: str = "EUR",
        receipt_ref: str = "",
        store_id: str = "",
        terminal_id: str = "",
        request_id: str | None = None,
        pin: str | None = None,
        code: str | None = None,
    ) -> network_pb2.RedeemResponse:
        """Spend the member's points. `pin` (the member's PIN) or `code` (a one-time redemption code from the member
        portal) is the member's consent; without one only small spends for members enrolled at your own till pass
        (MEMBER_VERIFICATION_REQUIRED otherwise)."""
        request = _spend_request(network_pb2.RedeemRequest, member_id, points, basket_minor, currency, pin, code,
                                 receipt_ref=receipt_ref, store_id=store_id, terminal_id=terminal_id,
                                 request_id=request_id or new_request_id())
        return self._call("Redeem", request, network_pb2.RedeemResponse, mutating=True)

    def authorize_redemption(
        self,
        member_id: str,
        points: int,
        *,
        basket_minor: int | None = None,
        currency: str = "EUR",
        receipt_ref: str = "",
        store_id: str = "",
        terminal_id: str = "",
        hold_ttl_seconds: int = 0,
        request_id: str | None = None,
        pin: str | None = None,
        code: str | None = None,
    ) -> network_pb2.AuthorizeRedemptionResponse:
        """Hold the member's points; `pin` or `code` as in redeem."""
        request = _spend_request(network_pb2.AuthorizeRedemptionRequest, member_id, points, basket_minor, currency,
                                 pin, code, receipt_ref=receipt_ref, store_id=store_id, terminal_id=terminal_id,
                                 hold_ttl_seconds=hold_ttl_seconds, request_id=request_id or new_request_id())
        return self._call("AuthorizeRedemption", request, network_pb2.AuthorizeRedemptionResponse, mutating=True)

    def capture_redemption(
        self, hold_id: str, points: int = 0, request_id: str | None = None
    ) -> network_pb2.CaptureRedemptionResponse:
        request = network_pb2.CaptureRedemptionRequest(
            request_id=request_id or new_request_id(), hold_id=hold_id, points=points
        )
        return self._call("CaptureRedemption", request, network_pb2.CaptureRedemptionResponse, mutating=True)

    def void_redemption(self, hold_id: str, request_id: str | None = None) -> network_pb2.VoidRedemptionResponse:
        request = network_pb2.VoidRedemptionRequest(request_id=request_id or new_request_id(), hold_id=hold_id)
        return self._call("VoidRedemption", request, network_pb2.VoidRedemptionResponse, mutating=True)

    def reverse(
        self, transaction_id: str, points: int = 0, reason: str = "", request_id: str | None = None,
        member_id: str = "",
    ) -> network_pb2.ReverseResponse:
        """Reverse an earn or redemption; `member_id` (the transaction's member) lets the network find it on one
        database node instead of asking every one."""
        request = network_pb2.ReverseRequest(
            request_id=request_id or new_request_id(), transaction_id=transaction_id, points=points, reason=reason,
            member_id=member_id,
        )
        return self._call("Reverse", request, network_pb2.ReverseResponse, mutating=True)

    # --- reading -----------------------------------------------------------------------------------

    def get_balance(self, member_id: str) -> network_pb2.GetBalanceResponse:
        request = network_pb2.GetBalanceRequest(member_id=member_id)
        return self._call("GetBalance", request, network_pb2.GetBalanceResponse, mutating=False)

    def _pages(self, method: str, request_for: Callable[[str], Message], response_type) -> Iterator:
        """Every page of a paged read, following next_page_token from the first page (token ""); a token the
        network returns a second time is refused (Internal, PAGE_TOKEN_REPEATED) instead of followed for ever."""
        token = ""
        seen: set[str] = set()
        while True:
            page = self._call(method, request_for(token), response_type, mutating=False)
            yield page
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise Internal(grpc.StatusCode.INTERNAL, "the network returned a page token twice",
                               reason="PAGE_TOKEN_REPEATED")
            seen.add(token)

    def list_transaction_pages(
        self, member_id: str = "", page_size: int = 50
    ) -> Iterator[network_pb2.ListTransactionsResponse]:
        """Every page of the partner's transactions (newest first), following next_page_token."""
        return self._pages("ListTransactions", lambda token: network_pb2.ListTransactionsRequest(
            member_id=member_id, page_size=page_size, page_token=token), network_pb2.ListTransactionsResponse)

    def list_transactions(self, member_id: str = "", page_size: int = 50) -> Iterator[network_pb2.Transaction]:
        """Every transaction of the partner (optionally of one member), newest first, across all pages."""
        for page in self.list_transaction_pages(member_id, page_size):
            yield from page.transactions

    def traffic_report_pages(self, start_date: str, end_date: str,
                             page_size: int = 50) -> Iterator[network_pb2.GetTrafficReportResponse]:
        """Every page of the partner's own traffic per UTC day and store, start_date..end_date ("YYYY-MM-DD",
        inclusive, at most 92 days), ordered by day then store."""
        return self._pages("GetTrafficReport", lambda token: network_pb2.GetTrafficReportRequest(
            start_date=start_date, end_date=end_date, page_size=page_size, page_token=token),
            network_pb2.GetTrafficReportResponse)

    def traffic_report(self, start_date: str, end_date: str,
                       page_size: int = 50) -> Iterator[network_pb2.TrafficReportRow]:
        """Every (day, store) row of the partner's traffic in the range, across all pages."""
        for page in self.traffic_report_pages(start_date, end_date, page_size):
            yield from page.rows

    # --- statements and position (SettlementService) -----------------------------------------------------

    def get_partner_position(self) -> settlement_pb2.GetPartnerPositionResponse:
        """The partner's own liability, exposure, credit headroom, obligations accrued in the open cycle and
        contract terms in force and upcoming."""
        return self._call("GetPartnerPosition", settlement_pb2.GetPartnerPositionRequest(),
                          settlement_pb2.GetPartnerPositionResponse, mutating=False)

    def list_statement_pages(self, cycle_id: str = "", page_size: int = 50) -> Iterator[settlement_pb2.ListStatementsResponse]:
        """Every page of this partner's statements, newest first."""
        return self._pages("ListStatements", lambda token: settlement_pb2.ListStatementsRequest(
            page_size=page_size, page_token=token, cycle_id=cycle_id), settlement_pb2.ListStatementsResponse)

    def list_statements(self, cycle_id: str = "", page_size: int = 50) -> Iterator[settlement_pb2.StatementSummary]:
        for page in self.list_statement_pages(cycle_id, page_size):
            yield from page.statements

    def get_statement(self, statement_id: str, *, verify: bool = True) -> settlement_pb2.Statement:
        """A statement with its lines; with `verify`, the network's signature over it is checked
        (partners.signing.SignatureError when it does not hold)."""
        request = settlement_pb2.GetStatementRequest(statement_id=statement_id)
        statement = self._call("GetStatement", request, settlement_pb2.GetStatementResponse, mutating=False).statement
        if verify:
            try:
                self._network_key(statement.network_key_id).verify(statement.signature, statement.signed_payload)
            except InvalidSignature as exc:
                raise signing.SignatureError("STATEMENT_SIGNATURE_INVALID",
                                             f"statement {statement_id}: the network's signature does not hold") from exc
        return statement

    def acknowledge_statement(self, statement_id: str,
                              request_id: str | None = None) -> settlement_pb2.AcknowledgeStatementResponse:
        request = settlement_pb2.AcknowledgeStatementRequest(request_id=request_id or new_request_id(),
                                                             statement_id=statement_id)
        return self._call("AcknowledgeStatement", request, settlement_pb2.AcknowledgeStatementResponse, mutating=True)

    def dispute_statement(self, statement_id: str, line_numbers: Iterable[int], reason: str, *, amount_minor: int = 0,
                          request_id: str | None = None) -> settlement_pb2.DisputeStatementResponse:
        """Dispute lines of a statement (their whole total, or amount_minor of it)."""
        request = settlement_pb2.DisputeStatementRequest(request_id=request_id or new_request_id(),
                                                         statement_id=statement_id, line_numbers=list(line_numbers),
                                                         amount_minor=amount_minor, reason=reason)
        return self._call("DisputeStatement", request, settlement_pb2.DisputeStatementResponse, mutating=True)

    # --- events -------------------------------------------------------------------------------------------

    def verified_event(self, signed: network_pb2.SignedEvent) -> network_pb2.Event:
        """The Event inside `signed`, once the network's signature over its exact bytes holds (SignatureError
        EVENT_SIGNATURE_INVALID when it does not, or when the bytes are not an Event)."""
        key = self._network_key(signed.network_key_id)
        signing.verify_event(signed.event, signed.signature, signed.network_key_id, lambda _: key)
        try:
            return network_pb2.Event.FromString(signed.event)
        except DecodeError as exc:
            raise signing.SignatureError("EVENT_SIGNATURE_INVALID", "the signed event does not parse") from exc

    def list_event_pages(self, after_sequence: int = 0,
                         page_size: int = 100) -> Iterator[network_pb2.ListEventsResponse]:
        """Every page of the partner's events after `after_sequence`, oldest first (signatures not checked here:
        list_events checks them)."""
        return self._pages("ListEvents", lambda token: network_pb2.ListEventsRequest(
            after_sequence=after_sequence, page_size=page_size, page_token=token), network_pb2.ListEventsResponse)

    def list_events(self, after_sequence: int = 0, page_size: int = 100) -> Iterator[network_pb2.Event]:
        """The partner's events after `after_sequence` up to the latest, oldest first, each signature checked."""
        for page in self.list_event_pages(after_sequence, page_size):
            for signed in page.events:
                yield self.verified_event(signed)

    def watch_events(self, after_sequence: int = 0, *, heartbeats: bool = False,
                     reconnect: bool = True) -> Iterator[network_pb2.Event | network_pb2.Heartbeat]:
        """The partner's events after `after_sequence`, then each one as the network commits it, for as long as
        the caller iterates (close the iterator to stop). Each event's signature is checked, and its sequence:
        an event at or before the last one yielded (a redelivery) is skipped, a gap raises. With `reconnect`, a
        broken stream (UNAVAILABLE: the network restarting, a network fault) is opened again after the last
        event yielded, with backoff, up to max_attempts times in a row. With `heartbeats`, heartbeats are
        yielded too. Keep the last sequence you processed durably: pass it back to resume after a restart."""
        method = full_method("WatchEvents")
        last = after_sequence
        failures = 0
        while True:
            body = network_pb2.WatchEventsRequest(after_sequence=last).SerializeToString()
            metadata = signing.sign_request(self._private_key, self.key_id, method, body).metadata()
            stream = self._streams["WatchEvents"](body, metadata=metadata)
            try:
                for raw in stream:
                    item = network_pb2.WatchEventsResponse.FromString(raw)
                    failures = 0
                    if item.HasField("heartbeat"):
                        if heartbeats:
                            yield item.heartbeat
                        continue
                    event = self.verified_event(item.event)
                    if event.sequence <= last:
                        continue
                    if event.sequence != last + 1:
                        raise Internal(grpc.StatusCode.INTERNAL, f"event {last + 1} missing: got {event.sequence}",
                                       reason="EVENT_SEQUENCE_GAP")
                    last = event.sequence
                    yield event
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                failures += 1
                if not (reconnect and error.retryable) or failures >= self._max_attempts:
                    raise error from exc
                time.sleep(self._backoff_seconds(failures, error))
            else:
                if not reconnect:
                    return
            finally:
                stream.cancel()

    # --- webhooks ------------------------------------------------------------------------------------

    def create_webhook_endpoint(self, url: str, event_types: Iterable[str] = (),
                                request_id: str | None = None) -> network_pb2.CreateWebhookEndpointResponse:
        """Register an endpoint (https); the response holds its v1 secret, shown only here."""
        request = network_pb2.CreateWebhookEndpointRequest(request_id=request_id or new_request_id(), url=url,
                                                           event_types=list(event_types))
        return self._call("CreateWebhookEndpoint", request, network_pb2.CreateWebhookEndpointResponse, mutating=True)

    def create_campaign(self, campaign_id: str, *, name: str = "", stores: Iterable[str] = (),
                        multiplier_bps: int = 0, fixed_points: int = 0, cap_points: int = 0, cap_period: str = "",
                        budget_points: int = 0, min_basket_minor: int = 0, weekdays: Iterable[int] = (),
                        request_id: str | None = None) -> network_pb2.PartnerCampaign:
        """A bonus campaign of your own: on your earns only (at `stores`, or all of yours), funded by you alone."""
        request = network_pb2.CreateCampaignRequest(
            request_id=request_id or new_request_id(), campaign_id=campaign_id, name=name or campaign_id,
            stores=list(stores), multiplier_bps=multiplier_bps, fixed_points=fixed_points, cap_points=cap_points,
            cap_period=cap_period, budget_points=budget_points, min_basket_minor=min_basket_minor,
            weekdays=list(weekdays))
        return self._call("CreateCampaign", request, network_pb2.CreateCampaignResponse, mutating=True).campaign

    def list_campaigns(self) -> list[network_pb2.PartnerCampaign]:
        """Your own campaigns, newest first, with their budget burn."""
        return list(self._call("ListCampaigns", network_pb2.ListCampaignsRequest(),
                               network_pb2.ListCampaignsResponse, mutating=False).campaigns)

    def update_campaign_status(self, campaign_id: str, action: str,
                               request_id: str | None = None) -> network_pb2.PartnerCampaign:
        """pause, resume or end one of your campaigns."""
        request = network_pb2.UpdateCampaignStatusRequest(request_id=request_id or new_request_id(),
                                                          campaign_id=campaign_id, action=action)
        return self._call("UpdateCampaignStatus", request, network_pb2.UpdateCampaignStatusResponse,
                          mutating=True).campaign

    def list_webhook_endpoints(self) -> list[network_pb2.WebhookEndpoint]:
        return list(self._call("ListWebhookEndpoints", network_pb2.ListWebhookEndpointsRequest(),
                               network_pb2.ListWebhookEndpointsResponse, mutating=False).endpoints)

    def update_webhook_endpoint(self, endpoint_id: str, *, url: str = "", event_types: Iterable[str] = (),
                                state: str = "", request_id: str | None = None) -> network_pb2.WebhookEndpoint:
        """Change the URL, the filter, or the state ("enabled" / "disabled"); what is left empty is unchanged."""
        request = network_pb2.UpdateWebhookEndpointRequest(
            request_id=request_id or new_request_id(), endpoint_id=endpoint_id, url=url,
            event_types=list(event_types), state=state)
        return self._call("UpdateWebhookEndpoint", request, network_pb2.UpdateWebhookEndpointResponse,
                          mutating=True).endpoint

    def delete_webhook_endpoint(self, endpoint_id: str, request_id: str | None = None) -> None:
        request = network_pb2.DeleteWebhookEndpointRequest(request_id=request_id or new_request_id(),
                                                           endpoint_id=endpoint_id)
        self._call("DeleteWebhookEndpoint", request, network_pb2.DeleteWebhookEndpointResponse, mutating=True)

    def list_webhook_deliveries(self, endpoint_id: str = "", page_size: int = 50) -> list[network_pb2.WebhookDelivery]:
        request = network_pb2.ListWebhookDeliveriesRequest(endpoint_id=endpoint_id, page_size=page_size)
        return list(self._call("ListWebhookDeliveries", request, network_pb2.ListWebhookDeliveriesResponse,
                               mutating=False).deliveries)

    def replay_webhook_events(self, endpoint_id: str, first_sequence: int, last_sequence: int = 0,
                              request_id: str | None = None) -> network_pb2.ReplayWebhookEventsResponse:
        """Deliver events [first, last] (last 0: first only) to the endpoint again, with their webhook-ids."""
        request = network_pb2.ReplayWebhookEventsRequest(
            request_id=request_id or new_request_id(), endpoint_id=endpoint_id, first_sequence=first_sequence,
            last_sequence=last_sequence)
        return self._call("ReplayWebhookEvents", request, network_pb2.ReplayWebhookEventsResponse, mutating=True)

    def get_network_keys(self) -> network_pb2.GetNetworkKeysResponse:
        return self._call("GetNetworkKeys", network_pb2.GetNetworkKeysRequest(),
                          network_pb2.GetNetworkKeysResponse, mutating=False)

    # --- the one call path -------------------------------------------------------------------------

    def _call(self, method_name: str, request: Message, response_type: type[ResponseT], mutating: bool) -> ResponseT:
        method = full_method(method_name)
        stub = self._callables[method_name]
        body = request.SerializeToString()  # once: signed and sent as is on every attempt
        attempt = 0
        while True:
            attempt += 1
            if method_name in UNSIGNED_METHODS:
                metadata: tuple[tuple[str, str], ...] = ()
            else:
                metadata = signing.sign_request(self._private_key, self.key_id, method, body).metadata()
            try:
                response_bytes, call = stub.with_call(body, timeout=self._timeout, metadata=metadata)
                break
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                if not error.retryable or attempt >= self._max_attempts:
                    if mutating:
                        self._attach_refusal_receipt(error, exc, method, body)
                    raise error from exc
            time.sleep(self._backoff_seconds(attempt, error))
        if mutating:
            trailing = signing.collect_metadata(call.trailing_metadata() or ())
            self._local.receipt = self._checked_receipt(method, body, response_bytes, trailing)
        try:
            return response_type.FromString(response_bytes)
        except DecodeError as exc:
            raise Internal(grpc.StatusCode.INTERNAL, f"cannot parse the {method_name} response: {exc}",
                           reason="RESPONSE_UNPARSABLE") from exc

    def _backoff_seconds(self, attempt: int, error: CoalitionError) -> float:
        """Exponential backoff with jitter: uniform in [cap/2, cap], cap = initial * 2^(attempt-1) <= max.
        A RetryInfo delay from the server raises the wait, within backoff_max."""
        cap = min(self._backoff_max, self._backoff_initial * (2 ** (attempt - 1)))
        with self._random_lock:
            delay = cap / 2 + self._random.uniform(0, cap / 2)
        if error.retry_delay:
            delay = max(delay, min(error.retry_delay, self._backoff_max))
        return delay

    # --- receipts ----------------------------------------------------------------------------------

    def _checked_receipt(
        self, method: str, body: bytes, response_bytes: bytes, trailing: Mapping[str, list[str]]
    ) -> Receipt:
        receipt = Receipt(
            method=method,
            request_bytes=body,
            response_bytes=response_bytes,
            key_id=(trailing.get(signing.KEY_ID_HEADER) or [""])[0],
            signature=(trailing.get(signing.SIGNATURE_HEADER) or [""])[0],
        )
        if not self._verify_receipts:
            return receipt
        try:
            signing.verify_receipt(trailing, method, body, response_bytes, self._network_key)
        except signing.SignatureError as exc:
            raise ReceiptInvalid(f"{method}: {exc} (the call may have been executed: retry with the same "
                                 f"request_id to get the stored response)", receipt=receipt) from exc
        except CoalitionError as exc:  # the network keys could not be fetched
            raise ReceiptInvalid(f"{method}: cannot fetch the network keys to verify the receipt: {exc}",
                                 receipt=receipt) from exc
        return receipt

    def _attach_refusal_receipt(self, error: CoalitionError, exc: grpc.RpcError, method: str, body: bytes) -> None:
        """Keep a refused mutating call's refusal receipt on `error` (error.receipt), verified.

        No receipt (a failure before the network answered: a deadline, a connection, a proxy): error.receipt stays
        None, the error is raised as it is. A receipt that does not verify raises ReceiptInvalid (with the
        refusal, not to be trusted, as its __cause__). When the network keys cannot be fetched the refusal is
        raised without a receipt rather than hidden behind that second failure."""
        trailing_pairs = exc.trailing_metadata() if callable(getattr(exc, "trailing_metadata", None)) else None
        trailing = signing.collect_metadata(trailing_pairs or ())
        if signing.KEY_ID_HEADER not in trailing and signing.SIGNATURE_HEADER not in trailing:
            return
        receipt = RefusalReceipt(
            method=method, request_bytes=body, code=error.code.name, reason=error.reason,
            key_id=(trailing.get(signing.KEY_ID_HEADER) or [""])[0],
            signature=(trailing.get(signing.SIGNATURE_HEADER) or [""])[0],
        )
        if self._verify_receipts:
            try:
                signing.verify_refusal_receipt(trailing, method, body, receipt.code, receipt.reason, self._network_key)
            except signing.SignatureError as bad:
                raise ReceiptInvalid(f"{method}: refused with {error.code.name} {error.reason}, but the refusal "
                                     f"receipt does not hold ({bad}): do not trust this refusal",
                                     receipt=receipt) from error
            except CoalitionError:
                return  # the network keys could not be fetched: the refusal stands, without evidence
        error.receipt = receipt

    def _network_key(self, key_id: str) -> sodium.SodiumVerifyKey:
        """The network's active key `key_id`: fetched once, refetched once for a key id not yet known."""
        with self._keys_lock:
            if self._network_keys is None:
                self._network_keys = self._fetch_network_keys()
            key = self._network_keys.get(key_id)
            if key is None and not self._keys_pinned and key_id not in self._refetched_for:
                if len(self._refetched_for) >= _MAX_REMEMBERED_UNKNOWN_KEYS:
                    self._refetched_for.clear()
                self._refetched_for.add(key_id)
                self._network_keys = self._fetch_network_keys()
                key = self._network_keys.get(key_id)
        if key is None:
            raise signing.SignatureError("RECEIPT_INVALID", f"receipt signed by unknown or inactive network key {key_id!r}")
        return key

    def _fetch_network_keys(self) -> dict[str, sodium.SodiumVerifyKey]:
        keys = {}
        for network_key in self.get_network_keys().keys:
            if network_key.active and len(network_key.public_key) == 32:
                keys[network_key.key_id] = sodium.SodiumVerifyKey(network_key.public_key)
        return keys
