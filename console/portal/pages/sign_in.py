"""Sign in: e-mail address, then the six-digit code sent to it."""

from console.portal import session

session.sign_in_page()
