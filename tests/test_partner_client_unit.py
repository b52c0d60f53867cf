"""PartnerClient (and the partner CLI) against a tiny scripted gRPC server on loopback.

The server is not the network: it is a raw-bytes generic handler that records exactly what arrived
(metadata and request bytes), answers from a per-method script, and signs receipts with a test network
key, so each test can assert what the SDK put on the wire and how it reacts to each answer.
"""

from __future__ import annotations

import base64
import json
import re
import stat
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from typer.testing import CliRunner

from partners import errors, signing
from partners.cli import app
from partners.client import METHODS, SERVICE, PartnerClient, full_method
from partners.keyfile import KeyFile, KeyFileError, load_key_file, save_key_file
from protos.coalition.v1 import network_pb2

PARTNER_KEY_ID = "acme-1"
RESPONSE_TYPES = {
    "EnrollMember": network_pb2.EnrollMemberResponse,
    "FindMember": network_pb2.FindMemberResponse,
    "Earn": network_pb2.EarnResponse,
    "BatchEarn": network_pb2.BatchEarnResponse,
    "Redeem": network_pb2.RedeemResponse,
    "AuthorizeRedemption": network_pb2.AuthorizeRedemptionResponse,
    "CaptureRedemption": network_pb2.CaptureRedemptionResponse,
    "VoidRedemption": network_pb2.VoidRedemptionResponse,
    "Reverse": network_pb2.ReverseResponse,
    "GetBalance": network_pb2.GetBalanceResponse,
    "ListTransactions": network_pb2.ListTransactionsResponse,
    "GetNetworkKeys": network_pb2.GetNetworkKeysResponse,
}
MUTATING = {"EnrollMember", "Earn", "BatchEarn", "Redeem", "AuthorizeRedemption", "CaptureRedemption",
            "VoidRedemption", "Reverse"}


def rich_status(code: int, message: str, *details: Message) -> status_pb2.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=code, message=message, details=packed)


def error_info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain="coalition.network", metadata=metadata)


def bad_request(*violations: tuple[str, str]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations]
    )


@dataclass
class Received:
    method: str
    metadata: dict[str, list[str]]
    body: bytes
    time_remaining: float | None


