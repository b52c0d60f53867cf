"""History: every transaction of the member's cards, across every brand, with partner and store."""

from __future__ import annotations

import streamlit as st

from console.portal import data, session

account = session.require_account()
st.title("History")
history = data.history(account.member_ids)
if history.empty:
    st.info("Nothing yet: your points show up here after your first purchase.")
else:
    shown = history.drop(columns=["card"]) if len(account.cards) == 1 else history
    st.dataframe(shown, hide_index=True, key="history", column_config={"date": st.column_config.DatetimeColumn(
        "date", format="D MMM YYYY, HH:mm")})
