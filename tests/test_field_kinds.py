"""One rule per field kind, as the .proto files say .

The test reads protos/coalition/v1/*.proto: every request field's comment names its kind (`// kind: reference`,
network.core.fields). It checks that each field has one, that network.validation applies the same kind, and then
sends each kind's accepted and refused examples in that field through the real, signed gRPC API: a refused value
gets INVALID_ARGUMENT with a BadRequest field violation naming the field and writes nothing; an accepted value is
not refused by the field's rule (the call may still be refused for another reason: an unknown member, say).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from network import validation
from network.server import start_server
from network.core import fields
from partners import errors, signing
from protos.coalition.v1 import network_pb2 as npb
from protos.coalition.v1 import settlement_pb2 as spb
from settlement.grpc_service import registration
from test_network_refusals import snapshot

PROTOS = Path(__file__).resolve().parents[1] / "protos" / "coalition" / "v1"
_BLOCK = re.compile(r"(message|enum|oneof|service)\s+(\w+)\s*\{(\s*\})?")
_FIELD = re.compile(r"(?:repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*\d+\s*;")
_INT32 = (-2**31, 2**31 - 1)
_ids = itertools.count()


def proto_fields() -> dict[str, dict[str, tuple[str, list[str]]]]:
    """message full name -> field -> (type, the `kind:` tags of its comment), from the .proto sources."""
    found: dict[str, dict[str, tuple[str, list[str]]]] = {}
    for path in sorted(PROTOS.glob("*.proto")):
        stack: list[tuple[str, str]] = []
        comments: list[str] = []
        for line in path.read_text().splitlines():
            text = line.strip()
            if text.startswith("//"):
                comments.append(text[2:].strip())
                continue
            block = _BLOCK.match(text)
            if block:
                if block[1] == "message":
                    found.setdefault(f"coalition.v1.{block[2]}", {})
                if not block[3]:
                    stack.append((block[1], block[2]))
            elif text.startswith("}"):
                stack.pop()
            elif (field := _FIELD.fullmatch(text)) and stack and stack[-1][0] in ("message", "oneof"):
                message = next(name for kind, name in reversed(stack) if kind == "message")
                tags = [c.removeprefix("kind:").strip() for c in comments if c.startswith("kind:")]
                found[f"coalition.v1.{message}"][field[2]] = (field[1], tags)
            comments = []
    return found


PROTO = proto_fields()
# Message-typed request fields: their kinds are on their own fields (Money: a valid one is the start of each case;
# MemberVerification: an empty one, its oneof then set to the value).
NESTED = {"Money": npb.Money, "MemberVerification": npb.MemberVerification}
REQUESTS = sorted(name for name in PROTO if name.endswith("Request"))


def test_every_request_field_names_its_kind_and_the_server_applies_that_kind():
    assert len(REQUESTS) == 30
    for message in [*REQUESTS, *(f"coalition.v1.{m}" for m in NESTED), "coalition.v1.BasketLine"]:
        tagged = {}
        for name, (type_name, tags) in PROTO[message].items():
            if type_name in NESTED:
                assert tags == [], f"{message}.{name}: a {type_name} field's kinds are on {type_name}'s fields"
                continue
            assert len(tags) == 1, f"{message}.{name} must name exactly one kind, has {tags}"
            fields.parse_kind(f"kind: {tags[0]}")  # a kind that exists, in the documented form
            tagged[name] = tags[0]
        assert tagged == validation.FIELD_KINDS[message], message


def test_each_kind_accepts_and_refuses_its_examples():
    for tags in validation.FIELD_KINDS.values():
        for tag in tags.values():
            kind = fields.parse_kind(f"kind: {tag}")
            accepted, refused = kind.examples()
            assert accepted and refused, tag
            assert [v for v in accepted if kind.problem(v) is not None] == [], tag
            assert [v for v in refused if kind.problem(v) is None] == [], tag


def test_references_are_one_rule():
    """A bug found in review: receipt_ref and terminal_id took a space and non-ASCII letters while customer_ref
    refused them."""
    reference = validation.kind_of("coalition.v1.EarnRequest", "receipt_ref")
    for message, field in (("EarnRequest", "terminal_id"), ("RedeemRequest", "store_id"),
                           ("EnrollMemberRequest", "customer_ref")):
        assert validation.kind_of(f"coalition.v1.{message}", field) == reference
    assert reference.problem("two words") and reference.problem("caf\u00e9") and reference.problem("r-77:x.9_Z") is None
    member_id = validation.kind_of("coalition.v1.EarnRequest", "member_id")
    assert member_id.name == "uuid" and member_id.problem("m-0042") is not None


# --- over the wire --------------------------------------------------------------------------------------------

SERVICES = {"coalition.v1.ListStatementsRequest": "SettlementService",
            "coalition.v1.GetStatementRequest": "SettlementService",
            "coalition.v1.AcknowledgeStatementRequest": "SettlementService",
            "coalition.v1.DisputeStatementRequest": "SettlementService",
            "coalition.v1.GetPartnerPositionRequest": "SettlementService"}
UNKNOWN = "0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69"  # well formed, no such member, hold or transaction


def rid() -> str:
    return f"fk-{next(_ids)}-{id(_ids) % 10_000}"


def base_request(message: str, member_id: str):
    """A valid request of `message` for the calling partner (it may be refused further on: not found, say)."""
    short = message.removeprefix("coalition.v1.")
    if short in ("EarnRequest",):
        return npb.EarnRequest(request_id=rid(), member_id=member_id, points=1)
    builders = {
        "EnrollMemberRequest": lambda: npb.EnrollMemberRequest(request_id=rid()),
        "FindMemberRequest": lambda: npb.FindMemberRequest(member_id=member_id),
        "PreviewEarnRequest": lambda: npb.PreviewEarnRequest(member_id=member_id, points=1),
        "BatchEarnRequest": lambda: npb.BatchEarnRequest(request_id=rid(), earns=[base_request(
            "coalition.v1.EarnRequest", member_id)]),
        "RedeemRequest": lambda: npb.RedeemRequest(request_id=rid(), member_id=member_id, points=1),
        "AuthorizeRedemptionRequest": lambda: npb.AuthorizeRedemptionRequest(request_id=rid(), member_id=member_id,
                                                                             points=1),
        "CaptureRedemptionRequest": lambda: npb.CaptureRedemptionRequest(request_id=rid(), hold_id=UNKNOWN),
        "VoidRedemptionRequest": lambda: npb.VoidRedemptionRequest(request_id=rid(), hold_id=UNKNOWN),
        "ReverseRequest": lambda: npb.ReverseRequest(request_id=rid(), transaction_id=UNKNOWN),
        "GetBalanceRequest": lambda: npb.GetBalanceRequest(member_id=member_id),
        "ListTransactionsRequest": lambda: npb.ListTransactionsRequest(),
        "GetNetworkKeysRequest": lambda: npb.GetNetworkKeysRequest(),
        "GetTrafficReportRequest": lambda: npb.GetTrafficReportRequest(start_date="2026-11-01", end_date="2026-11-30"),
        "GetPartnerPositionRequest": lambda: spb.GetPartnerPositionRequest(),
        "ListEventsRequest": lambda: npb.ListEventsRequest(),
        "WatchEventsRequest": lambda: npb.WatchEventsRequest(),
        "CreateWebhookEndpointRequest": lambda: npb.CreateWebhookEndpointRequest(request_id=rid(),
                                                                                 url="https://example.com/hooks"),
        "ListWebhookEndpointsRequest": lambda: npb.ListWebhookEndpointsRequest(),
        "UpdateWebhookEndpointRequest": lambda: npb.UpdateWebhookEndpointRequest(request_id=rid(), endpoint_id=UNKNOWN),
        "DeleteWebhookEndpointRequest": lambda: npb.DeleteWebhookEndpointRequest(request_id=rid(), endpoint_id=UNKNOWN),
        "ListWebhookDeliveriesRequest": lambda: npb.ListWebhookDeliveriesRequest(),
        "ReplayWebhookEventsRequest": lambda: npb.ReplayWebhookEventsRequest(request_id=rid(), endpoint_id=UNKNOWN,
                                                                             first_sequence=1),
        "CreateCampaignRequest": lambda: npb.CreateCampaignRequest(request_id=rid(), campaign_id=f"fk-{rid()}",
                                                                   name="kinds", fixed_points=1),
        "ListCampaignsRequest": lambda: npb.ListCampaignsRequest(),
        "UpdateCampaignStatusRequest": lambda: npb.UpdateCampaignStatusRequest(request_id=rid(), campaign_id="fk-none",
                                                                               action="end"),
        "ListStatementsRequest": lambda: spb.ListStatementsRequest(),
        "GetStatementRequest": lambda: spb.GetStatementRequest(statement_id="st-unknown"),
        "AcknowledgeStatementRequest": lambda: spb.AcknowledgeStatementRequest(request_id=rid(),
                                                                               statement_id="st-unknown"),
        "DisputeStatementRequest": lambda: spb.DisputeStatementRequest(request_id=rid(), statement_id="st-unknown",
                                                                       line_numbers=[1], reason="wrong fee"),
    }
    return builders[short]()


def field_paths(message: str) -> list[tuple[str, str, str]]:
    """(path from the request, the field's message, the field's name) for every kind-bearing field."""
    paths = []
    for name, (type_name, _) in PROTO[message].items():
        if type_name in NESTED:
            paths += [(f"{name}.{inner}", f"coalition.v1.{type_name}", inner)
                      for inner in PROTO[f"coalition.v1.{type_name}"]]
        else:
            paths.append((name, message, name))
    return paths


def with_value(request, path: str, value, member_id: str):
    changed = type(request)()
    changed.CopyFrom(request)
    *outer, last = path.split(".")
    target = changed
    for name in outer:  # a Money field: start from a valid one; a MemberVerification: from an empty one
        if getattr(target, name).DESCRIPTOR.name == "Money":
            getattr(target, name).CopyFrom(npb.Money(amount_minor=1000, currency="EUR"))
        target = getattr(target, name)
    descriptor = target.DESCRIPTOR.fields_by_name[last]
    if descriptor.is_repeated:  # a count: that many valid items
        del getattr(target, last)[:]
        if descriptor.message_type is npb.BasketLine.DESCRIPTOR:  # a basket: that many valid lines
            getattr(target, last).extend(npb.BasketLine(sku="s-1", category="c", amount_minor=100)
                                         for _ in range(value))
        elif descriptor.message_type is not None:
            getattr(target, last).extend(base_request("coalition.v1.EarnRequest", member_id) for _ in range(value))
        elif descriptor.type == descriptor.TYPE_STRING:  # names (a webhook's event types): distinct ones
            getattr(target, last).extend(f"type.{i}" for i in range(value))
        else:
            getattr(target, last).extend(range(1, value + 1))
    else:
        setattr(target, last, value)
    return changed


def fits(descriptor, value) -> bool:
    if descriptor.is_repeated or not isinstance(value, int):
        return True
    return descriptor.cpp_type != descriptor.CPPTYPE_INT32 or _INT32[0] <= value <= _INT32[1]


STREAMS = {"coalition.v1.WatchEventsRequest"}  # server-streaming: refused before the first item, or answered


def call(shop, message: str, request) -> bytes:
    """Send `request` signed, as its bytes; the response bytes, or the refusal raised (partners.errors)."""
    service = SERVICES.get(message, "NetworkService")
    method = f"/coalition.v1.{service}/{message.removeprefix('coalition.v1.').removesuffix('Request')}"
    body = request.SerializeToString()
    headers = signing.sign_request(shop.private_key, shop.key_id, method, body)
    with grpc.insecure_channel(shop.target) as channel:
        try:
            if message in STREAMS:  # answered: its first item; a refusal ends the stream before any
                responses = channel.unary_stream(method)(body, metadata=headers.metadata(), timeout=30)
                try:
                    return next(responses)
                finally:
                    responses.cancel()
            return channel.unary_unary(method)(body, metadata=headers.metadata(), timeout=30)
        except grpc.RpcError as exc:
            raise errors.error_from_rpc(exc) from exc


def send(shop, message: str, request) -> errors.CoalitionError | None:
    """The call's refusal, or None when it was answered."""
    try:
        call(shop, message, request)
    except errors.CoalitionError as refused:
        return refused
    return None