@dataclass
class FakeNetwork:
    """Scripted answers per method. A step is a response message, a grpc.StatusCode, a google.rpc.Status or
    a callable(body, context) -> bytes; the last step of a script repeats."""

    network_key: Any
    network_key_id: str = "net-1"
    receipt_mode: str = "valid"  # valid | tampered | missing | other-key-id
    keys: list[tuple[str, bytes, bool]] = field(default_factory=list)
    scripts: dict[str, list[Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method_name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == full_method(method_name)]

    def handler(self, method_name: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(body: bytes, context: grpc.ServicerContext) -> bytes:
            metadata = signing.collect_metadata(context.invocation_metadata())
            with self.lock:
                self.received.append(Received(full_method(method_name), metadata, body, context.time_remaining()))
                script = self.scripts.get(method_name)
                step = (script.pop(0) if len(script) > 1 else script[0]) if script else None
            if step is None and method_name == "GetNetworkKeys":
                step = network_pb2.GetNetworkKeysResponse(
                    keys=[network_pb2.NetworkKey(key_id=k, public_key=raw, active=active) for k, raw, active in self.keys]
                )
            if step is None:
                step = RESPONSE_TYPES[method_name]()
            if isinstance(step, grpc.StatusCode):
                context.abort(step, f"scripted {step.name}")
            if isinstance(step, status_pb2.Status):
                context.abort_with_status(rpc_status.to_status(step))
            response = step(body, context) if callable(step) else step.SerializeToString()
            if method_name in MUTATING:
                context.set_trailing_metadata(self._receipt(full_method(method_name), body, response))
            return response

        return handle

    def _receipt(self, method: str, body: bytes, response: bytes) -> tuple[tuple[str, str], ...]:
        if self.receipt_mode == "missing":
            return ()
        key_id, signature = dict(signing.sign_response(self.network_key, self.network_key_id, method, body, response)).values()
        if self.receipt_mode == "tampered":
            raw = bytearray(base64.b64decode(signature))
            raw[0] ^= 1
            signature = base64.b64encode(bytes(raw)).decode()
        if self.receipt_mode == "other-key-id":
            key_id = "net-9"
        return ((signing.KEY_ID_HEADER, key_id), (signing.SIGNATURE_HEADER, signature))


@pytest.fixture(scope="module")
def partner_key():
    return signing.private_key_from_raw(bytes(range(32)))


@pytest.fixture(scope="module")
def network_key():
    return signing.private_key_from_raw(bytes(range(100, 132)))


@pytest.fixture(scope="module")
def server():
    """One loopback server for the module; each test swaps in its own FakeNetwork."""
    holder: dict[str, FakeNetwork] = {}

    def route(method_name):
        return lambda body, context: holder["fake"].handler(method_name)(body, context)

    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(route(name), request_deserializer=None, response_serializer=None)
        for name in METHODS
    }
    grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield holder, f"127.0.0.1:{port}"
    grpc_server.stop(grace=None)


@pytest.fixture
def fake(server, network_key) -> FakeNetwork:
    holder, _ = server
    holder["fake"] = FakeNetwork(network_key=network_key, keys=[("net-1", signing.raw_public(network_key), True)])
    return holder["fake"]


@pytest.fixture
def client(server, fake, partner_key):
    _, target = server
    with PartnerClient(target, PARTNER_KEY_ID, partner_key, timeout=3.0, max_attempts=4,
                       backoff_initial=0.001, backoff_max=0.005) as partner_client:
        yield partner_client


def assert_signed(received: Received, partner_key) -> None:
    assert set(received.metadata) >= {signing.KEY_ID_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER,
                                      signing.SIGNATURE_HEADER}
    public = partner_key.public_key()
    assert signing.verify_request(received.metadata, received.method, received.body, lambda kid: public) == PARTNER_KEY_ID


# --- what goes on the wire ------------------------------------------------------------------------

def test_earn_is_signed_over_the_exact_bytes_sent(client, fake, partner_key):
    fake.scripts["Earn"] = [network_pb2.EarnResponse(transaction_id="tx-1", points=12,
                                                     state=network_pb2.LOT_STATE_PENDING)]
    response = client.earn("m-42", amount_minor=1250, receipt_ref="r-77", store_id="s-1", terminal_id="t-3")

    assert response == network_pb2.EarnResponse(transaction_id="tx-1", points=12, state=network_pb2.LOT_STATE_PENDING)
    [earn] = fake.calls("Earn")
    assert earn.method == "/coalition.v1.NetworkService/Earn"
    assert_signed(earn, partner_key)
    sent = network_pb2.EarnRequest.FromString(earn.body)
    assert re.fullmatch(r"[0-9a-f]{32}", sent.request_id)
    assert sent == network_pb2.EarnRequest(
        request_id=sent.request_id, member_id="m-42", purchase=network_pb2.Money(amount_minor=1250, currency="EUR"),
        receipt_ref="r-77", store_id="s-1", terminal_id="t-3",
    )
    # The signature covers those bytes and no others.
    public = partner_key.public_key()
    with pytest.raises(signing.SignatureError):
        signing.verify_request(earn.metadata, earn.method, earn.body[:-1], lambda kid: public)
    # Every call has a deadline.
    assert earn.time_remaining is not None and 0 < earn.time_remaining <= 3.05  # 3 s, less clock jitter


def test_receipt_is_verified_and_kept(client, fake):
    fake.scripts["Redeem"] = [network_pb2.RedeemResponse(transaction_id="tx-2", points=100)]
    assert client.last_receipt is None
    client.redeem("m-42", 100, basket_minor=2000, request_id="req-redeem-1")

    [redeem] = fake.calls("Redeem")
    receipt = client.last_receipt
    assert receipt is not None
    assert receipt.method == "/coalition.v1.NetworkService/Redeem"
    assert receipt.request_bytes == redeem.body
    assert receipt.response_bytes == network_pb2.RedeemResponse(transaction_id="tx-2", points=100).SerializeToString()
    assert receipt.key_id == "net-1"
    keys = {"net-1": fake.network_key.public_key()}
    assert signing.verify_receipt(receipt.trailing_metadata(), receipt.method, receipt.request_bytes,
                                  receipt.response_bytes, keys.__getitem__) == "net-1"
    # The network keys were fetched once, unsigned; reads carry no receipt and leave it alone.
    [keys_call] = fake.calls("GetNetworkKeys")
    assert not any(name.startswith("x-coalition-") for name in keys_call.metadata)
    client.get_balance("m-42")
    client.redeem("m-42", 5)
    assert len(fake.calls("GetNetworkKeys")) == 1
    assert client.last_receipt.request_bytes == fake.calls("Redeem")[1].body


def test_every_method_sends_its_request(client, fake, partner_key):
    client.enroll_member(customer_ref="c-1", request_id="req-e")
    client.find_member(card_number="6001")
    client.earn("m-1", points=50, request_id="req-p")
    client.authorize_redemption("m-1", 20, hold_ttl_seconds=120, request_id="req-a")
    client.capture_redemption("h-1", points=10, request_id="req-c")
    client.void_redemption("h-1", request_id="req-v")
    client.reverse("tx-1", points=5, reason="return", request_id="req-r")
    client.get_balance("m-1")
    expected = {
        "EnrollMember": network_pb2.EnrollMemberRequest(request_id="req-e", customer_ref="c-1"),
        "FindMember": network_pb2.FindMemberRequest(card_number="6001"),
        "Earn": network_pb2.EarnRequest(request_id="req-p", member_id="m-1", points=50),
        "AuthorizeRedemption": network_pb2.AuthorizeRedemptionRequest(request_id="req-a", member_id="m-1", points=20,
                                                                      hold_ttl_seconds=120),
        "CaptureRedemption": network_pb2.CaptureRedemptionRequest(request_id="req-c", hold_id="h-1", points=10),
        "VoidRedemption": network_pb2.VoidRedemptionRequest(request_id="req-v", hold_id="h-1"),
        "Reverse": network_pb2.ReverseRequest(request_id="req-r", transaction_id="tx-1", points=5, reason="return"),
        "GetBalance": network_pb2.GetBalanceRequest(member_id="m-1"),
    }
    for method_name, request in expected.items():
        [call] = fake.calls(method_name)
        assert type(request).FromString(call.body) == request, method_name
        assert_signed(call, partner_key)


def test_argument_checks_happen_before_sending(client, fake):
    with pytest.raises(ValueError):
        client.earn("m-1", amount_minor=100, points=5)
    with pytest.raises(ValueError):
        client.earn("m-1")
    with pytest.raises(ValueError):
        client.find_member(member_id="m-1", card_number="6001")
    assert fake.received == []


def test_batch_earn_gives_each_item_its_own_request_id(client, fake):
    client.batch_earn(
        [{"member_id": "m-1", "points": 5}, network_pb2.EarnRequest(member_id="m-2", points=7),
         {"member_id": "m-3", "amount_minor": 990, "request_id": "item-3"}],
        request_id="batch-1",
    )
    [call] = fake.calls("BatchEarn")
    sent = network_pb2.BatchEarnRequest.FromString(call.body)
    assert sent.request_id == "batch-1"
    assert [e.member_id for e in sent.earns] == ["m-1", "m-2", "m-3"]
    ids = [e.request_id for e in sent.earns]
    assert ids[2] == "item-3" and all(ids) and len(set(ids)) == 3
    assert sent.earns[2].purchase == network_pb2.Money(amount_minor=990, currency="EUR")


def test_batch_item_error_converts_to_a_typed_error():
    item_status = rich_status(code_pb2.FAILED_PRECONDITION, "not enough", error_info("INSUFFICIENT_POINTS"))
    error = errors.error_from_status(item_status)
    assert isinstance(error, errors.InsufficientPoints) and error.code is grpc.StatusCode.FAILED_PRECONDITION


def test_list_transactions_follows_every_page(client, fake):
    def page(ids, token):
        return network_pb2.ListTransactionsResponse(
            transactions=[network_pb2.Transaction(transaction_id=i) for i in ids], next_page_token=token)

    fake.scripts["ListTransactions"] = [page(["t1", "t2"], "p2"), page(["t3", "t4"], "p3"), page(["t5"], "")]
    assert [t.transaction_id for t in client.list_transactions(member_id="m-1", page_size=2)] == \
        ["t1", "t2", "t3", "t4", "t5"]
    sent = [network_pb2.ListTransactionsRequest.FromString(c.body) for c in fake.calls("ListTransactions")]
    assert [(r.member_id, r.page_size, r.page_token) for r in sent] == [("m-1", 2, ""), ("m-1", 2, "p2"), ("m-1", 2, "p3")]


def test_list_transactions_refuses_a_page_token_loop(client, fake):
    fake.scripts["ListTransactions"] = [network_pb2.ListTransactionsResponse(next_page_token="again")]
    with pytest.raises(errors.Internal):
        list(client.list_transactions())
    assert len(fake.calls("ListTransactions")) == 2


# --- retries --------------------------------------------------------------------------------------

def test_unavailable_is_retried_with_the_same_bytes(client, fake, partner_key):
    fake.scripts["Earn"] = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE,
                            network_pb2.EarnResponse(transaction_id="tx-9", points=5)]
    response = client.earn("m-1", points=5)

    assert response.transaction_id == "tx-9"
    attempts = fake.calls("Earn")
    assert len(attempts) == 3
    assert len({a.body for a in attempts}) == 1  # the same bytes, so the same request_id
    assert re.fullmatch(r"[0-9a-f]{32}", network_pb2.EarnRequest.FromString(attempts[0].body).request_id)
    assert len({a.metadata[signing.NONCE_HEADER][0] for a in attempts}) == 3  # a fresh signature each time
    for attempt in attempts:
        assert_signed(attempt, partner_key)
    assert client.last_receipt.request_bytes == attempts[0].body


