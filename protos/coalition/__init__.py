"""Generated code for the coalition proto package."""
