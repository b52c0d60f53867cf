"""The demo's back-dated history: about 90 days of earns, redemptions, returns, expiries and closed settlement
cycles (statements, one dispute, payments), so a newcomer opening the console sees a month of charts and cycles.

Everything is written through the domain, with an injected clock, never by inserting rows:
- the ledger's own operations (network.store.ledger.Ledger: earn_batch, redeem, reverse, activate_due_lots,
  expire_lots, warn_expiring), the store functions the gRPC service and the housekeeping activities call, with
  Ledger.clock set to the history's instant; so the hash chain, the lots, the outbox and `coalition ledger verify`
  hold exactly as for live traffic;
- settlement's cycle steps (settlement.cycles: open, cut off, clear, net, issue statements, close the dispute
  window, plan payments, close), the partners' answers (settlement.responses), the operator's resolution of the
  dispute, and the payments (settlement.payments through a simulated bank on the same clock): the very functions
  the cycle workflow's activities call, called directly with the cycle's back-dated period bounds (a Temporal
  workflow cannot run a period that ended weeks ago with its dispute window and payment polling in a few seconds).

Ledger time (network.store.ledger_time) forbids writing before the cut-off watermark, so the history is written
in time order before any live traffic, on a ledger with no journal and no cycle yet: each cycle's cut-off moves the
watermark to the cycle's end, and the next days are written after it. The last cycle closes at today's midnight
(UTC); the history of today (up to the moment it is written) is left for the first live cycle, as the live
traffic that follows it. Deterministic: one seeded random generator decides every member, amount and moment.

The programme runs in it: the ledger has the programme's index (network.store.campaigns.ProgrammeBook), so the
history's earns get their tier and campaign bonuses (lots whose issuer is each funder: the partner, the network
as an issuer, or both for a co-funded campaign) through the same earn path, members are upgraded as they cross
the ladder's thresholds, returns take bonuses back in proportion, and a few new members a day join through the
ledger's enrolment and get the sign-up bonus (Ledger.welcome). The cycles then clear and net the bonus points
redeemed, the network as an issuer among the payers. Tier requalification (downgrades) is not built, so the
history has upgrades only.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import Connection, Engine, text

from network.core.results import EarnItem, SpendRefs
from network.errors import DomainError
from network.signer import NetworkSigner
from network.store.campaigns import ProgrammeBook
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from network.store.lots import outstanding_points
from settlement import cycles, payments, responses
from settlement.domain.cycles import cycle_id_for
from settlement.domain.disputes import STATEMENT_STANDS
from settlement.rails import SimulatedBank
from settlement.settings import SettlementSettings

OPERATOR = "demo-history"
HISTORY_WORKFLOW_PREFIX = "demo-history-"  # the workflow id recorded for a history cycle (none ran in Temporal)
SEED = 20250901
DAY = timedelta(days=1)


class HistoryClock:
    """The history's clock: the ledger, the contracts and the simulated bank read it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class HistoryPartner:
    partner_id: str
    issues_points: bool
    weight: float  # share of the earns (issuers) or of the redemptions (everyone)
    basket_minor: tuple[int, int]


@dataclass
class HistorySummary:
    start: datetime
    end: datetime
    days: int = 0
    earns: int = 0
    redemptions: int = 0
    reversals: int = 0
    signups: int = 0
    bonus_points: int = 0  # tier, campaign and sign-up bonuses given
    upgraded_members: int = 0  # members above the ladder's lowest tier at the end
    expired_lots: int = 0
    warnings: int = 0
    refused: int = 0
    cycles: list[str] = field(default_factory=list)
    dispute_id: str = ""
    seconds: float = 0.0