@pytest.mark.parametrize("code", [grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_other_transient_codes_are_retried(client, fake, code):
    fake.scripts["Reverse"] = [code, network_pb2.ReverseResponse(transaction_id="tx-r")]
    assert client.reverse("tx-1", request_id="req-rev").transaction_id == "tx-r"
    assert len(fake.calls("Reverse")) == 2


@pytest.mark.parametrize("status", [
    rich_status(code_pb2.INVALID_ARGUMENT, "request: is 4718600 bytes, more than the limit of 4194304",
                error_info("MESSAGE_TOO_LARGE", limit_bytes="4194304"), bad_request(("request", "too large"))),
    rich_status(code_pb2.RESOURCE_EXHAUSTED, "Received message larger than max (17000000 vs. 16777216)"),
])
def test_an_oversized_request_is_sent_once(client, fake, status):
    """The network's MESSAGE_TOO_LARGE, and gRPC's own size refusal (RESOURCE_EXHAUSTED without ErrorInfo), are
    not retried: the same bytes would be refused again."""
    fake.scripts["Earn"] = [status]
    with pytest.raises(errors.CoalitionError) as refused:
        client.earn("m-1", points=1)
    assert not refused.value.retryable
    assert len(fake.calls("Earn")) == 1


def test_a_caller_request_id_survives_retries(client, fake):
    fake.scripts["CaptureRedemption"] = [grpc.StatusCode.ABORTED, network_pb2.CaptureRedemptionResponse()]
    client.capture_redemption("h-1", request_id="my-key-1")
    ids = [network_pb2.CaptureRedemptionRequest.FromString(c.body).request_id for c in fake.calls("CaptureRedemption")]
    assert ids == ["my-key-1", "my-key-1"]


def test_attempts_are_bounded(client, fake):
    fake.scripts["GetBalance"] = [grpc.StatusCode.UNAVAILABLE]
    with pytest.raises(errors.Unavailable) as refused:
        client.get_balance("m-1")
    assert refused.value.retryable
    assert len(fake.calls("GetBalance")) == 4


def test_invalid_argument_is_not_retried(client, fake):
    fake.scripts["Earn"] = [rich_status(code_pb2.INVALID_ARGUMENT, "bad request",
                                        error_info("FIELD_INVALID"), bad_request(("points", "must be 1..1e9")))]
    with pytest.raises(errors.InvalidArgument) as refused:
        client.earn("m-1", points=5)
    assert len(fake.calls("Earn")) == 1
    assert refused.value.field_violations == [("points", "must be 1..1e9")]
    assert not refused.value.retryable


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNKNOWN,
                                  grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED])
