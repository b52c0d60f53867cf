"""The demo coalition: six partners with contracts, keys and IBANs, a few thousand members, and POS traffic.

`seed_demo` is idempotent: run it again on the same database and it creates only what is missing (a key
file lost from the data directory gets a fresh key registered in its place). Everything goes through the
operator actions of network.admin and the ledger's own set-based earn, so the ledger verifies afterwards.

    coalition demo seed              # partners, contracts, keys under <data-dir>/keys, members
    coalition demo traffic           # seed if needed, then simulated POS traffic until Ctrl-C
"""

from __future__ import annotations

import base64
import logging
import os
import random
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from schwifty import IBAN
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from uuid_utils.compat import uuid7  # RFC 9562 UUIDv7, monotonic by a counter: never runs ahead of the clock

from network import admin
from network.runtime import configure_logging, database
from network.core.accounts import PersonalData
from network.core.campaigns import (NETWORK_ISSUER, Campaign, Conditions, DEFAULT_LADDER, Effects, Funder, Tier)
from network.core.terms import BASIS_POINTS
from network.core.members import shard_of
from network.mail import mailer_from_settings
from network.store.accounts import AccountError, build_accounts
from network.store.activation import issue_activation_code
from network.store import campaigns as programme_store
from network.core.results import EarnItem
from network.database import make_engine, migrate
from network.store.verify import verify_ledger
from network.store.credentials import ADD_CARDS_OF, new_card_number
from network.store.ledger import build_ledger
from coalition import history
from coalition.settings import CoalitionSettings, get_settings
from partners.keyfile import KeyFile, KeyFileError, load_key_file, save_key_file
from partners.simulator import PosSimulator, SimMember, StoreProfile
from settlement.verify import CHECKS as SETTLEMENT_CHECKS

log = logging.getLogger(__name__)
OPERATOR = "demo-seed"
CUSTOMER_REF_PREFIX = "demo-"
DEMO_ACCOUNTS = 3  # the first demo members get member accounts (portal logins)
DEMO_ACCOUNT_EMAIL = "demo-member-{i}@example.com"
SEED = 20250101  # members' brands and welcome points are the same on every run


@dataclass(frozen=True)
class DemoPartnerSpec:
    partner_id: str
    name: str
    iban_parts: tuple[str, str, str]  # country, bank code, account code: check digits computed by schwifty
    contract: admin.ContractDraft
    profile: StoreProfile
    home_share: float  # share of the seeded members who joined the coalition at this brand
    welcome_points: tuple[int, int]  # range of the points each new member starts with
    charity: bool = False  # flagged as a charity: members donate points to it from the portal


# Demo members were enrolled at the tills of the brands they joined: up to this many points per spend need no PIN
# there (the contract term; larger spends and spends elsewhere are refused MEMBER_VERIFICATION_REQUIRED).
DEMO_UNVERIFIED_SPEND_LIMIT = 2500


def _draft(**terms) -> admin.ContractDraft:
    return admin.ContractDraft(**{"unverified_spend_limit_points": DEMO_UNVERIFIED_SPEND_LIMIT, **terms})


