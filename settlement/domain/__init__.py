"""Settlement's rules as pure functions over frozen dataclasses: cycle periods and ids, obligations, netting and net
positions (computed and made payable), statements, disputes and the payment plan. No SQL, no clock, no Temporal."""
