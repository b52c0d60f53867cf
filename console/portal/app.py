"""The member portal (run with `coalition members serve`): sign in by e-mailed code, then the member's pages,
laid out for a phone (one narrow column)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from console import data as console_data
from console.portal import session
from network.database import UnmigratedSchema

PAGES = Path(__file__).resolve().parent / "pages"
HOME = "home"  # the first page before and after sign-in share it: signing in (or out) lands on the other one

st.set_page_config(page_title="Coalition", page_icon=":material/loyalty:", layout="centered",
                   initial_sidebar_state="collapsed")

try:
    console_data.engine()
except UnmigratedSchema as exc:
    st.error(str(exc))
    st.stop()
account = session.current_account()
if account is None:
    navigation = st.navigation([
        st.Page(PAGES / "sign_in.py", title="Sign in", icon=":material/login:", default=True, url_path=HOME),
        st.Page(PAGES / "activate.py", title="Activate a card", icon=":material/how_to_reg:"),
    ])
else:
    with st.sidebar:
        st.markdown(f"**{account.personal.name}**")
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            session.sign_out()
    navigation = st.navigation([
        st.Page(PAGES / "balance.py", title="Balance", icon=":material/account_balance_wallet:", default=True,
                url_path=HOME),
        st.Page(PAGES / "history.py", title="History", icon=":material/receipt_long:"),
        st.Page(PAGES / "spend.py", title="Where to spend", icon=":material/storefront:"),
        st.Page(PAGES / "security.py", title="Security", icon=":material/lock:"),
        st.Page(PAGES / "transfer.py", title="Transfer", icon=":material/swap_horiz:"),
        st.Page(PAGES / "donate.py", title="Donate", icon=":material/volunteer_activism:"),
        st.Page(PAGES / "notifications.py", title="Notifications", icon=":material/notifications:"),
        st.Page(PAGES / "my_data.py", title="My data", icon=":material/folder_shared:"),
    ])
navigation.run()
