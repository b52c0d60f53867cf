"""Where points can be spent: the partners that accept them, and how much of a basket they may pay."""

from __future__ import annotations

import streamlit as st

from console.portal import data, session

session.require_account()
st.title("Where to spend")
partners = data.where_to_spend()
if partners.empty:
    st.info("No partner accepts points right now.")
else:
    st.dataframe(partners, hide_index=True, key="spend_partners")
    st.caption("Pay with your card and your PIN, or with a one-time code from Security.")
