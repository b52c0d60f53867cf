"""`coalition partner set-charity`: the operator flags a partner as a charity (recorded), takes the flag away with
--off, and an unknown partner is refused with nothing written."""

from __future__ import annotations

import uuid

from test_operator_cli import count


def test_set_charity_from_the_cli(cli, engine):
    partner = f"cli-{uuid.uuid4().hex[:6]}"
    assert cli("partner", "create", partner, "Food Bank").exit_code == 0
    result = cli("partner", "set-charity", partner, "--operator", "carol")
    assert result.exit_code == 0 and "is a charity" in result.output
    assert count(engine, "SELECT count(*) FROM partners WHERE partner_id = :p AND charity", p=partner) == 1
    assert count(engine, "SELECT count(*) FROM operator_actions WHERE subject = :p AND action = 'partner.charity' "
                         "AND operator = 'carol'", p=partner) == 1
    assert cli("partner", "set-charity", partner, "--off").exit_code == 0
    assert count(engine, "SELECT count(*) FROM partners WHERE partner_id = :p AND charity", p=partner) == 0
    actions = count(engine, "SELECT count(*) FROM operator_actions")
    unknown = cli("partner", "set-charity", "no-such-partner")
    assert unknown.exit_code == 2 and "PARTNER_NOT_FOUND" in unknown.output
    assert count(engine, "SELECT count(*) FROM operator_actions") == actions
