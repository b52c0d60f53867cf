"""The Streamlit operator console: network and settlement read models shown, operator actions taken and recorded."""

import protos  # noqa: F401 - first: gRPC core's fork handlers off before gRPC loads (protos/__init__.py)
