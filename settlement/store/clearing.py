"""The clearing SQL: one set-based statement aggregates a period's postings into flows, read back one issuer at a
time; the cycle's obligation lines and clearing matrix are staged, written (COPY) and read back here.

Which events a cycle [start, end) clears: every journal row with start <= created_at < end that moved points to
a redeemer (redeem, capture; negative on a redemption's reversal), out of an issuer's account (earn; back on an
earn's reversal), or into breakage (expire). Each posting names its lot, and the lot its issuer (provenance).
The contract version of a party at an instant is the one with the latest effective_from <= that instant.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from typing import Iterable, Iterator

from sqlalchemy import Connection, text

from network.store.contracts import load_contracts
from settlement.domain import obligations as rules

# The contract versions as ranges: [effective_from, the next version's effective_from). Versions ordered by
# (effective_from, version); of two with the same effective_from the higher version is in force. The same ranges as
# network.store.contracts.CONTRACT_VERSIONS, without its window function, so that the statement runs in parallel.
_VERSIONS = """
    SELECT c.contract_id, c.partner_id, c.effective_from,
           coalesce(min(n.effective_from), 'infinity'::timestamptz) AS effective_to
    FROM contracts c
    LEFT JOIN contracts n ON n.partner_id = c.partner_id
         AND (n.effective_from, n.version) > (c.effective_from, c.version)
    GROUP BY c.contract_id, c.partner_id, c.effective_from
"""

# The period's events as (account, reversal, redeemer or issuer posting owner, points, issuer, issued_at, priced_at);
# with :partner (NULL: all) only the events that partner is issuer or redeemer of.
# A reversal is priced as of the event it reverses (its related row); only the reversals look that row up, through
# the primary key, so the period's other events are read once and joined by hash.
_EVENTS = """
    SELECT p.account, false AS reversal, p.owner, p.points, l.issuer_id, l.created_at AS issued_at,
           j.created_at AS priced_at
    FROM journal j
    JOIN postings p ON p.tx_id = j.tx_id
    JOIN lots l ON l.lot_id = p.lot_id
    WHERE j.created_at >= :start AND j.created_at < :end
      AND j.kind IN ('redeem', 'capture', 'earn', 'expire')
      AND p.account IN ('redeemer', 'issuer', 'breakage')
      AND (CAST(:partner AS text) IS NULL OR l.issuer_id = :partner OR (p.account = 'redeemer' AND p.owner = :partner))
    UNION ALL
    SELECT p.account, true, p.owner, p.points, l.issuer_id, l.created_at, o.created_at
    FROM journal j
    JOIN postings p ON p.tx_id = j.tx_id
    JOIN lots l ON l.lot_id = p.lot_id
    LEFT JOIN journal o ON o.tx_id = j.related_id
    WHERE j.created_at >= :start AND j.created_at < :end
      AND j.kind = 'reverse'
      AND p.account IN ('redeemer', 'issuer', 'breakage')
      AND (CAST(:partner AS text) IS NULL OR l.issuer_id = :partner OR (p.account = 'redeemer' AND p.owner = :partner))
"""

# Flows keyed by the contract versions that price them: the issuer's version at the lot's issue and, for a redemption
# the redeemer's (for an expiry the issuer's) version at the event. A version names its partner, so (account,
# reversal, issue version, event version) is the same grouping as (kind, reversal, issuer, redeemer, versions) and
# the grouping keys are integers; the versions CTE is inlined (a materialized CTE is parallel-restricted) so that the
# joins and the contract lookups run in the parallel workers (FLOWS_SETTINGS).
_FLOWS_INTO_TABLE = text(f"""
CREATE TEMPORARY TABLE clearing_flows ON COMMIT DROP AS
WITH versions AS NOT MATERIALIZED ({_VERSIONS}), events AS ({_EVENTS})
SELECT e.account, e.reversal, ic.contract_id AS issue_contract_id, ec.contract_id AS event_contract_id,
       sum(e.points)::bigint AS points
FROM events e
LEFT JOIN versions ic ON ic.partner_id = e.issuer_id
     AND e.issued_at >= ic.effective_from AND e.issued_at < ic.effective_to
LEFT JOIN versions ec
     ON ec.partner_id = (CASE e.account WHEN 'redeemer' THEN e.owner WHEN 'breakage' THEN e.issuer_id END)
     AND e.priced_at >= ec.effective_from AND e.priced_at < ec.effective_to
GROUP BY 1, 2, 3, 4
""")

# The same events per issuer and redeemer, only read to name the events a contract is missing for.
_UNPRICED = text(f"""
WITH versions AS NOT MATERIALIZED ({_VERSIONS}), events AS ({_EVENTS})
SELECT CASE e.account WHEN 'redeemer' THEN 'redemption' WHEN 'issuer' THEN 'issue' ELSE 'expiry' END AS kind,
       e.reversal, e.issuer_id, CASE WHEN e.account = 'redeemer' THEN e.owner END AS redeemer_id,
       ic.contract_id AS issue_contract_id, ec.contract_id AS event_contract_id,
       sum(CASE WHEN e.account = 'issuer' THEN -e.points ELSE e.points END)::bigint AS points
