"""Proxy keys: one per person or service, each with its own budgets and allowed tiers.

Keys live in the ledger's database (table `api_keys`), so every proxy process and host on a
shared PostgreSQL ledger sees the same keys. Only a SHA-256 digest of a key is stored: keys
are 192 random bits, so a fast hash is as safe as a slow one and costs microseconds per
request. The key itself is shown once, by `modelrouter keys create`; a lost key is revoked
and created again. A key's spend is the sum of the ledger rows attributed to its name, so
`keys create` after `keys revoke` under the same name keeps that person's history.

`KeyStore.check(secret)` is what the proxy asks on every request; answers are cached for
`CACHE_S` seconds, so a revocation takes effect on every process within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from modelrouter.budget import Limit
from modelrouter.errors import LedgerError, ProxyKeyError
from modelrouter.ledger import Ledger

KEY_PREFIX = "mr-"
PREFIX_CHARS = 8  # how much of a key `keys list` shows to tell keys apart
CACHE_S = 5.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class ProxyKey:
    """One proxy key as stored (never the key itself)."""

    name: str
    prefix: str
    created: float
    revoked: float | None = None
    daily_usd: float | None = None
    monthly_usd: float | None = None
    tiers: tuple[str, ...] = ()  # empty: every tier

    @property
    def active(self) -> bool:
        return self.revoked is None

    def limit(self) -> Limit | None:
        """The key's dollar budgets, for reservations; None when it has none."""
        if self.daily_usd is None and self.monthly_usd is None:
            return None
        return Limit("key_name", self.name, self.daily_usd, self.monthly_usd)

    def allows(self, tier: str) -> bool:
        """Whether requests under this key may use `tier`."""
        return not self.tiers or tier in self.tiers

    def tier_for(self, tier: str, order: Sequence[str]) -> str:
        """The tier a request routed to `tier` runs on under this key: `tier` itself when
        allowed, else the strongest allowed tier below it, else the cheapest allowed one.
        `order` is the rules' tiers, cheapest first."""
        allowed = [t for t in order if self.allows(t)]
        if not allowed or tier in allowed:
            return tier
        rank = list(order).index(tier) if tier in order else len(order)
        below = [t for t in allowed if list(order).index(t) < rank]
        return below[-1] if below else allowed[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "created": self.created,
            "revoked": self.revoked,
            "daily_usd": self.daily_usd,
            "monthly_usd": self.monthly_usd,
            "tiers": list(self.tiers),
        }


