"""Programme: the tier ladder with its members and the latest tier changes, campaigns with their budget burn (table
and chart of bonus points given per day), and bonus cost per funder. An admin creates a campaign, sets a tier, and
pauses, resumes or ends a campaign here (audited; the same validation as `coalition campaign create` and `coalition
tier set`: network.store.campaigns)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console import actions, data, session
from console.money import format_points
from network.core import campaigns as rules
from network.errors import DomainError
from network.store.campaigns import parse_funders, parse_hours


def _words(value: str) -> tuple[str, ...]:
    return tuple(w for w in value.replace(",", " ").split() if w)


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
if operator.can_act:
    with st.expander("Set a tier (add one, or change its rank, threshold or multipliers)"):
        columns = st.columns(5)
        tier_name = columns[0].text_input("Tier", key="tier_name")
        tier_rank = columns[1].number_input("Rank", min_value=0, step=1, key="tier_rank")
        tier_threshold = columns[2].number_input("Threshold points", min_value=0, step=1000, key="tier_threshold")
        tier_multiplier = columns[3].number_input("Earn multiplier (bps)", value=10_000, step=500, key="tier_multiplier")
        tier_cap = columns[4].number_input("Cap multiplier (bps)", value=10_000, step=500, key="tier_cap")
        if st.button("Set tier", icon=":material/military_tech:", key="tier_set"):
            if not tier_name.strip():
                st.error("Name the tier.")
                st.stop()
            session.act(operator, f"tier {tier_name.strip()} set", actions.set_tier,
                        rules.Tier(tier_name.strip(), int(tier_rank), int(tier_threshold), int(tier_multiplier),
                                   int(tier_cap)))

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
            session.act(operator, f"campaign {chosen}: {wanted}", actions.set_campaign_status, chosen, wanted)

if operator.can_act:
    with st.expander("Create a campaign"):
        first = st.columns(3)
        new_id = first[0].text_input("Campaign id", key="new_campaign_id")
        new_name = first[1].text_input("Name (default: the id)", key="new_campaign_name")
        new_kind = first[2].selectbox("Kind", rules.KINDS, key="new_campaign_kind")
        new_funders = st.text_input("Funders: PARTNER[:BASIS_POINTS] each, e.g. grocer:5000 network:5000",
                                    key="new_campaign_funders")
        second = st.columns(3)
        new_partners = second[0].text_input("Partners (none: all)", key="new_campaign_partners")
        new_stores = second[1].text_input("Stores (none: all)", key="new_campaign_stores")
        new_tiers = second[2].text_input("Tiers (none: all)", key="new_campaign_tiers")
        third = st.columns(4)
        new_weekdays = third[0].multiselect("Weekdays (0 = Monday)", list(range(7)), key="new_campaign_weekdays")
        new_hours = third[1].text_input("Hours FROM-TO (UTC)", key="new_campaign_hours")
        new_segment = third[2].selectbox("Segment", rules.SEGMENTS, key="new_campaign_segment")
        new_segment_days = third[3].number_input("Segment days", min_value=0, step=1, key="new_campaign_segment_days")
        fourth = st.columns(4)
        new_multiplier = fourth[0].number_input("Multiplier (bps)", min_value=0, step=1000, key="new_campaign_multiplier")
        new_fixed = fourth[1].number_input("Fixed points", min_value=0, step=10, key="new_campaign_fixed")
        new_cap = fourth[2].number_input("Cap points (0: none)", min_value=0, step=10, key="new_campaign_cap")
        new_cap_period = fourth[3].selectbox("Cap period", rules.CAP_PERIODS, key="new_campaign_cap_period")
        fifth = st.columns(4)
        new_budget = fifth[0].number_input("Budget points (0: none)", min_value=0, step=1000, key="new_campaign_budget")
        new_min_basket = fifth[1].number_input("Minimum basket, minor units (0: none)", min_value=0, step=100,
                                               key="new_campaign_min_basket")
        new_priority = fifth[2].number_input("Priority", step=1, key="new_campaign_priority")
        new_exclusive = fifth[3].checkbox("Exclusive", key="new_campaign_exclusive")
        if st.button("Create campaign", icon=":material/add:", key="campaign_create"):
            try:
                campaign = rules.Campaign(
                    new_id.strip(), new_name.strip() or new_id.strip(), parse_funders(_words(new_funders)),
                    rules.Conditions(partners=_words(new_partners), stores=_words(new_stores),
                                     weekdays=tuple(new_weekdays), hours=parse_hours(new_hours.strip()),
                                     min_basket_minor=int(new_min_basket) or None, tiers=_words(new_tiers),
                                     segment=new_segment, segment_days=int(new_segment_days)),
                    rules.Effects(int(new_multiplier), int(new_fixed), int(new_cap) or None, new_cap_period),
                    int(new_priority), bool(new_exclusive), int(new_budget) or None, new_kind)
            except DomainError as exc:
                session.refused(exc)
            else:
                session.act(operator, f"campaign {campaign.campaign_id} created", actions.create_campaign, campaign,
                            data.settings().network_currency)

st.subheader("Bonus cost per funder")
cost = data.bonus_cost_by_funder()
if cost.empty:
    st.caption("No bonus point given yet.")
else:
    st.metric("Bonus points given", format_points(int(cost["given_points"].sum())))
    st.dataframe(cost, hide_index=True, width="stretch", key="bonus_cost")