DEMO_PARTNERS: tuple[DemoPartnerSpec, ...] = (
    DemoPartnerSpec(
        "brewhouse", "Brewhouse Coffee", ("DE", "37040044", "0532013000"),
        _draft(earn_points_per_major=Decimal(5), settlement_model="issuer_pays", clearing_fee_bps=150,
               return_window_seconds=60, expiry_policy="inactivity", expiry_months=2, breakage_share_bps=1000),
        StoreProfile(basket_min_minor=280, basket_max_minor=1450, stores=6), 0.30, (100, 1500)),
    DemoPartnerSpec(
        "freshmart", "FreshMart Grocers", ("NL", "ABNA", "0417164300"),
        _draft(earn_points_per_major=Decimal(1), settlement_model="prefunded", issue_price_minor_per_point=Decimal("1.0"),
               redemption_rate_minor_per_point=Decimal("0.9"), return_window_seconds=90, expiry_days=730,
               max_basket_share_bps=5000),
        StoreProfile(basket_min_minor=1200, basket_max_minor=14000, max_basket_share_bps=5000, stores=4), 0.30,
        (300, 2500)),
    DemoPartnerSpec(
        "skyways", "SkyWays Airlines", ("FR", "3000600001", "12345678901"),
        _draft(earn_points_per_major=Decimal(8), settlement_model="issuer_pays", clearing_fee_bps=100,
               breakage_share_bps=2000, return_window_seconds=120, expiry_days=1095, max_basket_share_bps=8000),
        StoreProfile(basket_min_minor=4900, basket_max_minor=64000, max_basket_share_bps=8000, stores=2), 0.12,
        (1000, 8000)),
    DemoPartnerSpec(
        "fuelstop", "FuelStop Stations", ("DE", "50010517", "0648489890"),
        _draft(earn_points_per_major=Decimal(2), settlement_model="issuer_pays", clearing_fee_bps=200,
               return_window_seconds=45, expiry_days=30, max_basket_share_bps=3000,
               credit_limit_minor=1_500_000, collateral_minor=250_000),
        StoreProfile(basket_min_minor=2000, basket_max_minor=9500, max_basket_share_bps=3000, stores=5), 0.15,
        (200, 1200)),
    DemoPartnerSpec(
        "pageturner", "PageTurner Books", ("NL", "RABO", "0300065264"),
        _draft(earn_points_per_major=Decimal(3), settlement_model="prefunded", issue_price_minor_per_point=Decimal("1.0"),
               redemption_rate_minor_per_point=Decimal("0.95"), return_window_seconds=60, expiry_policy="calendar",
               expiry_months=12),
        StoreProfile(basket_min_minor=899, basket_max_minor=6500, stores=3), 0.13, (150, 1000)),
    DemoPartnerSpec(
        "goodcause", "Good Cause Foundation", ("BE", "539", "0075470"),
        _draft(earn_points_per_major=Decimal(0), settlement_model="issuer_pays", clearing_fee_bps=0),
        StoreProfile(basket_min_minor=100, basket_max_minor=5000, issues_points=False, stores=1), 0.0, (0, 0),
        charity=True),
)


# The demo's programme (docs/programme.md): one campaign of each funding kind, and the default ladder with earn
# multipliers, so the console's Programme page (and the history) shows bonuses, their funders and tier upgrades.
DEMO_CAMPAIGNS: tuple[Campaign, ...] = (
    # partner-funded: FreshMart doubles its points on Saturdays and Sundays (UTC), at most 2,000 bonus points a day
    Campaign("demo-freshmart-double-weekend", "Double points weekend at FreshMart", (Funder("freshmart", BASIS_POINTS),),
             Conditions(partners=("freshmart",), weekdays=(5, 6)),
             Effects(multiplier_bps=BASIS_POINTS, cap_points=2000, cap_period="day"), priority=10,
             budget_points=5_000_000),
    # co-funded: 500 points on a SkyWays ticket of 150 EUR or more, paid half by SkyWays, half by the network
    Campaign("demo-skyways-cofunded", "SkyWays 500 bonus points, co-funded by the network",
             (Funder("skyways", 5000), Funder(NETWORK_ISSUER, 5000)),
             Conditions(partners=("skyways",), min_basket_minor=15_000), Effects(fixed_points=500), priority=5,
             budget_points=10_000_000),
    # network-funded: a member's first enrolment in the network
    Campaign("demo-signup-welcome", "Welcome to the coalition", (Funder(NETWORK_ISSUER, BASIS_POINTS),),
             effects=Effects(fixed_points=200), kind="signup"),
    # network-funded: once a year on the member's birthday (members with an account and a birth date; the daily
    # housekeeping gives it: the demo accounts' first member has its birthday on the day the demo is seeded)
    Campaign("demo-birthday", "Happy birthday from the coalition", (Funder(NETWORK_ISSUER, BASIS_POINTS),),
             effects=Effects(fixed_points=250), kind="birthday"),
)
# The default ladder's thresholds and cap multipliers, with earn multipliers (the migration installs x1 on every tier)
_EARN_MULTIPLIERS = {"Member": BASIS_POINTS, "Silver": 11_000, "Gold": 12_500, "Platinum": 15_000}
DEMO_LADDER: tuple[Tier, ...] = tuple(Tier(t.name, t.rank, t.threshold_points, _EARN_MULTIPLIERS[t.name],
                                           t.cap_multiplier_bps) for t in DEFAULT_LADDER)


