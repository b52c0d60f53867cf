"""Overview: members, points outstanding and the network's liability, flows over time, breakage, settlement."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import streamlit as st

from console import data, session
from console.money import format_money, format_points, format_ratio

session.require_operator()
settings = data.settings()
st.title("Overview")
WINDOWS = {"last 48 hours, by hour": ("hour", timedelta(hours=48)), "last 30 days, by day": ("day", timedelta(days=30))}
window = st.segmented_control("Window", list(WINDOWS), default="last 30 days, by day", key="overview_window")


@st.fragment(run_every=timedelta(seconds=settings.console_refresh_seconds))
def live() -> None:
    totals = data.network_totals()
    currency = totals.currency
    c = st.columns(4)
    c[0].metric("Members", format_points(totals.members))
    c[1].metric("Points outstanding", format_points(totals.outstanding_points))
    c[2].metric("Total liability", format_money(totals.liability_minor, currency),
                help="Outstanding points x point value: the sum of every partner's liability.")
    c[3].metric("Breakage rate", format_ratio(totals.breakage_rate),
                help="Expired / (redeemed + expired): the share of points that left circulation unspent.")
    c = st.columns(4)
    c[0].metric("Issued (net)", format_points(totals.issued_points))
    c[1].metric("Redeemed (net)", format_points(totals.redeemed_points))
    c[2].metric("Expired", format_points(totals.expired_points))
    c[3].metric("As of", data.now().strftime("%H:%M:%S UTC"))

    bucket, span = WINDOWS[window or "last 30 days, by day"]
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    now = data.now()
    until = (now.replace(minute=0, second=0, microsecond=0) if bucket == "hour"
             else now.replace(hour=0, minute=0, second=0, microsecond=0)) + step
    series = data.flows_over_time(until - span, until, bucket)
    st.subheader("Points issued, redeemed and expired")
    if series.empty:
        st.info("No ledger activity in this window.")
    else:
        long = series.melt("bucket", var_name="flow", value_name="points")
        chart = alt.Chart(long).mark_line(point=True).encode(
            x=alt.X("bucket:T", title=bucket), y=alt.Y("points:Q", title="points"),
            color=alt.Color("flow:N", sort=["issued", "redeemed", "expired"],
                            scale=alt.Scale(domain=["issued", "redeemed", "expired"],
                                            range=["#1f77b4", "#2ca02c", "#d62728"])),
            tooltip=["bucket:T", "flow:N", alt.Tooltip("points:Q", format=",")])
        st.altair_chart(chart, width="stretch")

    st.subheader("Settlement at a glance")
    glance = data.settlement_glance()
    c = st.columns(5)
    open_cycles = sum(n for state, n in glance.cycles_by_state.items() if state != "closed")
    c[0].metric("Cycles in progress", open_cycles)
    c[1].metric("Closed cycles", glance.cycles_by_state.get("closed", 0))
    c[2].metric("Open disputes", glance.open_disputes)
    c[3].metric("Unconfirmed payments", glance.unconfirmed_payments)
    c[4].metric("Failed payments", glance.failed_payments)
    if glance.alerts:
        st.error(f"{glance.alerts} cycle(s) need an operator: see Settlement.")
    st.caption(f"Last closed cycle: {glance.last_closed_cycle or 'none'} · refreshes every "
               f"{settings.console_refresh_seconds} s")


live()
