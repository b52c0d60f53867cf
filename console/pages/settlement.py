"""Settlement: cycles and their state, net positions, statements, disputes (resolve), payouts and collections with
their confirmation state, a cycle started by hand, links to each cycle's Temporal workflow."""

from __future__ import annotations

from datetime import datetime, time, timezone

import streamlit as st

from console import actions, data, session
from console.auth import NotAllowed
from console.money import major_unit_columns
from network.errors import DomainError
from settlement.domain.cycles import period_ending
from settlement.domain.disputes import DISPUTE_OUTCOMES

operator = session.require_operator()
settings = data.settings()
st.title("Settlement")
session.show_flash()


def workflow_url(workflow_id: str) -> str:
    return (f"{settings.console_temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
            f"/workflows/{workflow_id}")


def show_money(frame, key: str) -> None:
    shown, money = major_unit_columns(frame, settings.network_currency)
    st.dataframe(shown, hide_index=True, width="stretch", key=key, column_config=money)


glance = data.settlement_glance()
c = st.columns(4)
c[0].metric("Open disputes", glance.open_disputes)
c[1].metric("Unconfirmed payments", glance.unconfirmed_payments)
c[2].metric("Failed payments", glance.failed_payments)
c[3].metric("Cycles needing an operator", glance.alerts)

if operator.can_act:
    with st.expander("Start a cycle by hand", icon=":material/play_circle:"):
        default_start, default_end = period_ending(data.now(), settings.settlement_period_seconds)
        if glance.last_period_end is not None:
            default_start = glance.last_period_end
            default_end = max(default_end, default_start)
        with st.form("start_cycle"):
            c = st.columns(4)
            start_day = c[0].date_input("Period start (UTC)", value=default_start.date(), key="cycle_start_day")
            start_time = c[1].time_input("at", value=default_start.time(), key="cycle_start_time", step=60)
            end_day = c[2].date_input("Period end (UTC)", value=default_end.date(), key="cycle_end_day")
            end_time = c[3].time_input("at", value=default_end.time(), key="cycle_end_time", step=60)
            if st.form_submit_button("Start cycle", icon=":material/play_arrow:"):
                start = datetime.combine(start_day, start_time or time(), timezone.utc)
                end = datetime.combine(end_day, end_time or time(), timezone.utc)
                try:
                    workflow_id = actions.start_cycle(data.engine(), settings, operator, start, end)
                except (ValueError, RuntimeError, OSError, TimeoutError, NotAllowed) as exc:
                    st.error(f"The cycle was not started: {exc}")
                else:
                    data.forget()
                    session.flash(f"Cycle workflow {workflow_id} started: [open in Temporal]({workflow_url(workflow_id)})")
                    st.rerun()

cycles = data.cycles()
st.subheader("Cycles")
if cycles.empty:
    st.info("No settlement cycle yet.")
    st.stop()
shown, money = major_unit_columns(cycles.drop(columns=["conservation_residual_minor"]), settings.network_currency)
shown["workflow"] = [workflow_url(w) for w in cycles["workflow_id"]]
st.dataframe(shown.drop(columns=["workflow_id"]), hide_index=True, width="stretch", key="cycles",
             column_config={**money, "workflow": st.column_config.LinkColumn("Temporal", display_text="workflow")})

cycle_id = st.selectbox("Cycle", cycles["cycle_id"].tolist(), key="settlement_cycle")
cycle = cycles[cycles["cycle_id"] == cycle_id].iloc[0]
st.markdown(f"**{cycle_id}** · state **{cycle.state}** · [workflow in Temporal]({workflow_url(cycle.workflow_id)})")
if cycle.alert:
    st.error(cycle.alert)
detail = data.cycle_detail(cycle_id)

st.subheader("Net positions")
st.caption("A net position above zero: the partner receives. Positions plus the network's revenue sum to zero when the cycle conserves money"
           f" (this cycle: {'conserved' if cycle.conserved else 'not checked yet' if cycle.conserved is None else 'NOT conserved'}).")
show_money(detail["positions"], "positions")

st.subheader("Statements")
show_money(detail["statements"], "statements")

st.subheader("Disputes")
disputes = detail["disputes"]
show_money(disputes, "disputes")
open_ids = disputes[disputes["state"] == "open"]["dispute_id"].tolist() if not disputes.empty else []
if operator.can_act and open_ids:
    with st.form("resolve_dispute"):
        dispute_id = st.selectbox("Open dispute", open_ids, key="dispute_id")
        outcome = st.radio("Outcome", DISPUTE_OUTCOMES, horizontal=True, key="dispute_outcome")
        note = st.text_input("Note", key="dispute_note")
        if st.form_submit_button("Resolve dispute", icon=":material/gavel:"):
            try:
                result = actions.resolve_dispute(data.engine(), settings, operator, dispute_id, outcome, note)
            except DomainError as exc:
                st.error(f"{exc.code.name} {exc.reason}: {exc.message}")
            else:
                data.forget()
                session.flash(f"Dispute {dispute_id}: {result}")
                st.rerun()

st.subheader("Payouts and collections")
show_money(detail["payments"], "payments")

with st.expander("Cycle events"):
    st.dataframe(detail["events"], hide_index=True, width="stretch", key="events")