def test_other_codes_are_not_retried(client, fake, code):
    fake.scripts["Redeem"] = [code]
    with pytest.raises(errors.CoalitionError) as refused:
        client.redeem("m-1", 5)
    assert refused.value.code is code
    assert len(fake.calls("Redeem")) == 1


# --- errors ---------------------------------------------------------------------------------------

def test_insufficient_points_maps_to_its_type(client, fake):
    fake.scripts["Redeem"] = [rich_status(
        code_pb2.FAILED_PRECONDITION, "member m-1 has 5 points available, 100 asked",
        error_info("INSUFFICIENT_POINTS", member_id="m-1", available_points="5"),
        bad_request(("points", "exceeds the available 5")),
    )]
    with pytest.raises(errors.InsufficientPoints) as refused:
        client.redeem("m-1", 100)
    error = refused.value
    assert isinstance(error, errors.FailedPrecondition) and isinstance(error, errors.CoalitionError)
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "INSUFFICIENT_POINTS" and error.domain == "coalition.network"
    assert error.message == "member m-1 has 5 points available, 100 asked"
    assert error.metadata == {"member_id": "m-1", "available_points": "5"}
    assert error.field_violations == [("points", "exceeds the available 5")]
    assert not error.retryable
    assert len(fake.calls("Redeem")) == 1


