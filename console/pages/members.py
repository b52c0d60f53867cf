"""Members: anomaly flags (spend sprees, transfer bursts); find one by member id or card number; balance, lots with
issuer and expiry, history across brands, the member's notifications (transfers and donations)."""

from __future__ import annotations

import streamlit as st

from console import data, session
from console.money import format_points, major_unit_columns

session.require_operator()
st.title("Members")
st.subheader("Anomaly flags")
limits = data.ANOMALY_THRESHOLDS
st.caption(f"Last {limits.lookback.days} days. Spend spree: redemptions at {limits.spree_partners} or more partners "
           f"within {int(limits.spree_window.total_seconds() // 60)} minutes. Transfer burst: "
           f"{limits.burst_transfers} or more transfers sent within {int(limits.burst_window.total_seconds() // 60)} "
           "minutes.")
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
