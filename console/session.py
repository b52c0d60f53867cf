"""The logged-in operator of a console session: the login page, the session's Operator, logging out."""

from __future__ import annotations

import streamlit as st

from console import auth, data
from console.auth import Operator
from network.errors import DomainError

_KEY = "operator"


def current_operator() -> Operator | None:
    settings = data.settings()
    if auth.oidc_configured(settings):
        if not st.user.is_logged_in:
            return None
        email = str(st.user.get("email") or "")
        return Operator(email or str(st.user.get("sub")), auth.oidc_role(settings, email), "oidc")
    operator = st.session_state.get(_KEY)
    return operator if isinstance(operator, Operator) else None


def require_operator() -> Operator:
    """For pages: the operator, or stop rendering (navigation only offers pages after login; this is the backstop)."""
    operator = current_operator()
    if operator is None:
        st.error("Log in first.")
        st.stop()
    return operator


def login_page() -> None:
    settings = data.settings()
    st.title("Coalition console")
    if auth.oidc_configured(settings):
        st.write("Log in with your organisation's account.")
        if st.button("Log in", icon=":material/login:", key="oidc_login"):
            st.login()
        return
    with st.form("login"):
        username = st.text_input("Operator", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", icon=":material/login:")
    if submitted:
        operator = auth.authenticate(settings, username or "", password or "")
        if operator is None:
            st.error("Unknown operator or wrong password.")
        else:
            st.session_state[_KEY] = operator
            st.rerun()
    if not settings.database_url and not settings.console_admin_password_hash:
        st.caption(f"Embedded default: operator `{settings.console_admin_user}`, password `coalition` "
                   "(set COALITION_CONSOLE_ADMIN_PASSWORD_HASH to change it).")


def log_out() -> None:
    if auth.oidc_configured(data.settings()):
        st.logout()
        return
    st.session_state.pop(_KEY, None)
    st.rerun()


def flash(message: str) -> None:
    """Show `message` once, on the next render (after st.rerun)."""
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)


def refused(exc: DomainError) -> None:
    """Show a refusal as its code, reason and message."""
    st.error(f"{exc.code.name} {exc.reason}: {exc.message}")


def act(operator: Operator, description: str, action, *args) -> None:
    """Run a console action (`action(engine, operator, *args)`): a refusal is shown and nothing else happens; on
    success the cached data is dropped, `description` is flashed and the page reruns."""
    try:
        action(data.engine(), operator, *args)
    except DomainError as exc:
        refused(exc)
        return
    data.forget()
    flash(description)
    st.rerun()
