"""Partner keys: who is calling. The key directory (partner keys by id, cached, emptied by PostgreSQL NOTIFY)
authenticates a signed request; `key_status_refusal` re-checks a cached caller against the key and partner
status read inside a write transaction."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Engine, text

from network import errors
from network.admin import KEYS_CHANNEL
from network.errors import DomainError
from network.store.notify import ChannelListener
from partners import signing
from partners.sodium import SodiumVerifyKey


@dataclass(frozen=True)
class Caller:
    partner_id: str
    key_id: str


class NotCached(Exception):
    """The key is not in the cache (and the caller may not wait for the database on this thread)."""


@dataclass(frozen=True)
class _KeyRecord:
    partner_id: str
    public_key: object
    active: bool
    partner_active: bool


class KeyDirectory:
    """Partner keys by id, cached; PostgreSQL NOTIFY on every key or partner-status change empties the cache.

    A revoked key or a suspended partner fails at once on every server: the change commits together with its
    NOTIFY, and a listener thread clears the cache when it arrives. While the listener is not connected (at
    start, after a lost connection) the cache is bypassed and every request reads the key from the database.
    """

    def __init__(self, engine: Engine, *, listen: bool = True):
        self._engine = engine
        self._lock = threading.Lock()
        self._cache: dict[str, _KeyRecord] = {}
        self._listener = ChannelListener(engine, KEYS_CHANNEL, self.invalidate, name="key-listener") if listen else None

    @property
    def _listening(self) -> bool:
        return self._listener is not None and self._listener.connected.is_set()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def _record(self, key_id: str, cached_ok: bool, cache_only: bool = False) -> _KeyRecord | None:
        cached = self._cache.get(key_id) if cached_ok and self._listening else None
        if cached is not None and cached.active and cached.partner_active:
            return cached  # a cached refusal (revoked, suspended) is never trusted: it is read again below, so a
            # resumed partner is served before the NOTIFY that empties the cache arrives
        if cache_only:
            raise NotCached(key_id)
        with self._engine.connect() as conn:
            row = conn.execute(text("SELECT k.partner_id, k.public_key, k.status, p.status AS partner_status "
                                    "FROM partner_keys k JOIN partners p USING (partner_id) WHERE k.key_id = :k"),
                               {"k": key_id}).first()
        if row is None:
            return None
        # the verify key object is built once per key and cached with it; libsodium verifies (partners.sodium)
        record = _KeyRecord(row.partner_id, SodiumVerifyKey(bytes(row.public_key)),
                            row.status == "active", row.partner_status == "active")
        if self._listening:
            with self._lock:
                self._cache[key_id] = record
        return record

    def authenticate(self, method: str, metadata, body: bytes, *, cached_ok: bool = False,
                     cache_only: bool = False) -> Caller:
        """Verify the request and find its partner. With `cached_ok` the key may come from the cache: only for
        calls whose write transaction checks the key and partner status again (see network.store.earn).
        With `cache_only`, a key that is not cached raises NotCached instead of being read from the database."""
        found: dict[str, _KeyRecord] = {}

        def public_key_for(key_id: str):
            record = self._record(key_id, cached_ok, cache_only)
            if record is None:
                raise signing.SignatureError("KEY_UNKNOWN", f"key {key_id} is not registered")
            if not record.active:
                raise signing.SignatureError("KEY_REVOKED", f"key {key_id} is revoked")
            found[key_id] = record
            return record.public_key

        try:
            key_id = signing.verify_request(signing.collect_metadata(metadata), method, body, public_key_for)
        except signing.SignatureError as exc:
            raise errors.unauthenticated(exc.reason, str(exc), **exc.metadata) from None
        record = found[key_id]
        if not record.partner_active:
            raise errors.denied("PARTNER_SUSPENDED", f"partner {record.partner_id} is suspended")
        return Caller(record.partner_id, key_id)


def key_status_refusal(caller: Caller, key_status: str, partner_status: str) -> DomainError | None:
    """Why a caller authenticated from the key cache is refused now, given its key's and partner's status."""
    if key_status != "active":
        return errors.unauthenticated("KEY_REVOKED", f"key {caller.key_id} is revoked")
    if partner_status != "active":
        return errors.denied("PARTNER_SUSPENDED", f"partner {caller.partner_id} is suspended")
    return None