def midnight(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def history_start(now: datetime, days: int) -> datetime:
    """The first instant of the history: midnight (UTC) `days` days before today's."""
    return midnight(now) - days * DAY


def ledger_is_fresh(engine: Engine) -> bool:
    """History can be written: no journal, no cycle and no cut-off yet (back-dated writes would land in a closed
    period or before the contracts)."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT NOT EXISTS (SELECT 1 FROM journal) AND NOT EXISTS (SELECT 1 FROM cycles) "
            "AND (SELECT closed_before FROM ledger_cutoff) IS NULL")).scalar_one()


def cycle_bounds(start: datetime, end: datetime, cycle_days: int) -> list[tuple[datetime, datetime]]:
    """The history's settlement periods: cycle_days long from `start`, the last one ending at `end`."""
    if cycle_days < 1:
        raise ValueError(f"a settlement cycle lasts at least a day, not {cycle_days}")
    bounds, at = [], start
    while at < end:
        bounds.append((at, min(at + cycle_days * DAY, end)))
        at = bounds[-1][1]
    return bounds


class HistoryWriter:
    """Writes the days and cycles of the history in time order (see the module's docstring)."""

    def __init__(self, engine: Engine, settings: SettlementSettings, data_dir: Path,
                 partners: Sequence[HistoryPartner], members_by_partner: dict[str, list[str]], *, seed: int = SEED,
                 earns_per_day: int = 150, progress: Callable[[str], None] | None = None):
        self.engine = engine
        self.settings = settings
        self.partners = list(partners)
        self.members_by_partner = {p: list(m) for p, m in members_by_partner.items() if m}
        self.rng = random.Random(seed)
        self.earns_per_day = earns_per_day
        self.progress = progress or (lambda line: None)
        self.clock = HistoryClock(datetime.now(timezone.utc))
        # the contracts and the programme do not change while the history is written: no reload every few seconds
        # (a campaign whose budget is spent stays in the index, and its claims grant nothing)
        self.ledger = Ledger(engine, ContractBook(engine, ttl_seconds=3600), point_value_minor=settings.point_value_minor,
                             network_currency=settings.network_currency, shards=settings.ledger_shards,
                             clock=self.clock, programme=ProgrammeBook(engine, ttl_seconds=3600))
        self.signups = 0  # the history's new members so far (their customer_ref: hist-signup-NNNNN)
        self.signer = NetworkSigner.from_file(settings.resolved_network_key_file())  # the server's and worker's key
        self.signer.register(engine)  # as the server does: statements are verified against network_keys
        self.bank = SimulatedBank(Path(data_dir) / "bank", clock=self.clock)
        self.lead = timedelta(days=settings.expiry_warning_days)
        # (partner, transaction) of yesterday and of today: what a return or a refund takes back
        self.earn_pool: list[list[tuple[str, str]]] = [[], []]
        self.redemption_pool: list[list[tuple[str, str]]] = [[], []]
        self.limited = self._credit_limited()

    def _credit_limited(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(text("SELECT DISTINCT partner_id FROM contracts WHERE credit_limit_minor IS NOT NULL"))
                       .scalars())

    # --- the whole history --------------------------------------------------------------------------------

    def write(self, start: datetime, until: datetime, cycle_days: int) -> HistorySummary:
        """Days from `start` to `until` (an instant, usually now), cycles closed up to until's midnight."""
        started = time.monotonic()
        summary = HistorySummary(start, until)
        periods = cycle_bounds(start, midnight(until), cycle_days)
        closing = {end: index for index, (_, end) in enumerate(periods)}
        day = start
        total_days = (midnight(until) - start).days
        while day < until:
            self._write_day(day, min(day + DAY, until), summary)
            summary.days += 1
            day += DAY
            if day in closing:
                index = closing[day]
                self._settle(*periods[index], index, summary)
                self.progress(f"history: day {summary.days}/{total_days}, cycle {index + 1}/{len(periods)} closed "
                              f"({summary.earns:,} earns, {summary.redemptions:,} redemptions, "
                              f"{time.monotonic() - started:.1f} s)")
        with self.engine.connect() as conn:
            summary.upgraded_members = conn.execute(text(
                "SELECT count(*) FROM member_status s JOIN tiers t ON t.name = s.tier "
                "WHERE t.rank > (SELECT min(rank) FROM tiers)")).scalar_one()
        summary.seconds = time.monotonic() - started
        return summary

    # --- one day ------------------------------------------------------------------------------------------

    def _write_day(self, day: datetime, end: datetime, summary: HistorySummary) -> None:
        rng = self.rng
        weekend = day.weekday() >= 5
        earns = max(6, round(self.earns_per_day * (1.3 if weekend else 1.0) * rng.uniform(0.8, 1.2)))
        events: list[tuple[datetime, str, object]] = []
        slots = 6
        for slot in range(slots):
            at = day + timedelta(hours=8 + 2 * slot, minutes=rng.randrange(60), seconds=rng.randrange(60))
            events.append((at, "earn", earns // slots + (1 if slot < earns % slots else 0)))
        for _ in range(max(2, earns // 4)):
            events.append((day + timedelta(hours=9, seconds=rng.randrange(12 * 3600)), "redeem", None))
        for _ in range(rng.randint(1, 3)):
            events.append((day + timedelta(hours=9, seconds=rng.randrange(12 * 3600)), "return", None))
        for _ in range(rng.randint(0, 2)):
            events.append((day + timedelta(hours=9, seconds=rng.randrange(12 * 3600)), "signup", None))
        if rng.random() < 0.6:
            events.append((day + timedelta(hours=9, seconds=rng.randrange(12 * 3600)), "refund", None))
        events.append((day + timedelta(hours=23, minutes=30), "housekeeping", None))
        self.earn_pool = [self.earn_pool[-1], []]  # yesterday's, today's
        self.redemption_pool = [self.redemption_pool[-1], []]
        # One transaction for the day, each operation under a savepoint: a refused one (not enough points, already
        # spent) is rolled back alone, as it would have been refused alone.
        with self.engine.begin() as conn:
            for at, kind, arg in sorted(events, key=lambda e: (e[0], e[1])):
                if at >= end:
                    continue
                self.clock.now = at
                if kind == "earn":
                    self._earn_slot(conn, int(arg), summary)  # type: ignore[arg-type]
                elif kind == "redeem":
                    self._redeem(conn, summary)
                elif kind == "return":
                    self._reverse(conn, self.earn_pool, summary, "customer return")
                elif kind == "refund":
                    self._reverse(conn, self.redemption_pool, summary, "order cancelled")
                elif kind == "signup":
                    self._signup(conn, summary)
                else:
                    self._housekeeping(conn, summary)

    def _earn_slot(self, conn: Connection, count: int, summary: HistorySummary) -> None:
        issuers = [p for p in self.partners if p.issues_points and p.partner_id in self.members_by_partner]
        items = []
        for _ in range(count):
            partner = self.rng.choices(issuers, [p.weight for p in issuers])[0]
            member = self.rng.choice(self.members_by_partner[partner.partner_id])
            amount = self.rng.randint(*partner.basket_minor)
            store = self.rng.randrange(1, 5)
            items.append((partner.partner_id, EarnItem(f"hist-{uuid.UUID(int=self.rng.getrandbits(128))}", member,
                                                       amount, "EUR", None, receipt_ref=f"R{self.rng.randrange(10**8)}",
                                                       store_id=f"{partner.partner_id}-{store:02d}",
                                                       terminal_id=f"T{self.rng.randrange(1, 9)}")))
        outstanding = (lambda p: outstanding_points(conn, p)) if self.limited else None
        results = self.ledger.earn_batch(conn, items, outstanding)  # a refused item writes nothing
        for (partner_id, _), result in zip(items, results):
            if isinstance(result, DomainError):
                summary.refused += 1
                continue
            summary.earns += 1
            summary.bonus_points += sum(c.points for c in result.components if c.kind != "base")
            self.earn_pool[-1].append((partner_id, result.transaction_id))

    def _signup(self, conn: Connection, summary: HistorySummary) -> None:
        """A new member joins the network at an issuer's till (Ledger.enroll_member, as EnrollMember does) and gets
        the sign-up bonuses; it earns and spends in the days that follow."""
        issuers = [p for p in self.partners if p.issues_points and p.partner_id in self.members_by_partner]
        partner = self.rng.choices(issuers, [p.weight for p in issuers])[0]
        self.signups += 1
        view, created = self.ledger.enroll_member(conn, partner.partner_id, f"hist-signup-{self.signups:05d}", "")
        if not created:
            return
        given = self.ledger.welcome(conn, partner.partner_id, view.member_id)
        summary.signups += 1
        summary.bonus_points += sum(c.points for c in given)
        self.members_by_partner[partner.partner_id].append(view.member_id)

    def _redeem(self, conn: Connection, summary: HistorySummary) -> None:
        partner = self.rng.choices(self.partners, [p.weight for p in self.partners])[0]
        pool = self.members_by_partner.get(partner.partner_id) or next(iter(self.members_by_partner.values()))
        member = self.rng.choice(pool)
        points = self.rng.choice((100, 150, 200, 250, 300, 500, 750, 1000))
        basket = max(points * 4, self.rng.randint(*partner.basket_minor))
        refs = SpendRefs(f"R{self.rng.randrange(10**8)}", f"{partner.partner_id}-01", "T1", basket, "EUR")
        try:
            with conn.begin_nested():
                result = self.ledger.redeem(conn, partner.partner_id, member, points, refs, None)
        except DomainError:  # not enough points, or a basket cap: the member pays in money instead
            summary.refused += 1
            return
        summary.redemptions += 1
        self.redemption_pool[-1].append((partner.partner_id, result.transaction_id))

    def _reverse(self, conn: Connection, pools: list[list[tuple[str, str]]], summary: HistorySummary,
                 reason: str) -> None:
        """Take back a whole earn (a return) or redemption (a refund) of yesterday or today, at most once."""
        index = self.rng.randrange(sum(map(len, pools))) if any(pools) else None
        if index is None:
            return
        pool = pools[0] if index < len(pools[0]) else pools[1]
        partner_id, transaction_id = pool.pop(index if pool is pools[0] else index - len(pools[0]))
        try:
            with conn.begin_nested():
                self.ledger.reverse(conn, partner_id, transaction_id, 0, reason, None)
        except DomainError:  # its points were spent meanwhile
            summary.refused += 1
            return
        summary.reversals += 1

    def _housekeeping(self, conn: Connection, summary: HistorySummary) -> None:
        """What the housekeeping schedules do, once at the end of the day."""
        self.ledger.activate_due_lots(conn)
        while True:
            expired = self.ledger.expire_lots(conn)
            summary.expired_lots += expired
            if expired == 0:
                break
        summary.warnings += self.ledger.warn_expiring(conn, self.lead)

    # --- one settlement cycle -----------------------------------------------------------------------------

    def _settle(self, start: datetime, end: datetime, index: int, summary: HistorySummary) -> None:
        """The cycle of [start, end), step by step as its workflow's activities run them, dated as they would have
        been: cut off at the end, statements an hour later, answers, payments a day later. The second cycle's
        statement of its biggest redeemer is disputed; the operator lets the statement stand in the third."""
        cycle_id = cycle_id_for(start)
        currency = self.settings.network_currency
        self.clock.now = end
        with self.engine.begin() as conn:
            # no Temporal workflow ran it: its workflow id says so (live cycles' workflow id is their cycle id)
            cycles.open_cycle(conn, cycle_id, start, end, f"{HISTORY_WORKFLOW_PREFIX}{cycle_id}", currency)
            cycles.cut_off(conn, cycle_id)
        with self.engine.begin() as conn:
            cycles.clear(conn, cycle_id, self.settings.point_value_minor)
        with self.engine.begin() as conn:
            cycles.net_cycle(conn, cycle_id)
        issued_at = end + timedelta(hours=1)
        deadline = end + timedelta(seconds=self.settings.dispute_window_seconds)
        with self.engine.begin() as conn:
            awaited = cycles.issue_statements(conn, cycle_id, max(deadline, issued_at + timedelta(hours=1)),
                                              self.signer, issued_at=issued_at)
            statements = dict(conn.execute(text("SELECT partner_id, statement_id FROM statements WHERE cycle_id = :c"),
                                           {"c": cycle_id}).all())
        answered_at = issued_at + timedelta(minutes=30)
        disputer = self._disputer(cycle_id, awaited) if index == 1 and not summary.dispute_id else None
        for partner_id in sorted(awaited):
            with self.engine.begin() as conn:
                if partner_id == disputer:
                    view = responses.dispute_statement(conn, partner_id, statements[partner_id], [1], 0,
                                                       "these redemptions are not in our till records",
                                                       now=answered_at)
                    summary.dispute_id = conn.execute(text(
                        "SELECT dispute_id FROM disputes WHERE statement_id = :s"),
                        {"s": statements[partner_id]}).scalar_one()
                else:
                    responses.acknowledge_statement(conn, partner_id, statements[partner_id], now=answered_at)
        with self.engine.begin() as conn:
            cycles.close_dispute_window(conn, cycle_id)
            if index == 2 and summary.dispute_id:
                responses.resolve_dispute(conn, summary.dispute_id, STATEMENT_STANDS, OPERATOR,
                                          "till records found: the redemptions stand")
        with self.engine.begin() as conn:
            planned = cycles.plan_payments(conn, cycle_id)
        self.clock.now = end + timedelta(hours=20)
        if planned:
            payments.submit_payments(self.engine, self.bank, cycle_id)
            self.clock.now = end + timedelta(hours=22)
            tally = payments.record_confirmations(self.engine, self.bank, cycle_id)
            if tally.pending or tally.problems:
                raise RuntimeError(f"history cycle {cycle_id}: payments not settled: {tally}")
        with self.engine.begin() as conn:
            cycles.close_cycle(conn, cycle_id, "demo history")
        summary.cycles.append(cycle_id)
        self.clock.now = end

    def _disputer(self, cycle_id: str, awaited: Sequence[str]) -> str | None:
        """The awaited partner that owes the most in the cycle (it disputes a line of its statement)."""
        with self.engine.connect() as conn:
            owed = conn.execute(text("SELECT payer FROM obligations WHERE cycle_id = :c GROUP BY payer "
                                     "ORDER BY sum(amount_minor) DESC, payer"), {"c": cycle_id}).scalars().all()
        return next((p for p in owed if p in awaited), None)


def history_partners(specs) -> list[HistoryPartner]:
    """The demo partners as the history uses them (coalition.demo.DEMO_PARTNERS)."""
    return [HistoryPartner(s.partner_id, s.profile.issues_points and s.contract.earn_points_per_major > Decimal(0),
                           max(s.home_share, 0.05), (s.profile.basket_min_minor, s.profile.basket_max_minor))
            for s in specs]


__all__ = ["HISTORY_WORKFLOW_PREFIX", "HistoryClock", "HistoryPartner", "HistorySummary", "HistoryWriter", "cycle_bounds", "history_partners",
           "history_start", "ledger_is_fresh", "midnight"]
