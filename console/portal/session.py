"""The signed-in member of a portal session: sign in by e-mailed code, activate a card, sign out. The browser
session keeps only the session token; the account is looked up (and the session's expiry checked) on every run."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import streamlit as st

from console.portal import data
from network.core.accounts import AccountRuleError, Consents, personal_data
from network.store.accounts import AccountError, AccountView

_TOKEN = "member_token"


def current_account() -> AccountView | None:
    token = st.session_state.get(_TOKEN)
    account_id = data.accounts().session_account(token) if token else None
    if account_id is None:
        st.session_state.pop(_TOKEN, None)
        return None
    try:
        return data.accounts().account(account_id)
    except AccountError:
        st.session_state.pop(_TOKEN, None)
        return None


def require_account() -> AccountView:
    """For pages: the member's account; signed out (the session ended or expired), the sign-in form instead."""
    account = current_account()
    if account is None:
        sign_in_page()
        st.stop()
    return account


def actor(account: AccountView) -> str:
    """How the member's own actions are recorded (operator_actions' operator column)."""
    return f"member:{account.account_id}"


def sign_in_page() -> None:
    st.title("Sign in")
    st.caption("No password: we e-mail you a six-digit code.")
    with st.form("request_code"):
        email = st.text_input("E-mail", key="signin_email")
        asked = st.form_submit_button("Send me a code", icon=":material/mail:")
    if asked:
        try:
            data.accounts().request_login_code(email or "")
        except (AccountError, AccountRuleError) as exc:
            st.error(str(exc) if isinstance(exc, AccountRuleError) else exc.message)
        else:  # the same answer whether or not an account has the address
            st.session_state["code_sent_to"] = email
            st.success("If an account has that address, a code is on its way. It works once, for 10 minutes.")
    if st.session_state.get("code_sent_to"):
        with st.form("enter_code"):
            code = st.text_input("Code", key="signin_code", max_chars=6)
            entered = st.form_submit_button("Sign in", icon=":material/login:")
        if entered:
            try:
                token = data.accounts().log_in(st.session_state["code_sent_to"], code or "")
            except AccountError as exc:
                st.error(exc.message)
            else:
                st.session_state[_TOKEN] = token
                st.session_state.pop("code_sent_to", None)
                st.rerun()
    outbox = data.settings()
    if not outbox.smtp_host:
        st.caption(f"Mail is not sent from this installation: messages are kept in {outbox.resolved_mail_outbox_dir()}.")


def activate_page() -> None:
    st.title("Activate your card")
    st.caption("The activation code is printed on the receipt of the shop where you got your card.")
    with st.form("activate"):
        card = st.text_input("Card number", key="activate_card")
        code = st.text_input("Activation code", key="activate_code", placeholder="XXXX-XXXX-XXXX")
        email = st.text_input("E-mail", key="activate_email")
        name = st.text_input("Name", key="activate_name")
        phone = st.text_input("Phone (optional)", key="activate_phone")
        born = st.date_input("Birth date (optional)", value=None, min_value=date(1900, 1, 1), key="activate_born")
        marketing = st.checkbox("Offers by e-mail", key="activate_marketing")
        sharing = st.checkbox("Share my data with the partners", key="activate_sharing")
        submitted = st.form_submit_button("Activate", icon=":material/how_to_reg:")
    if submitted:
        try:
            personal = personal_data(email or "", name or "", phone or "", born, today=date.today())
            data.accounts().sign_up(card or "", code or "", personal, Consents(marketing, sharing))
        except AccountRuleError as exc:
            st.error(str(exc))
        except AccountError as exc:
            st.error(exc.message)
        else:
            st.success("Your account is ready: sign in with your e-mail address.")


def sign_out() -> None:
    """End the session and go to the first page (which, signed out, is Sign in: both have the url path home)."""
    token = st.session_state.pop(_TOKEN, None)
    if token:
        data.accounts().log_out(token)
    st.switch_page(Path(__file__).resolve().parent / "pages" / "balance.py")


def flash(message: str) -> None:
    st.session_state["portal_flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("portal_flash", None)
    if message:
        st.success(message)


def choose_card(account: AccountView, key: str) -> str:
    """The member id of the card the member acts on: the only one, or the one chosen."""
    if len(account.cards) == 1:
        return account.cards[0].member_id
    numbers = {card.card_number: card.member_id for card in account.cards}
    return numbers[st.selectbox("Card", list(numbers), key=key)]


def new_request_key(name: str) -> str:
    """The idempotency key of the form `name`: kept until the action succeeds, so a resubmitted form is one action."""
    return st.session_state.setdefault(f"{name}_request_key", str(uuid.uuid4()))


def done(name: str) -> None:
    st.session_state.pop(f"{name}_request_key", None)
