"""What docs/partner-guide.md states, checked against the network: the key file format, contract defaults, the
earn rate's worked example, one request-id space across methods, and that no refusal uses a request id up
(unary calls and BatchEarn items alike), while a batch's own id is used by its answer."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from partners.errors import FailedPrecondition, IdempotencyKeyReused, InvalidArgument, NotFound, PermissionDenied
from partners.keyfile import KeyFile, load_key_file, save_key_file
from protos.coalition.v1 import network_pb2 as pb

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "partner-guide.md"

pytestmark = pytest.mark.usefixtures("verified_ledger")


def test_the_documented_key_file_is_what_keygen_writes(tmp_path):
    documented = json.loads(re.search(r"```json\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL).group(1))
    written = save_key_file(tmp_path / "k.json", KeyFile.generate("coffee", "coffee-2026", "localhost:50051"))
    actual = json.loads(written.read_text())
    assert list(documented) == list(actual) == ["partner_id", "key_id", "private_key_pem", "target"]
    assert actual["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----\n")  # unencrypted PKCS#8 PEM
    assert written.stat().st_mode & 0o777 == 0o600
    assert load_key_file(written).key_id == "coffee-2026"


def test_contract_defaults_points_active_at_once_and_never_expiring(make_partner):
    shop = make_partner("defaults")  # return_window_seconds 0, expiry_days 0
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        earned = network.earn(member, points=7)
        assert earned.state == pb.LOT_STATE_ACTIVE and not earned.HasField("expires_at")
        assert network.redeem(member, 7).points == 7  # spendable at once


def test_the_earn_rate_example(make_partner):
    shop = make_partner("rate", earn_points_per_major=2)
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        assert network.earn(member, amount_minor=1250, currency="EUR").points == 25  # EUR 12.50 x 2
        with pytest.raises(InvalidArgument):
            network.earn(member, amount_minor=49, currency="EUR")  # floor(0.49 x 2) = 0: earns nothing


def test_one_request_id_space_across_methods(make_partner):
    shop = make_partner("keys")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        request_id = uuid.uuid4().hex
        network.earn(member, points=10, request_id=request_id)
        with pytest.raises(IdempotencyKeyReused):
            network.redeem(member, 1, request_id=request_id)
        with pytest.raises(IdempotencyKeyReused):
            network.enroll_member(request_id=request_id)
    other = make_partner("keys-other")  # another partner's key space
    with other.client() as network:
        member = network.enroll_member().member.member_id
        assert network.earn(member, points=3, request_id=request_id).points == 3


def test_refused_request_ids_are_not_used_up(make_partner):
    shop = make_partner("refused-ids")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        request_id = uuid.uuid4().hex
        with pytest.raises(NotFound):
            network.reverse(str(uuid.uuid4()), request_id=request_id)
        with pytest.raises(FailedPrecondition):
            network.redeem(member, 5, request_id=request_id)
        with pytest.raises(InvalidArgument):
            network.earn(member, points=0, request_id=request_id)
        # three refusals with three methods: the id is still free, for any of them
        assert network.earn(member, points=5, request_id=request_id).points == 5


def test_batch_ids_used_by_the_answer_refused_item_ids_free(make_partner):
    shop = make_partner("batch-ids")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        batch_id, good_id, refused_id = (uuid.uuid4().hex for _ in range(3))
        items = [{"member_id": member, "points": 4, "request_id": good_id},
                 {"member_id": str(uuid.uuid4()), "points": 6, "request_id": refused_id}]
        first = network.batch_earn(items, request_id=batch_id)
        assert (first.earned_count, first.refused_count) == (1, 1)
        assert network.batch_earn(items, request_id=batch_id) == first  # the batch id is used: replayed as is
        # the earned item's id is stored as an Earn; the refused item's id is free for a corrected earn
        replay = network.earn(member, points=4, request_id=good_id)
        assert replay.transaction_id == first.results[0].earned.transaction_id
        assert network.earn(member, points=6, request_id=refused_id).points == 6
        assert network.get_balance(member).available_points == 10


def _consent_table() -> dict[str, str]:
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## 4. Spending: the member's consent"):text.index("## 5. Refusals and evidence")]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z_]+)` \|.*$", section, re.MULTILINE)}


def test_the_consent_table_names_every_spend_refusal_the_network_counts():
    from network.grpc_service import SPEND_REFUSALS
    from partners import reasons

    table = _consent_table()
    assert set(table) == set(SPEND_REFUSALS)
    catalogue = {r.name for r in reasons.REASONS}
    assert set(table) <= catalogue


def test_the_documented_consent_rules(engine, make_partner, member_pin):
    """The own-till limit is per spend (not a running total); a found-by-card member and one spent for with a PIN
    need verification for any spend; a capture needs none; a new PIN lifts a lock; a refused request_id is sent
    again with the PIN."""
    from network.store.credentials import issue_redemption_code

    home = make_partner("guide-home", unverified_spend_limit_points=50)
    other = make_partner("guide-other", unverified_spend_limit_points=50)
    with home.client(max_attempts=1) as till, other.client(max_attempts=1) as elsewhere:
        member = till.enroll_member().member
        till.earn(member.member_id, points=1000)
        assert [till.redeem(member.member_id, 50).points for _ in range(3)] == [50, 50, 50]  # per spend
        with pytest.raises(PermissionDenied) as caught:
            till.redeem(member.member_id, 51)
        assert caught.value.reason == "MEMBER_VERIFICATION_REQUIRED"
        hold = till.authorize_redemption(member.member_id, 40)
        assert till.capture_redemption(hold.hold_id).points == 40  # no verification on the capture

        pin = member_pin(member.member_id)
        found = elsewhere.find_member(card_number=member.card_number).member
        elsewhere.earn(found.member_id, points=5)  # a card presented: consent to earn
        with pytest.raises(PermissionDenied) as caught:
            elsewhere.redeem(found.member_id, 1, request_id="guide-1")
        assert caught.value.reason == "MEMBER_VERIFICATION_REQUIRED"
        assert elsewhere.redeem(found.member_id, 1, request_id="guide-1", pin=pin).points == 1  # same id, with PIN
        with pytest.raises(PermissionDenied) as caught:  # a verified spend opened no unverified ones
            elsewhere.redeem(found.member_id, 1)
        assert caught.value.reason == "MEMBER_VERIFICATION_REQUIRED"

        for _ in range(5):
            with pytest.raises(PermissionDenied) as caught:
                elsewhere.redeem(found.member_id, 1, pin="9137")
            assert caught.value.reason == "MEMBER_VERIFICATION_FAILED"
        with pytest.raises(FailedPrecondition) as caught:  # the right PIN, and codes, wait for the lock to end
            elsewhere.redeem(found.member_id, 1, pin=pin)
        assert caught.value.reason == "MEMBER_LOCKED"
        with engine.begin() as conn:
            code = issue_redemption_code(conn, member.member_id, 10)
        with pytest.raises(FailedPrecondition) as caught:
            elsewhere.redeem(found.member_id, 1, code=code)
        assert caught.value.reason == "MEMBER_LOCKED"
        member_pin(member.member_id, "4825")  # the member sets a new PIN in the portal: the lock is lifted
        assert elsewhere.redeem(found.member_id, 1, pin="4825").points == 1
