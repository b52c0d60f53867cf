"""Generated code for coalition.v1 (regenerate with `python -m protos.generate`)."""