@dataclass(frozen=True)
class DemoPartner:
    partner_id: str
    name: str
    key_file: Path
    profile: StoreProfile

    def credentials(self) -> KeyFile:
        return load_key_file(self.key_file)


@dataclass(frozen=True)
class DemoLogin:
    """A demo member with an account: sign in to the member portal with this address."""
    email: str
    card_number: str


@dataclass
class DemoCoalition:
    partners: list[DemoPartner]
    members_by_partner: dict[str, list[SimMember]]
    created_partners: int = 0
    created_members: int = 0
    created_campaigns: list[str] = field(default_factory=list)
    registered_keys: list[str] = field(default_factory=list)
    member_logins: list[DemoLogin] = field(default_factory=list)
    history: "history.HistorySummary | None" = None  # the back-dated history written this time, if any

    @property
    def member_count(self) -> int:
        return len({m.member_id for members in self.members_by_partner.values() for m in members})

    def partner(self, partner_id: str) -> DemoPartner:
        return next(p for p in self.partners if p.partner_id == partner_id)

    def simulator(self, target: str, rate_per_second: float, seed: int | None = None,
                  point_value_minor: Decimal = Decimal(1), **options) -> PosSimulator:
        return PosSimulator(target, [p.credentials() for p in self.partners], self.members_by_partner,
                            rate_per_second, seed, profiles={p.partner_id: p.profile for p in self.partners},
                            point_value_minor=point_value_minor, **options)


