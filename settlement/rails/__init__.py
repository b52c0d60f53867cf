"""Payment rails: pay and collect net positions as SEPA files or through a simulated bank."""

from settlement.rails.interface import (
    MAX_SEPA_AMOUNT_MINOR,
    Account,
    Confirmation,
    Direction,
    InvalidAccount,
    InvalidInstruction,
    PaymentInstruction,
    PaymentRail,
    RailError,
    RailUnavailable,
    Submission,
    utcnow,
    validate_bic,
    validate_iban,
)
from settlement.rails.iso20022 import Iso20022FileRail, read_camt054, validate_payment_file, write_camt054
from settlement.rails.simulated import SimulatedBank

__all__ = [
    "MAX_SEPA_AMOUNT_MINOR",
    "Account",
    "Confirmation",
    "Direction",
    "InvalidAccount",
    "InvalidInstruction",
    "Iso20022FileRail",
    "PaymentInstruction",
    "PaymentRail",
    "RailError",
    "RailUnavailable",
    "SimulatedBank",
    "Submission",
    "read_camt054",
    "utcnow",
    "validate_bic",
    "validate_iban",
    "validate_payment_file",
    "write_camt054",
]
