"""Programme: the tier ladder with its members, campaigns with their budget burn (table and chart of bonus points
given per day), and bonus cost per funder; an admin pauses, resumes or ends a campaign here (audited)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console import actions, data, session
from console.money import format_points
from network.errors import DomainError

operator = session.require_operator()
st.title("Programme")
session.show_flash()

st.subheader("Tiers")
st.caption("Qualifying points: purchases only, over the rolling 12 months. Multipliers in basis points (10000 = x1).")
st.dataframe(data.tier_ladder(), hide_index=True, width="stretch", key="tiers")
changes = data.tier_changes()
st.caption("Latest tier changes: upgrades in the earn that crosses a threshold (reason earn), one-level downgrades "
           "by the requalification review (reason review).")
if changes.empty:
    st.caption("No tier change yet.")
else:
    st.dataframe(changes, hide_index=True, width="stretch", key="tier_changes")

st.subheader("Campaigns")
campaigns = data.campaigns()
if campaigns.empty:
    st.info("No campaign yet: `coalition campaign create ...`.")
else:
    st.dataframe(campaigns, hide_index=True, width="stretch", key="campaigns", column_config={
        "burn_pct": st.column_config.ProgressColumn("budget burn", min_value=0, max_value=100, format="%.1f%%")})
    given = data.bonus_by_day(data.now() - timedelta(days=30))
    st.caption("Bonus points given per day, last 30 days")
    if given.empty:
        st.caption("None given yet.")
    else:
        st.bar_chart(given.pivot_table(index="day", columns="campaign", values="points", aggfunc="sum").fillna(0))
    if operator.can_act:
        chosen = st.selectbox("Campaign", list(campaigns["campaign"]), key="campaign_choice")
        status = campaigns.set_index("campaign").loc[chosen, "status"]
        columns = st.columns(3)
        wanted = None
        if status == "active" and columns[0].button("Pause", icon=":material/pause:", key="campaign_pause"):
            wanted = "pause"
        if status == "paused" and columns[1].button("Resume", icon=":material/play_arrow:", key="campaign_resume"):
            wanted = "resume"
        if status != "ended" and columns[2].button("End", icon=":material/stop:", key="campaign_end"):
            wanted = "end"
        if wanted:
            try:
                actions.set_campaign_status(data.engine(), operator, chosen, wanted)
            except DomainError as exc:
                st.error(f"{exc.code.name} {exc.reason}: {exc.message}")
            else:
                data.forget()
                session.flash(f"campaign {chosen}: {wanted}")
                st.rerun()

st.subheader("Bonus cost per funder")
cost = data.bonus_cost_by_funder()
if cost.empty:
    st.caption("No bonus point given yet.")
else:
    st.metric("Bonus points given", format_points(int(cost["given_points"].sum())))
    st.dataframe(cost, hide_index=True, width="stretch", key="bonus_cost")
