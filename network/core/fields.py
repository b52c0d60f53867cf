"""The kinds of request field: one pure rule per kind, with the examples that show where it accepts and refuses.

Every request field in protos/coalition/v1/*.proto names its kind on the last line of its comment, in a form a
program reads (tests/test_field_kinds.py does):

    // kind: <name>[ <min>..<max>][, optional]

The bounds default to the kind's own; `optional` means the field's empty value ("" or 0) is also accepted, and
means what the comment above it says (none, all, the default). network.validation applies the kind to the field
in every method of NetworkService and SettlementService, before anything is read or written.

  id           1..64 characters of [A-Za-z0-9._:-] (request ids, cycle ids; a statement id takes 1..100)
  reference    0..64 characters of [A-Za-z0-9._:-], a partner's own reference (empty: none)
  uuid         a UUID written as 36 characters, 8-4-4-4-12 hexadecimal digits with hyphens (either case)
  card_number  12..19 ASCII digits whose last is the Luhn check digit of the others
  text         free text: min..max Unicode characters, none of them a control or other unprintable character
               (when at least one is required, not only spaces)
  points       an integer number of points, 1..1,000,000,000 per call
  amount       integer minor units of a currency, 1..10^12
  currency     an ISO 4217 code of a currency the network accepts (three capital letters; CURRENCY_EXPONENT)
  seconds      a duration in whole seconds, min..max
  page_size    how many items a page holds at most, 1..max (optional: 0 means the default)
  page_token   "" or the next_page_token of an earlier page: 1..256 characters of [A-Za-z0-9_=-]
  count        how many items a repeated field holds, min..max
  date         a calendar day written YYYY-MM-DD in ASCII digits (a day that exists: not 2026-02-30)
  sequence     a partner event's sequence number, 0..2^63-1 (0: before the first event)
  digits       min..max ASCII digits 0-9 (a member's PIN 4..8, a one-time redemption code 10..10)

The signature timestamp (x-coalition-timestamp) is not a message field: its rule (integer Unix seconds, within
+-300 s of the network's clock) is partners.signing's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from network.core.ledger import CURRENCY_EXPONENT, MAX_AMOUNT_MINOR, MAX_POINTS_PER_CALL
from network.core.members import luhn_check_digit, valid_card_number

TOKEN_CHARSET = "[A-Za-z0-9._:-]"
_TOKEN = re.compile(r"[A-Za-z0-9._:-]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PAGE_TOKEN = re.compile(r"[A-Za-z0-9_=-]{1,256}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]*")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class FieldKind:
    """A kind with its bounds. `problem(value)` is None when the value is accepted, else what is wrong with it
    (the field violation's description); `examples()` gives values it accepts and values it refuses, at and
    just past each bound."""

    name: str
    low: int = 0
    high: int = 0
    optional: bool = False

    def bounded(self, low: int | None = None, high: int | None = None, optional: bool | None = None) -> "FieldKind":
        return replace(self, low=self.low if low is None else low, high=self.high if high is None else high,
                       optional=self.optional if optional is None else optional)

    def problem(self, value: Any) -> str | None:
        if self.optional and value in ("", 0):
            return None
        return _PROBLEMS[self.name](self, value)

    def examples(self) -> tuple[list[Any], list[Any]]:
        accepted, refused = _EXAMPLES[self.name](self)
        empty = 0 if isinstance((accepted + refused)[0], int) else ""
        if self.optional:
            accepted = [empty, *accepted]
            refused = [v for v in refused if v != empty]
        return accepted, refused


def _token(kind: FieldKind, value: str) -> str | None:
    if not kind.low <= len(value) <= kind.high or not _TOKEN.fullmatch(value):
        return f"must be {kind.low} to {kind.high} characters of {TOKEN_CHARSET}"
    return None


def _uuid(kind: FieldKind, value: str) -> str | None:
    if not _UUID.fullmatch(value):
        return "must be a UUID (36 characters: 8-4-4-4-12 hexadecimal digits with hyphens)"
    return None


def _card_number(kind: FieldKind, value: str) -> str | None:
    if not valid_card_number(value):
        return "must be 12 to 19 digits with a valid Luhn check digit"
    return None


def _text(kind: FieldKind, value: str) -> str | None:
    if not kind.low <= len(value) <= kind.high:
        return f"must be {kind.low} to {kind.high} characters"
    if not value.isprintable():
        return "must not contain control characters"
    if kind.low > 0 and not value.strip():
        return "is required (not only spaces)"
    return None


def _integer(kind: FieldKind, value: int) -> str | None:
    if not kind.low <= value <= kind.high:
        default = " (or 0 for the default)" if kind.optional else ""
        return f"must be between {kind.low} and {kind.high}{default}"
    return None


def _currency(kind: FieldKind, value: str) -> str | None:
    if not _CURRENCY.fullmatch(value) or value not in CURRENCY_EXPONENT:
        return f"must be an ISO 4217 code the network accepts: {', '.join(sorted(CURRENCY_EXPONENT))}"
    return None


def _page_token(kind: FieldKind, value: str) -> str | None:
    if not _PAGE_TOKEN.fullmatch(value):
        return "is not a token this service issued"
    return None


def _count(kind: FieldKind, value: int) -> str | None:
    if not kind.low <= value <= kind.high:
        return f"must hold {kind.low} to {kind.high} items"
    return None


def _date(kind: FieldKind, value: str) -> str | None:
    if _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
            return None
        except ValueError:  # well formed, not a day of the calendar
            pass
    return "must be a date YYYY-MM-DD"


def _digits(kind: FieldKind, value: str) -> str | None:
    if not kind.low <= len(value) <= kind.high or not _DIGITS.fullmatch(value):
        return f"must be {kind.low} to {kind.high} digits 0-9"
    return None


_PROBLEMS = {"id": _token, "reference": _token, "uuid": _uuid, "card_number": _card_number, "text": _text,
             "points": _integer, "amount": _integer, "seconds": _integer, "page_size": _integer,
             "currency": _currency, "page_token": _page_token, "count": _count, "date": _date,
             "sequence": _integer, "digits": _digits}


def _token_examples(kind: FieldKind) -> tuple[list, list]:
    accepted = ["A-z.0_9:x"[:max(kind.low, 1)], "x" * kind.high, "Ab9._:-"[:kind.high]]
    refused = ["x" * (kind.high + 1), "has space", "caf\u00e9", "a/b", "tab\there", "x\n", "\u0430bc"]
    if kind.low > 0:
        refused.append("")
    else:
        accepted.append("")
    return accepted, refused


def _uuid_examples(kind: FieldKind) -> tuple[list, list]:
    return (["0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69", "0192F5B8-5C4E-7CC1-9E5F-2A1D3C4B5A69"],
            ["", "not-a-uuid", "0192f5b85c4e7cc19e5f2a1d3c4b5a69", "{0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69}",
             "urn:uuid:0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69", "0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a6",
             "0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a6g", " 0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69"])


def _card_examples(kind: FieldKind) -> tuple[list, list]:
    def card(body: str) -> str:
        return body + luhn_check_digit(body)
    arabic_indic = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    return ([card("7" * 11), card("411111111111111"), card("7" * 18)],
            ["", card("411111111111111")[:-1] + "0", card("7" * 10), card("7" * 19), "4111 1111 1111 1111",
             card("411111111111111").translate(arabic_indic)])


def _text_examples(kind: FieldKind) -> tuple[list, list]:
    accepted = ["x" * kind.high, "Retour: caf\u00e9 ab\u00eem\u00e9 \u2713"[:kind.high]]
    refused = ["x" * (kind.high + 1), "line\nbreak", "tab\there", "nul\x00", "bidi\u202e"]
    (accepted if kind.low == 0 else refused).extend(["", "   "][:1 if kind.low == 0 else 2])
    return accepted, refused


def _integer_examples(kind: FieldKind) -> tuple[list, list]:
    refused = [kind.low - 1, kind.high + 1, -1, _INT64_MAX] if kind.high < _INT64_MAX else [kind.low - 1, -1]
    return [kind.low, kind.high], list(dict.fromkeys(refused))


def _currency_examples(kind: FieldKind) -> tuple[list, list]:
    return sorted(CURRENCY_EXPONENT)[:2], ["", "eur", "EURO", "E1R", "XAU", "\u20acUR"]


def _page_token_examples(kind: FieldKind) -> tuple[list, list]:
    return [""], ["not a token!", "x" * 257, "caf\u00e9"]


def _date_examples(kind: FieldKind) -> tuple[list, list]:
    return ["2026-11-01", "2026-11-30"], ["", "2026-02-30", "2026-1-01", "20261101", "2026-11-01T00:00",
                                          "\u0662\u0660\u0662\u0666-11-01", " 2026-11-01"]


def _digits_examples(kind: FieldKind) -> tuple[list, list]:
    arabic_indic = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    refused = ["7" * (kind.high + 1), ("12a4567890" * 2)[:kind.high], ("2580" * 5)[:kind.high].translate(arabic_indic),
               " " + "5" * (kind.high - 1)]
    if kind.low > 0:
        refused += ["", "7" * (kind.low - 1)]
    return ["0" * kind.low, "9" * kind.high, ("2580" * 5)[:kind.high]], list(dict.fromkeys(refused))


def _count_examples(kind: FieldKind) -> tuple[list, list]:
    return [kind.low, kind.high], [kind.low - 1, kind.high + 1] if kind.low > 0 else [kind.high + 1]


_EXAMPLES = {"id": _token_examples, "reference": _token_examples, "uuid": _uuid_examples,
             "card_number": _card_examples, "text": _text_examples, "points": _integer_examples,
             "amount": _integer_examples, "seconds": _integer_examples, "page_size": _integer_examples,
             "currency": _currency_examples, "page_token": _page_token_examples, "count": _count_examples,
             "date": _date_examples, "sequence": _integer_examples, "digits": _digits_examples}

# Each kind with its default bounds.
KINDS = {kind.name: kind for kind in (
    FieldKind("id", 1, 64),
    FieldKind("reference", 0, 64),
    FieldKind("uuid"),
    FieldKind("card_number"),
    FieldKind("text", 0, 64),
    FieldKind("points", 1, MAX_POINTS_PER_CALL),
    FieldKind("amount", 1, MAX_AMOUNT_MINOR),
    FieldKind("currency"),
    FieldKind("seconds", 1, _INT64_MAX),
    FieldKind("page_size", 1, 500, optional=True),
    FieldKind("page_token", optional=True),
    FieldKind("count", 1, 1000),
    FieldKind("date"),
    FieldKind("sequence", 0, _INT64_MAX),
    FieldKind("digits", 1, 64),
)}

_TAG = re.compile(r"kind: (?P<name>[a-z_]+)(?: (?P<low>-?\d+)\.\.(?P<high>\d+))?(?P<optional>, optional)?")


def parse_kind(tag: str) -> FieldKind:
    """The kind a `kind: ...` comment names (without the leading `// `)."""
    match = _TAG.fullmatch(tag.strip())
    if match is None or match["name"] not in KINDS:
        raise ValueError(f"not a field kind: {tag!r}")
    kind = KINDS[match["name"]]
    low = int(match["low"]) if match["low"] is not None else None
    high = int(match["high"]) if match["high"] is not None else None
    return kind.bounded(low, high, True if match["optional"] else None)
