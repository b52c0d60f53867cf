"""Balance: the points across every card, with what is pending, held and expiring soon (by issuer and date), and
each card's tier."""

from __future__ import annotations

import streamlit as st

from console.money import format_points
from console.portal import data, session

account = session.require_account()
session.show_flash()
st.title("Your points")
balances = [(card, data.balance(card.member_id)) for card in account.cards]
total = sum(b.available for _, b in balances)
st.metric("Available", format_points(total))
c = st.columns(3)
c[0].metric("Pending", format_points(sum(b.pending for _, b in balances)), help="Spendable once the return window ends")
c[1].metric("Held", format_points(sum(b.held for _, b in balances)), help="Reserved by a purchase in progress")
c[2].metric("Expiring soon", format_points(sum(b.expiring_30d for _, b in balances)), help="Within 30 days")
if len(balances) > 1:
    st.dataframe([{"card": card.card_number, "available": b.available} for card, b in balances], hide_index=True,
                 key="balance_cards")
else:
    st.caption(f"Card {account.cards[0].card_number}")
for card in account.cards:
    progress = data.tier(card.member_id)
    if progress.tier:
        line = f"Tier **{progress.tier}** · {format_points(progress.qualifying_points)} qualifying points (12 months)"
        if progress.next_tier:
            line += f" · {format_points(progress.points_to_next)} more for {progress.next_tier}"
        st.markdown(line + (f" · card {card.card_number}" if len(account.cards) > 1 else ""))
expiring = data.expiring([card.member_id for card in account.cards])
if not expiring.empty:
    st.subheader("Expiring within 30 days")
    st.dataframe(expiring, hide_index=True, key="balance_expiring")
