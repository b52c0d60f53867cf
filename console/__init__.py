"""The Streamlit operator console: network and settlement read models shown, operator actions taken and recorded."""
