"""Settlement's checks for `coalition ledger verify`: every netted cycle conserves money, recomputed from its
stored obligations (positions match the obligations, positions + network revenue == 0); every cleared cycle holds
every transaction dated inside its period."""

from __future__ import annotations

from sqlalchemy import Connection, text

from network.store.verify import Check
from settlement.store.cycles import PERIOD_JOURNAL

_FAILING = """
WITH legs AS (
    SELECT cycle_id, payee AS party, currency, amount_minor AS amount FROM obligations
    UNION ALL
    SELECT cycle_id, payer, currency, -amount_minor FROM obligations
), recomputed AS (
    SELECT cycle_id, party, currency, sum(amount) AS net FROM legs GROUP BY 1, 2, 3
), mismatched AS (
    SELECT cycle_id FROM (SELECT * FROM recomputed WHERE party <> 'network') r
    FULL JOIN (SELECT cycle_id, partner_id AS party, currency, net_minor AS net FROM net_positions) s
         USING (cycle_id, party, currency)
    WHERE coalesce(r.net, 0) <> coalesce(s.net, 0)
)
SELECT c.cycle_id, c.conserved, c.conservation_residual_minor FROM cycles c
WHERE c.conserved IS NOT NULL AND (
    NOT c.conserved
    OR c.cycle_id IN (SELECT cycle_id FROM mismatched)
    OR c.network_revenue_minor <> coalesce((SELECT r.net FROM recomputed r WHERE r.cycle_id = c.cycle_id
                                            AND r.party = 'network' AND r.currency = c.currency), 0)
    OR c.network_revenue_minor + (SELECT coalesce(sum(n.net_minor), 0) FROM net_positions n
                                  WHERE n.cycle_id = c.cycle_id AND n.currency = c.currency) <> 0)
ORDER BY c.cycle_id LIMIT 5
"""


def check_cycle_conservation(conn: Connection) -> Check:
    examined = int(conn.execute(text("SELECT count(*) FROM cycles WHERE conserved IS NOT NULL")).scalar_one())
    failing = conn.execute(text(_FAILING)).all()
    return Check("each settlement cycle conserves money (positions + network revenue = 0)", not failing, examined,
                 "every netted cycle's positions match its obligations and sum to minus the network's revenue"
                 if not failing else f"{len(failing)}+ cycles do not conserve money",
                 [f"{r.cycle_id} conserved={r.conserved} residual={r.conservation_residual_minor}" for r in failing])


def check_cycles_complete(conn: Connection) -> Check:
    """Every transaction dated inside a cleared cycle's period is in that cycle: the journal the cycle recorded when it
    cleared (count and points) is what the journal holds for its period now."""
    examined = int(conn.execute(text("SELECT count(*) FROM cycles WHERE journal_transactions IS NOT NULL")).scalar_one())
    failing = conn.execute(text(
        "SELECT c.cycle_id, c.period_start, c.period_end, c.journal_transactions, c.journal_points, "
        "j.transactions, j.points FROM cycles c CROSS JOIN LATERAL ("
        f"{PERIOD_JOURNAL.replace(':start', 'c.period_start').replace(':end', 'c.period_end')}) j "
        "WHERE c.journal_transactions IS NOT NULL "
        "AND (c.journal_transactions, c.journal_points) <> (j.transactions, j.points) ORDER BY c.period_start LIMIT 5"
    )).all()
    return Check("every transaction dated inside a cleared period is in that period's cycle", not failing, examined,
                 "every cleared cycle's period holds exactly the transactions it cleared" if not failing
                 else f"{len(failing)}+ cycles miss transactions dated inside their period",
                 [f"cycle {r.cycle_id} [{r.period_start.isoformat()}, {r.period_end.isoformat()}): cleared "
                  f"{r.journal_transactions} transactions ({r.journal_points} points), the journal now holds "
                  f"{r.transactions} ({r.points} points)" for r in failing])


CHECKS = (check_cycle_conservation, check_cycles_complete)  # what `coalition ledger verify` adds to the ledger's