def connect_target(grpc_address: str) -> str:
    """Where a client on this machine reaches a server listening on grpc_address (0.0.0.0 -> 127.0.0.1)."""
    host, _, port = grpc_address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def seed_demo(engine: Engine, settings: CoalitionSettings, data_dir: Path, *, target: str | None = None,
              members: int | None = None, history_days: int = 0, history_cycle_days: int = 7,
              history_earns_per_day: int | None = None,
              progress: Callable[[str], None] | None = None) -> DemoCoalition:
    """Create what is missing of the demo coalition; return it with its key files and members.

    history_days > 0, on a ledger with no journal and no cycle yet: the contracts and members date from that many
    days ago, and the days since are written as back-dated history with settlement cycles of history_cycle_days,
    closed up to today's midnight (coalition.history). On a ledger that has any, no history is written."""
    keys_dir = Path(data_dir) / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    target = target or connect_target(settings.grpc_address)
    now = datetime.now(timezone.utc)
    since = history.history_start(now, history_days) if history_days > 0 and history.ledger_is_fresh(engine) else None
    if history_days > 0 and since is None and progress is not None:
        progress("history: none written (the ledger has transactions or settlement cycles already)")
    coalition = DemoCoalition([], {})
    for spec in DEMO_PARTNERS:
        with engine.begin() as conn:
            if _ensure_partner(conn, spec, since):
                coalition.created_partners += 1
            key_id = _ensure_key(conn, spec.partner_id, keys_dir / f"{spec.partner_id}.json", target)
            if key_id:
                coalition.registered_keys.append(key_id)
        coalition.partners.append(DemoPartner(spec.partner_id, spec.name, keys_dir / f"{spec.partner_id}.json",
                                              spec.profile))
    count = members or settings.demo_members
    coalition.created_members = _ensure_members(engine, settings, count, since)
    coalition.members_by_partner = load_members(engine)
    # after the members (their welcome points are given points: no campaign applies to them anyway), before the
    # history (whose earns get the campaigns' and tiers' bonuses)
    coalition.created_campaigns = ensure_programme(engine, settings)
    coalition.member_logins = _ensure_member_accounts(engine, settings, DEMO_ACCOUNTS)
    if since is not None:
        writer = history.HistoryWriter(
            engine, settings, data_dir, history.history_partners(DEMO_PARTNERS),
            {p: [m.member_id for m in found] for p, found in coalition.members_by_partner.items()},
            earns_per_day=history_earns_per_day or max(20, count // 20), progress=progress)
        coalition.history = writer.write(since, datetime.now(timezone.utc), history_cycle_days)
    return coalition


def ensure_programme(engine: Engine, settings: CoalitionSettings) -> list[str]:
    """The demo campaigns that are missing (created as operator actions, active at once, no window: they apply to
    the back-dated history too), and the ladder's earn multipliers on the tiers still as the migration installed
    them; the campaigns created. A campaign the operator paused or ended, a tier the operator set, stays so."""
    created = []
    with engine.begin() as conn:
        existing = set(conn.execute(text("SELECT campaign_id FROM campaigns")).scalars())
        for campaign in DEMO_CAMPAIGNS:
            if campaign.campaign_id not in existing:
                programme_store.create_campaign(conn, campaign, OPERATOR, settings.network_currency)
                created.append(campaign.campaign_id)
        ladder = {t.name: t for t in programme_store.list_tiers(conn)}
        untouched = {t.name: t for t in DEFAULT_LADDER}  # as the migration installs it: the operator changed none
        for tier in DEMO_LADDER:
            if ladder.get(tier.name) in (None, untouched[tier.name]) and ladder.get(tier.name) != tier:
                programme_store.set_tier(conn, tier, OPERATOR)
    return created


def _demo_birth_date(i: int) -> date:
    """Demo account i's birth date: the first has its birthday today (the birthday campaign shows at once), the
    others on days spread over the year; born 1970 + 7 * i (Feb 29 of a leap year falls back to Feb 28)."""
    today = datetime.now(timezone.utc).date()
    day = today if i == 0 else today + timedelta(days=97 * i)
    year = 1970 + 7 * i
    return day.replace(year=year) if (day.month, day.day) != (2, 29) else date(year, 2, 28)


def _ensure_member_accounts(engine: Engine, settings: CoalitionSettings, count: int) -> list[DemoLogin]:
    """Accounts for the first `count` demo members (demo-member-0@example.com, ...), made the way a member makes
    one: an activation code for the card, then sign-up with it. Kept when they exist."""
    accounts = build_accounts(engine, settings, mailer_from_settings(settings))
    logins = []
    for i in range(count):
        email = DEMO_ACCOUNT_EMAIL.format(i=i)
        with engine.begin() as conn:
            row = conn.execute(text("SELECT m.member_id, m.card_number, c.account_id FROM enrollments e "
                                    "JOIN members m USING (member_id) LEFT JOIN account_cards c USING (member_id) "
                                    "WHERE e.customer_ref = :r AND e.partner_id = m.enrolled_by"),
                               {"r": f"{CUSTOMER_REF_PREFIX}{i:05d}"}).first()
            if row is None:
                break
            code = None if row.account_id else issue_activation_code(conn, row.member_id, datetime.now(timezone.utc),
                                                                      timedelta(minutes=5))
        if code is not None:
            try:
                accounts.sign_up(row.card_number, code, PersonalData(email, f"Demo Member {i}",
                                                                     birth_date=_demo_birth_date(i)))
            except AccountError as exc:  # the address has an account already (a re-seeded database): keep it
                log.warning("demo account %s: %s", email, exc)
                continue
        logins.append(DemoLogin(email, row.card_number))
    return logins


def _ensure_partner(conn: Connection, spec: DemoPartnerSpec, since: datetime | None = None) -> bool:
    """The partner, and its first contract (effective from `since`, the history's start, when there is one)."""
    exists = conn.execute(text("SELECT 1 FROM partners WHERE partner_id = :p"), {"p": spec.partner_id}).first()
    if not exists:
        country, bank, account = spec.iban_parts
        iban = IBAN.generate(country, bank_code=bank, account_code=account)
        admin.create_partner(conn, OPERATOR, spec.partner_id, spec.name, "EUR", iban.compact,
                             mandate=admin.SepaMandate(f"COAL-{spec.partner_id}", datetime.now(timezone.utc).date()))
    if not conn.execute(text("SELECT 1 FROM contracts WHERE partner_id = :p"), {"p": spec.partner_id}).first():
        admin.set_contract(conn, OPERATOR, spec.partner_id, spec.contract, since, now=since)
    if spec.charity and not conn.execute(text("SELECT charity FROM partners WHERE partner_id = :p"),
                                         {"p": spec.partner_id}).scalar_one():
        admin.set_charity(conn, OPERATOR, spec.partner_id)  # members may donate to it (the portal's Donate page)
    return not exists


def _ensure_key(conn: Connection, partner_id: str, path: Path, target: str) -> str | None:
    """Keep the key file if its key is active at the network; else write a new key and register it."""
    active = [r.key_id for r in conn.execute(text(
        "SELECT key_id FROM partner_keys WHERE partner_id = :p AND status = 'active' ORDER BY created_at"),
        {"p": partner_id})]
    if path.exists():
        try:
            existing = load_key_file(path)
            if existing.key_id in active:
                if existing.target != target:
                    save_key_file(path, KeyFile(existing.partner_id, existing.key_id, existing.private_key_pem, target),
                                  overwrite=True)
                return None
        except KeyFileError as exc:
            log.warning("demo key file %s unusable (%s): registering a new key", path, exc)
    taken = conn.execute(text("SELECT count(*) FROM partner_keys WHERE partner_id = :p"), {"p": partner_id}).scalar_one()
    while len(active) >= admin.MAX_ACTIVE_KEYS:
        admin.revoke_key(conn, OPERATOR, active.pop(0))
    key_file = KeyFile.generate(partner_id, f"{partner_id}-demo-{taken + 1}", target)
    admin.register_key(conn, OPERATOR, partner_id, key_file.key_id,
                       base64.b64encode(key_file.public_key_raw()).decode("ascii"))
    save_key_file(path, key_file, overwrite=True)
    return key_file.key_id


def _plan_members(count: int) -> list[tuple[str, list[str], int]]:
    """(home partner, other brands joined, welcome points) for member i: the same plan on every run."""
    rng = random.Random(SEED)
    issuers = [s for s in DEMO_PARTNERS if s.home_share > 0]
    others = [s.partner_id for s in DEMO_PARTNERS]
    plan = []
    for _ in range(count):
        home = rng.choices(issuers, [s.home_share for s in issuers])[0]
        extra: list[str] = []
        if rng.random() < 0.35:
            extra = rng.sample([p for p in others if p != home.partner_id], rng.choice((1, 1, 2)))
        plan.append((home.partner_id, extra, rng.randint(*home.welcome_points)))
    return plan


def _ensure_members(engine: Engine, settings: CoalitionSettings, count: int, since: datetime | None = None) -> int:
    """Members demo-00000.. at their home brand (set-based), their other brands, and welcome points (all dated
    `since`, the history's start, when there is one)."""
    plan = _plan_members(count)
    refs = [f"{CUSTOMER_REF_PREFIX}{i:05d}" for i in range(count)]
    with engine.connect() as conn:
        existing = set(conn.execute(text(
            "SELECT customer_ref FROM enrollments WHERE customer_ref = ANY(CAST(:r AS text[]))"), {"r": refs}).scalars())
    missing = [i for i in range(count) if refs[i] not in existing]
    if not missing:
        return 0
    ledger = build_ledger(engine, settings)
    ledger.ensure_shard_heads()
    now = since or datetime.now(timezone.utc)
    ledger.clock = lambda: now
    member_ids = {i: uuid7() for i in missing}
    member_rows = [(member_ids[i], new_card_number(), shard_of(member_ids[i], settings.ledger_shards), plan[i][0])
                   for i in missing]
    enrollment_rows = [(plan[i][0], member_ids[i], refs[i]) for i in missing]
    enrollment_rows += [(other, member_ids[i], refs[i]) for i in missing for other in plan[i][1]]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO members (member_id, card_number, shard, enrolled_by, created_at) "
            "SELECT m, c, s, p, :t FROM unnest(CAST(:m AS uuid[]), CAST(:c AS text[]), CAST(:s AS smallint[]), "
            "CAST(:p AS text[])) AS x(m, c, s, p)"),
            {"t": now, **dict(zip("mcsp", map(list, zip(*member_rows))))})
        conn.execute(text(ADD_CARDS_OF), {"m": [member_ids[i] for i in missing]})
        conn.execute(text(
            "INSERT INTO enrollments (partner_id, member_id, customer_ref, enrolled_at, method) "
            "SELECT p, m, r, :t, 'till' FROM unnest(CAST(:p AS text[]), CAST(:m AS uuid[]), CAST(:r AS text[])) AS x(p, m, r)"),
            {"t": now, **dict(zip("pmr", map(list, zip(*enrollment_rows))))})
        items = [(plan[i][0], EarnItem(f"demo-welcome-{i:05d}", str(member_ids[i]), None, None, plan[i][2],
                                       receipt_ref="welcome bonus")) for i in missing if plan[i][2] > 0]
        refused = [r for r in ledger.earn_batch(conn, items) if isinstance(r, Exception)]
        if refused:
            raise RuntimeError(f"{len(refused)} welcome earns refused, the first: {refused[0]}")
    log.info("demo: %d members created", len(missing))
    return len(missing)


