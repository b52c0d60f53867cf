import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatementState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATEMENT_STATE_UNSPECIFIED: _ClassVar[StatementState]
    STATEMENT_STATE_ISSUED: _ClassVar[StatementState]
    STATEMENT_STATE_ACKNOWLEDGED: _ClassVar[StatementState]
    STATEMENT_STATE_DISPUTED: _ClassVar[StatementState]
    STATEMENT_STATE_RESOLVED: _ClassVar[StatementState]
STATEMENT_STATE_UNSPECIFIED: StatementState
STATEMENT_STATE_ISSUED: StatementState
STATEMENT_STATE_ACKNOWLEDGED: StatementState
STATEMENT_STATE_DISPUTED: StatementState
STATEMENT_STATE_RESOLVED: StatementState

class StatementLine(_message.Message):
    __slots__ = ("line_number", "cause", "counterparty", "issuer_id", "redeemer_id", "points", "amount_minor", "dispute_id")
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_FIELD_NUMBER: _ClassVar[int]
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    REDEEMER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    line_number: int
    cause: str
    counterparty: str
    issuer_id: str
    redeemer_id: str
    points: int
    amount_minor: int
    dispute_id: str
    def __init__(self, line_number: _Optional[int] = ..., cause: _Optional[str] = ..., counterparty: _Optional[str] = ..., issuer_id: _Optional[str] = ..., redeemer_id: _Optional[str] = ..., points: _Optional[int] = ..., amount_minor: _Optional[int] = ..., dispute_id: _Optional[str] = ...) -> None: ...

