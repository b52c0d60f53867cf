"""The catalogue of ErrorInfo reasons: the one list of every reason the network sends and the SDK raises.

Each reason has one gRPC status code, is retryable or not (by its code: the retry rule of SIGNING.md section 4),
carries exactly the ErrorInfo metadata keys listed, and has a meaning a partner can act on. The network checks
every refusal it builds against this table (network.errors.DomainError), the partner SDK reads it, tests scan
the code for reason literals that it lacks, and `docs/errors.md` is generated from it:

    python -m partners.reasons            # rewrite docs/errors.md
    python -m partners.reasons --check    # exit 1 when docs/errors.md is stale

It lives in `partners` (below `network` in the import layers) so that the server and the SDK share it.
Metadata key names: ids are `<thing>_id` (member_id, hold_id, transaction_id...). NOT_FOUND reasons also carry
the key they carried before this catalogue, `<thing>` (e.g. MEMBER_NOT_FOUND's `member`), with the same value,
for partners that read it; it is deprecated and listed under `legacy`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DOMAIN = "coalition.network"
# The codes a client retries with the same bytes (SIGNING.md section 4); every other code is final.
RETRYABLE_CODE_NAMES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED"})

NETWORK, OPERATOR, SDK = "network", "operator", "sdk"  # who raises it: partner API, operator API, the client
MEMBER = "member"  # raised to members (the member portal) by the network's store: transfers and donations


@dataclass(frozen=True)
class Reason:
    name: str
    code: str  # the gRPC status code's name
    meaning: str
    metadata: tuple[str, ...] = ()  # the ErrorInfo metadata keys it carries
    legacy: tuple[str, ...] = ()  # deprecated keys still sent with the same value, for older readers
    source: str = NETWORK
    optional: tuple[str, ...] = ()  # keys present only in some cases, or set after the error is built (see meaning)

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODE_NAMES

    def allowed_keys(self) -> frozenset[str]:
        return frozenset(self.metadata + self.legacy + self.optional)


_SIGNATURE = "coalition-sig-v1 (SIGNING.md 2.4): "

REASONS: tuple[Reason, ...] = (
    # --- INVALID_ARGUMENT: fix the request (google.rpc.BadRequest names the fields) ---------------------------
    Reason("INVALID_ARGUMENT", "INVALID_ARGUMENT",
           "A field breaks a documented limit or rule; BadRequest.field_violations names each field and why."),
    Reason("MALFORMED_REQUEST", "INVALID_ARGUMENT", "The request bytes are not a valid serialized message."),
    Reason("WEBHOOK_URL_REFUSED", "INVALID_ARGUMENT",
           "A webhook endpoint's URL must be https with a host, without user name, password or fragment (plain "
           "http only to localhost, and only where the network allows it); the field violation says what is wrong."),
    Reason("WEBHOOK_EVENT_TYPE_UNKNOWN", "INVALID_ARGUMENT",
           "A webhook event filter names a type that is not an Event.type, or names one twice."),
    Reason("MESSAGE_TOO_LARGE", "INVALID_ARGUMENT",
           "The request message is larger than the network accepts (`limit_bytes`, in bytes); split it (e.g. a "
           "smaller BatchEarn). Sending the same bytes again is refused again.", optional=("limit_bytes",)),
    # --- UNAUTHENTICATED: the signature profile ------------------------------------------------------------------
    Reason("SIGNATURE_MISSING", "UNAUTHENTICATED", _SIGNATURE + "one of the four x-coalition-* entries is missing."),
    Reason("SIGNATURE_INVALID", "UNAUTHENTICATED",
           _SIGNATURE + "an entry is repeated, the signature is not 64 bytes of standard base64, or it does not "
           "verify over the bytes received."),
    Reason("TIMESTAMP_INVALID", "UNAUTHENTICATED", _SIGNATURE + "the timestamp is not integer Unix seconds."),
    Reason("TIMESTAMP_STALE", "UNAUTHENTICATED",
           _SIGNATURE + "the timestamp is more than 300 s away from the network's clock. `network_time` is the "
           "network's clock (integer Unix seconds) when it refused: correct your clock by the difference.",
           ("network_time",)),
    Reason("NONCE_INVALID", "UNAUTHENTICATED", _SIGNATURE + "the nonce is not 16 to 64 characters of [A-Za-z0-9_-]."),
    Reason("KEY_UNKNOWN", "UNAUTHENTICATED", _SIGNATURE + "the key id is malformed or not registered."),
    Reason("KEY_REVOKED", "UNAUTHENTICATED", _SIGNATURE + "the key was revoked; sign with your other active key."),
    # --- PERMISSION_DENIED -----------------------------------------------------------------------------------------
    Reason("PARTNER_SUSPENDED", "PERMISSION_DENIED", "The calling partner is suspended by the operator."),
    Reason("CERTIFICATE_PARTNER_MISMATCH", "PERMISSION_DENIED",
           "Under mutual TLS: the client certificate names another partner (subject CN) than the key that signed "
           "the request. Call with your own certificate and key."),
    Reason("MEMBER_NOT_ENROLLED", "PERMISSION_DENIED",
           "The member exists but is not enrolled with the calling partner: enroll them first (EnrollMember with "
           "their card_number).", ("member_id",)),
    Reason("MEMBER_VERIFICATION_REQUIRED", "PERMISSION_DENIED",
           "This spend needs the member's consent: send `verification` with the member's PIN or a one-time "
           "redemption code from the member portal. Without one a partner may spend only up to its contract's "
           "unverified_spend_limit_points, and only for members it enrolled at its own till (EnrollMember). Ask the "
           "member, then send a new request (nothing was written; the request_id is not used up).", ("member_id",)),
    Reason("MEMBER_VERIFICATION_FAILED", "PERMISSION_DENIED",
           "The PIN is wrong (or none is set), or the redemption code is unknown, used, expired or below the points "
           "asked. Each failure counts: the fifth in a row locks the member's verified spending everywhere "
           "(MEMBER_LOCKED). Ask the member again; resending the same bytes is refused again.", ("member_id",)),
    Reason("NOT_YOUR_HOLD", "PERMISSION_DENIED", "The hold belongs to another partner.", ("hold_id",)),
    Reason("NOT_YOUR_TRANSACTION", "PERMISSION_DENIED", "The transaction belongs to another partner.",
           ("transaction_id",)),
    Reason("NOT_YOUR_STATEMENT", "PERMISSION_DENIED", "The statement belongs to another partner."),
    # --- NOT_FOUND -----------------------------------------------------------------------------------------------
    Reason("MEMBER_NOT_FOUND", "NOT_FOUND",
           "No member with that id (`member_id`), card number (`card_number`) or customer_ref (`customer_ref`): "
           "the key named is the one looked up (by id, the legacy `member` too).", (), ("member",),
           optional=("member_id", "card_number", "customer_ref")),
    Reason("CARD_NOT_FOUND", "NOT_FOUND", "No card with that number (of that member).", ("card_number",),
           source=OPERATOR),
    Reason("HOLD_NOT_FOUND", "NOT_FOUND", "No hold with that id.", ("hold_id",), ("hold",)),
    Reason("TRANSACTION_NOT_FOUND", "NOT_FOUND",
           "No transaction with that id (or, in `Reverse` with `member_id`, none of that member).", ("transaction_id",),
           ("transaction",)),
    Reason("STATEMENT_NOT_FOUND", "NOT_FOUND", "No statement with that id.", ("statement_id",), ("statement",)),
    Reason("PARTNER_NOT_FOUND", "NOT_FOUND", "No partner with that id.", ("partner_id",), ("partner",), OPERATOR),
    Reason("KEY_NOT_FOUND", "NOT_FOUND", "No partner key with that id.", ("key_id",), ("key",), OPERATOR),
    Reason("CYCLE_NOT_FOUND", "NOT_FOUND", "No settlement cycle with that id.", ("cycle_id",), ("cycle",), OPERATOR),
    Reason("WEBHOOK_ENDPOINT_NOT_FOUND", "NOT_FOUND", "No webhook endpoint of the calling partner with that id.",
           ("endpoint_id",)),
    Reason("DISPUTE_NOT_FOUND", "NOT_FOUND", "No dispute with that id.", ("dispute_id",), ("dispute",), OPERATOR),
    # --- FAILED_PRECONDITION: the state does not allow it --------------------------------------------------------
    Reason("NO_CONTRACT", "FAILED_PRECONDITION",
           "The partner has no contract in force now: nothing can be earned (or issued) before the operator "
           "sets one.", ("partner_id",)),
    Reason("CURRENCY_NOT_ACCEPTED", "FAILED_PRECONDITION",
           "The purchase (or basket) currency, `currency`, differs from the currency of the partner's contract, "
           "`contract_currency` (one currency per contract until the network converts currencies).",
           ("partner_id", "currency", "contract_currency")),
    Reason("INSUFFICIENT_POINTS", "FAILED_PRECONDITION",
           "The member's available points (active, unexpired, not held) do not cover the points requested.",
           ("member_id", "requested", "available")),
    Reason("CREDIT_LIMIT_EXCEEDED", "FAILED_PRECONDITION",
           "The earn would take the issuing partner's exposure past its contract's credit limit.", ("partner_id",)),
    Reason("BASKET_CAP_EXCEEDED", "FAILED_PRECONDITION",
           "The points' value exceeds the share of the basket the contract lets members pay with points."),
    Reason("MEMBER_LOCKED", "FAILED_PRECONDITION",
           "Too many wrong PINs or codes in a row: the member's verified spending is locked at every partner until "
           "`locked_until` (RFC 3339, 15 minutes after the last failure). Do not retry before then; the member may "
           "reset their PIN in the portal.", ("member_id", "locked_until")),
    Reason("CARD_FROZEN", "FAILED_PRECONDITION",
           "The card is frozen or replaced (`card_status`), or the member has no active card: it finds no member and "
           "the member's points cannot be spent until the member (portal) or the operator unfreezes it; a replaced "
           "card never works again (ask for the new card). A member's transfer or donation: `role` says whose card "
           "(sender or recipient); points are never sent to a frozen or replaced card.", (),
           optional=("card_number", "card_status", "member_id", "role")),
    Reason("MEMBER_FROZEN", "FAILED_PRECONDITION",
           "The operator froze this member: no spending, transfer or donation until unfrozen, and no transfer to "
           "them (`role`: sender or recipient, on a member's transfer); earning goes on.", ("member_id",),
           optional=("role",)),
    Reason("VELOCITY_LIMIT", "FAILED_PRECONDITION",
           "Too many spends: the member's in the last hour or day, or the partner's in the last minute, reached the "
           "network's limit (`limit` spends per `window`). Try again once the window has moved on; the same bytes "
           "are refused until then.", ("limit", "window"), optional=("member_id", "partner_id")),
    Reason("CARD_REPLACED", "FAILED_PRECONDITION", "The card was replaced: it can be neither frozen nor replaced "
           "again.", ("card_number",), source=OPERATOR),
    Reason("HOLD_NOT_OPEN", "FAILED_PRECONDITION", "The hold was already captured, voided or lapsed.", ("hold_id",)),
    Reason("HOLD_EXPIRED", "FAILED_PRECONDITION", "The hold's lifetime ended before the capture.", ("hold_id",)),
    Reason("CAPTURE_EXCEEDS_HOLD", "FAILED_PRECONDITION", "The capture asks for more points than the hold holds.",
           ("hold_id",)),
    Reason("NOT_REVERSIBLE", "FAILED_PRECONDITION",
           "The transaction is of a kind that is never reversed (only earn, redeem and capture are).",
           ("transaction_id",)),
    Reason("EXCEEDS_REVERSIBLE", "FAILED_PRECONDITION",
           "More points are asked back than the transaction has left to reverse (or nothing is left): previous "
           "reversals already took them.", ("transaction_id",)),
    Reason("POINTS_ALREADY_SPENT", "FAILED_PRECONDITION",
           "An earn's reversal asks for more points than are still unspent in its lot: the member spent them. "
           "Reverse at most remaining_reversible_points, or first reverse the redemption that spent them.",
           ("transaction_id",)),
    Reason("DISPUTE_WINDOW_CLOSED", "FAILED_PRECONDITION", "The statement's response window has closed.",
           ("statement_id",)),
    Reason("STATEMENT_DISPUTED", "FAILED_PRECONDITION", "A disputed statement cannot be acknowledged.",
           ("statement_id",)),
    Reason("STATEMENT_ACKNOWLEDGED", "FAILED_PRECONDITION", "An acknowledged statement cannot be disputed.",
           ("statement_id",)),
    Reason("STATEMENT_ALREADY_DISPUTED", "FAILED_PRECONDITION", "The statement was already disputed (once only).",
           ("statement_id",)),
    Reason("TOO_MANY_KEYS", "FAILED_PRECONDITION", "The partner already has two active keys: revoke one first.",
           source=OPERATOR),
    Reason("DISPUTE_RESOLVED", "FAILED_PRECONDITION", "The dispute was already resolved.", source=OPERATOR),
    # --- members' transfers and donations (network.store.transfers; shown by the member portal) ----------------
    Reason("RECIPIENT_UNKNOWN", "NOT_FOUND", "No member with that card number or member id to transfer to.",
           ("recipient",), source=MEMBER),
    Reason("TRANSFER_TO_SELF", "FAILED_PRECONDITION", "A member cannot transfer points to themselves.",
           ("member_id",), source=MEMBER),
    Reason("TRANSFER_BELOW_MINIMUM", "FAILED_PRECONDITION",
           "The transfer is smaller than the network's minimum transfer (`minimum` points).", ("minimum",),
           source=MEMBER),
    Reason("TRANSFER_LIMIT_EXCEEDED", "FAILED_PRECONDITION",
           "The transfer would pass one of the member's transfer limits: `limit` names it (transfers_per_day, "
           "points_per_day, points_per_month; days and months in UTC) and `allowed` is its value.",
           ("limit", "allowed"), source=MEMBER),
    Reason("NOT_A_CHARITY", "FAILED_PRECONDITION",
           "The partner named does not accept donations: no such partner, not flagged as a charity by the operator, "
           "or suspended.", ("partner_id",), source=MEMBER),
    # --- ALREADY_EXISTS ------------------------------------------------------------------------------------------
    Reason("TOO_MANY_WEBHOOK_ENDPOINTS", "FAILED_PRECONDITION",
           "The partner already has the most webhook endpoints allowed (`limit`): delete one first.", ("limit",)),
    Reason("WEBHOOK_ENDPOINT_DISABLED", "FAILED_PRECONDITION",
           "The webhook endpoint is disabled (by the partner, an operator, or the network after its retries ran "
           "out): enable it before replaying events to it.", ("endpoint_id",)),
    Reason("IDEMPOTENCY_KEY_REUSED", "ALREADY_EXISTS",
           "The request_id was already used by this partner for a different request (another method or other "
           "bytes); nothing was written.", ("request_id",)),
    Reason("CUSTOMER_REF_TAKEN", "ALREADY_EXISTS", "The customer_ref is enrolled with another card."),
    Reason("PARTNER_EXISTS", "ALREADY_EXISTS", "A partner with that id exists.", source=OPERATOR),
    Reason("KEY_EXISTS", "ALREADY_EXISTS", "The key id is taken.", source=OPERATOR),
    # --- the loyalty programme: campaign and tier definitions (operator: CLI, console; a partner: its own) ------
    Reason("CAMPAIGN_ID_INVALID", "INVALID_ARGUMENT", "A campaign id is 1 to 64 characters."),
    Reason("CAMPAIGN_KIND_INVALID", "INVALID_ARGUMENT",
           "A campaign's kind is earn, signup, referral, anniversary or birthday.", source=OPERATOR),
    Reason("CAMPAIGN_FUNDING_INVALID", "INVALID_ARGUMENT",
           "A campaign names its funders once each, with positive shares summing to 10000 basis points, each a "
           "partner with a contract (or `network`)."),
    Reason("CAMPAIGN_EFFECT_INVALID", "INVALID_ARGUMENT",
           "A campaign gives a multiplier, fixed points or both, none negative; a lifecycle bonus fixed points "
           "only."),
    Reason("CAMPAIGN_CAP_INVALID", "INVALID_ARGUMENT",
           "A cap is a positive number of points per campaign, day or month."),
    Reason("CAMPAIGN_BUDGET_INVALID", "INVALID_ARGUMENT", "A budget is a positive number of points."),
    Reason("CAMPAIGN_WINDOW_INVALID", "INVALID_ARGUMENT",
           "The window ends after it starts; weekdays are 0 to 6; hours are FROM-TO with 0 <= FROM < TO <= 24."),
    Reason("CAMPAIGN_CONDITION_INVALID", "INVALID_ARGUMENT",
           "The minimum basket is not negative; a segment is new or lapsed with a positive number of days, or "
           "birthday."),
    Reason("TIER_INVALID", "INVALID_ARGUMENT",
           "Tier ranks are unique, thresholds rise with rank, multipliers are at least 10000 basis points (x1).",
           source=OPERATOR),
    Reason("CAMPAIGN_NOT_FOUND", "NOT_FOUND", "No campaign with that id.", ("campaign_id",), ("campaign",)),
    Reason("CAMPAIGN_STATUS_CONFLICT", "FAILED_PRECONDITION",
           "The campaign's status does not allow it: pause an active one, resume a paused one; an ended one stays "
           "ended.", ("campaign_id", "status")),
    Reason("CAMPAIGN_EXISTS", "ALREADY_EXISTS", "A campaign with that id exists."),
    # --- retryable -----------------------------------------------------------------------------------------------
    Reason("CONFLICT_RETRY", "ABORTED", "A concurrent update conflicted; retry with the same bytes."),
    Reason("DATABASE_UNAVAILABLE", "UNAVAILABLE", "The ledger database is briefly unavailable; retry."),
    Reason("COMMIT_TIMEOUT", "UNAVAILABLE",
           "The earn's commit did not end in time; it may still commit: retry with the same bytes (the same "
           "request_id) to get its stored response."),
    # --- raised by the partner SDKs themselves, never sent by the network -----------------------------------------
    Reason("RECEIPT_INVALID", "UNKNOWN",
           "The network's receipt on a response (or refusal) is missing, unverifiable or does not match: do not "
           "trust the response; the call may have been executed, so retry with the same request_id.", source=SDK),
    Reason("RESPONSE_UNPARSABLE", "INTERNAL", "The response bytes do not parse as the method's response.",
           source=SDK),
    Reason("PAGE_TOKEN_REPEATED", "INTERNAL", "The network returned a page token twice while listing.", source=SDK),
    Reason("STATEMENT_SIGNATURE_INVALID", "UNKNOWN",
           "A statement's network signature does not verify (partners.signing.SignatureError).", source=SDK),
    Reason("EVENT_SEQUENCE_GAP", "INTERNAL",
           "WatchEvents skipped a sequence number: stop, and read the missing events with ListEvents.", source=SDK),
    Reason("EVENT_SIGNATURE_INVALID", "UNKNOWN",
           "An event's network signature does not verify, or its signed bytes do not parse as an Event: do not act "
           "on it; read it again with ListEvents (partners.signing.SignatureError).", source=SDK),
)

BY_NAME: Mapping[str, Reason] = {reason.name: reason for reason in REASONS}
assert len(BY_NAME) == len(REASONS), "a reason is listed twice"


class UncataloguedReason(AssertionError):
    """A refusal whose reason, code or metadata keys the catalogue does not list."""


def problem(code_name: str, reason: str, metadata_keys) -> str | None:
    """What is wrong with a refusal against the catalogue (None: it matches)."""
    entry = BY_NAME.get(reason)
    if entry is None:
        return f"reason {reason!r} is not in partners/reasons.py"
    if entry.code != code_name:
        return f"reason {reason} is catalogued as {entry.code}, raised as {code_name}"
    extra = set(metadata_keys) - entry.allowed_keys()
    if extra:
        return f"reason {reason} carries metadata keys {sorted(extra)} the catalogue does not list"
    missing = set(entry.metadata) - set(metadata_keys)
    if missing:
        return f"reason {reason} lacks the catalogued metadata keys {sorted(missing)}"
    return None


# --- docs/errors.md -------------------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
_SOURCE_TITLES = {
    NETWORK: "Sent by the network to partners (NetworkService, SettlementService)",
    OPERATOR: "Sent by the network to the operator (AdminService, console)",
    MEMBER: "Raised to members (the member portal's transfers and donations) as network.errors.DomainError",
    SDK: "Raised by the partner SDKs (Python partners/, TypeScript partners/typescript/), never sent on the wire",
}


def render() -> str:
    lines = [
        "# Error reasons",
        "",
        "<!-- Generated by `python -m partners.reasons` from partners/reasons.py: do not edit by hand. -->",
        "",
        "Every refusal is a gRPC status with a `google.rpc.ErrorInfo` (domain `coalition.network`) whose `reason` is",
        "one of the names below, with exactly the `metadata` keys listed (string values). Switch on the code first and",
        "the reason second; treat a reason you do not know by its code (new reasons may be added). **Retry** only",
        "the retryable codes (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, `ABORTED`, `RESOURCE_EXHAUSTED`), resending the",
        "same bytes with a fresh signature; every other refusal is final: fix the request. A refusal writes nothing,",
        "and a refused `request_id` is not used up (see docs/partner-guide.md). Every refusal of a mutating call",
        "carries a signed refusal receipt (protos/SIGNING.md section 3.1).",
        "",
        "Metadata keys name ids as `<thing>_id`. NOT_FOUND reasons also still send the key they used before,",
        "`<thing>` (e.g. `member` for MEMBER_NOT_FOUND), with the same value: it is deprecated (listed as legacy)",
        "and will be dropped in a future version of the API; read `<thing>_id`.",
        "",
    ]
    for source in (NETWORK, OPERATOR, MEMBER, SDK):
        lines += [f"## {_SOURCE_TITLES[source]}", "",
                  "| reason | code | retry | metadata keys | meaning |", "|---|---|---|---|---|"]
        for r in REASONS:
            if r.source != source:
                continue
            keys = ", ".join(f"`{k}`" for k in r.metadata)
            if r.optional:
                keys = ", ".join(filter(None, [keys, ", ".join(f"`{k}`" for k in r.optional) + " (as said)"]))
            if r.legacy:
                keys += "; legacy " + ", ".join(f"`{k}`" for k in r.legacy)
            lines.append(f"| `{r.name}` | `{r.code}` | {'yes' if r.retryable else 'no'} | {keys or '-'} "
                         f"| {r.meaning} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m partners.reasons", description="Write docs/errors.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/errors.md is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is stale: run python -m partners.reasons", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