def load_members(engine: Engine) -> dict[str, list[SimMember]]:
    """The members enrolled at each demo partner (the simulator's customers)."""
    found: dict[str, list[SimMember]] = {spec.partner_id: [] for spec in DEMO_PARTNERS}
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.partner_id, m.member_id, m.card_number FROM enrollments e JOIN members m USING (member_id) "
            "WHERE e.partner_id = ANY(CAST(:p AS text[])) ORDER BY e.partner_id, m.member_id"),
            {"p": list(found)})
        for row in rows:
            found[row.partner_id].append(SimMember(str(row.member_id), row.card_number))
    return found


# --- commands (registered in coalition.cli as `coalition demo seed` and `coalition demo traffic`) ----------

def demo_seed(members: Optional[int] = typer.Option(None, help="Members to seed (default COALITION_DEMO_MEMBERS)."),
              migrate: bool = typer.Option(False, help="Apply migrations first."),
              history_days: Optional[int] = typer.Option(
                  None, help="Days of back-dated history on a fresh ledger (default COALITION_DEMO_HISTORY_DAYS; "
                             "0: none).")) -> None:
    """Seed the demo coalition (idempotent): six partners, their contracts, keys and IBANs, and members; on a fresh
    ledger, back-dated history with closed settlement cycles."""
    settings = get_settings()
    configure_logging(settings)
    started = time.monotonic()
    console = Console()
    with database(settings, run_migrations=migrate) as engine:
        coalition = seed_demo(engine, settings, settings.data_dir, members=members,
                              history_days=settings.demo_history_days if history_days is None else history_days,
                              progress=console.print)
    if coalition.history is not None:
        h = coalition.history
        console.print(f"history: {h.days} days, {h.earns:,} earns, {h.redemptions:,} redemptions, {h.reversals:,} "
                      f"returns, {h.expired_lots:,} lots expired, {h.signups:,} sign-ups, {h.bonus_points:,} bonus "
                      f"points, {h.upgraded_members:,} members upgraded, "
                      f"{len(h.cycles)} cycles closed ({h.seconds:.1f} s)")
    if coalition.created_campaigns:
        console.print(f"campaigns created: {', '.join(coalition.created_campaigns)}")
    console.print(f"demo coalition: {len(coalition.partners)} partners ({coalition.created_partners} new), "
                    f"{coalition.member_count:,} members ({coalition.created_members:,} new), key files in "
                    f"{settings.data_dir / 'keys'} ({time.monotonic() - started:.1f} s)")