FROM events e
LEFT JOIN versions ic ON ic.partner_id = e.issuer_id
     AND e.issued_at >= ic.effective_from AND e.issued_at < ic.effective_to
LEFT JOIN versions ec
     ON ec.partner_id = (CASE e.account WHEN 'redeemer' THEN e.owner WHEN 'breakage' THEN e.issuer_id END)
     AND e.priced_at >= ec.effective_from AND e.priced_at < ec.effective_to
WHERE ic.contract_id IS NULL OR (ec.contract_id IS NULL AND e.account <> 'issuer')
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1, 2, 3, 4, 5, 6
LIMIT 1
""")

_KINDS = {"redeemer": rules.REDEMPTION, "issuer": rules.ISSUE, "breakage": rules.EXPIRY}
_SIGNS = {"redeemer": 1, "issuer": -1, "breakage": 1}  # an issue moves points out of the issuer's account

# The flows statement's settings (for that statement only). work_mem: the memory per hash, enough to hash a day's
# events in few batches and bounded, so that the server's memory does not grow with the events. The planner cannot
# know that a period's events fall into few (pair, contract version) groups: left alone it sorts millions of rows by
# partner text (a merge join with the contract versions, sorted partial aggregates; 23 s for 10M events), and with
# sorting off but the default parallel_tuple_cost it runs 1M events in one process. enable_sort off and a lower
# parallel_tuple_cost give the same plan at both sizes: the joins in parallel workers, one hash aggregate in the
# leader (1M events: 1.4 s instead of 2.0 s, 10M: 14 s instead of 23 s, on 2 busy cores).
FLOWS_SETTINGS = {"work_mem": "64MB", "enable_sort": "off", "parallel_tuple_cost": "0.01"}
FETCH_ROWS = 10_000  # flows fetched per round trip from the server-side cursor
COPY_CHUNK_ROWS = 50_000


def load_terms(conn: Connection) -> dict[int, rules.Terms]:
    return {c.contract_id: rules.Terms(c.contract_id, c.partner_id, c.settlement_model, c.clearing_fee_bps,
                                       c.issue_price_minor_per_point, c.redemption_rate_minor_per_point,
                                       c.breakage_share_bps) for c in load_contracts(conn)}


def flows_by_issuer(conn: Connection, start: datetime, end: datetime,
                    partner_id: str | None = None) -> Iterator[list[rules.Flow]]:
    """The period's events aggregated per kind, issuer, redeemer and pricing contract versions, one issuer's flows
    at a time, issuers in order; with `partner_id` only the flows that partner is issuer or redeemer of (every
    obligation line it is party to comes from one of them, and a line's flows are all such flows, so its lines are the
    same as from all flows). Consume it before the connection's next statement.

    One statement (parallel where the server allows) aggregates the period into a temporary table dropped at commit;
    the flows are read back through a server-side cursor, so the process holds one issuer's flows, never the
    period's. Raises MissingContract, naming the events, when an event has no contract version in force."""
    terms = load_terms(conn)
    conn.execute(text("DROP TABLE IF EXISTS clearing_flows"))
    with _settings(conn, FLOWS_SETTINGS):
        conn.execute(_FLOWS_INTO_TABLE, {"start": start, "end": end, "partner": partner_id})
    if conn.execute(text("SELECT EXISTS (SELECT FROM clearing_flows WHERE issue_contract_id IS NULL "
                         "OR (event_contract_id IS NULL AND account <> 'issuer'))")).scalar_one():
        r = conn.execute(_UNPRICED, {"start": start, "end": end, "partner": partner_id}).one()
        raise rules.MissingContract(f"{r.points} {r.kind} points of issuer {r.issuer_id} (redeemer {r.redeemer_id}) "
                                    "have no contract in force")
    rows = conn.execute(text("SELECT f.account, f.reversal, f.issue_contract_id, f.event_contract_id, f.points "
                             "FROM clearing_flows f JOIN contracts c ON c.contract_id = f.issue_contract_id "
                             "ORDER BY c.partner_id, f.issue_contract_id"),
                        execution_options={"stream_results": True, "yield_per": FETCH_ROWS})
    for _, group in groupby(rows, key=lambda r: terms[r.issue_contract_id].partner_id):
        yield [_flow(terms, *r) for r in group]


def flows(conn: Connection, start: datetime, end: datetime, partner_id: str | None = None) -> list[rules.Flow]:
    """All of flows_by_issuer's flows in one list (for a partner's flows, or checks over a whole period)."""
    return [f for issuer_flows in flows_by_issuer(conn, start, end, partner_id) for f in issuer_flows]