def digest(secret: str) -> str:
    """What is stored for a key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh key: `mr-` and 32 URL-safe characters (192 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def _key(row: object) -> ProxyKey:
    r: dict = dict(row)  # type: ignore[call-overload]
    tiers = tuple(t for t in (r["tiers"] or "").split(",") if t)
    return ProxyKey(
        name=r["name"],
        prefix=r["prefix"],
        created=float(r["created"]),
        revoked=r["revoked"],
        daily_usd=r["daily_usd"],
        monthly_usd=r["monthly_usd"],
        tiers=tiers,
    )


_COLUMNS = "name, prefix, created, revoked, daily_usd, monthly_usd, tiers"


def create_key(
    ledger: Ledger,
    name: str,
    *,
    daily_usd: float | None = None,
    monthly_usd: float | None = None,
    tiers: Sequence[str] = (),
) -> tuple[ProxyKey, str]:
    """Create key `name`; returns it and the secret (to show once). Raises ProxyKeyError.

    A revoked key's name may be used again: the new key replaces it and keeps its history.
    """
    if not _NAME.match(name):
        raise ProxyKeyError(
            f"invalid key name {name!r}: use up to 64 letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )
    for amount in (daily_usd, monthly_usd):
        if amount is not None and not amount >= 0:
            raise ProxyKeyError(f"a budget must be a number of dollars >= 0, not {amount}")
    secret = new_secret()
    now = time.time()
    values = (
        digest(secret),
        secret[: len(KEY_PREFIX) + PREFIX_CHARS],
        now,
        daily_usd,
        monthly_usd,
        ",".join(tiers) or None,
    )
    with ledger.transaction() as conn:
        row = conn.one("SELECT revoked FROM api_keys WHERE name = ?", (name,))
        if row is not None and row["revoked"] is None:
            raise ProxyKeyError(f"key {name!r} exists; revoke it first to replace it")
        if row is None:
            conn.run(
                "INSERT INTO api_keys (hash, prefix, created, daily_usd, monthly_usd, tiers,"
                " name) VALUES (?,?,?,?,?,?,?)",
                (*values, name),
            )
        else:
            conn.run(
                "UPDATE api_keys SET hash = ?, prefix = ?, created = ?, daily_usd = ?,"
                " monthly_usd = ?, tiers = ?, revoked = NULL WHERE name = ?",
                (*values, name),
            )
    key = ProxyKey(name, values[1], now, None, daily_usd, monthly_usd, tuple(tiers))
    return key, secret


def list_keys(ledger: Ledger, *, include_revoked: bool = False) -> list[ProxyKey]:
    """Every key, by name (revoked ones only when asked)."""
    where = "" if include_revoked else " WHERE revoked IS NULL"
    return [_key(r) for r in ledger.query(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY name")]


def revoke_key(ledger: Ledger, name: str) -> ProxyKey:
    """Revoke key `name` at once (every process stops accepting it within CACHE_S)."""
    with ledger.transaction() as conn:
        changed = conn.run(
            "UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL",
            (time.time(), name),
        )
        row = conn.one(f"SELECT {_COLUMNS} FROM api_keys WHERE name = ?", (name,))
    if row is None:
        raise ProxyKeyError(f"no key named {name!r}")
    if not changed:
        raise ProxyKeyError(f"key {name!r} is already revoked")
    return _key(row)


def has_keys(ledger: Ledger) -> bool:
    """Whether keys are in use: then the proxy requires a valid one on every request.

    Revoked keys count: revoking the last key must lock the proxy, not open it.
    """
    return bool(ledger.query("SELECT 1 AS one FROM api_keys LIMIT 1"))


class KeyStore:
    """The proxy's view of the keys: `check(secret)` on every request, cached; blocks."""

    def __init__(self, ledger: Ledger, *, cache_s: float = CACHE_S) -> None:
        self.ledger = ledger
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._by_hash: dict[str, tuple[float, ProxyKey | None]] = {}
        self._by_name: dict[str, ProxyKey] = {}
        self._required: tuple[float, bool] | None = None

    def cached_check(self, secret: str) -> tuple[bool, ProxyKey | None]:
        """(True, what `check` would return) when that is cached and fresh; else (False,
        None): `check` must read the ledger. Never blocks, so it may run on the event loop."""
        with self._lock:
            cached = self._by_hash.get(digest(secret))
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return True, cached[1]
        return False, None

    def cached_required(self) -> bool | None:
        """What `required` would return when that is cached and fresh, else None. Never
        blocks."""
        with self._lock:
            cached = self._required
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        return None

    def check(self, secret: str) -> ProxyKey | None:
        """The active key `secret` is, or None. Raises LedgerError when the keys cannot be
        read and nothing is cached (the proxy answers 503, never lets the request in)."""
        h = digest(secret)
        now = time.monotonic()
        with self._lock:
            cached = self._by_hash.get(h)
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        try:
            rows = self.ledger.query(
                f"SELECT {_COLUMNS}, hash FROM api_keys WHERE hash = ? AND revoked IS NULL",
                (h,),
            )
        except LedgerError:
            if cached is not None:
                return cached[1]  # the database is away: the last answer stands
            raise
        key = _key(rows[0]) if rows and hmac.compare_digest(rows[0]["hash"], h) else None
        with self._lock:
            self._by_hash[h] = (now, key)
            if key is not None:
                self._by_name[key.name] = key
        return key

    def required(self) -> bool:
        """Whether keys are in use (`has_keys`), i.e. every request must present one (cached like
        `check`). Raises LedgerError when it cannot be told and nothing is cached."""
        now = time.monotonic()
        with self._lock:
            cached = self._required
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        try:
            answer = has_keys(self.ledger) if self.ledger.exists() else False
        except LedgerError:
            if cached is not None:
                return cached[1]
            raise
        with self._lock:
            self._required = (now, answer)
        return answer

    def limit(self, name: str) -> Limit | None:
        """The dollar budgets of key `name` as last checked (BudgetGuard.key_limit)."""
        with self._lock:
            key = self._by_name.get(name)
        return key.limit() if key is not None else None
