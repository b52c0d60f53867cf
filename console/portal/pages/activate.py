"""Activate a card: card number and the activation code from the receipt, and the member's details."""

from console.portal import session

session.activate_page()
