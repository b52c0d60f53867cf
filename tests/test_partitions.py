"""Bounded tables (network.store.partitions): journal and postings by month on the UUIDv7 tx_id, idempotency keys by
week; partitions created ahead and on demand, expired idempotency weeks dropped whole (exact at the boundary), keys
unique inside the window through the claim's lock, lookups by id, verification and clearing across partitions,
and the migration that converts a database written before it."""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import uuid_utils
import uuid_utils.compat
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from network.core.results import EarnItem, SpendRefs
from network.database import alembic_config, make_engine, migrate
from network.settings import IDEMPOTENCY_RETENTION_DEFAULT_SECONDS as WINDOW
from network.store import idempotency, partitions
from network.store import ledger as ledger_module
from network.store.journal import forget_anchors
from network.store.ledger import build_ledger
from settlement.domain import obligations
from settlement.store import clearing
from tests.conftest import assert_ledger_verifies

UTC = timezone.utc


# --- pure: bounds and names ---------------------------------------------------------------------------

def test_a_uuid7_lies_in_the_range_of_its_millisecond():
    at = datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=UTC)
    nanos = int(at.timestamp() * 1000) * 1_000_000
    made = uuid.UUID(str(uuid_utils.compat.uuid7(nanoseconds=nanos)))
    assert partitions.uuid7_floor(at) <= made < partitions.uuid7_floor(at + timedelta(milliseconds=1))
    assert str(partitions.uuid7_floor(datetime(2026, 12, 1, tzinfo=UTC)))[:13] == f"{1796083200000:012x}"[:8] + "-" + \
        f"{1796083200000:012x}"[8:]
    with pytest.raises(ValueError, match="aware"):
        partitions.uuid7_floor(datetime(2026, 1, 1))


def test_months_and_weeks_cover_without_gaps():
    now = datetime(2026, 12, 30, 12, tzinfo=UTC)  # a Wednesday
    wanted = list(partitions.wanted(date(2026, 10, 15), now, months_ahead=2, weeks_ahead=2))
    journal = [p for p in wanted if p.parent == "journal"]
    assert [p.name for p in journal] == ["journal_p2026_10", "journal_p2026_11", "journal_p2026_12",
                                         "journal_p2027_01", "journal_p2027_02"]
    assert all(a.end == b.start for a, b in zip(journal, journal[1:]))
    keys = [p for p in wanted if p.parent == "idempotency_keys"]
    assert [p.name for p in keys] == ["idempotency_keys_p2026_12_28", "idempotency_keys_p2027_01_04",
                                      "idempotency_keys_p2027_01_11"]  # Mondays: this week and two ahead
    assert all(a.end == b.start and b.end - b.start == timedelta(days=7) for a, b in zip(keys, keys[1:]))
    assert partitions.parse_name("postings_p2027_01") == partitions.monthly("postings", date(2027, 1, 1))
    assert partitions.parse_name("idempotency_keys_p2027_01_04") == partitions.weekly("idempotency_keys", date(2027, 1, 6))
    assert partitions.parse_name("idempotency_keys_p2027_01_05") is None  # not a Monday: not one of ours
    assert partitions.parse_name("journal_default") is None


def test_a_week_is_dropped_only_when_its_whole_range_is_past_the_window():
    week = partitions.weekly("idempotency_keys", date(2026, 11, 18))  # [Monday 16th 00:00, Monday 23rd 00:00)
    assert week.start == date(2026, 11, 16)
    end = datetime(2026, 11, 23, tzinfo=UTC)
    at_boundary = end + timedelta(seconds=WINDOW)  # now - window == the week's end: every key in it is past
    assert partitions.expired_idempotency_partitions([week], at_boundary, WINDOW) == [week]
    # a microsecond earlier a key created at 23:59:59.999999 on Sunday the 22nd is still inside the window
    assert partitions.expired_idempotency_partitions([week], at_boundary - timedelta(microseconds=1), WINDOW) == []


