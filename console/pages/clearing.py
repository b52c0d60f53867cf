"""Clearing: the issuer x redeemer matrix of a period, as a heatmap and a table.

From the ledger for any period (redeemer postings, issuer from their lots, valued at the point value), or as a
settlement cycle cleared it (its clearing_matrix: points and the money cleared to the redeemer).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import altair as alt
import pandas as pd
import streamlit as st

from console import data, session
from console.money import format_money, format_points, to_major
from network.core.ledger import money_for_points

session.require_operator()
settings = data.settings()
st.title("Clearing")

cycles = data.cycles()
source = st.radio("Source", ["Ledger, chosen period", "Settlement cycle"], horizontal=True, key="clearing_source")
if source == "Settlement cycle":
    if cycles.empty:
        st.info("No settlement cycle yet.")
        st.stop()
    cycle_id = st.selectbox("Cycle", cycles["cycle_id"].tolist(), key="clearing_cycle")
    cells = [{"issuer": c.issuer_id, "redeemer": c.redeemer_id, "points": c.points,
              "amount_minor": c.amount_minor, "currency": c.currency} for c in data.cycle_matrix(cycle_id)]
    row = cycles[cycles["cycle_id"] == cycle_id].iloc[0]
    st.caption(f"Cycle {cycle_id} [{row.period_start:%Y-%m-%d %H:%M}, {row.period_end:%Y-%m-%d %H:%M}) UTC, "
               f"state {row.state}: the amounts are what the cycle cleared to each redeemer.")
    if not cells and row.state in ("scheduled", "cut_off"):
        st.info("This cycle has not been cleared yet.")
else:
    today = data.now().date()
    c = st.columns(2)
    first = c[0].date_input("From (UTC)", value=today, key="clearing_from")
    last = c[1].date_input("To, inclusive (UTC)", value=today, key="clearing_to")
    start = datetime.combine(first, time(), timezone.utc)
    end = datetime.combine(last, time(), timezone.utc) + timedelta(days=1)
    if start >= end:
        st.error("The period must end after it starts.")
        st.stop()
    cells = [{"issuer": c.issuer_id, "redeemer": c.redeemer_id, "points": c.points,
              "amount_minor": money_for_points(c.points, settings.point_value_minor),
              "currency": settings.network_currency} for c in data.ledger_matrix(start, end)]
    st.caption(f"Points redeemed in [{start:%Y-%m-%d}, {end:%Y-%m-%d}) UTC, net of reversals, valued at the point "
               f"value ({settings.point_value_minor} minor units per point).")

if not cells:
    st.info("No redemptions in this period.")
    st.stop()
matrix = pd.DataFrame(cells)
currency = matrix["currency"].iloc[0]
matrix["amount"] = [to_major(a, cur) for a, cur in zip(matrix["amount_minor"], matrix["currency"])]
c = st.columns(3)
c[0].metric("Points redeemed", format_points(int(matrix["points"].sum())))
c[1].metric("Across brands", format_points(int(matrix.loc[matrix["issuer"] != matrix["redeemer"], "points"].sum())))
c[2].metric("Value", format_money(int(matrix["amount_minor"].sum()), currency))

heat = matrix.assign(value=matrix["amount"].map(str))
chart = alt.Chart(heat).mark_rect().encode(
    x=alt.X("redeemer:N", title="redeemer (accepted the points)"),
    y=alt.Y("issuer:N", title="issuer (issued the points)"),
    color=alt.Color("points:Q", scale=alt.Scale(scheme="blues"), title="points"),
    tooltip=["issuer:N", "redeemer:N", alt.Tooltip("points:Q", format=","), alt.Tooltip("value:N", title=currency)],
).properties(height=min(1600, max(320, 18 * matrix["issuer"].nunique())))
st.altair_chart(chart, width="stretch")
st.subheader("Cells")
st.dataframe(matrix[["issuer", "redeemer", "points", "amount", "currency"]], hide_index=True, width="stretch",
             key="matrix_cells", column_config={"points": st.column_config.NumberColumn(format="localized"),
                                                "amount": st.column_config.NumberColumn(format="%.2f")})
st.subheader("Issuer x redeemer (points)")
st.dataframe(matrix.pivot_table(index="issuer", columns="redeemer", values="points", aggfunc="sum", fill_value=0),
             width="stretch", key="matrix_pivot")
