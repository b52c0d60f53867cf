"""SettlementService over signed gRPC: partners list, read, acknowledge and dispute their own statements.

Served by the network server next to NetworkService (network.server.start_server(extra_services=[registration(
...)])), behind the same signature-verifying interceptor. A response is written in the database first (the
source of truth, idempotent by request_id through network.grpc_service.run_mutation), then the cycle's workflow
is signalled from a background event loop; a lost signal only delays the workflow until its next database poll.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from datetime import datetime, timezone
from decimal import Decimal
from typing import Awaitable, Callable

from sqlalchemy import Connection, Engine
from temporalio.client import Client

from network import errors
from network import validation
from network.core.terms import ContractTerms
from network.grpc_service import run_mutation, timestamp
from network.interceptor import current_caller
from network.signer import NetworkSigner
from network.registration import ServiceRegistrar, ServiceRegistration
from network.settings import IDEMPOTENCY_RETENTION_DEFAULT_SECONDS
from settlement.settings import SettlementSettings
from protos.coalition.v1 import settlement_pb2 as pb
from protos.coalition.v1 import settlement_pb2_grpc
from settlement import responses, store
from settlement.control import signal_response
from settlement.position import PartnerPosition, partner_position
from settlement.store.statements import StatementView

log = logging.getLogger(__name__)
SERVICE_NAME = "coalition.v1.SettlementService"
SERVICE = f"/{SERVICE_NAME}/"
MUTATING = frozenset(SERVICE + name for name in ("AcknowledgeStatement", "DisputeStatement"))
DEFAULT_PAGE_SIZE = 50  # ListStatements' page_size 0
STATES = {"issued": pb.STATEMENT_STATE_ISSUED, "acknowledged": pb.STATEMENT_STATE_ACKNOWLEDGED,
          "disputed": pb.STATEMENT_STATE_DISPUTED, "resolved": pb.STATEMENT_STATE_RESOLVED}

TemporalClientFactory = Callable[[], Awaitable[Client]]


def page_token(view: StatementView) -> str:
    return base64.urlsafe_b64encode(f"{view.body.issued_at.isoformat()}|{view.body.statement_id}".encode()).decode()


def parse_page_token(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        issued, statement_id = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(issued), statement_id
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid("page_token", "is not a token this service issued") from None


def summary(view: StatementView) -> pb.StatementSummary:
    body = view.body
    return pb.StatementSummary(statement_id=body.statement_id, cycle_id=body.cycle_id,
                               period_start=timestamp(body.period_start), period_end=timestamp(body.period_end),
                               currency=body.currency, net_minor=body.net_minor, carried_in_minor=body.carried_in_minor,
                               state=STATES[view.state], issued_at=timestamp(body.issued_at),
                               dispute_deadline=timestamp(body.dispute_deadline))


def statement_message(view: StatementView) -> pb.Statement:
    return pb.Statement(
        summary=summary(view),
        lines=[pb.StatementLine(line_number=ln.line_number, cause=ln.cause, counterparty=ln.counterparty,
                                issuer_id=ln.issuer_id, redeemer_id=ln.redeemer_id, points=ln.points,
                                amount_minor=ln.amount_minor, dispute_id=ln.dispute_id) for ln in view.body.lines],
        receivable_minor=view.body.receivable_minor, payable_minor=view.body.payable_minor,
        disputed_minor=view.disputed_minor, dispute_id=view.dispute_id, signed_payload=view.signed.signed_payload,
        signature=view.signed.signature, network_key_id=view.signed.network_key_id)


def terms_message(terms: ContractTerms) -> pb.ContractTerms:
    message = pb.ContractTerms(
        version=terms.version, effective_from=timestamp(terms.effective_from), settlement_model=terms.settlement_model,
        earn_points_per_major=str(terms.earn_points_per_major), clearing_fee_bps=terms.clearing_fee_bps,
        issue_price_minor_per_point=str(terms.issue_price_minor_per_point),
        redemption_rate_minor_per_point=str(terms.redemption_rate_minor_per_point),
        breakage_share_bps=terms.breakage_share_bps, return_window_seconds=terms.return_window_seconds,
        expiry_days=terms.expiry_days, max_basket_share_bps=terms.max_basket_share_bps,
        collateral_minor=terms.collateral_minor, unverified_spend_limit_points=terms.unverified_spend_limit_points)
    if terms.credit_limit_minor is not None:
        message.credit_limit_minor = terms.credit_limit_minor
    return message


def position_message(position: PartnerPosition) -> pb.GetPartnerPositionResponse:
    accrued = position.accrued
    response = pb.GetPartnerPositionResponse(
        partner_id=position.partner_id, currency=position.currency, as_of=timestamp(position.as_of),
        outstanding_points=position.outstanding_points, liability_minor=position.liability_minor,
        collateral_minor=position.collateral_minor, exposure_minor=position.exposure_minor,
        accrued=pb.AccruedObligations(
            period_start=timestamp(accrued.period_start), period_end=timestamp(accrued.period_end),
            lines=[pb.StatementLine(line_number=ln.line_number, cause=ln.cause, counterparty=ln.counterparty,
                                    issuer_id=ln.issuer_id, redeemer_id=ln.redeemer_id, points=ln.points,
                                    amount_minor=ln.amount_minor) for ln in accrued.lines],
            receivable_minor=accrued.totals.receivable_minor, payable_minor=accrued.totals.payable_minor,
            net_minor=accrued.totals.net_minor),
        terms_in_force=terms_message(position.terms_in_force) if position.terms_in_force else None,
        upcoming_terms=[terms_message(t) for t in position.upcoming_terms])
    if position.credit_limit_minor is not None:
        response.credit_limit_minor = position.credit_limit_minor
    if position.headroom_minor is not None:
        response.credit_headroom_minor = position.headroom_minor
    return response


class ResponseNotifier:
    """Signals cycle workflows from a background event loop (gRPC handlers are threads)."""

    def __init__(self, client_factory: TemporalClientFactory):
        self._factory = client_factory
        self._loop = asyncio.new_event_loop()
        self._client: Client | None = None
        threading.Thread(target=self._loop.run_forever, name="settlement-signals", daemon=True).start()

    def notify(self, cycle_id: str, partner_id: str, disputed: bool) -> None:
        future = asyncio.run_coroutine_threadsafe(self._signal(cycle_id, partner_id, disputed), self._loop)
        future.add_done_callback(self._log_failure)

    async def _signal(self, cycle_id: str, partner_id: str, disputed: bool) -> None:
        if self._client is None:
            self._client = await self._factory()
        await signal_response(self._client, cycle_id, partner_id, disputed)

    @staticmethod
    def _log_failure(future) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.warning("settlement signal failed (the workflow will read the database): %s", future.exception())

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


class SettlementServicer(settlement_pb2_grpc.SettlementServiceServicer):
    def __init__(self, engine: Engine, notifier: ResponseNotifier | None = None, *,
                 point_value_minor: Decimal = Decimal(1), currency: str = "EUR",
                 idempotency_retention_seconds: int = IDEMPOTENCY_RETENTION_DEFAULT_SECONDS):
        self._engine = engine
        self._retention = idempotency_retention_seconds
        self._notifier = notifier
        self._point_value_minor = point_value_minor
        self._currency = currency

    def _read(self, operation: Callable[[Connection, str], object]):
        with self._engine.connect() as conn:
            return operation(conn, current_caller().partner_id)

    def _notify(self, cycle_id: str | None, partner_id: str, disputed: bool) -> None:
        if self._notifier is not None and cycle_id:
            self._notifier.notify(cycle_id, partner_id, disputed)

    def ListStatements(self, request: pb.ListStatementsRequest, context) -> pb.ListStatementsResponse:
        validation.validate(request)
        size = request.page_size or DEFAULT_PAGE_SIZE
        after = parse_page_token(request.page_token)

        def page(conn: Connection, partner_id: str) -> pb.ListStatementsResponse:
            views = store.statements.partner_statements(conn, partner_id, size + 1, after, request.cycle_id)
            response = pb.ListStatementsResponse(statements=[summary(v) for v in views[:size]])
            if len(views) > size:
                response.next_page_token = page_token(views[size - 1])
            return response
        return self._read(page)

    def GetStatement(self, request: pb.GetStatementRequest, context) -> pb.GetStatementResponse:
        validation.validate(request)
        return self._read(lambda conn, partner_id: pb.GetStatementResponse(
            statement=statement_message(responses.get_statement(conn, partner_id, request.statement_id))))

    def GetPartnerPosition(self, request: pb.GetPartnerPositionRequest, context) -> pb.GetPartnerPositionResponse:
        validation.validate(request)
        now = datetime.now(timezone.utc)
        # one snapshot: the ledger figures, the last cycle's end and the open cycle's flows agree with each other
        with self._engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            return position_message(partner_position(conn, current_caller().partner_id, now,
                                                     self._point_value_minor, self._currency))

    def AcknowledgeStatement(self, request: pb.AcknowledgeStatementRequest, context) -> bytes:
        validation.validate(request)
        answered: dict[str, str] = {}

        def acknowledge(conn: Connection, partner_id: str) -> pb.AcknowledgeStatementResponse:
            view = responses.acknowledge_statement(conn, partner_id, request.statement_id)
            answered["cycle_id"] = view.body.cycle_id
            return pb.AcknowledgeStatementResponse(statement_id=view.body.statement_id, state=STATES[view.state],
                                                   responded_at=timestamp(view.responded_at))
        response = run_mutation(self._engine, "AcknowledgeStatement", request, acknowledge,
                                retention_seconds=self._retention)
        self._notify(answered.get("cycle_id"), current_caller().partner_id, disputed=False)
        return response

    def DisputeStatement(self, request: pb.DisputeStatementRequest, context) -> bytes:
        validation.validate(request)
        answered: dict[str, str] = {}

        def dispute(conn: Connection, partner_id: str) -> pb.DisputeStatementResponse:
            view = responses.dispute_statement(conn, partner_id, request.statement_id, list(request.line_numbers),
                                            request.amount_minor, request.reason)
            answered["cycle_id"] = view.body.cycle_id
            return pb.DisputeStatementResponse(statement_id=view.body.statement_id, dispute_id=view.dispute_id,
                                               disputed_minor=view.disputed_minor, state=STATES[view.state])
        response = run_mutation(self._engine, "DisputeStatement", request, dispute,
                                retention_seconds=self._retention)
        self._notify(answered.get("cycle_id"), current_caller().partner_id, disputed=True)
        return response


def registration(engine: Engine, settings: SettlementSettings,
                 temporal_client_factory: TemporalClientFactory | None = None) -> ServiceRegistration:
    """SettlementService for network.server.start_server(extra_services=[...]); without a Temporal client factory
    responses are only written to the database (the workflows find them by polling)."""
    if temporal_client_factory is None and settings.temporal_address:
        address, namespace = settings.temporal_address, settings.temporal_namespace

        async def temporal_client_factory() -> Client:
            return await Client.connect(address, namespace=namespace)
    notifier = ResponseNotifier(temporal_client_factory) if temporal_client_factory else None

    def register(server: ServiceRegistrar, signer: NetworkSigner) -> None:
        settlement_pb2_grpc.add_SettlementServiceServicer_to_server(
            SettlementServicer(engine, notifier, point_value_minor=settings.point_value_minor,
                               currency=settings.network_currency,
                               idempotency_retention_seconds=settings.idempotency_retention_seconds), server)

    return ServiceRegistration(SERVICE_NAME, register, MUTATING)