# --- the database -------------------------------------------------------------------------------------

def _partition_of(conn, table: str, where: str, params: dict) -> str:
    return conn.execute(text(f"SELECT tableoid::regclass::text FROM {table} WHERE {where}"), params).scalar_one()


def test_the_live_range_holds_the_window_widened_by_the_clock_skew_and_ends_on_mondays():
    skew = partitions.CLOCK_SKEW
    # the window's start within the skew after a Monday: the week before is read too (the database's clock may
    # be behind the application's); an hour later it is not
    assert partitions.live_idempotency_range(datetime(2026, 12, 14, 0, 30, tzinfo=UTC), WINDOW)[0] == \
        datetime(2026, 11, 30, tzinfo=UTC)
    assert partitions.live_idempotency_range(datetime(2026, 12, 14, 1, 0, tzinfo=UTC), WINDOW)[0] == \
        datetime(2026, 12, 7, tzinfo=UTC)
    # the end: the week after the one holding now + 1 day + skew (Saturday 23:00 + 25 h is Monday 00:00)
    assert partitions.live_idempotency_range(datetime(2026, 12, 12, 23, 0, tzinfo=UTC), WINDOW)[1] == \
        datetime(2026, 12, 21, tzinfo=UTC)
    assert partitions.live_idempotency_range(datetime(2026, 12, 12, 22, 59, tzinfo=UTC), WINDOW)[1] == \
        datetime(2026, 12, 14, tzinfo=UTC)
    start = datetime(2026, 11, 30, 0, 1, tzinfo=UTC)
    for retention in (86400, WINDOW, 30 * 86400):
        for step in range(0, 24 * 21, 1):  # every hour of three weeks, minute 1
            now = start + timedelta(hours=step)
            low, high = partitions.live_idempotency_range(now, retention)
            assert low <= now - timedelta(seconds=retention) - skew and high > now + timedelta(days=1) + skew
            assert low.weekday() == high.weekday() == 0 and low.time() == high.time() == datetime.min.time()
            assert high - low <= timedelta(seconds=retention) + timedelta(days=1) + 2 * skew + timedelta(weeks=2)


def _plan_tables(conn, sql: str, params: dict | None = None) -> set[str]:
    plan = "\n".join(conn.execute(text(sql), params or {}).scalars())
    return {word for word in plan.split()
            if word == "idempotency_keys_default" or partitions.parse_name(word) is not None}


def test_the_lookups_plan_only_the_weeks_of_the_window_without_the_default(engine):
    """The earn path's prepared read (its generic plan) and the unary claim's lookup name the live window's weeks
    as constants, so the planner keeps those weeks only: not the weeks ahead, not the default partition (a
    now()-relative window alone keeps, and locks on every execution, all of them)."""
    from network.store import earn

    with engine.begin() as conn:
        live = partitions.live_idempotency_range(datetime.now(UTC), WINDOW)
        weeks = []
        week = live[0].date()
        while week < live[1].date():
            weeks.append(partitions.weekly("idempotency_keys", week))
            week += timedelta(weeks=1)
        for partition in weeks:  # the weeks of the window, as on a database older than the window
            if partition.name not in partitions.existing(conn):
                partitions.create_partition(conn, partition)
        beyond = partitions.weekly("idempotency_keys", live[1].date())
        if beyond.name not in partitions.existing(conn):
            partitions.create_partition(conn, beyond)
        wanted = {p.name for p in weeks}
        for prepared in earn.reads(live).values():
            generic = prepared.prepare().split(" AS ", 1)[1]
            assert _plan_tables(conn, "EXPLAIN (GENERIC_PLAN) " + generic) == wanted, prepared.name
        keys = {"p": "plan", "r": "plan-1", **idempotency._window(WINDOW)}
        assert _plan_tables(conn, "EXPLAIN SELECT body_hash FROM idempotency_keys WHERE partner_id = :p "
                                  f"AND request_id = :r AND {idempotency._LIVE}", keys) == wanted
        conn.rollback()


