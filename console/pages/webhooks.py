"""Webhooks: every partner's endpoints, the ones the network disabled (with their alert), the delivery log with
status codes, and (admins) enabling an endpoint or replaying events to it, each recorded in operator_actions."""

from __future__ import annotations

import streamlit as st

from console import actions, data, session

operator = session.require_operator()
st.title("Webhooks")
session.show_flash()

endpoints = data.webhook_endpoints()
alerts = endpoints[endpoints["alert"] != ""]
for row in alerts.itertuples():
    st.error(f"Endpoint {row.endpoint} of {row.partner} ({row.url}): {row.alert}", icon=":material/warning:")
st.dataframe(endpoints, hide_index=True, width="stretch", key="webhook_endpoints",
             column_config={"updated": st.column_config.DatetimeColumn("updated")})
st.caption(f"{len(endpoints)} endpoint(s), {int((~endpoints['enabled']).sum())} disabled.")

chosen = st.selectbox("Endpoint", ["", *endpoints["endpoint"]], key="webhook_endpoint",
                      format_func=lambda e: e or "all endpoints")


if chosen and operator.can_act:
    enabled = bool(endpoints.loc[endpoints["endpoint"] == chosen, "enabled"].iloc[0])
    if enabled:
        if st.button("Disable endpoint", icon=":material/block:", key="webhook_disable"):
            session.act(operator, f"endpoint {chosen} disabled", actions.set_webhook_endpoint_state, chosen, False)
    elif st.button("Enable endpoint", icon=":material/play_arrow:", key="webhook_enable", type="primary"):
        session.act(operator, f"endpoint {chosen} enabled", actions.set_webhook_endpoint_state, chosen, True)
    c = st.columns(3)
    first = c[0].number_input("Replay from event", min_value=1, value=1, step=1, key="replay_first")
    last = c[1].number_input("to event (0: that one only)", min_value=0, value=0, step=1, key="replay_last")
    if c[2].button("Replay", icon=":material/replay:", key="webhook_replay"):
        session.act(operator, f"events {int(first)}..{int(last) or int(first)} of {chosen} replayed",
                    actions.replay_webhook_events, chosen, int(first), int(last))

st.subheader("Delivery log")
limit = st.number_input("Rows", min_value=10, max_value=500, value=100, step=10, key="deliveries_limit")
log = data.webhook_deliveries(chosen, int(limit))
st.dataframe(log, hide_index=True, width="stretch", key="webhook_deliveries",
             column_config={"at": st.column_config.DatetimeColumn("at")})
st.caption(f"{len(log)} attempt(s), newest first; {int((~log['delivered']).sum())} failed.")
