"""What docs/partner-guide.md states, checked against the network: the key file format, contract defaults, the
earn rate's worked example, one request-id space across methods, and that no refusal uses a request id up
(unary calls and BatchEarn items alike), while a batch's own id is used by its answer."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from partners.errors import FailedPrecondition, IdempotencyKeyReused, InvalidArgument, NotFound
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
