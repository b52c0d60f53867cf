"""Security: the spending PIN, one-time redemption codes, freezing and replacing a card."""

from __future__ import annotations

import streamlit as st

from console.portal import data, session
from network.errors import DomainError

account = session.require_account()
session.show_flash()
st.title("Security")
member_id = session.choose_card(account, "security_card")
state = data.security(member_id)

st.subheader("PIN")
st.write("A PIN is set." if state.pin_set else "No PIN yet: partners other than your own shop cannot take points.")
if state.locked_until:
    st.warning(f"Too many wrong PINs: spending is locked until {state.locked_until:%H:%M} UTC.")
with st.form("pin"):
    pin = st.text_input("New PIN (4 to 8 digits)", type="password", key="pin_new", max_chars=8)
    again = st.text_input("Again", type="password", key="pin_again", max_chars=8)
    set_pin = st.form_submit_button("Change PIN" if state.pin_set else "Set PIN")
if set_pin:
    if pin != again:
        st.error("The two PINs differ.")
    else:
        try:
            data.set_pin(member_id, pin or "")
        except (DomainError, ValueError) as exc:
            st.error(str(exc))
        else:
            session.flash("Your PIN is set.")
            st.rerun()

st.subheader("One-time code")
with st.form("code"):
    ceiling = st.number_input("Spend at most (points)", min_value=1, value=500, step=50, key="code_ceiling")
    make_code = st.form_submit_button("Get a code")
if make_code:
    try:
        code = data.redemption_code(member_id, int(ceiling))
    except DomainError as exc:
        st.error(str(exc))
    else:
        st.success(f"Your code: **{code}** — one purchase of up to {int(ceiling)} points, within 5 minutes.")

st.subheader("Cards")
for card in state.cards:
    if card.status == "replaced":
        continue
    st.write(f"Card {card.card_number}: **{card.status}**")
    c = st.columns(2)
    if card.status == "active":
        if c[0].button("Freeze", key=f"freeze_{card.card_number}", icon=":material/ac_unit:"):
            data.freeze_card(card.card_number, session.actor(account))
            session.flash(f"Card {card.card_number} is frozen: nobody can use it until you unfreeze it.")
            st.rerun()
    elif c[0].button("Unfreeze", key=f"unfreeze_{card.card_number}", icon=":material/sunny:"):
        data.unfreeze_card(card.card_number, session.actor(account))
        session.flash(f"Card {card.card_number} works again.")
        st.rerun()
    lost = c[1].checkbox("I lost it", key=f"lost_{card.card_number}")
    if lost and c[1].button("Replace", key=f"replace_{card.card_number}", icon=":material/autorenew:"):
        try:
            new_number = data.replace_card(member_id, card.card_number, session.actor(account))
        except DomainError as exc:
            st.error(str(exc))
        else:
            session.flash(f"Card {card.card_number} no longer works. Your new card number: {new_number} "
                          "(your points moved with you).")
            st.rerun()
