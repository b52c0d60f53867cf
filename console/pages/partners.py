"""Partners: liabilities, collateral, exposure against the credit limit, current-cycle net position, status;
one partner's contract history, keys, status and recent transactions."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from console import actions, data, session
from console.money import format_money, major_unit_columns, to_major
from network.store.read_models import EXPOSURE_WARNING

operator = session.require_operator()
settings = data.settings()
currency = settings.network_currency
st.title("Partners")
session.show_flash()

positions = data.partner_positions()
cycle_id, net = data.current_positions()
net_by_partner: dict[str, int] = {}
if cycle_id and not net.empty:
    for row in net[net["currency"] == currency].itertuples():
        net_by_partner[row.partner_id] = int(row.net_minor)

table = pd.DataFrame([{
    "partner": p.partner_id, "name": p.name, "status": p.status,
    "issued": p.issued_points, "redeemed": p.redeemed_points, "outstanding points": p.outstanding_points,
    "liability": to_major(p.liability_minor, currency), "collateral": to_major(p.collateral_minor, currency),
    "exposure": to_major(p.exposure_minor, currency), "credit limit": to_major(p.credit_limit_minor, currency),
    "exposure %": None if p.exposure_ratio is None else (p.exposure_ratio * 100).quantize(Decimal("0.1")),
    "net position": to_major(net_by_partner.get(p.partner_id), currency) if cycle_id else None,
} for p in positions], columns=["partner", "name", "status", "issued", "redeemed", "outstanding points", "liability",
                                "collateral", "exposure", "credit limit", "exposure %", "net position"])
near = {p.partner_id for p in positions if p.near_limit}


def highlight(row: pd.Series) -> list[str]:
    style = "background-color: #fde2e1; color: #8a1c12" if row["partner"] in near else ""
    return [style] * len(row)


total_liability = sum(p.liability_minor for p in positions)
c = st.columns(3)
c[0].metric("Partners", len(positions))
c[1].metric("Liabilities", format_money(total_liability, currency))
c[2].metric(f"Near the credit limit (>= {EXPOSURE_WARNING * 100:.0f} %)", len(near))
money = st.column_config.NumberColumn
st.subheader("Liabilities and exposure")
query = st.text_input("Find partners", key="partner_filter", placeholder="part of an id or a name").strip()
if query:  # the figures above stay the network's; the table shows the partners whose id or name holds the text
    found = table["partner"].str.contains(query, case=False, regex=False) | \
        table["name"].str.contains(query, case=False, regex=False)
    table = table[found]
    st.caption(f"{len(table)} of {len(positions)} partners hold \"{query}\" in their id or name.")
st.dataframe(table.style.apply(highlight, axis=1), hide_index=True, width="stretch", key="liabilities",
             column_config={
                 "issued": st.column_config.NumberColumn(format="localized"),
                 "redeemed": st.column_config.NumberColumn(format="localized"),
                 "outstanding points": st.column_config.NumberColumn(format="localized"),
                 "liability": money(f"liability ({currency})", format="%.2f",
                                    help="Outstanding points x point value"),
                 "collateral": money(f"collateral ({currency})", format="%.2f"),
                 "exposure": money(f"exposure ({currency})", format="%.2f", help="Liability less collateral"),
                 "credit limit": money(f"credit limit ({currency})", format="%.2f"),
                 "exposure %": money("exposure % of limit", format="%.1f"),
                 "net position": money(f"net position ({currency})", format="%.2f",
                                       help=f"Cycle {cycle_id}: > 0 the partner receives" if cycle_id else None),
             })
st.caption(f"Net positions of cycle {cycle_id}." if cycle_id else "No settlement cycle has been netted yet.")

st.divider()
ids = [p.partner_id for p in positions]
if not ids:
    st.info("No partners yet.")
    st.stop()
wanted = st.query_params.get("partner")
chosen = st.selectbox("Partner", ids, index=ids.index(wanted) if wanted in ids else 0, key="partner_id")
st.query_params["partner"] = chosen
view = data.partner(chosen)
if view is None:
    st.warning(f"Partner {chosen} is gone.")
    st.stop()
position = next(p for p in positions if p.partner_id == chosen)
st.header(f"{view.name} ({view.partner_id})")
c = st.columns(4)
c[0].metric("Status", view.status)
c[1].metric("Liability", format_money(position.liability_minor, currency))
c[2].metric("Exposure", format_money(position.exposure_minor, currency))
c[3].metric("IBAN", view.iban or "-")


if operator.can_act:
    if view.status == "active":
        if st.button("Suspend partner", icon=":material/block:", key="suspend", type="primary"):
            session.act(operator, f"{chosen} suspended", actions.set_partner_status, chosen, "suspended")
    elif st.button("Resume partner", icon=":material/play_arrow:", key="resume", type="primary"):
        session.act(operator, f"{chosen} resumed", actions.set_partner_status, chosen, "active")

st.subheader("Contract history")
contracts, money = major_unit_columns(data.contract_history(chosen), currency)
st.dataframe(contracts, hide_index=True, width="stretch", key="contracts", column_config=money)

st.subheader("Keys")
keys = data.partner_keys(chosen)
st.dataframe(keys, hide_index=True, width="stretch", key="keys")
if operator.can_act:
    active = keys[keys["status"] == "active"]["key_id"].tolist() if not keys.empty else []
    c = st.columns(2)
    with c[0].form("register_key", clear_on_submit=True):
        key_id = st.text_input("Key id", key="new_key_id")
        public_key = st.text_input("Public key (standard base64 of the raw 32-byte Ed25519 key)", key="new_key")
        if st.form_submit_button("Register key", icon=":material/key:"):
            session.act(operator, f"key {key_id} registered", actions.register_key, chosen, key_id, public_key)
    with c[1]:
        if active:
            revoked = st.selectbox("Active key", active, key="revoke_key_id")
            if st.button("Revoke key", icon=":material/key_off:", key="revoke"):
                session.act(operator, f"key {revoked} revoked", actions.revoke_key, revoked)

st.subheader("Recent transactions")
transactions, money = major_unit_columns(data.recent_transactions(chosen), currency)
st.dataframe(transactions, hide_index=True, width="stretch", key="transactions", column_config=money)