def demo_traffic(target: Optional[str] = typer.Option(None, help="host:port of the network server "
                                                                  "(default: from COALITION_GRPC_ADDRESS)."),
                 rate: Optional[float] = typer.Option(None, help="Operations per second "
                                                                 "(default COALITION_DEMO_RATE_PER_SECOND)."),
                 seconds: Optional[float] = typer.Option(None, help="Stop after this long (default: until Ctrl-C)."),
                 seed: Optional[int] = typer.Option(None, help="Random seed, for a repeatable run.")) -> None:
    """Seed the demo if needed, then send simulated POS traffic (signed, through the SDK) until stopped."""
    settings = get_settings()
    configure_logging(settings)
    console = Console()
    target = target or connect_target(settings.grpc_address)
    with database(settings) as engine:
        coalition = seed_demo(engine, settings, settings.data_dir, target=target)
    simulator = coalition.simulator(target, rate or settings.demo_rate_per_second, seed,
                                    point_value_minor=settings.point_value_minor)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if seconds is not None:
        threading.Timer(seconds, stop.set).start()
    console.print(f"POS traffic to {target} at {simulator.rate_per_second:g} operations/s "
                  f"({len(coalition.partners)} partners, {coalition.member_count:,} members); Ctrl-C stops")
    try:
        simulator.run(stop)
    finally:
        simulator.close()
    console.print(f"{simulator.operations:,} operations, {simulator.calls:,} calls")
    for kind, outcomes in simulator.stats().items():
        console.print(f"  {kind}: " + ", ".join(f"{outcome} {count}" for outcome, count in outcomes.items()))


