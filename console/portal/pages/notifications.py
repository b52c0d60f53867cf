"""Notifications: transfers received and sent, donations (newest first)."""

from __future__ import annotations

import streamlit as st

from console.portal import data, session

account = session.require_account()
st.title("Notifications")
notices = [n for card in account.cards for n in data.notifications(card.member_id)]
if not notices:
    st.info("Nothing new.")
else:
    st.dataframe([{"date": n.created_at, "what": n.type, "points": n.detail.get("points")}
                  for n in sorted(notices, key=lambda n: n.created_at, reverse=True)], hide_index=True,
                 key="notifications")
