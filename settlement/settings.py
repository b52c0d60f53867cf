"""Settlement's settings: Temporal, the cycle, the payment rail and the network's own bank identity."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from network.settings import NetworkSettings, from_environment

EMBEDDED_TEMPORAL_HOST = "127.0.0.1"


class SettlementSettings(NetworkSettings):
    """The network's settings plus settlement's. Unset TEMPORAL_ADDRESS means the embedded Temporal dev server on
    127.0.0.1:temporal_port."""

    temporal_address: str | None = Field(default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = "default"
    temporal_task_queue: str = "coalition-settlement"
    # The embedded Temporal dev server's port (`coalition up` starts it there; the CLI and worker use it).
    temporal_port: int = 7233
    settlement_period_seconds: int = 86400
    # Tier requalification (network.store.tiers): the review runs every tier_review_seconds and moves a member down
    # one level at most, once its tier has been held for tier_hold_days (so at most one level per tier_hold_days).
    tier_review_seconds: int = Field(default=86400, ge=60)
    tier_hold_days: int = Field(default=30, ge=1, le=3660)
    dispute_window_seconds: int = 3600
    payment_rail: str = "simulated"
    # The network's own account (debtor of payouts, creditor of collections) and its SEPA creditor identifier.
    # The defaults are well-formed test values (a Bundesbank test IBAN, a check-digit-valid creditor id).
    network_account_name: str = "Coalition Network"
    network_iban: str = "DE02120300000000202051"
    network_bic: str = "BYLADEM1001"
    sepa_creditor_id: str = "DE98ZZZ09999999999"

    def resolved_temporal_address(self) -> str:
        """TEMPORAL_ADDRESS, or the embedded dev server's address."""
        return self.temporal_address or f"{EMBEDDED_TEMPORAL_HOST}:{self.temporal_port}"


def get_settings() -> SettlementSettings:
    return from_environment(SettlementSettings)
