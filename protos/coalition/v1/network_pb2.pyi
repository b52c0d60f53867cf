import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LotState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOT_STATE_UNSPECIFIED: _ClassVar[LotState]
    LOT_STATE_PENDING: _ClassVar[LotState]
    LOT_STATE_ACTIVE: _ClassVar[LotState]
    LOT_STATE_EXPIRED: _ClassVar[LotState]
    LOT_STATE_REVERSED: _ClassVar[LotState]

class TransactionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_KIND_UNSPECIFIED: _ClassVar[TransactionKind]
    TRANSACTION_KIND_EARN: _ClassVar[TransactionKind]
    TRANSACTION_KIND_REDEEM: _ClassVar[TransactionKind]
    TRANSACTION_KIND_HOLD: _ClassVar[TransactionKind]
    TRANSACTION_KIND_CAPTURE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_VOID: _ClassVar[TransactionKind]
    TRANSACTION_KIND_REVERSE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_EXPIRE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_ADJUST: _ClassVar[TransactionKind]
    TRANSACTION_KIND_TRANSFER: _ClassVar[TransactionKind]
LOT_STATE_UNSPECIFIED: LotState
LOT_STATE_PENDING: LotState
LOT_STATE_ACTIVE: LotState
LOT_STATE_EXPIRED: LotState
LOT_STATE_REVERSED: LotState
TRANSACTION_KIND_UNSPECIFIED: TransactionKind
TRANSACTION_KIND_EARN: TransactionKind
TRANSACTION_KIND_REDEEM: TransactionKind
TRANSACTION_KIND_HOLD: TransactionKind
TRANSACTION_KIND_CAPTURE: TransactionKind
TRANSACTION_KIND_VOID: TransactionKind
TRANSACTION_KIND_REVERSE: TransactionKind
TRANSACTION_KIND_EXPIRE: TransactionKind
TRANSACTION_KIND_ADJUST: TransactionKind
TRANSACTION_KIND_TRANSFER: TransactionKind

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("member_id", "card_number", "customer_ref", "enrolled_at")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_REF_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    card_number: str
    customer_ref: str
    enrolled_at: _timestamp_pb2.Timestamp
    def __init__(self, member_id: _Optional[str] = ..., card_number: _Optional[str] = ..., customer_ref: _Optional[str] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EnrollMemberRequest(_message.Message):
    __slots__ = ("request_id", "customer_ref", "card_number", "referrer_card")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_REF_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REFERRER_CARD_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_ref: str
    card_number: str
    referrer_card: str
    def __init__(self, request_id: _Optional[str] = ..., customer_ref: _Optional[str] = ..., card_number: _Optional[str] = ..., referrer_card: _Optional[str] = ...) -> None: ...

class EnrollMemberResponse(_message.Message):
    __slots__ = ("member", "created", "activation_code", "bonuses")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    BONUSES_FIELD_NUMBER: _ClassVar[int]
    member: Member
    created: bool
    activation_code: str
    bonuses: _containers.RepeatedCompositeFieldContainer[EarnComponent]
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., created: _Optional[bool] = ..., activation_code: _Optional[str] = ..., bonuses: _Optional[_Iterable[_Union[EarnComponent, _Mapping]]] = ...) -> None: ...

class FindMemberRequest(_message.Message):
    __slots__ = ("member_id", "card_number", "customer_ref")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_REF_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    card_number: str
    customer_ref: str
    def __init__(self, member_id: _Optional[str] = ..., card_number: _Optional[str] = ..., customer_ref: _Optional[str] = ...) -> None: ...

class FindMemberResponse(_message.Message):
    __slots__ = ("member", "tier")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    tier: TierProgress
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., tier: _Optional[_Union[TierProgress, _Mapping]] = ...) -> None: ...

class EarnRequest(_message.Message):
    __slots__ = ("request_id", "member_id", "purchase", "points", "receipt_ref", "store_id", "terminal_id", "basket")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_REF_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    BASKET_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    member_id: str
    purchase: Money
    points: int
    receipt_ref: str
    store_id: str
    terminal_id: str
    basket: _containers.RepeatedCompositeFieldContainer[BasketLine]
    def __init__(self, request_id: _Optional[str] = ..., member_id: _Optional[str] = ..., purchase: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ..., receipt_ref: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., basket: _Optional[_Iterable[_Union[BasketLine, _Mapping]]] = ...) -> None: ...

