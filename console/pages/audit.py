"""Audit: every operator action (CLI or console), who did what and when."""

from __future__ import annotations

import streamlit as st

from console import data, session

session.require_operator()
st.title("Audit")
c = st.columns(3)
operator = c[0].text_input("Operator", key="audit_operator")
action = c[1].text_input("Action (e.g. partner.suspend)", key="audit_action")
limit = c[2].number_input("Rows", min_value=10, max_value=500, value=200, step=10, key="audit_limit")
actions = data.operator_actions(int(limit), operator.strip(), action.strip())
st.dataframe(actions, hide_index=True, width="stretch", key="audit_table",
             column_config={"created_at": st.column_config.DatetimeColumn("when"),
                            "operator": "who", "action": "what", "subject": "subject"})
st.caption(f"{len(actions)} action(s), newest first.")
