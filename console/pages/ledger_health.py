"""Ledger health: every invariant of `coalition ledger verify` and the journal's hash chain, on demand."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from console import data, session
from network.store.verify import verify_ledger

session.require_operator()
st.title("Ledger health")
st.write("Checks every ledger invariant (listed in docs/money-model.md, under Conservation) in one repeatable-read "
         "snapshot, then recomputes the hash chain of every journal row (tamper evidence). On a large ledger the hash "
         "chain takes a while.")
hash_chain = st.checkbox("Recompute the hash chain", value=True, key="verify_hash_chain")
if st.button("Verify the ledger", icon=":material/verified:", key="verify"):
    with st.status("Verifying the ledger", expanded=True) as status:
        st.write("Invariants: postings, lots, balances, holds, provenance, liabilities")

        def progress(rows: int) -> None:
            status.update(label=f"Hash chain: {rows:,} journal rows checked")

        with data.engine().connect() as conn:
            checks = verify_ledger(conn, hash_chain=hash_chain, progress=progress)
        failed = [c for c in checks if not c.ok]
        status.update(label="Ledger verified: every check passed" if not failed
                      else f"{len(failed)} check(s) FAILED", state="error" if failed else "complete", expanded=False)
    st.session_state["verify_result"] = (data.now(), checks)

result = st.session_state.get("verify_result")
if result:
    at, checks = result
    chain = next((c for c in checks if "hash chain" in c.name), None)
    if chain is not None:
        (st.success if chain.ok else st.error)(f"Hash chain: {chain.detail} ({chain.examined:,} rows)")
    if all(c.ok for c in checks):
        st.success(f"All {len(checks)} checks passed at {at:%Y-%m-%d %H:%M:%S} UTC.")
    else:
        st.error(f"Failed: {', '.join(c.name for c in checks if not c.ok)}")
    st.dataframe(pd.DataFrame([{"check": c.name, "ok": c.ok, "examined": c.examined, "detail": c.detail,
                                "examples": "; ".join(c.examples)} for c in checks]),
                 hide_index=True, width="stretch", key="verify_checks")
