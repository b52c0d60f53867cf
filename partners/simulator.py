"""A point-of-sale simulator: realistic signed traffic from several partners through the partner SDK.

    simulator = PosSimulator("localhost:50051", key_files, members_by_partner, rate_per_second=8, seed=7)
    simulator.start()            # a background thread; or simulator.run(stop_event) in your own
    ...
    simulator.stop()
    print(simulator.stats())     # {"earn": {"ok": 412}, "redeem": {"ok": 80, "INSUFFICIENT_POINTS": 3}, ...}

What it sends, at about `rate_per_second` operations per second (an operation may be several calls, as at a
real till: look up the balance, then pay with points):

- purchases that earn points (random baskets in each store's range),
- redemptions, at the member's home brand and across brands: a member known at one brand joins a second
  brand by card number (EnrollMember with card_number), then spends points there,
- two-phase payments: AuthorizeRedemption, then CaptureRedemption (sometimes for less) or VoidRedemption,
- returns: a purchase reversed (whole or in part) and a redemption reversed in part,
- now and then a BatchEarn from an "offline terminal" uploading the purchases it kept while offline,
- the odd refused call on purpose (more points than the member has; an idempotency key reused with another
  body). Refusals and errors are counted by reason, never raised: the simulator keeps going.

Bounded: it remembers at most `memory` recent transactions for returns, and `run` ends when the stop event is
set or after `max_operations`. It imports only the SDK (partners) and the wire contract (protos).
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Callable, Mapping, Protocol, Sequence

from partners.client import PartnerClient, earn_request
from partners.errors import CoalitionError, error_from_status

log = logging.getLogger(__name__)

OK = "ok"


class Credentials(Protocol):
    """What the simulator needs of a partner key (partners.keyfile.KeyFile has it)."""

    partner_id: str
    key_id: str
    target: str

    def private_key(self): ...


@dataclass(frozen=True)
class SimMember:
    member_id: str
    card_number: str
    # The member's spending PIN, as they type it at the till; "" when the till spends without one (the network allows
    # that only up to the contract's limit, for members enrolled at the partner's own till).
    pin: str = ""


@dataclass(frozen=True)
class StoreProfile:
    """How a partner's tills behave: basket sizes, its contract's cap on paying with points, whether it issues."""

    basket_min_minor: int = 500
    basket_max_minor: int = 6000
    currency: str = "EUR"
    max_basket_share_bps: int = 10000  # the contract's cap on the share of a basket payable with points
    issues_points: bool = True  # a charity accepts points as donations but awards none
    stores: int = 3


# Operation kinds and their relative weights.
WEIGHTS: dict[str, int] = {
    "earn": 44,
    "balance": 8,
    "redeem": 12,
    "cross_brand_redeem": 7,
    "hold": 10,
    "return_purchase": 6,
    "return_redemption": 4,
    "offline_batch": 4,
    "refused_insufficient": 3,
    "refused_reused_key": 2,
}


@dataclass
class _Recent:
    partner_id: str
    member_id: str
    transaction_id: str
    points: int
    request_id: str = ""
    amount_minor: int = 0


class PosSimulator:
    """Signed POS traffic for several partners; see the module docstring. Not shared between threads."""

    def __init__(
        self,
        target: str,
        partners: Sequence[Credentials],
        members_by_partner: Mapping[str, Sequence[SimMember]],
        rate_per_second: float = 5.0,
        seed: int | None = None,
        *,
        profiles: Mapping[str, StoreProfile] | None = None,
        point_value_minor: Decimal = Decimal(1),
        max_operations: int | None = None,
        memory: int = 500,
        timeout: float = 5.0,
        client_factory: Callable[[Credentials], PartnerClient] | None = None,
    ):
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if not partners:
            raise ValueError("the simulator needs at least one partner")
        self.rate_per_second = rate_per_second
        self.max_operations = max_operations
        self._rng = random.Random(seed)
        self._point_value = Decimal(point_value_minor)
        self._profiles = dict(profiles or {})
        self._partner_ids = [p.partner_id for p in partners]
        factory = client_factory or (lambda creds: PartnerClient(
            target or creds.target, creds.key_id, creds.private_key(), timeout=timeout, max_attempts=3))
        self._clients = {p.partner_id: factory(p) for p in partners}
        self._members: dict[str, list[SimMember]] = {pid: list(members_by_partner.get(pid, ())) for pid in self._partner_ids}
        self._enrolled: dict[str, set[str]] = {pid: {m.member_id for m in ms} for pid, ms in self._members.items()}
        self._by_id: dict[str, SimMember] = {m.member_id: m for ms in self._members.values() for m in ms}
        self._earns: collections.deque[_Recent] = collections.deque(maxlen=memory)
        self._redemptions: collections.deque[_Recent] = collections.deque(maxlen=memory)
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._calls = 0
        self._operations = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kinds = list(WEIGHTS)
        self._weights = [WEIGHTS[k] for k in self._kinds]
        if not any(self._members.values()):
            raise ValueError("the simulator needs members to serve")

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "PosSimulator":
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), daemon=True, name="pos-simulator")
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread (the call in flight finishes) and close the clients."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("POS simulator did not stop within %.1f s", timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def run(self, stop: threading.Event) -> None:
        """Send operations at rate_per_second until `stop` is set (or max_operations are done)."""
        interval = 1.0 / self.rate_per_second
        next_at = time.monotonic()
        while not stop.is_set():
            if self.max_operations is not None and self._operations >= self.max_operations:
                return
            self.step()
            next_at = max(next_at + interval, time.monotonic() - 1.0)  # no burst to catch up after a stall
            stop.wait(max(0.0, next_at - time.monotonic()))

    # --- statistics --------------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, int]]:
        """Calls by kind and outcome ("ok" or the refusal's reason / error code)."""
        with self._lock:
            found: dict[str, dict[str, int]] = {}
            for (kind, outcome), count in sorted(self._counts.items()):
                found.setdefault(kind, {})[outcome] = count
            return found

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def operations(self) -> int:
        return self._operations

    def _count(self, kind: str, outcome: str, call: bool = True) -> None:
        with self._lock:
            self._counts[(kind, outcome)] += 1
            self._calls += call

    def _call(self, kind: str, call: Callable[[], object]):
        """Run one SDK call; count it; a refusal or error is counted by reason and returns None."""
        try:
            result = call()
        except CoalitionError as exc:
            self._count(kind, exc.reason or exc.code.name)
            return None
        except Exception as exc:  # noqa: BLE001 - the simulator counts every failure and keeps going
            log.warning("simulator %s failed: %s", kind, exc, exc_info=True)
            self._count(kind, f"error:{type(exc).__name__}")
            return None
        self._count(kind, OK)
        return result

    # --- one operation -----------------------------------------------------------------------------

    def step(self) -> str:
        """Perform one randomly chosen operation; return its kind."""
        kind = self._rng.choices(self._kinds, self._weights)[0]
        getattr(self, "_op_" + kind)()
        self._operations += 1
        return kind

    def _profile(self, partner_id: str) -> StoreProfile:
        return self._profiles.get(partner_id) or StoreProfile()

    def _issuers(self) -> list[str]:
        return [p for p in self._partner_ids if self._profile(p).issues_points and self._members[p]]

    def _member_of(self, partner_id: str) -> SimMember:
        return self._rng.choice(self._members[partner_id])

    def _basket(self, partner_id: str) -> int:
        profile = self._profile(partner_id)
        return self._rng.randint(profile.basket_min_minor, profile.basket_max_minor)

    def _till(self, partner_id: str) -> dict[str, str]:
        store = self._rng.randint(1, self._profile(partner_id).stores)
        return {"store_id": f"{partner_id}-store-{store}", "terminal_id": f"till-{store}-{self._rng.randint(1, 4)}",
                "receipt_ref": f"r-{uuid.uuid4().hex[:12]}"}

    def _max_points(self, partner_id: str, basket_minor: int) -> int:
        """The most points the contract lets pay for this basket (its max basket share)."""
        share = self._profile(partner_id).max_basket_share_bps
        value_minor = Decimal(basket_minor) * share / 10000
        return int((value_minor / self._point_value).to_integral_value(ROUND_FLOOR))

    def _available(self, partner_id: str, member: SimMember) -> int | None:
        balance = self._call("balance", lambda: self._clients[partner_id].get_balance(member.member_id))
        return None if balance is None else balance.available_points

    def _op_earn(self) -> None:
        issuers = self._issuers()
        if not issuers:
            return
        partner_id = self._rng.choice(issuers)
        member = self._member_of(partner_id)
        amount = self._basket(partner_id)
        request_id = uuid.uuid4().hex
        till = self._till(partner_id)
        response = self._call("earn", lambda: self._clients[partner_id].earn(
            member.member_id, amount_minor=amount, currency=self._profile(partner_id).currency,
            request_id=request_id, **till))
        if response is not None:
            self._earns.append(_Recent(partner_id, member.member_id, response.transaction_id, response.points,
                                       request_id, amount))

    def _op_balance(self) -> None:
        partner_id = self._rng.choice([p for p in self._partner_ids if self._members[p]])
        self._available(partner_id, self._member_of(partner_id))

    def _spend(self, partner_id: str, member: SimMember, two_phase: bool) -> None:
        available = self._available(partner_id, member)
        if not available:
            return
        profile = self._profile(partner_id)
        basket = self._basket(partner_id)
        cap = min(available, self._max_points(partner_id, basket))
        if cap < 1:
            return
        points = self._rng.randint(max(1, cap // 4), cap)
        client = self._clients[partner_id]
        basket_arg = {} if profile.max_basket_share_bps >= 10000 and not profile.issues_points else {
            "basket_minor": basket, "currency": profile.currency}
        if not two_phase:
            response = self._call("redeem", lambda: client.redeem(member.member_id, points, **basket_arg,
                                                                  **self._till(partner_id), pin=member.pin or None))
            if response is not None:
                self._redemptions.append(_Recent(partner_id, member.member_id, response.transaction_id, points))
            return
        hold = self._call("authorize", lambda: client.authorize_redemption(
            member.member_id, points, hold_ttl_seconds=300, **basket_arg, **self._till(partner_id),
            pin=member.pin or None))
        if hold is None:
            return
        if self._rng.random() < 0.25:  # the customer changed their mind
            self._call("void", lambda: client.void_redemption(hold.hold_id))
            return
        captured = points if self._rng.random() < 0.7 else self._rng.randint(1, points)  # final basket smaller
        response = self._call("capture", lambda: client.capture_redemption(hold.hold_id, captured))
        if response is not None:
            self._redemptions.append(_Recent(partner_id, member.member_id, response.transaction_id, captured))

    def _op_redeem(self) -> None:
        partner_id = self._rng.choice([p for p in self._partner_ids if self._members[p]])
        self._spend(partner_id, self._member_of(partner_id), two_phase=False)

    def _op_hold(self) -> None:
        partner_id = self._rng.choice([p for p in self._partner_ids if self._members[p]])
        self._spend(partner_id, self._member_of(partner_id), two_phase=True)

    def _op_cross_brand_redeem(self) -> None:
        """A member of brand A shows their card at brand B: B enrolls them by card number, then they pay."""
        issuers = self._issuers()
        if not issuers or len(self._partner_ids) < 2:
            return
        home = self._rng.choice(issuers)
        member = self._member_of(home)
        elsewhere = [p for p in self._partner_ids if p != home]
        other = self._rng.choice(elsewhere)
        if member.member_id not in self._enrolled[other]:
            enrolled = self._call("enroll_by_card", lambda: self._clients[other].enroll_member(
                card_number=member.card_number))
            if enrolled is None:
                return
            self._members[other].append(member)
            self._enrolled[other].add(member.member_id)
        self._spend(other, member, two_phase=self._rng.random() < 0.3)

    def _op_return_purchase(self) -> None:
        if not self._earns:
            return
        earn = self._earns[self._rng.randrange(len(self._earns))]
        self._earns.remove(earn)
        points = 0 if self._rng.random() < 0.5 else max(1, earn.points // 2)  # 0: the whole purchase
        self._call("return_purchase", lambda: self._clients[earn.partner_id].reverse(
            earn.transaction_id, points, reason="customer return", member_id=earn.member_id))

    def _op_return_redemption(self) -> None:
        if not self._redemptions:
            return
        spent = self._redemptions[self._rng.randrange(len(self._redemptions))]
        self._redemptions.remove(spent)
        points = max(1, spent.points // self._rng.choice((1, 2, 3)))
        self._call("return_redemption", lambda: self._clients[spent.partner_id].reverse(
            spent.transaction_id, points, reason="item returned", member_id=spent.member_id))

    def _op_offline_batch(self) -> None:
        """A terminal that lost its connection uploads the purchases it kept, in one BatchEarn."""
        issuers = self._issuers()
        if not issuers:
            return
        partner_id = self._rng.choice(issuers)
        profile = self._profile(partner_id)
        terminal = f"offline-{self._rng.randint(1, 3)}"
        items = []
        for _ in range(self._rng.randint(5, 25)):
            member = self._member_of(partner_id)
            items.append(earn_request(member.member_id, amount_minor=self._basket(partner_id), currency=profile.currency,
                                      receipt_ref=f"r-{uuid.uuid4().hex[:12]}", store_id=f"{partner_id}-store-1",
                                      terminal_id=terminal))
        response = self._call("offline_batch", lambda: self._clients[partner_id].batch_earn(items))
        if response is None:
            return
        for item, result in zip(items, response.results):
            if result.HasField("earned"):
                self._earns.append(_Recent(partner_id, item.member_id, result.earned.transaction_id,
                                           result.earned.points, item.request_id))
            else:
                error = error_from_status(result.error)
                self._count("offline_batch_item", error.reason or error.code.name, call=False)

    def _op_refused_insufficient(self) -> None:
        """A cashier keys in more points than the member has: the network refuses with INSUFFICIENT_POINTS."""
        partner_id = self._rng.choice([p for p in self._partner_ids if self._members[p]])
        member = self._member_of(partner_id)
        available = self._available(partner_id, member)
        if available is None:
            return
        points = available + self._rng.randint(1, 500)
        share = self._profile(partner_id).max_basket_share_bps or 1
        basket = int(Decimal(points) * self._point_value * 10000 / share) + 100  # within the basket cap
        self._call("redeem", lambda: self._clients[partner_id].redeem(
            member.member_id, points, basket_minor=basket, currency=self._profile(partner_id).currency,
            **self._till(partner_id), pin=member.pin or None))

    def _op_refused_reused_key(self) -> None:
        """A buggy till reuses a request_id for another purchase: refused with IDEMPOTENCY_KEY_REUSED."""
        previous = [e for e in self._earns if e.request_id and e.amount_minor]
        if not previous:
            return
        earn = self._rng.choice(previous)
        self._call("earn", lambda: self._clients[earn.partner_id].earn(
            earn.member_id, amount_minor=earn.amount_minor + 100, currency=self._profile(earn.partner_id).currency,
            request_id=earn.request_id))


__all__ = ["PosSimulator", "SimMember", "StoreProfile", "WEIGHTS"]
