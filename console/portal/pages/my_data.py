"""My data: what the network holds about the member (download as JSON), consents, closing the account."""

from __future__ import annotations

import json

import streamlit as st

from console.portal import data, session
from network.core.accounts import Consents

account = session.require_account()
session.show_flash()
st.title("My data")
st.write(f"{account.personal.name} · {account.personal.email}")
exported = data.accounts().export(account.account_id, data.ledger())
st.download_button("Download my data (JSON)", json.dumps(exported, indent=2), file_name="my-coalition-data.json",
                   mime="application/json", key="export", icon=":material/download:")

st.subheader("Consents")
with st.form("consents"):
    marketing = st.checkbox("Offers by e-mail", value=account.consents.marketing, key="consent_marketing")
    sharing = st.checkbox("Share my data with the partners", value=account.consents.data_sharing, key="consent_sharing")
    save = st.form_submit_button("Save")
if save:
    data.accounts().set_consents(account.account_id, Consents(marketing, sharing))
    session.flash("Saved.")
    st.rerun()

st.subheader("Close my account")
st.write("Your personal data is deleted for good, and the points left on your cards are forfeited.")
sure = st.checkbox("I understand: close my account", key="close_sure")
if st.button("Close my account", disabled=not sure, type="primary", key="close_account"):
    data.accounts().erase(account.account_id, data.ledger(), session.actor(account), "closed by the member")
    session.sign_out()
