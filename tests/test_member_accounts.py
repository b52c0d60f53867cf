"""Member accounts: activation codes from EnrollMember, sign-up, personal data encrypted at rest, login by an
e-mailed code through a real SMTP server (aiosmtpd), rate limits and expiries at their boundaries, export, and
erasure (crypto-shredding, breakage per issuer, `ledger verify` green)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from network.core import accounts as rules
from network.core.accounts import AccountRuleError, Consents, PersonalData
from network.core.transfers import AnomalyThresholds
from network.mail import OutboxMailer, SmtpMailer, read_outbox
from network.ports import free_port
from network.store import credentials, retention
from network.store.accounts import AccountError, AccountPolicy, Accounts, KeyRing, load_master_key
from network.store.ledger import build_ledger

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
POLICY = AccountPolicy(login_code_ttl=timedelta(minutes=10), login_code_max_attempts=3, window_seconds=3600,
                       requests_per_address=3, requests_per_member=4, attempts_per_address=6, attempts_per_member=5,
                       session_ttl=timedelta(hours=1))


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- the pure rules ------------------------------------------------------------------------------------------

def test_email_is_normalised_and_checked():
    assert rules.normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    for bad in ("", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@-example.com"):
        with pytest.raises(AccountRuleError) as refused:
            rules.normalise_email(bad)
        assert refused.value.reason == "EMAIL_INVALID"
    key = b"k" * 32
    assert rules.email_lookup_hash(key, "ANN@example.com") == rules.email_lookup_hash(key, "ann@example.com ")
    assert rules.email_lookup_hash(key, "ann@example.com") != rules.email_lookup_hash(b"j" * 32, "ann@example.com")


def test_personal_data_rules():
    with pytest.raises(AccountRuleError, match="name"):
        rules.personal_data("a@example.com", "  ")
    with pytest.raises(AccountRuleError) as refused:
        rules.personal_data("a@example.com", "Ann", phone="call me")
    assert refused.value.reason == "PHONE_INVALID"
    with pytest.raises(AccountRuleError) as refused:
        rules.personal_data("a@example.com", "Ann", birth_date=date(2026, 12, 1), today=date(2026, 11, 30))
    assert refused.value.reason == "BIRTH_DATE_INVALID"
    ok = rules.personal_data("A@Example.com", " Ann ", "+49 30 1234", date(2026, 11, 30), today=date(2026, 11, 30))
    assert ok == PersonalData("a@example.com", "Ann", "+49 30 1234", date(2026, 11, 30))


def test_code_refusal_boundaries():
    expires = T0 + timedelta(minutes=10)
    assert rules.code_refusal(None, T0, 3) == "CODE_NOT_ISSUED"
    assert rules.code_refusal(rules.CodeState(expires, False, 0), expires - timedelta(microseconds=1), 3) is None
    assert rules.code_refusal(rules.CodeState(expires, False, 0), expires, 3) == "CODE_EXPIRED"
    assert rules.code_refusal(rules.CodeState(expires, True, 0), T0, 3) == "CODE_USED"
    assert rules.code_refusal(rules.CodeState(expires, False, 2), T0, 3) is None
    assert rules.code_refusal(rules.CodeState(expires, False, 3), T0, 3) == "CODE_ATTEMPTS_EXHAUSTED"
    assert rules.within_limit(2, 3) and not rules.within_limit(3, 3) and not rules.within_limit(0, 0)
    assert rules.session_active(expires, False, expires - timedelta(microseconds=1))
    assert not rules.session_active(expires, False, expires) and not rules.session_active(expires, True, T0)
    assert rules.login_code_from(42) == "000042"
    code = rules.activation_code_from(list(range(12)))
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert rules.secret_hash(code.lower().replace("-", " ")) == rules.secret_hash(code)


def test_master_key_is_made_once_and_kept(tmp_path: Path):
    path = tmp_path / "keys" / "member-master-key"
    key = load_master_key(path)
    assert len(key) == 32 and load_master_key(path) == key and (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(FileNotFoundError):
        load_master_key(tmp_path / "missing", create=False)


# --- against the database ------------------------------------------------------------------------------------

@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def accounts(engine, outbox, clock) -> Accounts:
    return Accounts(engine, KeyRing.from_master(b"m" * 32), OutboxMailer(outbox, "network@test"), POLICY, clock)


def new_email() -> str:
    return f"member-{uuid.uuid4().hex[:10]}@example.com"


def last_code(outbox: Path, to: str) -> str:
    mail = next(m for m in read_outbox(outbox) if m.to == to)
    return re.search(r"\b(\d{6})\b", mail.body).group(1)


def test_enroll_member_returns_an_activation_code_only_to_the_partner_that_created_the_card(make_partner,
                                                                                            accounts, verified_ledger):
    first, other = make_partner(), make_partner()
    with first.client() as client:
        enrolled = client.enroll_member(customer_ref="c-1")
    assert enrolled.created and re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", enrolled.activation_code)
    with other.client() as client:
        joined = client.enroll_member(card_number=enrolled.member.card_number)
    assert joined.created and joined.activation_code == ""  # enrolled there now, but the card is not theirs
    card, code = enrolled.member.card_number, enrolled.activation_code
    with pytest.raises(AccountError) as refused:  # a wrong code for the card: nothing written
        accounts.sign_up(card, "AAAA-BBBB-CCCC", PersonalData(new_email(), "Ann"))
    assert refused.value.reason == "ACTIVATION_CODE_INVALID"
    account_id = accounts.sign_up(card, code.lower(), PersonalData(new_email(), "Ann"), Consents(marketing=True))
    view = accounts.account(account_id)
    assert [c.card_number for c in view.cards] == [card] and view.consents == Consents(True, False)
    with pytest.raises(AccountError) as refused:
        accounts.sign_up(card, code, PersonalData(new_email(), "Bob"))
    assert refused.value.reason == "ACTIVATION_CODE_USED"


def enrolled_card(partner, points: int = 0) -> tuple[str, str, str]:
    """(member id, card number, activation code) of a new member with `points` earned at `partner`."""
    with partner.client() as client:
        enrolled = client.enroll_member()
        if points:
            client.earn(enrolled.member.member_id, points=points)
    return enrolled.member.member_id, enrolled.member.card_number, enrolled.activation_code


def test_activation_code_expires_at_its_boundary(make_partner, engine, outbox, verified_ledger):
    partner = make_partner()
    clock = Clock(datetime.now(timezone.utc))
    accounts = Accounts(engine, KeyRing.from_master(b"m" * 32), OutboxMailer(outbox, "n@test"), POLICY, clock)
    _, card, code = enrolled_card(partner)
    with engine.connect() as conn:
        expires_at = conn.execute(text("SELECT a.expires_at FROM activation_codes a JOIN members m USING (member_id) "
                                       "WHERE m.card_number = :c"), {"c": card}).scalar_one()
    clock.now = expires_at
    with pytest.raises(AccountError) as refused:
        accounts.sign_up(card, code, PersonalData(new_email(), "Ann"))
    assert refused.value.reason == "ACTIVATION_CODE_EXPIRED"
    clock.now = expires_at - timedelta(microseconds=1)
    assert accounts.sign_up(card, code, PersonalData(new_email(), "Ann"))


def test_email_taken_and_second_card(make_partner, accounts, verified_ledger):
    partner = make_partner()
    email = new_email()
    _, card, code = enrolled_card(partner)
    account_id = accounts.sign_up(card, code, PersonalData(email, "Ann"))
    _, card2, code2 = enrolled_card(partner)
    with pytest.raises(AccountError) as refused:
        accounts.sign_up(card2, code2, PersonalData(email.upper(), "Ann again"))
    assert refused.value.reason == "EMAIL_TAKEN"
    accounts.add_card(account_id, card2, code2)
    assert sorted(c.card_number for c in accounts.account(account_id).cards) == sorted([card, card2])


def test_personal_data_is_encrypted_at_rest(make_partner, engine, accounts, verified_ledger):
    partner = make_partner()
    email, name = new_email(), f"Plaintext Person {uuid.uuid4().hex[:6]}"
    _, card, code = enrolled_card(partner)
    account_id = accounts.sign_up(card, code, PersonalData(email, name, "+44 20 7946 0321", date(1990, 5, 17)))
    assert accounts.account(account_id).personal == PersonalData(email, name, "+44 20 7946 0321", date(1990, 5, 17))
    assert not database_text_contains(engine, [email, name, "7946 0321"])


def database_text_contains(engine, needles: list[str]) -> list[str]:
    """Which of `needles` appear anywhere in the public schema's rows, read as text (bytea as its hex and as
    Latin-1 text, so plaintext stored in a binary column is found too)."""
    found = []
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        for table in tables:
            for needle in needles:
                hit = conn.execute(text(
                    f"SELECT 1 FROM {table} t WHERE t::text ILIKE :n OR t::text ILIKE :h LIMIT 1"),
                    {"n": f"%{needle}%", "h": f"%{needle.encode().hex()}%"}).first()
                if hit:
                    found.append(f"{needle} in {table}")
    return found


# --- login ---------------------------------------------------------------------------------------------------

class Received:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    port = free_port()
    handler = Received()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_login_by_code_through_a_real_smtp_server(make_partner, engine, smtp_server, verified_ledger):
    handler, port = smtp_server
    accounts = Accounts(engine, KeyRing.from_master(b"m" * 32),
                        SmtpMailer("127.0.0.1", port, "Coalition <no-reply@coalition.test>", starttls=False), POLICY)
    partner = make_partner()
    email = new_email()
    _, card, code = enrolled_card(partner)
    account_id = accounts.sign_up(card, code, PersonalData(email, "Ann"))
    assert accounts.request_login_code(email.upper()) is True
    [mail] = handler.messages
    assert mail["To"] == email and mail["From"] == "Coalition <no-reply@coalition.test>"
    login_code = re.search(r"\b(\d{6})\b", mail.get_payload()).group(1)
    token = accounts.log_in(email, login_code)
    assert accounts.session_account(token) == account_id
    with pytest.raises(AccountError) as refused:  # single use
        accounts.log_in(email, login_code)
    assert refused.value.reason == "CODE_USED"
    accounts.log_out(token)
    assert accounts.session_account(token) is None
    assert accounts.request_login_code(new_email()) is False  # an unknown address: nothing sent
    assert len(handler.messages) == 1


@pytest.fixture
def signed_up(make_partner, accounts):
    partner = make_partner()
    email = new_email()
    _, card, code = enrolled_card(partner)
    return accounts.sign_up(card, code, PersonalData(email, "Ann")), email


def test_code_requests_are_limited_per_address_at_the_boundary(accounts, clock, signed_up, outbox):
    _, email = signed_up
    for _ in range(POLICY.requests_per_address):
        accounts.request_login_code(email)
    with pytest.raises(AccountError) as refused:
        accounts.request_login_code(email)
    assert refused.value.reason == "RATE_LIMITED"
    assert len(read_outbox(outbox)) == POLICY.requests_per_address  # the refused request sent nothing
    clock.now = T0 + timedelta(seconds=POLICY.window_seconds) - timedelta(microseconds=1)
    with pytest.raises(AccountError):  # the first request is still inside the window
        accounts.request_login_code(email)
    clock.now = T0 + timedelta(seconds=POLICY.window_seconds) + timedelta(microseconds=1)
    assert accounts.request_login_code(email) is True
    unknown = new_email()  # unknown addresses are limited too (nobody can probe without limit)
    for _ in range(POLICY.requests_per_address):
        assert accounts.request_login_code(unknown) is False
    with pytest.raises(AccountError):
        accounts.request_login_code(unknown)


def test_code_requests_are_limited_per_member(engine, outbox, signed_up):
    # an account's own limit, below the address limit: the member limit decides
    account_id, email = signed_up
    policy = AccountPolicy(requests_per_address=10, requests_per_member=2, window_seconds=3600)
    accounts = Accounts(engine, KeyRing.from_master(b"m" * 32), OutboxMailer(outbox, "n@test"), policy, Clock())
    accounts.request_login_code(email)
    accounts.request_login_code(email)
    with pytest.raises(AccountError) as refused:
        accounts.request_login_code(email)
    assert refused.value.reason == "RATE_LIMITED" and "account" in refused.value.message


def test_wrong_codes_exhaust_the_code_then_the_attempt_limits(accounts, clock, signed_up, outbox):
    _, email = signed_up
    accounts.request_login_code(email)
    code = last_code(outbox, email)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(POLICY.login_code_max_attempts):
        with pytest.raises(AccountError) as refused:
            accounts.log_in(email, wrong)
        assert refused.value.reason == "CODE_WRONG"
    with pytest.raises(AccountError) as refused:  # the right code, but the code took its tries
        accounts.log_in(email, code)
    assert refused.value.reason == "CODE_ATTEMPTS_EXHAUSTED"
    accounts.request_login_code(email)
    code = last_code(outbox, email)
    with pytest.raises(AccountError) as refused:  # attempts per member: 5 made (3 wrong, 1 exhausted, this one)
        accounts.log_in(email, wrong)
    assert refused.value.reason == "CODE_WRONG"
    with pytest.raises(AccountError) as refused:
        accounts.log_in(email, code)
    assert refused.value.reason == "RATE_LIMITED"
    clock.now = T0 + timedelta(seconds=POLICY.window_seconds, microseconds=1)  # the window has moved on
    accounts.request_login_code(email)
    assert accounts.session_account(accounts.log_in(email, last_code(outbox, email)))


def test_code_tries_are_limited_per_address_at_the_boundary(accounts, clock):
    unknown = new_email()  # no account: every try fails, and the address's own limit still counts them
    for _ in range(POLICY.attempts_per_address):
        with pytest.raises(AccountError) as refused:
            accounts.log_in(unknown, "123456")
        assert refused.value.reason == "CODE_NOT_ISSUED"
    with pytest.raises(AccountError) as refused:
        accounts.log_in(unknown, "123456")
    assert refused.value.reason == "RATE_LIMITED"
    clock.now = T0 + timedelta(seconds=POLICY.window_seconds, microseconds=1)
    with pytest.raises(AccountError) as refused:
        accounts.log_in(unknown, "123456")
    assert refused.value.reason == "CODE_NOT_ISSUED"


def test_login_code_and_session_expire_at_their_boundaries(accounts, clock, signed_up, outbox):
    account_id, email = signed_up
    accounts.request_login_code(email)
    clock.now = T0 + POLICY.login_code_ttl
    with pytest.raises(AccountError) as refused:
        accounts.log_in(email, last_code(outbox, email))
    assert refused.value.reason == "CODE_EXPIRED"
    clock.now = T0
    accounts.request_login_code(email)
    clock.now = T0 + POLICY.login_code_ttl - timedelta(microseconds=1)
    token = accounts.log_in(email, last_code(outbox, email))
    started = clock.now
    clock.now = started + POLICY.session_ttl - timedelta(microseconds=1)
    assert accounts.session_account(token) == account_id
    clock.now = started + POLICY.session_ttl
    assert accounts.session_account(token) is None


# --- data rights ---------------------------------------------------------------------------------------------

def test_export_and_erasure(make_partner, engine, settings, accounts, verified_ledger):
    coffee, train = make_partner(expiry_days=365), make_partner()
    email, name = new_email(), f"Erased Person {uuid.uuid4().hex[:6]}"
    member_id, card, code = enrolled_card(coffee, points=300)
    with engine.begin() as conn:
        credentials.set_pin(conn, member_id, "2580")
    with train.client() as client:
        client.enroll_member(card_number=card)
        client.earn(member_id, points=120)
        client.redeem(member_id, 50, pin="2580")  # the coffee lot goes first (it expires; the train lot does not)
        hold = client.authorize_redemption(member_id, 30, pin="2580")
    account_id = accounts.sign_up(card, code, PersonalData(email, name, "+49 30 5550 1234"))
    ledger = build_ledger(engine, settings)
    exported = accounts.export(account_id, ledger)
    assert exported["personal_data"]["email"] == email and exported["personal_data"]["name"] == name
    [exported_card] = exported["cards"]
    assert exported_card["card_number"] == card and exported_card["balance"]["available"] == 340
    assert exported_card["balance"]["held"] == 30
    assert sorted(row["kind"] for row in exported_card["history"]) == ["earn", "earn", "hold", "redeem"]
    assert len(exported_card["lots"]) == 2 and exported_card["notifications"] == []
    assert exported_card["security"]["pin_set"] is True and exported_card["security"]["cards"][0]["status"] == "active"
    assert json.loads(json.dumps(exported)) == exported  # all of it JSON as it is

    erased = accounts.erase(account_id, ledger, "operator-1", "member asked")  # 340 available + 30 held
    assert erased.breakage_by_issuer == {coffee.partner_id: 250, train.partner_id: 120}
    with engine.connect() as conn:
        assert ledger.member_balance(conn, uuid.UUID(member_id)).available == 0
        breakage = dict(conn.execute(text("SELECT partner_id, -sum(points) FROM journal WHERE member_id = :m "
                                          "AND kind = 'expire' GROUP BY partner_id"), {"m": uuid.UUID(member_id)}).all())
        hold_state = conn.execute(text("SELECT state FROM holds WHERE hold_id = :h"),
                                  {"h": uuid.UUID(hold.hold_id)}).scalar_one()
        audit = conn.execute(text("SELECT operator, detail FROM operator_actions WHERE action = 'member.erase' "
                                  "AND subject = :s"), {"s": f"account {account_id}"}).one()
        ciphertext = conn.execute(text("SELECT personal_data FROM member_accounts WHERE account_id = :a"),
                                  {"a": uuid.UUID(account_id)}).scalar_one()
    assert breakage == {coffee.partner_id: 250, train.partner_id: 120} and hold_state == "expired"
    assert audit.operator == "operator-1" and audit.detail["breakage"] == breakage
    assert ciphertext is not None  # the ciphertext stays; its key is gone
    assert not database_text_contains(engine, [email, name, "5550 1234"])
    with pytest.raises(AccountError) as refused:
        accounts.account(account_id)
    assert refused.value.reason == "ACCOUNT_NOT_FOUND"
    with pytest.raises(AccountError) as refused:
        accounts.erase(account_id, ledger, "operator-1", "again")
    assert refused.value.reason == "ACCOUNT_ERASED"
    assert accounts.request_login_code(email) is False  # the address no longer finds anything


def test_operator_erasure_from_the_cli_is_audited_and_verify_stays_green(make_partner, engine, database_url,
                                                                         tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from coalition.cli import app
    from coalition.settings import CoalitionSettings
    from network.mail import mailer_from_settings
    from network.settings import from_environment
    from network.store.accounts import build_accounts

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COALITION_DATA_DIR", str(tmp_path))
    from_environment.cache_clear()
    settings = CoalitionSettings()
    accounts = build_accounts(engine, settings, mailer_from_settings(settings))
    partner = make_partner()
    member_id, card, code = enrolled_card(partner, points=75)
    email = new_email()
    account_id = accounts.sign_up(card, code, PersonalData(email, "Dora"))
    runner = CliRunner()
    try:
        refused = runner.invoke(app, ["members", "erase", "7000000000000000", "--reason", "request 42"])
        assert refused.exit_code == 1 and "no member account" in refused.output
        erased = runner.invoke(app, ["members", "erase", card, "--reason", "request 42", "--operator", "dpo"])
        assert erased.exit_code == 0, erased.output
        assert f"account {account_id} erased" in erased.output and f"{partner.partner_id} 75" in erased.output
        verified = runner.invoke(app, ["ledger", "verify"])
        assert verified.exit_code == 0, verified.output
    finally:
        from_environment.cache_clear()
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT operator, detail FROM operator_actions WHERE subject = :s"),
                             {"s": f"account {account_id}"}).one()
    assert audit.operator == "dpo" and audit.detail["reason"] == "request 42"
    assert audit.detail["breakage"] == {partner.partner_id: 75}
    assert not database_text_contains(engine, [email])


# --- retention -----------------------------------------------------------------------------------------------

def test_security_records_are_deleted_once_past_retention_at_the_boundary(make_partner, engine, accounts, clock,
                                                                          outbox):
    """network.store.retention: each table by the time that decides its age; a row exactly at the cut-off stays,
    one a microsecond older goes. The records are made a long time ago (clock) so that no other test's are as
    old: the purge touches exactly these."""
    old = datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    days = 90
    member_id, card, code = enrolled_card(make_partner())
    email = new_email()
    clock.now = old
    account_id = accounts.sign_up(card, code, PersonalData(email, "Ann"))
    accounts.request_login_code(email)  # login_events 'request' at old; a code expiring at old + 10 min
    accounts.log_in(email, last_code(outbox, email))  # an 'attempt'; a session
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO verification_failures (member_id, failed_at, method) VALUES (:m, :t, 'pin')"),
                     {"m": member_id, "t": old})
        conn.execute(text("INSERT INTO redemption_codes (code_hash, member_id, max_points, created_at, expires_at) "
                          "VALUES (:h, :m, 5, :t, :e)"), {"h": uuid.uuid4().bytes, "m": member_id, "t": old,
                                                          "e": old + timedelta(minutes=5)})

    def left() -> dict[str, int]:
        with engine.connect() as conn:
            return {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar_one()
                    for table, where, params in (
                        ("login_events", "account_id = :a", {"a": account_id}),
                        ("login_codes", "account_id = :a", {"a": account_id}),
                        ("member_sessions", "account_id = :a", {"a": account_id}),
                        ("verification_failures", "member_id = :m", {"m": member_id}),
                        ("redemption_codes", "member_id = :m", {"m": member_id}))}

    def purge(at: datetime, batch: int = retention.BATCH) -> dict[str, int]:
        return {t: n for t, n in retention.purge_member_records(engine, days, at, batch).items() if n}

    assert left() == {"login_events": 2, "login_codes": 1, "member_sessions": 1, "verification_failures": 1,
                      "redemption_codes": 1}
    tick = timedelta(microseconds=1)
    assert purge(old + timedelta(days=days)) == {}  # exactly at the cut-off: kept
    assert purge(old + timedelta(days=days) + tick, batch=1) == {"login_events": 2, "verification_failures": 1}
    code_expiry, redemption_expiry = old + POLICY.login_code_ttl, old + timedelta(minutes=5)
    assert purge(redemption_expiry + timedelta(days=days)) == {}
    assert purge(redemption_expiry + timedelta(days=days) + tick) == {"redemption_codes": 1}
    assert purge(code_expiry + timedelta(days=days) + tick) == {"login_codes": 1}
    session_expiry = old + POLICY.session_ttl
    assert purge(session_expiry + timedelta(days=days)) == {}
    assert purge(session_expiry + timedelta(days=days) + tick) == {"member_sessions": 1}
    assert left() == dict.fromkeys(left(), 0)
    assert accounts.account(account_id).cards  # the account itself and its cards stay


def test_the_housekeeping_schedule_purges_them_through_its_workflow(engine, settings, network_signer):
    """The task every housekeeping schedule starts (settlement.worker.schedules): HousekeepingWorkflow runs the
    purge_member_records activity on a real (time-skipping) Temporal server, at the retention the settings give."""
    import asyncio
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from settlement import messages as m
    from settlement.activities import SettlementActivities
    from settlement.workflows import WORKFLOWS, HousekeepingWorkflow

    assert "purge_member_records" in m.HOUSEKEEPING_TASKS
    happened = datetime(2002, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO login_events (kind, email_hash, at) VALUES ('request', :h, :t)"),
                     {"h": b"retention-workflow", "t": happened})
    due = happened + timedelta(days=settings.member_records_retention_days, microseconds=1)
    activities = SettlementActivities(engine, settings, None, network_signer, clock=lambda: due)

    async def run() -> m.HousekeepingResult:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"))
        try:
            queue = f"retention-{uuid.uuid4().hex[:8]}"
            async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS,
                              activities=[activities.purge_member_records], activity_executor=ThreadPoolExecutor(2)):
                return await env.client.execute_workflow(
                    HousekeepingWorkflow.run, m.HousekeepingInput("purge_member_records"),
                    id=f"retention-{uuid.uuid4().hex[:8]}", task_queue=queue)
        finally:
            await env.shutdown()

    result = asyncio.run(run())
    assert result.task == "purge_member_records" and result.changed >= 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_events WHERE email_hash = :h"),
                            {"h": b"retention-workflow"}).scalar_one() == 0


def test_member_records_retention_is_at_least_the_anomaly_look_back():
    from pydantic import ValidationError

    from network.settings import NetworkSettings

    assert NetworkSettings(member_records_retention_days=8).member_records_retention_days == 8
    with pytest.raises(ValidationError, match="member_records_retention_days"):
        NetworkSettings(member_records_retention_days=7)
    assert timedelta(days=8) >= AnomalyThresholds().lookback + AnomalyThresholds().failed_pin_window
