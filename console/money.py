"""Money and points as the console shows them: integer minor units turned into Decimal major units, never floats."""

from __future__ import annotations

from decimal import Decimal

from network.core.ledger import CURRENCY_EXPONENT


def to_major(amount_minor: int | None, currency: str) -> Decimal | None:
    """12345 EUR minor units -> Decimal('123.45') (exact: a shift of the decimal point)."""
    if amount_minor is None:
        return None
    return Decimal(int(amount_minor)).scaleb(-CURRENCY_EXPONENT.get(currency, 2))


def format_money(amount_minor: int | None, currency: str) -> str:
    major = to_major(amount_minor, currency)
    if major is None:
        return "-"
    return f"{currency} {major:,.{CURRENCY_EXPONENT.get(currency, 2)}f}"


def format_points(points: int) -> str:
    return f"{int(points):,}"


def format_ratio(ratio: Decimal | None) -> str:
    """Decimal('0.8512') -> '85.1 %'."""
    if ratio is None:
        return "-"
    return f"{(ratio * 100).quantize(Decimal('0.1'))} %"


def major_unit_columns(frame, default_currency: str):
    """A copy of `frame` with every integer `<name>_minor` column shown as `<name>` in Decimal major units of the
    row's `currency` (or `default_currency`), and the st.dataframe column_config that prints them with 2 decimals."""
    import pandas as pd
    import streamlit as st

    out = frame.copy()
    currencies = (frame["currency"].fillna(default_currency) if "currency" in frame.columns
                  else pd.Series([default_currency] * len(frame), index=frame.index))
    config = {}
    for column in [c for c in frame.columns if c.endswith("_minor")]:
        name = column[: -len("_minor")]
        out[column] = [to_major(int(v), cur) if pd.notna(v) else None for v, cur in zip(frame[column], currencies)]
        out = out.rename(columns={column: name})
        config[name] = st.column_config.NumberColumn(name, format="%.2f")
    return out, config