@pytest.mark.parametrize("code, reason, expected", [
    (code_pb2.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED", errors.IdempotencyKeyReused),
    (code_pb2.UNAUTHENTICATED, "TIMESTAMP_STALE", errors.SignatureInvalid),
    (code_pb2.UNAUTHENTICATED, "KEY_REVOKED", errors.SignatureInvalid),
    (code_pb2.PERMISSION_DENIED, "PARTNER_SUSPENDED", errors.PartnerSuspended),
    (code_pb2.NOT_FOUND, "MEMBER_NOT_FOUND", errors.NotFound),
    (code_pb2.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED", errors.FailedPrecondition),  # reason under another code
    (code_pb2.DATA_LOSS, "", errors.CoalitionError),
])
def test_codes_and_reasons_map_to_types(client, fake, code, reason, expected):
    details = (error_info(reason),) if reason else ()
    fake.scripts["Earn"] = [rich_status(code, "refused", *details)]
    with pytest.raises(errors.CoalitionError) as refused:
        client.earn("m-1", points=1)
    assert type(refused.value) is expected
    assert refused.value.reason == reason


def test_plain_status_without_details(client, fake):
    fake.scripts["GetBalance"] = [grpc.StatusCode.NOT_FOUND]
    with pytest.raises(errors.NotFound) as refused:
        client.get_balance("m-404")
    assert refused.value.reason == "" and refused.value.field_violations == [] and refused.value.metadata == {}
    assert refused.value.message == "scripted NOT_FOUND"


def test_unparsable_response_is_an_internal_error_not_retried(client, fake):
    fake.scripts["GetBalance"] = [lambda body, context: b"\xff\xff\xff"]  # not a GetBalanceResponse
    with pytest.raises(errors.Internal) as refused:
        client.get_balance("m-1")
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.INTERNAL, "RESPONSE_UNPARSABLE")
    assert not refused.value.retryable and len(fake.calls("GetBalance")) == 1


def test_retry_info_is_read(client, fake):
    from google.protobuf.duration_pb2 import Duration
    fake.scripts["GetBalance"] = [rich_status(code_pb2.RESOURCE_EXHAUSTED, "slow down",
                                              error_details_pb2.RetryInfo(retry_delay=Duration(nanos=1_000_000)))]
    with pytest.raises(errors.ResourceExhausted) as refused:
        client.get_balance("m-1")
    assert refused.value.retry_delay == pytest.approx(0.001)
    assert len(fake.calls("GetBalance")) == 4


def test_unreachable_network_is_unavailable(partner_key):
    with PartnerClient("127.0.0.1:1", PARTNER_KEY_ID, partner_key, timeout=0.5, max_attempts=2,
                       backoff_initial=0.001, backoff_max=0.002) as unreachable:
        with pytest.raises((errors.Unavailable, errors.DeadlineExceeded)):
            unreachable.get_balance("m-1")


# --- receipts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["tampered", "missing", "other-key-id"])
def test_bad_receipt_raises_receipt_invalid(client, fake, mode):
    fake.receipt_mode = mode
    fake.scripts["Earn"] = [network_pb2.EarnResponse(transaction_id="tx-5", points=5)]
    with pytest.raises(errors.ReceiptInvalid) as refused:
        client.earn("m-1", points=5)
    assert refused.value.receipt is not None
    assert network_pb2.EarnResponse.FromString(refused.value.receipt.response_bytes).transaction_id == "tx-5"
    assert refused.value.receipt.request_bytes == fake.calls("Earn")[0].body
    assert client.last_receipt is None
    assert len(fake.calls("Earn")) == 1  # an invalid receipt is not a transient failure


def test_receipt_from_a_key_not_served_by_the_network(client, fake, partner_key):
    fake.network_key = partner_key  # signs with a key GetNetworkKeys does not list under net-1
    with pytest.raises(errors.ReceiptInvalid):
        client.enroll_member(customer_ref="c-1")


def test_rotated_network_key_is_fetched_once(client, fake, network_key):
    client.earn("m-1", points=1)
    assert len(fake.calls("GetNetworkKeys")) == 1
    rotated = signing.private_key_from_raw(bytes(range(150, 182)))
    fake.keys = [("net-1", signing.raw_public(network_key), False), ("net-2", signing.raw_public(rotated), True)]
    fake.network_key, fake.network_key_id = rotated, "net-2"
    client.earn("m-1", points=2)
    client.earn("m-1", points=3)
    assert len(fake.calls("GetNetworkKeys")) == 2
    assert client.last_receipt.key_id == "net-2"
    # A key id the network does not list: one more fetch, then no more for that id.
    fake.receipt_mode = "other-key-id"
    for _ in range(2):
        with pytest.raises(errors.ReceiptInvalid):
            client.earn("m-1", points=4)
    assert len(fake.calls("GetNetworkKeys")) == 3


def test_inactive_network_key_does_not_verify(client, fake, network_key):
    fake.keys = [("net-1", signing.raw_public(network_key), False)]
    with pytest.raises(errors.ReceiptInvalid):
        client.earn("m-1", points=1)


def test_pinned_network_keys_are_never_fetched(server, fake, partner_key, network_key):
    _, target = server
    with PartnerClient(target, PARTNER_KEY_ID, partner_key, network_keys={"net-1": signing.raw_public(network_key)}) as pinned:
        pinned.earn("m-1", points=1)
        fake.receipt_mode = "other-key-id"
        with pytest.raises(errors.ReceiptInvalid):
            pinned.earn("m-1", points=1)
    assert fake.calls("GetNetworkKeys") == []


def test_receipts_can_be_left_unverified(server, fake, partner_key):
    _, target = server
    fake.receipt_mode = "tampered"
    with PartnerClient(target, PARTNER_KEY_ID, partner_key, verify_receipts=False) as unverified:
        unverified.earn("m-1", points=1)
        assert unverified.last_receipt.key_id == "net-1"
    assert fake.calls("GetNetworkKeys") == []


def test_last_receipt_is_per_thread(client, fake):
    seen: dict[str, bytes] = {}
    barrier = threading.Barrier(3)

    def work(name: str) -> None:
        barrier.wait()
        client.earn("m-1", points=1, request_id=f"req-{name}")
        seen[name] = network_pb2.EarnRequest.FromString(client.last_receipt.request_bytes).request_id

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "req-a", "b": "req-b", "c": "req-c"}
    assert client.last_receipt is None  # the main thread made no call
    assert len(fake.calls("GetNetworkKeys")) == 1  # one fetch shared by all threads


