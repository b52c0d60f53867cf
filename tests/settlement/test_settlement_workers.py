"""The settlement worker scales by running more of them on one task queue: two workers with distinct identities
share one cycle's activities, as the workflow history records (each ActivityTaskStarted names the worker that ran
it). The first worker runs the cycle up to its statements; the second joins the queue and the first leaves (a
rolling scale-out or restart), and the cycle completes with nothing lost or run twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from settlement import control
from settlement.rails import SimulatedBank
from settlement.worker import build_worker
from settlement_helpers import cycle_state, earn, enroll, period_start, redeem, wait_for

FAST = dict(cutoff_grace_seconds=1, response_poll_seconds=1, confirmation_poll_seconds=1,
            confirmation_timeout_seconds=60, activity_timeout_seconds=20)


def _activities_by_worker(history) -> list[tuple[str, str]]:
    """(activity type, identity of the worker that started it), in history order."""
    scheduled, started = {}, []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = e.activity_task_started_event_attributes
            started.append((scheduled[attributes.scheduled_event_id], attributes.identity))
    return started


def test_two_workers_share_one_cycles_activities(engine, ledger, make_partner, settlement_settings, temporal,
                                                 network_signer):
    issuer, redeemer = make_partner("wa", settlement_model="issuer_pays"), make_partner("wb", settlement_model="issuer_pays")
    ledger.contracts.invalidate()
    start = period_start(engine)
    member = enroll(engine, ledger, issuer.partner_id)
    earn(engine, ledger, issuer.partner_id, member, 300)
    redeem(engine, ledger, redeemer.partner_id, member, 120)
    end = datetime.now(timezone.utc) + timedelta(milliseconds=200)
    bank = SimulatedBank(settlement_settings.data_dir / "bank")

    def worker(identity: str):
        async def build() -> Worker:
            # each worker on its own client connection, as separate processes would be (the SDK refuses two
            # workers of one task queue on one client)
            client = await Client.connect(temporal.address)
            return build_worker(client, engine, settlement_settings, rail=bank, signer=network_signer,
                                identity=identity, sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
                                graceful_shutdown_timeout=timedelta(seconds=5))
        return temporal.start(temporal.run(build()))

    first = worker("settlement-worker-a")
    cycle = control.cycle_input(settlement_settings, start, end, **FAST)
    cycle.dispute_window_seconds = 4
    handle = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle))
    second = None
    try:
        wait_for(lambda: cycle_state(engine, cycle.cycle_id) == "awaiting_responses", 60, "statements")
        second = worker("settlement-worker-b")  # both poll the same task queue now
        first.stop()  # the first leaves; an activity it had started finishes first (graceful shutdown)
        outcome = temporal.run(handle.result(), timeout=90)
    finally:
        for running in (first, second):
            if running is not None and not running.task.done():
                running.kill()
    assert outcome.state == "closed"
    ran = _activities_by_worker(temporal.run(handle.fetch_history()))
    assert {identity for _, identity in ran} == {"settlement-worker-a", "settlement-worker-b"}
    names_a = [name for name, identity in ran if identity == "settlement-worker-a"]
    names_b = [name for name, identity in ran if identity == "settlement-worker-b"]
    assert names_a[:4] == ["open_cycle", "cut_off", "clear_cycle", "net_cycle"] and "issue_statements" in names_a
    assert "close_cycle" in names_b and "submit_payments" in names_b  # the second finished the cycle
    assert len([n for n, _ in ran if n == "submit_payments"]) == 1  # nothing ran twice
    with engine.connect() as conn:
        paid = dict(conn.execute(text("SELECT partner_id, state FROM payment_instructions WHERE cycle_id = :c"),
                                 {"c": cycle.cycle_id}).all())
    assert paid == {issuer.partner_id: "settled", redeemer.partner_id: "settled"}
