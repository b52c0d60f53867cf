"""Members: anomaly flags (spend sprees, transfer bursts, failed PINs); find one by member id or card number; balance, lots with
issuer and expiry, history across brands, the member's notifications (transfers and donations)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from console import actions, data, session
from console.money import format_points, major_unit_columns

operator = session.require_operator()
st.title("Members")
session.show_flash()
st.subheader("Anomaly flags")
limits = data.ANOMALY_THRESHOLDS
st.caption(f"Last {limits.lookback.days} days. Spend spree: redemptions at {limits.spree_partners} or more partners "
           f"within {int(limits.spree_window.total_seconds() // 60)} minutes. Transfer burst: "
           f"{limits.burst_transfers} or more transfers sent within {int(limits.burst_window.total_seconds() // 60)} "
           f"minutes. Failed PINs: {limits.failed_pins} or more wrong PINs (at any partners) within "
           f"{int(limits.failed_pin_window.total_seconds() // 60)} minutes.")
flags = data.anomaly_flags()
if flags.empty:
    st.info("No member flagged.")
else:
    st.dataframe(flags, hide_index=True, width="stretch", key="member_flags")
query = st.text_input("Member id or card number", key="member_query", placeholder="7123 4567 8901 2345")
if not query.strip():
    st.stop()
member = data.find_member(query.strip())
if member is None:
    st.warning("No member with that id or card number.")
    st.stop()
st.markdown(f"**Member** `{member.member_id}` · card `{member.card_number}` · enrolled by {member.enrolled_by} on "
            f"{member.created_at:%Y-%m-%d} · brands: {', '.join(member.brands) or '-'}")
balance = data.member_balance(member.member_id)
c = st.columns(4)
c[0].metric("Available", format_points(balance.available))
c[1].metric("Pending", format_points(balance.pending))
c[2].metric("Held", format_points(balance.held))
c[3].metric("Expiring within 30 days", format_points(balance.expiring_30d))
st.subheader("Lots")
st.dataframe(data.member_lots(member.member_id), hide_index=True, width="stretch", key="member_lots")
st.subheader("History across brands")
history, money = major_unit_columns(data.member_history(member.member_id), data.settings().network_currency)
st.dataframe(history, hide_index=True, width="stretch", key="member_history", column_config=money)
st.subheader("Notifications (transfers and donations)")
st.dataframe(data.member_notifications(member.member_id), hide_index=True, width="stretch",
             key="member_notifications")

st.subheader("Security")
security = data.member_security(member.member_id)
c = st.columns(3)
c[0].metric("Spending", "frozen" if security.frozen else "allowed")
c[1].metric("PIN", "set" if security.pin_set else "none")
c[2].metric("PIN lock", f"until {security.locked_until:%H:%M:%S}" if security.locked_until else "none")
if security.frozen_reason:
    st.caption(f"Frozen: {security.frozen_reason}")
st.dataframe(pd.DataFrame([c._asdict() for c in security.cards]), hide_index=True, width="stretch",
             key="member_cards")


if operator.can_act:  # every action is recorded in operator_actions and refused by the next spend on every server
    reason = st.text_input("Reason (recorded)", key="freeze_reason")
    if security.frozen:
        if st.button("Unfreeze member", icon=":material/lock_open:", key="unfreeze_member"):
            session.act(operator, f"member {member.member_id} unfrozen", actions.unfreeze_member, member.member_id)
    elif st.button("Freeze member", icon=":material/lock:", key="freeze_member", type="primary"):
        session.act(operator, f"member {member.member_id} frozen", actions.freeze_member, member.member_id, reason)
    live = [c.card_number for c in security.cards if c.status != "replaced"]
    if live:
        card = st.selectbox("Card", live, key="member_card")
        status = next(c.status for c in security.cards if c.card_number == card)
        columns = st.columns(2)
        if status == "frozen":
            if columns[0].button("Unfreeze card", icon=":material/credit_card:", key="unfreeze_card"):
                session.act(operator, f"card {card} unfrozen", actions.unfreeze_card, card)
        elif columns[0].button("Freeze card", icon=":material/credit_card_off:", key="freeze_card"):
            session.act(operator, f"card {card} frozen", actions.freeze_card, card, reason)
        if columns[1].button("Replace card", icon=":material/autorenew:", key="replace_card"):
            session.act(operator, f"card {card} replaced", actions.replace_card, member.member_id, card)