# --- key files and the CLI ------------------------------------------------------------------------

def test_key_file_round_trip_and_permissions(tmp_path):
    path = tmp_path / "acme.key"
    written = KeyFile.generate("acme", "acme-2025-01", target="127.0.0.1:5")
    save_key_file(path, written)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == written
    assert signing.raw_public(load_key_file(path).private_key()) == written.public_key_raw()
    with pytest.raises(KeyFileError):
        save_key_file(path, written)  # never overwrite a key by accident
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(path)
    with pytest.raises(KeyFileError):
        save_key_file(tmp_path / "bad.key", KeyFile("acme", "bad key id", written.private_key_pem))


def test_cli_keygen(tmp_path):
    path = tmp_path / "k.json"
    result = CliRunner().invoke(app, ["keygen", "--out", str(path), "--partner-id", "acme", "--key-id", "acme-7"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["partner_id"] == "acme" and data["key_id"] == "acme-7"
    public_b64 = base64.b64encode(load_key_file(path).public_key_raw()).decode()
    assert f"public_key={public_b64}" in result.output
    assert "key_id=acme-7" in result.output
    again = CliRunner().invoke(app, ["keygen", "--out", str(path)])
    assert again.exit_code == 2


@pytest.fixture
def key_path(tmp_path, partner_key):
    from partners.signing import private_key_to_pem
    path = tmp_path / "acme.key"
    save_key_file(path, KeyFile("acme", PARTNER_KEY_ID, private_key_to_pem(partner_key).decode(), target="127.0.0.1:1"))
    return path


def test_cli_earn_prints_the_response_and_receipt(server, fake, key_path, partner_key):
    _, target = server
    fake.scripts["Earn"] = [network_pb2.EarnResponse(transaction_id="tx-cli", points=12,
                                                     state=network_pb2.LOT_STATE_PENDING)]
    result = CliRunner().invoke(app, ["earn", "m-1", "--amount-minor", "1250", "--key-file", str(key_path),
                                      "--target", target])
    assert result.exit_code == 0, result.output
    assert "tx-cli" in result.output and "LOT_STATE_PENDING" in result.output and "net-1" in result.output
    [earn] = fake.calls("Earn")
    assert_signed(earn, partner_key)


def test_cli_refusal_exits_2_with_reason(server, fake, key_path):
    _, target = server
    fake.scripts["Redeem"] = [rich_status(code_pb2.FAILED_PRECONDITION, "not enough points",
                                          error_info("INSUFFICIENT_POINTS"), bad_request(("points", "too many")))]
    result = CliRunner().invoke(app, ["redeem", "m-1", "100", "--key-file", str(key_path), "--target", target])
    assert result.exit_code == 2
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    for text in ("FAILED_PRECONDITION", "INSUFFICIENT_POINTS", "not enough points", "points: too many"):
        assert text in output


def test_cli_target_comes_from_the_key_file_then_the_environment(server, fake, tmp_path, partner_key):
    _, target = server
    from partners.signing import private_key_to_pem
    pem = private_key_to_pem(partner_key).decode()
    with_target = tmp_path / "with.key"
    save_key_file(with_target, KeyFile("acme", PARTNER_KEY_ID, pem, target=target))
    without_target = tmp_path / "without.key"
    save_key_file(without_target, KeyFile("acme", PARTNER_KEY_ID, pem))
    fake.scripts["GetBalance"] = [network_pb2.GetBalanceResponse(member_id="m-1", available_points=77)]

    by_file = CliRunner().invoke(app, ["balance", "m-1"], env={"COALITION_KEY_FILE": str(with_target),
                                                               "COALITION_TARGET": "127.0.0.1:1"})
    assert by_file.exit_code == 0, by_file.output
    assert "77" in by_file.output
    by_env = CliRunner().invoke(app, ["balance", "m-1", "--key-file", str(without_target)],
                                env={"COALITION_TARGET": target})
    assert by_env.exit_code == 0, by_env.output
    assert len(fake.calls("GetBalance")) == 2


def test_cli_history_pages(server, fake, key_path):
    _, target = server
    fake.scripts["ListTransactions"] = [
        network_pb2.ListTransactionsResponse(
            transactions=[network_pb2.Transaction(transaction_id="tx-a", kind=network_pb2.TRANSACTION_KIND_EARN,
                                                  points=10)], next_page_token="p2"),
        network_pb2.ListTransactionsResponse(
            transactions=[network_pb2.Transaction(transaction_id="tx-b", kind=network_pb2.TRANSACTION_KIND_REDEEM,
                                                  points=-4)]),
    ]
    result = CliRunner().invoke(app, ["history", "--key-file", str(key_path), "--target", target])
    assert result.exit_code == 0, result.output
    assert "tx-a" in result.output and "tx-b" in result.output and "redeem" in result.output


def test_a_page_token_the_network_returns_twice_ends_the_listing(client, fake):
    """PAGE_TOKEN_REPEATED: a listing that would go round in circles stops with INTERNAL instead (SDK side)."""
    looping = network_pb2.ListTransactionsResponse(next_page_token="p2")
    fake.scripts["ListTransactions"] = [network_pb2.ListTransactionsResponse(next_page_token="p1"), looping]
    pages = client.list_transaction_pages()
    assert next(pages).next_page_token == "p1" and next(pages).next_page_token == "p2"
    assert next(pages).next_page_token == "p2"  # the network sent p2 again: this page is still given ...
    with pytest.raises(errors.Internal) as refused:  # ... then the listing stops rather than loop
        next(pages)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.INTERNAL, "PAGE_TOKEN_REPEATED")
    assert not refused.value.retryable and len(fake.calls("ListTransactions")) == 3