def violations(refused) -> list[tuple[str, str]]:
    if refused is None or refused.code.name != "INVALID_ARGUMENT":
        return []
    return refused.field_violations


@pytest.fixture(scope="module")
def both_services(engine, settings, network_signer) -> Iterator[str]:
    """A network server with SettlementService too. No statement exists for these partners, so no call here
    ever reaches Temporal (a statement's answer would signal its cycle's workflow)."""
    async def no_temporal():
        raise AssertionError("no call in this test answers a statement")

    running = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer,
                           extra_services=[registration(engine, settings, no_temporal)])
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


@pytest.mark.parametrize("message", REQUESTS)
def test_each_field_refuses_and_accepts_its_kinds_examples_over_grpc(engine, make_partner, both_services, message):
    shop = replace(make_partner("kinds"), target=both_services)
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
        network.earn(member_id, points=1000)
    for path, owner, name in field_paths(message):
        kind = validation.kind_of(owner, name)
        nested = NESTED.get(owner.removeprefix("coalition.v1."))
        descriptor = (nested.DESCRIPTOR if nested is not None
                      else base_request(message, member_id).DESCRIPTOR).fields_by_name[name]
        accepted, refused = kind.examples()
        own_problems = {kind.problem(v) for v in refused}
        for value in filter(lambda v: fits(descriptor, v), refused):
            request = with_value(base_request(message, member_id), path, value, member_id)
            before = snapshot(engine)
            answer = send(shop, message, request)
            assert answer is not None and answer.code.name == "INVALID_ARGUMENT", (message, path, value, answer)
            assert answer.field_violations == [(path, kind.problem(value))], (message, path, value)
            assert snapshot(engine) == before, f"{message}.{path}={value!r} was refused but wrote something"
            if message == "coalition.v1.EarnRequest":  # the same item in a batch: refused on its own, named so
                batch = npb.BatchEarnRequest(request_id=rid(), earns=[request])
                answered = call(shop, "coalition.v1.BatchEarnRequest", batch)
                [result] = npb.BatchEarnResponse.FromString(answered).results
                item = errors.error_from_status(result.error)
                assert item.field_violations == [(f"earns[0].{path}", kind.problem(value))], (path, value)
                keys = before["idempotency_keys"] + 1  # the batch's own answer is kept; the item wrote nothing
                assert snapshot(engine) == {**before, "idempotency_keys": keys}
        for value in filter(lambda v: fits(descriptor, v), accepted):
            request = with_value(base_request(message, member_id), path, value, member_id)
            answer = send(shop, message, request)
            own = [(f, d) for f, d in violations(answer) if f == path and d in own_problems]
            assert own == [], (message, path, value, answer)