def test_rows_land_in_their_period_and_lookups_by_id_prune_to_one_partition(engine, make_partner):
    shop = make_partner("part")
    with shop.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, points=10, request_id="part-sale-1")
    month = datetime.now(UTC).strftime("%Y_%m")
    with engine.connect() as conn:
        for table in ("journal", "postings", "idempotency_keys"):
            assert partitions.is_partitioned(conn, table)
        assert _partition_of(conn, "journal", "tx_id = :t", {"t": earned.transaction_id}) == f"journal_p{month}"
        assert set(conn.execute(text("SELECT tableoid::regclass::text FROM postings WHERE tx_id = :t"),
                                {"t": earned.transaction_id}).scalars()) == {f"postings_p{month}"}
        today = conn.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date")).scalar_one()
        assert _partition_of(conn, "idempotency_keys", "partner_id = :p AND request_id = 'part-sale-1'",
                             {"p": shop.partner_id}) == f"idempotency_keys_p{partitions.week_start(today):%Y_%m_%d}"
        plan = "\n".join(conn.execute(text("EXPLAIN SELECT * FROM journal WHERE tx_id = :t"),
                                      {"t": earned.transaction_id}).scalars())
        assert f"journal_p{month}" in plan and "journal_default" not in plan and plan.count(" on journal_") == 1


def test_partitions_are_kept_ahead_and_a_partition_takes_its_rows_from_the_default(engine):
    with engine.begin() as conn:
        now = conn.execute(text("SELECT now()")).scalar_one()
        partitions.ensure_partitions(conn, now)
        assert partitions.ensure_partitions(conn, now) == []  # idempotent
        have = partitions.existing(conn)
        ahead = partitions.monthly("journal", partitions.next_month(partitions.next_month(now.date())))
        assert ahead.name in have
        ahead_week = partitions.weekly("idempotency_keys", now.astimezone(UTC).date() + timedelta(weeks=partitions.WEEKS_AHEAD))
        assert ahead_week.name in have
        # a key dated past the days created ahead goes to the default partition; creating its day moves it there
        far = now + timedelta(weeks=partitions.WEEKS_AHEAD + 5)
        conn.execute(text("INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash, created_at) "
                          "VALUES ('far', 'far-1', 'Earn', '\\x00', :at)"), {"at": far})
        assert _partition_of(conn, "idempotency_keys", "request_id = 'far-1'", {}) == "idempotency_keys_default"
        far_week = partitions.weekly("idempotency_keys", far.astimezone(UTC).date())
        created = partitions.ensure_partitions(conn, far - timedelta(weeks=partitions.WEEKS_AHEAD))
        assert far_week.name in created
        assert _partition_of(conn, "idempotency_keys", "request_id = 'far-1'", {}) == far_week.name
        conn.rollback()


def test_expired_weeks_are_dropped_whole_and_a_week_with_a_live_key_is_kept(engine):
    with engine.begin() as conn:
        now = conn.execute(text("SELECT now()")).scalar_one()
        expired = partitions.weekly("idempotency_keys", (now - timedelta(seconds=WINDOW, weeks=1)).astimezone(UTC).date())
        live = partitions.weekly("idempotency_keys", (now - timedelta(seconds=WINDOW)).astimezone(UTC).date())
        for week in (expired, live):  # live: the window's first week, still holding a key inside it
            if week.name not in partitions.existing(conn):
                partitions.create_partition(conn, week)
        conn.execute(text("INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash, created_at) VALUES "
                          "('drop', 'old', 'Earn', '\\x00', :old), ('drop', 'live', 'Earn', '\\x00', :live)"),
                     {"old": datetime.combine(expired.start, datetime.min.time(), UTC) + timedelta(hours=12),
                      "live": now - timedelta(seconds=WINDOW) + timedelta(minutes=1)})
        dropped, deleted = partitions.drop_expired_idempotency(conn, WINDOW)
        assert expired.name in dropped
        assert live.name not in dropped and deleted >= 1
        assert set(conn.execute(text("SELECT request_id FROM idempotency_keys WHERE partner_id = 'drop'")).scalars()) \
            == {"live"}
        conn.rollback()


