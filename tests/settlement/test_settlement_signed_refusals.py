"""SettlementService's mutating calls (AcknowledgeStatement, DisputeStatement) sign their refusals as NetworkService's
do (SIGNING.md 3.1); its reads (GetStatement) carry no receipt."""

from __future__ import annotations

import pytest

from partners import errors
from partners.client import PartnerClient, RefusalReceipt


def test_statement_refusals_are_signed_on_mutating_calls_only(make_partner, settlement_target):
    shop = make_partner("stm-signed")
    with PartnerClient(settlement_target, shop.key_id, shop.private_key) as client:
        acknowledge = lambda: client.acknowledge_statement("stm-none")  # noqa: E731
        dispute = lambda: client.dispute_statement("stm-none", [1], "no such statement")  # noqa: E731
        for call, method in ((acknowledge, "AcknowledgeStatement"), (dispute, "DisputeStatement")):
            with pytest.raises(errors.NotFound) as refused:
                call()
            receipt = refused.value.receipt
            assert isinstance(receipt, RefusalReceipt)
            assert (receipt.method, receipt.code, receipt.reason) == (
                f"/coalition.v1.SettlementService/{method}", "NOT_FOUND", "STATEMENT_NOT_FOUND")
        with pytest.raises(errors.NotFound) as read:
            client.get_statement("stm-none")
        assert read.value.receipt is None
