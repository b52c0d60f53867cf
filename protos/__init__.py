"""The wire contract: coalition.v1 .proto files and the Python code generated from them."""