def test_two_concurrent_claims_of_one_key_run_one_after_the_other(engine):
    """created_at is in the primary key, so only the claim's lock keeps a second claim from inserting a twin."""
    key = {"p": "claim-race", "r": f"r-{uuid.uuid4().hex[:8]}"}
    first = engine.connect()
    first.begin()
    assert idempotency.claim(first, key["p"], "Redeem", key["r"], b"h1", WINDOW) is None
    answers = []

    def second() -> None:
        with engine.begin() as conn:
            answers.append(idempotency.claim(conn, key["p"], "Redeem", key["r"], b"h1", WINDOW))

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(1.0)
    assert racer.is_alive()  # waiting on the key's lock
    idempotency.store(first, key["p"], key["r"], b"the answer")
    first.commit()
    first.close()
    racer.join(10)
    assert answers == [b"the answer"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE partner_id = :p AND request_id = :r"),
                            key).scalar_one() == 1


def _uuid7_at(monkeypatch, at: datetime) -> None:
    """Ledger ids made as if at `at` (a month earlier), so this test's rows sit in an older partition."""
    counter = iter(range(10**6))
    base = int(at.timestamp() * 1_000_000_000)

    def compat() -> uuid.UUID:
        return uuid_utils.compat.uuid7(nanoseconds=base + next(counter) * 1_000_000)

    monkeypatch.setattr(ledger_module, "uuid7", compat)
    monkeypatch.setattr(uuid_utils, "uuid7", lambda: uuid_utils.compat.uuid7(nanoseconds=base + next(counter) * 1_000_000))


def test_verification_and_clearing_read_across_partitions(engine, settings, make_partner, monkeypatch):
    issuer, redeemer = make_partner("xpi"), make_partner("xpr")
    ledger = build_ledger(engine, settings)
    start = datetime.now(UTC) - timedelta(seconds=1)
    previous_month = partitions.monthly("journal", (start.replace(day=1) - timedelta(days=1)).date())
    with engine.begin() as conn:
        for parent in ("journal", "postings"):
            partitions.create_partition(conn, partitions.monthly(parent, previous_month.start))

    def traffic(tag: str) -> tuple[str, str]:
        with engine.begin() as conn:
            member, _ = ledger.enroll_member(conn, issuer.partner_id, f"c-{uuid.uuid4().hex[:10]}", "")
            [earned] = ledger.earn_batch(conn, [(issuer.partner_id, EarnItem(f"{tag}-e", member.member_id, None, None, 40))])
            spent = ledger.redeem(conn, redeemer.partner_id, member.member_id, 15, SpendRefs(), f"{tag}-r")
        return earned.transaction_id, spent.transaction_id

    with monkeypatch.context() as patched:
        _uuid7_at(patched, datetime.combine(previous_month.start, datetime.min.time(), UTC) + timedelta(days=3))
        _old_earn, old_redeem = traffic("old")
    _new_earn, new_redeem = traffic("new")
    with engine.connect() as conn:
        where = {"a": old_redeem, "b": new_redeem}
        homes = dict(conn.execute(text("SELECT tx_id::text, tableoid::regclass::text FROM journal "
                                       "WHERE tx_id IN (:a, :b)"), where).all())
        assert homes[old_redeem] == previous_month.name and homes[new_redeem] == f"journal_p{start:%Y_%m}"
        found = conn.execute(text("SELECT count(*) FROM postings WHERE tx_id IN (:a, :b)"), where).scalar_one()
        assert found == 4  # member and redeemer postings of each redemption, each from its own partition
        flows = clearing.flows(conn, start, datetime.now(UTC) + timedelta(seconds=1), redeemer.partner_id)
    redeemed = sum(f.points for f in flows if f.kind == obligations.REDEMPTION and f.redeemer_id == redeemer.partner_id)
    assert redeemed == 30  # both redemptions, from both months' partitions
    assert_ledger_verifies(engine)  # every invariant and every hash chain, across the partitions
    with engine.begin() as conn:
        # a reversal looks up the original transaction by id in the older partition
        reversed_ = ledger.reverse(conn, redeemer.partner_id, old_redeem, 15, "partition test", "old-rev")
    assert reversed_.transaction_id
    assert_ledger_verifies(engine)


