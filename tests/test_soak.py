"""A short `coalition soak`: signed traffic from several partners while the network server is killed -9,
PostgreSQL is stopped and started (the worker restarted while it is down), Temporal is killed -9 and the worker
is killed -9; nothing acknowledged is lost, nothing is posted twice, every invariant holds, no client ever gets
UNKNOWN or INTERNAL, and no part exits on its own."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from coalition.soak import FAULT_KINDS, WORKER_DURING_DB_OUTAGE, SoakConfig, print_report, run_soak


@pytest.mark.slow
def test_short_soak_survives_one_fault_of_each_kind(tmp_path):
    config = SoakConfig(seconds=45, seed=7, data_dir=tmp_path / "soak", faults=len(FAULT_KINDS), rate_per_second=25,
                        settlement_period_seconds=15, dispute_window_seconds=15, worker_during_db_outage=1.0)
    output = io.StringIO()
    console = Console(file=output, width=160)
    ok, figures = run_soak(config, console)
    print_report(console, figures)
    report = output.getvalue()
    assert {kind: figures["faults_by_kind"].get(kind, 0) for kind in (*FAULT_KINDS, WORKER_DURING_DB_OUTAGE)} == \
        {kind: 1 for kind in (*FAULT_KINDS, WORKER_DURING_DB_OUTAGE)}, report
    counts = (figures["lost"], figures["duplicated"], figures["refused_but_posted"], figures["unresolved"])
    assert counts == (0, 0, 0, 0), report
    assert figures["acknowledged"] > 0 and figures["closed"] >= 1, report
    failed = [check["name"] for check in figures["checks"] if not check["ok"]]
    assert failed == [], report
    assert ok, report
