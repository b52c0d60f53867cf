"""Mail outbox: the messages the network wrote instead of sending (no SMTP host set: the embedded default)."""

from __future__ import annotations

import streamlit as st

from console import data, session
from network.mail import read_outbox

session.require_operator()
st.title("Mail outbox")
settings = data.settings()
if settings.smtp_host:
    st.info(f"Mail is sent through {settings.smtp_host}:{settings.smtp_port}; nothing is kept here.")
    st.stop()
directory = settings.resolved_mail_outbox_dir()
st.caption(f"Messages to members (login codes, notices) are written to {directory} instead of being sent "
           "(set COALITION_SMTP_HOST to send them).")
messages = read_outbox(directory, limit=50)
if not messages:
    st.info("No messages yet.")
for message in messages:
    with st.expander(f"{message.date} · {message.to} · {message.subject}"):
        st.text(message.body)