# --- the migration ------------------------------------------------------------------------------------

# the revision just before partitioning (the chain may grow below it; the test always starts there)
BEFORE_PARTITIONING = ScriptDirectory.from_config(alembic_config("postgresql://")).get_revision("0013").down_revision


@pytest.fixture
def database_before_partitioning(scratch_database):
    url = scratch_database("coalition_part")
    command.upgrade(alembic_config(url), BEFORE_PARTITIONING)
    return url


def test_the_migration_converts_a_database_written_before_it(database_before_partitioning, settings):
    from network import admin

    old = make_engine(database_before_partitioning, pool_size=2)
    try:
        ledger = build_ledger(old, settings)
        with old.begin() as conn:  # today's code anchors chain heads (0020): the column while it writes
            conn.execute(text("ALTER TABLE shard_heads ADD COLUMN anchor_member_id uuid"))
            # and writes a new member's card itself (0023 drops the trigger that did, IF EXISTS)
            conn.execute(text("DROP TRIGGER members_card ON members"))
        ledger.ensure_shard_heads()
        with old.begin() as conn:
            for partner_id in ("mig-a", "mig-b"):
                admin.create_partner(conn, "test", partner_id, partner_id)
                admin.set_contract(conn, "test", partner_id, admin.ContractDraft())
        with old.begin() as conn:  # today's code writes a posting's member (0018): the column while it writes
            conn.execute(text("ALTER TABLE postings ADD COLUMN member_id uuid"))
            member, _ = ledger.enroll_member(conn, "mig-a", "cust-1", "")
            [earned] = ledger.earn_batch(conn, [("mig-a", EarnItem("mig-e1", member.member_id, None, None, 70))])
            spent = ledger.redeem(conn, "mig-b", member.member_id, 20, SpendRefs(), "mig-r1")
            conn.execute(text("ALTER TABLE postings DROP COLUMN member_id"))  # as before 0018: it fills it again
            conn.execute(text("ALTER TABLE shard_heads DROP COLUMN anchor_member_id"))  # 0020 anchors them afresh
            conn.execute(text("INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash, response) "
                              "VALUES ('mig-b', 'mig-r1', 'Redeem', '\\x01', '\\x02')"))
            assert not partitions.is_partitioned(conn, "journal")
            before = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in partitions.PARTITIONED}
            hashes = conn.execute(text("SELECT tx_id, hash FROM journal ORDER BY tx_id")).all()
        migrate(database_before_partitioning)
        forget_anchors(old)  # the anchors this process read before 0020 drew new ones
        with old.connect() as conn:
            for table in partitions.PARTITIONED:
                assert partitions.is_partitioned(conn, table)
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == before[table]
                assert conn.execute(text(f"SELECT count(*) FROM ONLY {table}_default")).scalar_one() == 0
            assert conn.execute(text("SELECT tx_id, hash FROM journal ORDER BY tx_id")).all() == hashes
            assert conn.execute(text("SELECT kind FROM journal WHERE tx_id = :t"),
                                {"t": spent.transaction_id}).scalar_one() == "redeem"
            assert conn.execute(text("SELECT count(*) FROM postings WHERE tx_id = :t"),
                                {"t": earned.transaction_id}).scalar_one() == 2
            assert conn.execute(text("SELECT DISTINCT member_id::text FROM postings")).scalars().all() == \
                [str(member.member_id)]  # 0018 filled each posting's member from its journal row
            assert idempotency.stored_body_hash(old, "mig-b", "mig-r1", WINDOW) == b"\x01"
        assert_ledger_verifies(old)  # every invariant and hash chain of the rows written before the migration
        # the converted database keeps working: the old key replays, a new earn chains on
        with old.begin() as conn:
            assert idempotency.claim(conn, "mig-b", "Redeem", "mig-r1", b"\x01", WINDOW) == b"\x02"
            ledger.earn_batch(conn, [("mig-a", EarnItem("mig-e2", member.member_id, None, None, 5))])
        assert_ledger_verifies(old)
        command.downgrade(alembic_config(database_before_partitioning), BEFORE_PARTITIONING)
        with old.connect() as conn:
            assert not partitions.is_partitioned(conn, "journal")
            assert conn.execute(text("SELECT count(*) FROM journal")).scalar_one() == before["journal"] + 1
    finally:
        old.dispose()