class BasketLine(_message.Message):
    __slots__ = ("sku", "category", "amount_minor")
    SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    sku: str
    category: str
    amount_minor: int
    def __init__(self, sku: _Optional[str] = ..., category: _Optional[str] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class EarnComponent(_message.Message):
    __slots__ = ("kind", "campaign_id", "funder_id", "points")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    FUNDER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    campaign_id: str
    funder_id: str
    points: int
    def __init__(self, kind: _Optional[str] = ..., campaign_id: _Optional[str] = ..., funder_id: _Optional[str] = ..., points: _Optional[int] = ...) -> None: ...

class EarnResponse(_message.Message):
    __slots__ = ("transaction_id", "points", "state", "available_at", "expires_at", "components", "total_points", "tier")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    points: int
    state: LotState
    available_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    components: _containers.RepeatedCompositeFieldContainer[EarnComponent]
    total_points: int
    tier: str
    def __init__(self, transaction_id: _Optional[str] = ..., points: _Optional[int] = ..., state: _Optional[_Union[LotState, str]] = ..., available_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., components: _Optional[_Iterable[_Union[EarnComponent, _Mapping]]] = ..., total_points: _Optional[int] = ..., tier: _Optional[str] = ...) -> None: ...

class PreviewEarnRequest(_message.Message):
    __slots__ = ("member_id", "purchase", "points", "store_id", "basket")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    BASKET_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    purchase: Money
    points: int
    store_id: str
    basket: _containers.RepeatedCompositeFieldContainer[BasketLine]
    def __init__(self, member_id: _Optional[str] = ..., purchase: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ..., store_id: _Optional[str] = ..., basket: _Optional[_Iterable[_Union[BasketLine, _Mapping]]] = ...) -> None: ...

class PreviewEarnResponse(_message.Message):
    __slots__ = ("points", "components", "total_points", "tier")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    points: int
    components: _containers.RepeatedCompositeFieldContainer[EarnComponent]
    total_points: int
    tier: str
    def __init__(self, points: _Optional[int] = ..., components: _Optional[_Iterable[_Union[EarnComponent, _Mapping]]] = ..., total_points: _Optional[int] = ..., tier: _Optional[str] = ...) -> None: ...

class TierProgress(_message.Message):
    __slots__ = ("tier", "qualifying_points", "next_tier", "points_to_next_tier")
    TIER_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TIER_FIELD_NUMBER: _ClassVar[int]
    POINTS_TO_NEXT_TIER_FIELD_NUMBER: _ClassVar[int]
    tier: str
    qualifying_points: int
    next_tier: str
    points_to_next_tier: int
    def __init__(self, tier: _Optional[str] = ..., qualifying_points: _Optional[int] = ..., next_tier: _Optional[str] = ..., points_to_next_tier: _Optional[int] = ...) -> None: ...

class BatchEarnRequest(_message.Message):
    __slots__ = ("request_id", "earns")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EARNS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    earns: _containers.RepeatedCompositeFieldContainer[EarnRequest]
    def __init__(self, request_id: _Optional[str] = ..., earns: _Optional[_Iterable[_Union[EarnRequest, _Mapping]]] = ...) -> None: ...

class BatchEarnResult(_message.Message):
    __slots__ = ("request_id", "earned", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EARNED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    earned: EarnResponse
    error: _status_pb2.Status
    def __init__(self, request_id: _Optional[str] = ..., earned: _Optional[_Union[EarnResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class BatchEarnResponse(_message.Message):
    __slots__ = ("results", "earned_count", "refused_count")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    EARNED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_COUNT_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchEarnResult]
    earned_count: int
    refused_count: int
    def __init__(self, results: _Optional[_Iterable[_Union[BatchEarnResult, _Mapping]]] = ..., earned_count: _Optional[int] = ..., refused_count: _Optional[int] = ...) -> None: ...

class RedeemRequest(_message.Message):
    __slots__ = ("request_id", "member_id", "points", "basket", "receipt_ref", "store_id", "terminal_id", "verification")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BASKET_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_REF_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    member_id: str
    points: int
    basket: Money
    receipt_ref: str
    store_id: str
    terminal_id: str
    verification: MemberVerification
    def __init__(self, request_id: _Optional[str] = ..., member_id: _Optional[str] = ..., points: _Optional[int] = ..., basket: _Optional[_Union[Money, _Mapping]] = ..., receipt_ref: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., verification: _Optional[_Union[MemberVerification, _Mapping]] = ...) -> None: ...

class MemberVerification(_message.Message):
    __slots__ = ("pin", "code")
    PIN_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    pin: str
    code: str
    def __init__(self, pin: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class RedeemResponse(_message.Message):
    __slots__ = ("transaction_id", "points", "value")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    points: int
    value: Money
    def __init__(self, transaction_id: _Optional[str] = ..., points: _Optional[int] = ..., value: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class AuthorizeRedemptionRequest(_message.Message):
    __slots__ = ("request_id", "member_id", "points", "basket", "receipt_ref", "store_id", "terminal_id", "hold_ttl_seconds", "verification")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BASKET_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_REF_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    member_id: str
    points: int
    basket: Money
    receipt_ref: str
    store_id: str
    terminal_id: str
    hold_ttl_seconds: int
    verification: MemberVerification
    def __init__(self, request_id: _Optional[str] = ..., member_id: _Optional[str] = ..., points: _Optional[int] = ..., basket: _Optional[_Union[Money, _Mapping]] = ..., receipt_ref: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., hold_ttl_seconds: _Optional[int] = ..., verification: _Optional[_Union[MemberVerification, _Mapping]] = ...) -> None: ...

class AuthorizeRedemptionResponse(_message.Message):
    __slots__ = ("hold_id", "points", "expires_at")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    points: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, hold_id: _Optional[str] = ..., points: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CaptureRedemptionRequest(_message.Message):
    __slots__ = ("request_id", "hold_id", "points")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    hold_id: str
    points: int
    def __init__(self, request_id: _Optional[str] = ..., hold_id: _Optional[str] = ..., points: _Optional[int] = ...) -> None: ...

class CaptureRedemptionResponse(_message.Message):
    __slots__ = ("transaction_id", "points", "released_points", "value")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    RELEASED_POINTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    points: int
    released_points: int
    value: Money
    def __init__(self, transaction_id: _Optional[str] = ..., points: _Optional[int] = ..., released_points: _Optional[int] = ..., value: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class VoidRedemptionRequest(_message.Message):
    __slots__ = ("request_id", "hold_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    hold_id: str
    def __init__(self, request_id: _Optional[str] = ..., hold_id: _Optional[str] = ...) -> None: ...

class VoidRedemptionResponse(_message.Message):
    __slots__ = ("transaction_id", "released_points")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASED_POINTS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    released_points: int
    def __init__(self, transaction_id: _Optional[str] = ..., released_points: _Optional[int] = ...) -> None: ...

class ReverseRequest(_message.Message):
    __slots__ = ("request_id", "transaction_id", "points", "reason", "member_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    transaction_id: str
    points: int
    reason: str
    member_id: str
    def __init__(self, request_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class ReverseResponse(_message.Message):
    __slots__ = ("transaction_id", "points", "remaining_reversible_points")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_REVERSIBLE_POINTS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    points: int
    remaining_reversible_points: int
    def __init__(self, transaction_id: _Optional[str] = ..., points: _Optional[int] = ..., remaining_reversible_points: _Optional[int] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("member_id", "available_points", "pending_points", "held_points", "expiring_30d_points", "as_of", "tier")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_POINTS_FIELD_NUMBER: _ClassVar[int]
    PENDING_POINTS_FIELD_NUMBER: _ClassVar[int]
    HELD_POINTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_30D_POINTS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    available_points: int
    pending_points: int
    held_points: int
    expiring_30d_points: int
    as_of: _timestamp_pb2.Timestamp
    tier: TierProgress
    def __init__(self, member_id: _Optional[str] = ..., available_points: _Optional[int] = ..., pending_points: _Optional[int] = ..., held_points: _Optional[int] = ..., expiring_30d_points: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tier: _Optional[_Union[TierProgress, _Mapping]] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("transaction_id", "kind", "member_id", "points", "purchase", "receipt_ref", "store_id", "terminal_id", "request_id", "related_id", "created_at")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_REF_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RELATED_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    kind: TransactionKind
    member_id: str
    points: int
    purchase: Money
    receipt_ref: str
    store_id: str
    terminal_id: str
    request_id: str
    related_id: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, transaction_id: _Optional[str] = ..., kind: _Optional[_Union[TransactionKind, str]] = ..., member_id: _Optional[str] = ..., points: _Optional[int] = ..., purchase: _Optional[_Union[Money, _Mapping]] = ..., receipt_ref: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., request_id: _Optional[str] = ..., related_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("member_id", "page_size", "page_token")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    page_size: int
    page_token: str
    def __init__(self, member_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "next_page_token")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    next_page_token: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetNetworkKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NetworkKey(_message.Message):
    __slots__ = ("key_id", "public_key", "active")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    public_key: bytes
    active: bool
    def __init__(self, key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., active: _Optional[bool] = ...) -> None: ...

class GetNetworkKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[NetworkKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[NetworkKey, _Mapping]]] = ...) -> None: ...

class GetTrafficReportRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "page_size", "page_token")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    page_size: int
    page_token: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TrafficReportRow(_message.Message):
    __slots__ = ("date", "store_id", "earn_count", "earned_points", "purchase_amount_minor", "redemption_count", "redeemed_points", "redeemed_value_minor", "basket_amount_minor", "reversal_count", "reversed_points")
    DATE_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    EARN_COUNT_FIELD_NUMBER: _ClassVar[int]
    EARNED_POINTS_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_POINTS_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    BASKET_AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    REVERSED_POINTS_FIELD_NUMBER: _ClassVar[int]
    date: str
    store_id: str
    earn_count: int
    earned_points: int
    purchase_amount_minor: int
    redemption_count: int
    redeemed_points: int
    redeemed_value_minor: int
    basket_amount_minor: int
    reversal_count: int
    reversed_points: int
    def __init__(self, date: _Optional[str] = ..., store_id: _Optional[str] = ..., earn_count: _Optional[int] = ..., earned_points: _Optional[int] = ..., purchase_amount_minor: _Optional[int] = ..., redemption_count: _Optional[int] = ..., redeemed_points: _Optional[int] = ..., redeemed_value_minor: _Optional[int] = ..., basket_amount_minor: _Optional[int] = ..., reversal_count: _Optional[int] = ..., reversed_points: _Optional[int] = ...) -> None: ...

class GetTrafficReportResponse(_message.Message):
    __slots__ = ("rows", "currency", "next_page_token")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[TrafficReportRow]
    currency: str
    next_page_token: str
    def __init__(self, rows: _Optional[_Iterable[_Union[TrafficReportRow, _Mapping]]] = ..., currency: _Optional[str] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("partner_id", "sequence", "type", "occurred_at", "transaction", "subject", "detail_json")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    sequence: int
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    transaction: Transaction
    subject: str
    detail_json: str
    def __init__(self, partner_id: _Optional[str] = ..., sequence: _Optional[int] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., subject: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class SignedEvent(_message.Message):
    __slots__ = ("event", "signature", "network_key_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    NETWORK_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    event: bytes
    signature: bytes
    network_key_id: str
    def __init__(self, event: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., network_key_id: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("after_sequence", "page_size", "page_token")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    page_size: int
    page_token: str
    def __init__(self, after_sequence: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "high_water_sequence")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[SignedEvent]
    next_page_token: str
    high_water_sequence: int
    def __init__(self, events: _Optional[_Iterable[_Union[SignedEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., high_water_sequence: _Optional[int] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("after_sequence",)
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    def __init__(self, after_sequence: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("high_water_sequence", "sent_at")
    HIGH_WATER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    high_water_sequence: int
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, high_water_sequence: _Optional[int] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("event", "heartbeat")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    event: SignedEvent
    heartbeat: Heartbeat
    def __init__(self, event: _Optional[_Union[SignedEvent, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class WebhookEndpoint(_message.Message):
    __slots__ = ("endpoint_id", "url", "event_types", "enabled", "disabled_reason", "delivered_through_sequence", "created_at", "updated_at")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_THROUGH_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    enabled: bool
    disabled_reason: str
    delivered_through_sequence: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, endpoint_id: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., enabled: _Optional[bool] = ..., disabled_reason: _Optional[str] = ..., delivered_through_sequence: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateWebhookEndpointRequest(_message.Message):
    __slots__ = ("request_id", "url", "event_types")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "secret")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    secret: str
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWebhookEndpointsResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[WebhookEndpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[WebhookEndpoint, _Mapping]]] = ...) -> None: ...

class UpdateWebhookEndpointRequest(_message.Message):
    __slots__ = ("request_id", "endpoint_id", "url", "event_types", "state")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    endpoint_id: str
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    state: str
    def __init__(self, request_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., state: _Optional[str] = ...) -> None: ...

class UpdateWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ...) -> None: ...

class DeleteWebhookEndpointRequest(_message.Message):
    __slots__ = ("request_id", "endpoint_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    endpoint_id: str
    def __init__(self, request_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookEndpointResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("endpoint_id", "page_size")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    page_size: int
    def __init__(self, endpoint_id: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("endpoint_id", "sequence", "webhook_id", "attempt", "replay", "delivered", "status_code", "error", "latency_ms", "attempted_at")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTED_AT_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    sequence: int
    webhook_id: str
    attempt: int
    replay: bool
    delivered: bool
    status_code: int
    error: str
    latency_ms: int
    attempted_at: _timestamp_pb2.Timestamp
    def __init__(self, endpoint_id: _Optional[str] = ..., sequence: _Optional[int] = ..., webhook_id: _Optional[str] = ..., attempt: _Optional[int] = ..., replay: _Optional[bool] = ..., delivered: _Optional[bool] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., latency_ms: _Optional[int] = ..., attempted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ...) -> None: ...

class ReplayWebhookEventsRequest(_message.Message):
    __slots__ = ("request_id", "endpoint_id", "first_sequence", "last_sequence")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    endpoint_id: str
    first_sequence: int
    last_sequence: int
    def __init__(self, request_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., first_sequence: _Optional[int] = ..., last_sequence: _Optional[int] = ...) -> None: ...

class ReplayWebhookEventsResponse(_message.Message):
    __slots__ = ("replay_id", "first_sequence", "last_sequence")
    REPLAY_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    replay_id: str
    first_sequence: int
    last_sequence: int
    def __init__(self, replay_id: _Optional[str] = ..., first_sequence: _Optional[int] = ..., last_sequence: _Optional[int] = ...) -> None: ...

class PartnerCampaign(_message.Message):
    __slots__ = ("campaign_id", "name", "status", "stores", "multiplier_bps", "fixed_points", "cap_points", "cap_period", "budget_points", "budget_left", "awarded_points", "min_basket_minor", "weekdays")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_BPS_FIELD_NUMBER: _ClassVar[int]
    FIXED_POINTS_FIELD_NUMBER: _ClassVar[int]
    CAP_POINTS_FIELD_NUMBER: _ClassVar[int]
    CAP_PERIOD_FIELD_NUMBER: _ClassVar[int]
    BUDGET_POINTS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_FIELD_NUMBER: _ClassVar[int]
    AWARDED_POINTS_FIELD_NUMBER: _ClassVar[int]
    MIN_BASKET_MINOR_FIELD_NUMBER: _ClassVar[int]
    WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    name: str
    status: str
    stores: _containers.RepeatedScalarFieldContainer[str]
    multiplier_bps: int
    fixed_points: int
    cap_points: int
    cap_period: str
    budget_points: int
    budget_left: int
    awarded_points: int
    min_basket_minor: int
    weekdays: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., stores: _Optional[_Iterable[str]] = ..., multiplier_bps: _Optional[int] = ..., fixed_points: _Optional[int] = ..., cap_points: _Optional[int] = ..., cap_period: _Optional[str] = ..., budget_points: _Optional[int] = ..., budget_left: _Optional[int] = ..., awarded_points: _Optional[int] = ..., min_basket_minor: _Optional[int] = ..., weekdays: _Optional[_Iterable[int]] = ...) -> None: ...

class CreateCampaignRequest(_message.Message):
    __slots__ = ("request_id", "campaign_id", "name", "stores", "multiplier_bps", "fixed_points", "cap_points", "cap_period", "budget_points", "min_basket_minor", "weekdays")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_BPS_FIELD_NUMBER: _ClassVar[int]
    FIXED_POINTS_FIELD_NUMBER: _ClassVar[int]
    CAP_POINTS_FIELD_NUMBER: _ClassVar[int]
    CAP_PERIOD_FIELD_NUMBER: _ClassVar[int]
    BUDGET_POINTS_FIELD_NUMBER: _ClassVar[int]
    MIN_BASKET_MINOR_FIELD_NUMBER: _ClassVar[int]
    WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    campaign_id: str
    name: str
    stores: _containers.RepeatedScalarFieldContainer[str]
    multiplier_bps: int
    fixed_points: int
    cap_points: int
    cap_period: str
    budget_points: int
    min_basket_minor: int
    weekdays: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, request_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., stores: _Optional[_Iterable[str]] = ..., multiplier_bps: _Optional[int] = ..., fixed_points: _Optional[int] = ..., cap_points: _Optional[int] = ..., cap_period: _Optional[str] = ..., budget_points: _Optional[int] = ..., min_basket_minor: _Optional[int] = ..., weekdays: _Optional[_Iterable[int]] = ...) -> None: ...

class CreateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: PartnerCampaign
    def __init__(self, campaign: _Optional[_Union[PartnerCampaign, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns",)
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[PartnerCampaign]
    def __init__(self, campaigns: _Optional[_Iterable[_Union[PartnerCampaign, _Mapping]]] = ...) -> None: ...

class UpdateCampaignStatusRequest(_message.Message):
    __slots__ = ("request_id", "campaign_id", "action")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    campaign_id: str
    action: str
    def __init__(self, request_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class UpdateCampaignStatusResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: PartnerCampaign
    def __init__(self, campaign: _Optional[_Union[PartnerCampaign, _Mapping]] = ...) -> None: ...