def _flow(terms: dict[int, rules.Terms], account: str, reversal: bool, issue_contract_id: int,
          event_contract_id: int | None, points: int) -> rules.Flow:
    kind = _KINDS[account]
    issued = terms[issue_contract_id]
    event = terms[event_contract_id] if event_contract_id is not None else None
    redeemer_id = event.partner_id if event is not None and kind == rules.REDEMPTION else None
    return rules.Flow(kind, reversal, issued.partner_id, redeemer_id, _SIGNS[account] * int(points), issued, event)


@contextmanager
def _settings(conn: Connection, settings: dict[str, str]) -> Iterator[None]:
    """Server settings for the block, inside the transaction, put back as they were after it."""
    previous = {name: conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one() for name in settings}
    for name, value in settings.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    try:
        yield
    finally:
        for name, value in previous.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


# --- writing: lines and cells are staged as they are computed, then written in the order of obligations() -------

_LINE_COLUMNS = ("payer", "payee", "amount_minor", "currency", "cause", "issuer_id", "redeemer_id",
                 "issuer_contract_id", "redeemer_contract_id", "points")
_CELL_COLUMNS = ("issuer_id", "redeemer_id", "currency", "points", "amount_minor")
# obligations.obligations' line order (_line_order) in SQL: COLLATE "C" compares UTF-8 bytes, Python code points:
# the same order.
_LINE_ORDER = ('cause COLLATE "C", payer COLLATE "C", payee COLLATE "C", issuer_id COLLATE "C", '
               'coalesce(redeemer_id, \'\') COLLATE "C", coalesce(issuer_contract_id, 0), '
               'coalesce(redeemer_contract_id, 0)')


def open_staging(conn: Connection) -> None:
    """Temporary tables (dropped at commit) for a cycle's lines and cells while they are computed."""
    conn.execute(text("DROP TABLE IF EXISTS clearing_lines, clearing_cells"))
    conn.execute(text(f"CREATE TEMPORARY TABLE clearing_lines ON COMMIT DROP AS "
                      f"SELECT {', '.join(_LINE_COLUMNS)} FROM obligations WITH NO DATA"))
    conn.execute(text(f"CREATE TEMPORARY TABLE clearing_cells ON COMMIT DROP AS "
                      f"SELECT {', '.join(_CELL_COLUMNS)} FROM clearing_matrix WITH NO DATA"))


def stage(conn: Connection, lines: Iterable[rules.Obligation], cells: Iterable[rules.ClearingCell]) -> None:
    _copy(conn, "clearing_lines", _LINE_COLUMNS,
          ((o.payer, o.payee, o.amount_minor, o.currency, o.cause, o.issuer_id, o.redeemer_id, o.issuer_contract_id,
            o.redeemer_contract_id, o.points) for o in lines))
    _copy(conn, "clearing_cells", _CELL_COLUMNS,
          ((c.issuer_id, c.redeemer_id, c.currency, c.points, c.amount_minor) for c in cells))


def write_staged(conn: Connection, cycle_id: str) -> None:
    """The staged lines as the cycle's obligations, their ids in obligations()'s order, and its clearing matrix."""
    columns = ", ".join(_LINE_COLUMNS)
    conn.execute(text(f"INSERT INTO obligations (cycle_id, {columns}) SELECT :c, {columns} FROM clearing_lines "
                      f"ORDER BY {_LINE_ORDER}"), {"c": cycle_id})
    columns = ", ".join(_CELL_COLUMNS)
    conn.execute(text(f"INSERT INTO clearing_matrix (cycle_id, {columns}) SELECT :c, {columns} FROM clearing_cells "
                      f'ORDER BY issuer_id COLLATE "C", redeemer_id COLLATE "C", currency COLLATE "C"'),
                 {"c": cycle_id})


def _copy(conn: Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """COPY rows into table, in chunks of COPY_CHUNK_ROWS, inside the connection's transaction."""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        chunk = []
        for row in rows:
            chunk.append("\t".join(_copy_value(v) for v in row))
            if len(chunk) == COPY_CHUNK_ROWS:
                cursor.copy_expert(statement, io.StringIO("\n".join(chunk) + "\n"))
                chunk = []
        if chunk:
            cursor.copy_expert(statement, io.StringIO("\n".join(chunk) + "\n"))
    finally:
        cursor.close()


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: object) -> str:
    """One field of COPY's text format: NULL as \\N, backslash, tab and line breaks escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


def load_obligations(conn: Connection, cycle_id: str) -> Iterator[rules.Obligation]:
    """The cycle's obligation lines in order, streamed through a server-side cursor (consume before the next
    statement's results are needed: the process holds FETCH_ROWS lines at a time)."""
    rows = conn.execute(text("SELECT payer, payee, amount_minor, currency, cause, issuer_id, redeemer_id, "
                             "issuer_contract_id, redeemer_contract_id, points FROM obligations WHERE cycle_id = :c "
                             "ORDER BY obligation_id"), {"c": cycle_id},
                        execution_options={"stream_results": True, "yield_per": FETCH_ROWS})
    for r in rows:
        yield rules.Obligation(*r)
