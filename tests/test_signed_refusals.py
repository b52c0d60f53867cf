"""Signed refusals (SIGNING.md 3.1): every refusal of a mutating call carries the network's coalition-sig-v1-refusal
receipt over the request hash, the status code's name and the reason; the Python SDK verifies it and keeps it on
the raised error; read-only calls carry none; a receipt that does not hold is not trusted."""

from __future__ import annotations

import base64
import uuid

import grpc
import pytest

from partners import signing
from partners.client import PartnerClient, RefusalReceipt
from partners.errors import FailedPrecondition, InsufficientPoints, NotFound, ReceiptInvalid, SignatureInvalid
from protos.coalition.v1 import network_pb2 as pb

pytestmark = pytest.mark.usefixtures("verified_ledger")

REDEEM = "/coalition.v1.NetworkService/Redeem"


@pytest.fixture
def shop(make_partner):
    return make_partner("refusal")


def _network_keys(network) -> dict:
    return {k.key_id: signing.public_key_from_raw(k.public_key) for k in network.get_network_keys().keys if k.active}


def test_a_refused_mutating_call_carries_a_verified_refusal_receipt(shop, network_signer):
    with shop.client() as network:
        member = network.enroll_member().member
        request_id = uuid.uuid4().hex
        with pytest.raises(InsufficientPoints) as refused:
            network.redeem(member.member_id, 5, request_id=request_id)
        receipt = refused.value.receipt
        assert isinstance(receipt, RefusalReceipt)
        assert (receipt.method, receipt.code, receipt.reason) == (REDEEM, "FAILED_PRECONDITION", "INSUFFICIENT_POINTS")
        assert receipt.key_id == network_signer.key_id
        assert pb.RedeemRequest.FromString(receipt.request_bytes).request_id == request_id
        # anyone with the network's public key can check it later, from the receipt alone
        keys = _network_keys(network)
        assert signing.verify_refusal_receipt(receipt.trailing_metadata(), receipt.method, receipt.request_bytes,
                                              receipt.code, receipt.reason, keys.__getitem__) == receipt.key_id
        # and it says exactly this refusal: another reason does not verify
        with pytest.raises(signing.SignatureError):
            signing.verify_refusal_receipt(receipt.trailing_metadata(), receipt.method, receipt.request_bytes,
                                           receipt.code, "NO_CONTRACT", keys.__getitem__)
        # the refused request_id was not used up: the same id now works for a valid request
        network.earn(member.member_id, points=10)
        assert network.redeem(member.member_id, 5, request_id=request_id).points == 5


def test_a_refused_signature_on_a_mutating_call_is_signed_too(shop, target):
    stranger = signing.generate_private_key()
    with PartnerClient(target, shop.key_id, stranger) as impostor:  # the right key id, the wrong key
        with pytest.raises(SignatureInvalid) as refused:
            impostor.enroll_member(customer_ref="c-1")
    receipt = refused.value.receipt
    assert (refused.value.reason, receipt.code, receipt.reason) == ("SIGNATURE_INVALID", "UNAUTHENTICATED",
                                                                    "SIGNATURE_INVALID")


def test_the_raw_refusal_trailer_is_the_documented_six_lines(shop, network_signer):
    """Without the SDK: the trailing metadata of a refused call, checked line by line as SIGNING.md 3.1 says."""
    body = pb.ReverseRequest(request_id="r-1", transaction_id=str(uuid.uuid4())).SerializeToString()
    method = "/coalition.v1.NetworkService/Reverse"
    headers = signing.sign_request(shop.private_key, shop.key_id, method, body)
    with grpc.insecure_channel(shop.target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            call(body, metadata=headers.metadata(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    trailing = signing.collect_metadata(refused.value.trailing_metadata())
    lines = ["coalition-sig-v1-refusal", method, network_signer.key_id, signing.sha256_hex(body), "NOT_FOUND",
             "TRANSACTION_NOT_FOUND"]
    signature = base64.b64decode(trailing["x-coalition-signature"][0], validate=True)
    network_signer.private_key.public_key().verify(signature, "\n".join(lines).encode())
    assert trailing["x-coalition-key-id"] == [network_signer.key_id]


def test_read_only_refusals_carry_no_receipt(shop):
    with shop.client() as network:
        with pytest.raises(NotFound) as refused:
            network.get_balance(str(uuid.uuid4()))
    assert refused.value.receipt is None


def test_a_refusal_receipt_that_does_not_hold_is_not_trusted(shop, network_signer):
    forged = signing.raw_public(signing.generate_private_key())  # the network's key id pinned to another key
    with shop.client(network_keys={network_signer.key_id: forged}) as network:
        with pytest.raises(ReceiptInvalid) as untrusted:
            network.reverse(str(uuid.uuid4()))
    assert isinstance(untrusted.value.__cause__, NotFound)
    assert isinstance(untrusted.value.receipt, RefusalReceipt)
    assert untrusted.value.receipt.reason == "TRANSACTION_NOT_FOUND"


def test_a_refused_earn_is_signed(make_partner, engine):
    """An earn refused on the event-loop path (the group commit) carries its receipt too."""
    shop = make_partner("refusal-earn", credit_limit_minor=0)
    with shop.client() as network:
        member = network.enroll_member().member
        with pytest.raises(FailedPrecondition) as refused:
            network.earn(member.member_id, points=1000)
    assert refused.value.reason == "CREDIT_LIMIT_EXCEEDED"
    assert (refused.value.receipt.method, refused.value.receipt.reason) == (
        "/coalition.v1.NetworkService/Earn", "CREDIT_LIMIT_EXCEEDED")
