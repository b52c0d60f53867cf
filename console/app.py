"""The operator console (run with `coalition console serve`): log in, then the pages of st.navigation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from console import data, session
from network.database import UnmigratedSchema

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="Coalition console", page_icon=":material/hub:", layout="wide")

operator = session.current_operator()
if operator is None:
    navigation = st.navigation([st.Page(session.login_page, title="Log in", icon=":material/login:")])
else:
    try:
        data.engine()
    except UnmigratedSchema as exc:
        st.error(f"{exc} (or start the console with `coalition console serve --migrate`).")
        st.stop()
    with st.sidebar:
        st.markdown(f"**{operator.name}** · {operator.role}")
        if st.button("Log out", icon=":material/logout:", key="logout"):
            session.log_out()
        settings = data.settings()
        st.caption(f"point value {settings.point_value_minor} {settings.network_currency} minor units")
    navigation = st.navigation({
        "Network": [
            st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
            st.Page(PAGES / "partners.py", title="Partners", icon=":material/storefront:"),
            st.Page(PAGES / "members.py", title="Members", icon=":material/person_search:"),
            st.Page(PAGES / "webhooks.py", title="Webhooks", icon=":material/webhook:"),
            st.Page(PAGES / "programme.py", title="Programme", icon=":material/loyalty:"),
        ],
        "Settlement": [
            st.Page(PAGES / "clearing.py", title="Clearing", icon=":material/grid_on:"),
            st.Page(PAGES / "settlement.py", title="Settlement", icon=":material/account_balance:"),
        ],
        "Control": [
            st.Page(PAGES / "ledger_health.py", title="Ledger health", icon=":material/verified:"),
            st.Page(PAGES / "audit.py", title="Audit", icon=":material/history:"),
            st.Page(PAGES / "mail_outbox.py", title="Mail outbox", icon=":material/outbox:"),
        ],
    })
navigation.run()