class StatementSummary(_message.Message):
    __slots__ = ("statement_id", "cycle_id", "period_start", "period_end", "currency", "net_minor", "carried_in_minor", "state", "issued_at", "dispute_deadline")
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    NET_MINOR_FIELD_NUMBER: _ClassVar[int]
    CARRIED_IN_MINOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    statement_id: str
    cycle_id: str
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    currency: str
    net_minor: int
    carried_in_minor: int
    state: StatementState
    issued_at: _timestamp_pb2.Timestamp
    dispute_deadline: _timestamp_pb2.Timestamp
    def __init__(self, statement_id: _Optional[str] = ..., cycle_id: _Optional[str] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., net_minor: _Optional[int] = ..., carried_in_minor: _Optional[int] = ..., state: _Optional[_Union[StatementState, str]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dispute_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("summary", "lines", "receivable_minor", "payable_minor", "disputed_minor", "dispute_id", "signed_payload", "signature", "network_key_id")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    RECEIVABLE_MINOR_FIELD_NUMBER: _ClassVar[int]
    PAYABLE_MINOR_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_MINOR_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    NETWORK_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    summary: StatementSummary
    lines: _containers.RepeatedCompositeFieldContainer[StatementLine]
    receivable_minor: int
    payable_minor: int
    disputed_minor: int
    dispute_id: str
    signed_payload: bytes
    signature: bytes
    network_key_id: str
    def __init__(self, summary: _Optional[_Union[StatementSummary, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., receivable_minor: _Optional[int] = ..., payable_minor: _Optional[int] = ..., disputed_minor: _Optional[int] = ..., dispute_id: _Optional[str] = ..., signed_payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., network_key_id: _Optional[str] = ...) -> None: ...

class ListStatementsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "cycle_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    cycle_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., cycle_id: _Optional[str] = ...) -> None: ...

class ListStatementsResponse(_message.Message):
    __slots__ = ("statements", "next_page_token")
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[StatementSummary]
    next_page_token: str
    def __init__(self, statements: _Optional[_Iterable[_Union[StatementSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetStatementRequest(_message.Message):
    __slots__ = ("statement_id",)
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    statement_id: str
    def __init__(self, statement_id: _Optional[str] = ...) -> None: ...

class GetStatementResponse(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: Statement
    def __init__(self, statement: _Optional[_Union[Statement, _Mapping]] = ...) -> None: ...

class AcknowledgeStatementRequest(_message.Message):
    __slots__ = ("request_id", "statement_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    statement_id: str
    def __init__(self, request_id: _Optional[str] = ..., statement_id: _Optional[str] = ...) -> None: ...

class AcknowledgeStatementResponse(_message.Message):
    __slots__ = ("statement_id", "state", "responded_at")
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESPONDED_AT_FIELD_NUMBER: _ClassVar[int]
    statement_id: str
    state: StatementState
    responded_at: _timestamp_pb2.Timestamp
    def __init__(self, statement_id: _Optional[str] = ..., state: _Optional[_Union[StatementState, str]] = ..., responded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DisputeStatementRequest(_message.Message):
    __slots__ = ("request_id", "statement_id", "line_numbers", "amount_minor", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    statement_id: str
    line_numbers: _containers.RepeatedScalarFieldContainer[int]
    amount_minor: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., statement_id: _Optional[str] = ..., line_numbers: _Optional[_Iterable[int]] = ..., amount_minor: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DisputeStatementResponse(_message.Message):
    __slots__ = ("statement_id", "dispute_id", "disputed_minor", "state")
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_MINOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    statement_id: str
    dispute_id: str
    disputed_minor: int
    state: StatementState
    def __init__(self, statement_id: _Optional[str] = ..., dispute_id: _Optional[str] = ..., disputed_minor: _Optional[int] = ..., state: _Optional[_Union[StatementState, str]] = ...) -> None: ...

class GetPartnerPositionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContractTerms(_message.Message):
    __slots__ = ("version", "effective_from", "settlement_model", "earn_points_per_major", "clearing_fee_bps", "issue_price_minor_per_point", "redemption_rate_minor_per_point", "breakage_share_bps", "return_window_seconds", "expiry_days", "max_basket_share_bps", "credit_limit_minor", "collateral_minor", "unverified_spend_limit_points")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_MODEL_FIELD_NUMBER: _ClassVar[int]
    EARN_POINTS_PER_MAJOR_FIELD_NUMBER: _ClassVar[int]
    CLEARING_FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    ISSUE_PRICE_MINOR_PER_POINT_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_RATE_MINOR_PER_POINT_FIELD_NUMBER: _ClassVar[int]
    BREAKAGE_SHARE_BPS_FIELD_NUMBER: _ClassVar[int]
    RETURN_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAX_BASKET_SHARE_BPS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_MINOR_FIELD_NUMBER: _ClassVar[int]
    COLLATERAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNVERIFIED_SPEND_LIMIT_POINTS_FIELD_NUMBER: _ClassVar[int]
    version: int
    effective_from: _timestamp_pb2.Timestamp
    settlement_model: str
    earn_points_per_major: str
    clearing_fee_bps: int
    issue_price_minor_per_point: str
    redemption_rate_minor_per_point: str
    breakage_share_bps: int
    return_window_seconds: int
    expiry_days: int
    max_basket_share_bps: int
    credit_limit_minor: int
    collateral_minor: int
    unverified_spend_limit_points: int
    def __init__(self, version: _Optional[int] = ..., effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., settlement_model: _Optional[str] = ..., earn_points_per_major: _Optional[str] = ..., clearing_fee_bps: _Optional[int] = ..., issue_price_minor_per_point: _Optional[str] = ..., redemption_rate_minor_per_point: _Optional[str] = ..., breakage_share_bps: _Optional[int] = ..., return_window_seconds: _Optional[int] = ..., expiry_days: _Optional[int] = ..., max_basket_share_bps: _Optional[int] = ..., credit_limit_minor: _Optional[int] = ..., collateral_minor: _Optional[int] = ..., unverified_spend_limit_points: _Optional[int] = ...) -> None: ...

class AccruedObligations(_message.Message):
    __slots__ = ("period_start", "period_end", "lines", "receivable_minor", "payable_minor", "net_minor")
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    RECEIVABLE_MINOR_FIELD_NUMBER: _ClassVar[int]
    PAYABLE_MINOR_FIELD_NUMBER: _ClassVar[int]
    NET_MINOR_FIELD_NUMBER: _ClassVar[int]
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    lines: _containers.RepeatedCompositeFieldContainer[StatementLine]
    receivable_minor: int
    payable_minor: int
    net_minor: int
    def __init__(self, period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., receivable_minor: _Optional[int] = ..., payable_minor: _Optional[int] = ..., net_minor: _Optional[int] = ...) -> None: ...

class GetPartnerPositionResponse(_message.Message):
    __slots__ = ("partner_id", "currency", "as_of", "outstanding_points", "liability_minor", "collateral_minor", "exposure_minor", "credit_limit_minor", "credit_headroom_minor", "accrued", "terms_in_force", "upcoming_terms")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_POINTS_FIELD_NUMBER: _ClassVar[int]
    LIABILITY_MINOR_FIELD_NUMBER: _ClassVar[int]
    COLLATERAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREDIT_HEADROOM_MINOR_FIELD_NUMBER: _ClassVar[int]
    ACCRUED_FIELD_NUMBER: _ClassVar[int]
    TERMS_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    UPCOMING_TERMS_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    currency: str
    as_of: _timestamp_pb2.Timestamp
    outstanding_points: int
    liability_minor: int
    collateral_minor: int
    exposure_minor: int
    credit_limit_minor: int
    credit_headroom_minor: int
    accrued: AccruedObligations
    terms_in_force: ContractTerms
    upcoming_terms: _containers.RepeatedCompositeFieldContainer[ContractTerms]
    def __init__(self, partner_id: _Optional[str] = ..., currency: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outstanding_points: _Optional[int] = ..., liability_minor: _Optional[int] = ..., collateral_minor: _Optional[int] = ..., exposure_minor: _Optional[int] = ..., credit_limit_minor: _Optional[int] = ..., credit_headroom_minor: _Optional[int] = ..., accrued: _Optional[_Union[AccruedObligations, _Mapping]] = ..., terms_in_force: _Optional[_Union[ContractTerms, _Mapping]] = ..., upcoming_terms: _Optional[_Iterable[_Union[ContractTerms, _Mapping]]] = ...) -> None: ...