def run_history_benchmark(days: int = 90, members: int = 3000, settings: CoalitionSettings | None = None) -> dict:
    """Seed the demo with `days` of back-dated history into a fresh database (dropped after), time it, and verify
    the ledger and settlement afterwards (`coalition bench history`)."""
    settings = settings or get_settings()
    name = f"coalition_bench_history_{uuid.uuid4().hex[:8]}"
    with database(settings) as main_engine, tempfile.TemporaryDirectory() as scratch:
        with main_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = make_url(main_engine.url).set(database=name).render_as_string(hide_password=False)
        local = settings.model_copy(update={"data_dir": Path(scratch), "network_key_file": None})
        try:
            migrate(url)
            engine = make_engine(url, 4)
            try:
                started = time.perf_counter()
                coalition = seed_demo(engine, local, Path(scratch), members=members, history_days=days,
                                      progress=Console().print)
                seed_seconds = time.perf_counter() - started
                started = time.perf_counter()
                with engine.connect() as conn:
                    checks = verify_ledger(conn, extra=SETTLEMENT_CHECKS)
                verify_seconds = time.perf_counter() - started
            finally:
                engine.dispose()
        finally:
            with main_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    h = coalition.history
    if h is None:
        raise RuntimeError("no history was written: the fresh database was not fresh")
    return {"days": days, "members": members, "seed_seconds": round(seed_seconds, 2),
            "history_seconds": round(h.seconds, 2), "earns": h.earns, "redemptions": h.redemptions,
            "returns_and_refunds": h.reversals, "lots_expired": h.expired_lots, "signups": h.signups,
            "bonus_points": h.bonus_points, "members_upgraded": h.upgraded_members, "expiry_warnings": h.warnings,
            "refused_attempts": h.refused, "cycles_closed": len(h.cycles), "dispute": h.dispute_id,
            "earns_per_second": round(h.earns / h.seconds, 1) if h.seconds else None,
            "verify_seconds": round(verify_seconds, 2), "ledger_verifies": all(c.ok for c in checks),
            "failed_checks": [c.name for c in checks if not c.ok], "cpu_count": os.cpu_count()}


__all__ = ["DEMO_CAMPAIGNS", "DEMO_LADDER", "DEMO_PARTNERS", "DemoCoalition", "DemoLogin", "DemoPartner",
           "connect_target", "demo_seed", "demo_traffic", "ensure_programme", "load_members", "run_history_benchmark", "seed_demo"]
