"""The operator CLI acts through the domain, records who did what, and a refused command writes nothing."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text

from partners import signing


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_partner_lifecycle_from_the_cli(cli, engine):
    partner = f"cli-{uuid.uuid4().hex[:6]}"
    assert cli("partner", "create", partner, "CLI Partner", "--iban", "DE89370400440532013000",
               "--operator", "alice").exit_code == 0
    result = cli("partner", "contract", partner, "--earn-points-per-major", "3", "--expiry-days", "365")
    assert result.exit_code == 0 and "contract v1" in result.output
    public = base64.b64encode(signing.raw_public(signing.generate_private_key())).decode()
    assert cli("partner", "key-register", partner, f"{partner}-k", public).exit_code == 0
    assert cli("partner", "suspend", partner).exit_code == 0
    assert count(engine, "SELECT count(*) FROM partners WHERE partner_id = :p AND status = 'suspended'", p=partner) == 1
    assert count(engine, "SELECT count(*) FROM operator_actions WHERE subject = :p", p=partner) == 4
    assert count(engine, "SELECT count(*) FROM operator_actions WHERE subject = :p AND operator = 'alice'",
                 p=partner) == 1


def test_refused_command_exits_2_and_writes_nothing(cli, engine):
    partner = f"cli-{uuid.uuid4().hex[:6]}"
    assert cli("partner", "create", partner, "Once").exit_code == 0
    actions = count(engine, "SELECT count(*) FROM operator_actions")
    again = cli("partner", "create", partner, "Twice")
    assert again.exit_code == 2 and "PARTNER_EXISTS" in again.output
    bad = cli("partner", "contract", partner, "--clearing-fee-bps", "20000")
    assert bad.exit_code == 2 and "clearing_fee_bps" in bad.output
    assert count(engine, "SELECT count(*) FROM operator_actions") == actions
    assert count(engine, "SELECT count(*) FROM contracts WHERE partner_id = :p", p=partner) == 0


def test_a_contract_with_an_expiry_policy_from_the_cli(cli, engine):
    partner = f"cli-{uuid.uuid4().hex[:6]}"
    assert cli("partner", "create", partner, "Policies").exit_code == 0
    bad = cli("partner", "contract", partner, "--expiry-policy", "inactivity")  # no months
    assert bad.exit_code == 2 and "expiry_months" in bad.output
    assert count(engine, "SELECT count(*) FROM contracts WHERE partner_id = :p", p=partner) == 0
    good = cli("partner", "contract", partner, "--expiry-policy", "inactivity", "--expiry-months", "18")
    assert good.exit_code == 0 and "contract v1" in good.output
    assert count(engine, "SELECT count(*) FROM contracts WHERE partner_id = :p AND expiry_policy = 'inactivity' "
                         "AND expiry_months = 18", p=partner) == 1