# --- the command ----------------------------------------------------------------------------------------------

def test_the_partitions_command_creates_ahead_drops_expired_days_and_refuses_a_short_window(
        engine, database_url, monkeypatch):
    from typer.testing import CliRunner

    from coalition.cli import app
    from network.settings import from_environment

    monkeypatch.setenv("DATABASE_URL", database_url)
    from_environment.cache_clear()
    try:
        with engine.begin() as conn:
            now = conn.execute(text("SELECT now()")).scalar_one()
            old = partitions.weekly("idempotency_keys", (now - timedelta(seconds=WINDOW, weeks=2)).astimezone(UTC).date())
            partitions.create_partition(conn, old)
        runner = CliRunner()
        refused = runner.invoke(app, ["ledger", "partitions", "--retention-seconds", "3600"])
        assert refused.exit_code == 2 and "at least 86400 seconds" in refused.output
        with engine.connect() as conn:
            assert old.name in partitions.existing(conn)  # the refusal dropped nothing
        done = runner.invoke(app, ["ledger", "partitions"])
        assert done.exit_code == 0, done.output
        assert old.name in done.output.split("dropped:")[1]
        with engine.connect() as conn:
            have = partitions.existing(conn)
        assert old.name not in have
        assert f"journal_p{partitions.next_month(partitions.next_month(now.date())):%Y_%m}" in have
    finally:
        from_environment.cache_clear()


JOURNAL_COLUMNS = ("tx_id, shard, seq, kind, partner_id, member_id, points, amount_minor, currency, receipt_ref, "
                   "store_id, terminal_id, request_id, related_id, created_at, prev_hash, hash, hash_version")


def test_a_repeated_chain_seq_breaks_verification_now_that_it_is_not_unique(engine, make_partner):
    """(shard, seq) is no longer a unique constraint (it cannot hold the partition key): the chain walk refuses a
    second row at a seq already used, so the uniqueness is still checked, by verification."""
    from network.store.verify import check_hash_chain

    shop = make_partner("seq")
    with shop.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, points=7)
    twin = str(uuid.UUID(int=uuid.UUID(earned.transaction_id).int + 1))  # same millisecond: same partition
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO journal ({JOURNAL_COLUMNS}) SELECT CAST(:twin AS uuid), shard, seq, kind, partner_id, member_id, "
                          "points, amount_minor, currency, receipt_ref, store_id, terminal_id, request_id, related_id, "
                          "created_at, prev_hash, hash, hash_version FROM journal WHERE tx_id = :t"),
                     {"twin": twin, "t": earned.transaction_id})
    try:
        with engine.connect() as conn:
            chain = check_hash_chain(conn)
        assert not chain.ok and any(twin in example for example in chain.examples)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM journal WHERE tx_id = :twin"), {"twin": twin})
