"""Every setting of every Coalition process, composed: the console's (which extend settlement's, which extend the
network's) plus the demo's and `coalition up`'s."""

from __future__ import annotations

from console.settings import ConsoleSettings
from network.settings import from_environment


class CoalitionSettings(ConsoleSettings):
    """What the `coalition` command reads; each package's own class is a part of it."""

    # `coalition up`: the Temporal Web UI port of the embedded dev server it starts when TEMPORAL_ADDRESS is unset.
    temporal_ui_port: int = 8233
    # The demo (`coalition up --demo`, `coalition demo traffic`): members seeded, simulated POS calls per second.
    demo_members: int = 3000
    demo_rate_per_second: float = 8.0
    # Days of back-dated history `coalition up --demo` writes on a fresh ledger (earns, redemptions, returns,
    # expiries, closed weekly settlement cycles: coalition.history); 0: none.
    demo_history_days: int = 90


def get_settings() -> CoalitionSettings:
    return from_environment(CoalitionSettings)
