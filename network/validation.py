"""Edge validation: every field of every request checked against its kind (network.core.fields) before anything is
read or written. A value its kind refuses is INVALID_ARGUMENT with a BadRequest field violation naming the field
(the path from the request: `purchase.amount_minor`, `earns[3].receipt_ref` for a BatchEarn item).

FIELD_KINDS says each field's kind exactly as its comment in protos/coalition/v1/*.proto does (`kind: ...`);
tests/test_field_kinds.py reads the .proto files, checks that the two agree, and sends each kind's accepted and
refused examples through the real gRPC API.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from google.protobuf.message import Message

from network import errors
from network.core.fields import FieldKind, parse_kind
from network.core.rules import MAX_HOLD_TTL, MIN_HOLD_TTL

MAX_BATCH = 1000  # earns in one BatchEarn
MAX_PAGE_SIZE = 500  # ListTransactions, GetTrafficReport, ListEvents
MAX_STATEMENT_PAGE_SIZE = 200  # ListStatements
MAX_DISPUTED_LINES = 1000
MAX_BASKET_LINES = 100  # lines of an earn's basket
_REFERENCES = {"receipt_ref": "reference", "store_id": "reference", "terminal_id": "reference"}

# message full name -> field -> kind, as the .proto comments write it. Fields of message type (Money) have none:
# their own fields are checked; a repeated field's kind bounds its number of items.
FIELD_KINDS: dict[str, dict[str, str]] = {
    "coalition.v1.Money": {"amount_minor": "amount", "currency": "currency"},
    "coalition.v1.MemberVerification": {"pin": "digits 4..8", "code": "digits 10..10"},
    "coalition.v1.EnrollMemberRequest": {"request_id": "id", "customer_ref": "reference",
                                         "card_number": "card_number, optional",
                                         "referrer_card": "card_number, optional"},
    "coalition.v1.FindMemberRequest": {"member_id": "uuid", "card_number": "card_number",
                                       "customer_ref": "reference 1..64"},
    "coalition.v1.EarnRequest": {"request_id": "id", "member_id": "uuid", "points": "points", **_REFERENCES,
                                 "basket": f"count 0..{MAX_BASKET_LINES}"},
    "coalition.v1.BasketLine": {"sku": "reference", "category": "reference", "amount_minor": "amount"},
    "coalition.v1.PreviewEarnRequest": {"member_id": "uuid", "points": "points", "store_id": "reference",
                                        "basket": f"count 0..{MAX_BASKET_LINES}"},
    "coalition.v1.BatchEarnRequest": {"request_id": "id", "earns": f"count 1..{MAX_BATCH}"},
    "coalition.v1.RedeemRequest": {"request_id": "id", "member_id": "uuid", "points": "points", **_REFERENCES},
    "coalition.v1.AuthorizeRedemptionRequest": {"request_id": "id", "member_id": "uuid", "points": "points",
                                                **_REFERENCES, "hold_ttl_seconds": f"seconds {MIN_HOLD_TTL}..{MAX_HOLD_TTL}, optional"},
    "coalition.v1.CaptureRedemptionRequest": {"request_id": "id", "hold_id": "uuid", "points": "points, optional"},
    "coalition.v1.VoidRedemptionRequest": {"request_id": "id", "hold_id": "uuid"},
    "coalition.v1.ReverseRequest": {"request_id": "id", "transaction_id": "uuid", "points": "points, optional",
                                    "reason": "text", "member_id": "uuid, optional"},
    "coalition.v1.GetBalanceRequest": {"member_id": "uuid"},
    "coalition.v1.ListTransactionsRequest": {"member_id": "uuid, optional", "page_size": f"page_size 1..{MAX_PAGE_SIZE}",
                                             "page_token": "page_token"},
    "coalition.v1.GetNetworkKeysRequest": {},
    "coalition.v1.GetTrafficReportRequest": {"start_date": "date", "end_date": "date",
                                             "page_size": f"page_size 1..{MAX_PAGE_SIZE}", "page_token": "page_token"},
    "coalition.v1.GetPartnerPositionRequest": {},
    "coalition.v1.ListEventsRequest": {"after_sequence": "sequence", "page_size": f"page_size 1..{MAX_PAGE_SIZE}",
                                       "page_token": "page_token"},
    "coalition.v1.WatchEventsRequest": {"after_sequence": "sequence"},
    "coalition.v1.CreateWebhookEndpointRequest": {"request_id": "id", "url": "text 1..2048",
                                                  "event_types": "count 0..32"},
    "coalition.v1.ListWebhookEndpointsRequest": {},
    "coalition.v1.UpdateWebhookEndpointRequest": {"request_id": "id", "endpoint_id": "uuid", "url": "text 0..2048",
                                                  "event_types": "count 0..32", "state": "reference"},
    "coalition.v1.DeleteWebhookEndpointRequest": {"request_id": "id", "endpoint_id": "uuid"},
    "coalition.v1.ListWebhookDeliveriesRequest": {"endpoint_id": "uuid, optional",
                                                  "page_size": f"page_size 1..{MAX_PAGE_SIZE}"},
    "coalition.v1.ReplayWebhookEventsRequest": {"request_id": "id", "endpoint_id": "uuid",
                                                "first_sequence": "sequence", "last_sequence": "sequence"},
    "coalition.v1.CreateCampaignRequest": {"request_id": "id", "campaign_id": "id 1..64", "name": "text 1..200",
                                           "stores": "count 0..32", "multiplier_bps": "points, optional",
                                           "fixed_points": "points, optional", "cap_points": "points, optional",
                                           "cap_period": "reference", "budget_points": "points, optional",
                                           "min_basket_minor": "amount, optional", "weekdays": "count 0..7"},
    "coalition.v1.ListCampaignsRequest": {},
    "coalition.v1.UpdateCampaignStatusRequest": {"request_id": "id", "campaign_id": "id 1..64",
                                                 "action": "reference 1..16"},
    "coalition.v1.ListStatementsRequest": {"page_size": f"page_size 1..{MAX_STATEMENT_PAGE_SIZE}", "page_token": "page_token",
                                           "cycle_id": "id, optional"},
    "coalition.v1.GetStatementRequest": {"statement_id": "id 1..100"},
    "coalition.v1.AcknowledgeStatementRequest": {"request_id": "id", "statement_id": "id 1..100"},
    "coalition.v1.DisputeStatementRequest": {"request_id": "id", "statement_id": "id 1..100",
                                             "line_numbers": f"count 1..{MAX_DISPUTED_LINES}", "amount_minor": "amount, optional",
                                             "reason": "text 1..500"},
}
_PARSED: dict[str, dict[str, FieldKind]] = {
    message: {name: parse_kind(f"kind: {tag}") for name, tag in fields.items()}
    for message, fields in FIELD_KINDS.items()}


def kind_of(message_name: str, field_name: str) -> FieldKind:
    return _PARSED[message_name][field_name]


def check(kind: FieldKind, value: Any, field_name: str) -> None:
    """Refuse `value` of the field `field_name` unless its kind accepts it."""
    problem = kind.problem(value)
    if problem is not None:
        raise errors.invalid(field_name, problem)


class _Step(NamedTuple):
    """One field of a message as `validate` walks it (compiled once per message type, in the .proto's order)."""

    name: str
    oneof: str | None  # the oneof it belongs to: checked only when it is the one chosen
    shape: str  # "scalar": its value; "repeated": its number of items; "message": its own fields, when set
    problem: Callable[[Any], str | None] | None  # the kind's rule (None for a message field)


_STEPS: dict[str, tuple[_Step, ...]] = {}


def _steps(descriptor) -> tuple[_Step, ...]:
    steps = _STEPS.get(descriptor.full_name)
    if steps is None:
        kinds = _PARSED[descriptor.full_name]
        steps = _STEPS[descriptor.full_name] = tuple(
            _Step(field.name, field.containing_oneof.name if field.containing_oneof is not None else None,
                  "repeated" if field.is_repeated else "message" if field.message_type is not None else "scalar",
                  None if field.message_type is not None and not field.is_repeated else kinds[field.name].problem)
            for field in descriptor.fields)
    return steps


def validate(request: Message, prefix: str = "") -> None:
    """Check every field of `request` that is set (of a oneof, only the one chosen) against its kind, in the
    order of the .proto; the first refused field is reported. Items of a repeated message field are left to the
    method (BatchEarn refuses each item on its own). The walk over a message type's fields is compiled once."""
    chosen: dict[str, str | None] = {}
    for step in _steps(request.DESCRIPTOR):
        if step.oneof is not None:
            if step.oneof not in chosen:
                chosen[step.oneof] = request.WhichOneof(step.oneof)
            if chosen[step.oneof] != step.name:
                continue
        value = getattr(request, step.name)
        if step.shape == "scalar":
            problem = step.problem(value)
        elif step.shape == "repeated":
            problem = step.problem(len(value))
        else:
            if request.HasField(step.name):
                validate(value, prefix + step.name + ".")
            continue
        if problem is not None:
            raise errors.invalid(prefix + step.name, problem)
