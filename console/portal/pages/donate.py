"""Donate: give points to a charity partner (a redemption there; the charity sees it on its statement)."""

from __future__ import annotations

import streamlit as st

from console.money import format_points
from console.portal import data, session
from network.errors import DomainError

account = session.require_account()
session.show_flash()
st.title("Donate points")
charities = data.charities()
if not charities:
    st.info("No charity takes donations right now.")
    st.stop()
member_id = session.choose_card(account, "donate_card")
names = dict((name, partner_id) for partner_id, name in charities)
with st.form("donate"):
    charity = st.selectbox("Charity", list(names), key="donate_charity")
    points = st.number_input("Points", min_value=1, value=100, step=50, key="donate_points")
    give = st.form_submit_button("Donate", icon=":material/volunteer_activism:")
if give:
    try:
        result = data.donate(member_id, names[charity], int(points), session.new_request_key("donate"))
    except DomainError as exc:
        st.error(str(exc))
    else:
        session.done("donate")
        session.flash(f"Thank you: {format_points(result.points)} points to {charity}.")
        st.rerun()
