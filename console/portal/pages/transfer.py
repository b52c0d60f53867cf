"""Transfer: send points to another member, by card number or e-mail address."""

from __future__ import annotations

import streamlit as st

from console.money import format_points
from console.portal import data, session
from network.errors import DomainError

account = session.require_account()
session.show_flash()
st.title("Send points")
member_id = session.choose_card(account, "transfer_card")
st.caption(f"Available: {format_points(data.balance(member_id).available)} points")
with st.form("transfer"):
    to = st.text_input("To (card number or e-mail)", key="transfer_to")
    points = st.number_input("Points", min_value=1, value=100, step=50, key="transfer_points")
    send = st.form_submit_button("Send", icon=":material/send:")
if send:
    recipient = (to or "").strip()
    if "@" in recipient:
        recipient = data.accounts().member_for_email(recipient) or ""
    if not recipient:
        st.error("No member has that e-mail address.")
    else:
        try:
            result = data.transfer(member_id, recipient, int(points), session.new_request_key("transfer"))
        except DomainError as exc:
            st.error(str(exc))
        else:
            session.done("transfer")
            session.flash(f"Sent {format_points(result.points)} points.")
            st.rerun()
