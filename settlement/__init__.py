"""Settlement on Temporal: clearing, netting, statements, payouts, payment rails."""
