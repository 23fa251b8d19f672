"""Budgets and rate limits as routing inputs.

Each backend in the rules may carry ``budget: {daily_usd, monthly_usd, requests_per_hour,
tokens_per_day}``. A backend over any of them is skipped like a cooled-down one, with the
reason shown to the user ("daily budget $5.00 spent ($5.03 today)").

The state is rebuilt from the ledger, so it survives restarts and sees what other processes
(the CLI next to the language server) spent. `blocked_reason` runs on every routing decision
and answers from memory in microseconds: this process's own requests are counted the moment
they are recorded, and the ledger is re-read every `refresh_s` seconds in a background
thread (only the first check, and the first after midnight, read it in place).

"Daily" and "monthly" are calendar days and months in local time; the request rate is a
rolling hour. Spend and tokens count against the backend that answered; the request rate
counts every call made to a backend, failed ones included (the provider counted them too).

Reservations make dollar budgets hold across processes and hosts. Before a backend with a
`daily_usd`/`monthly_usd` budget (or a request under a proxy key with one) is called,
`reserve()` checks the budget and holds the request's estimated maximum cost in one
transaction, serialised with every other checker of the same budget (SQLite's write lock,
PostgreSQL advisory locks). A request is admitted while recorded spend plus the money held by
requests in flight is below the limit; recording the request replaces its hold with the real
cost in one commit (`Ledger.record`), a failed attempt gives it back at once, and a hold of
a crashed process expires after the backend's total timeout. So concurrent requests cannot
all pass a check only one of them should pass, and the worst-case overshoot of a budget is
the cost of the one request admitted last, just under the limit (plus, only if a request
costs more than its estimate, the difference: the estimate counts the prompt and the
backend's `max_output_tokens`). While the database is unreachable no hold can be taken; each
process then enforces budgets from its last known state and its own requests.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from modelrouter.config import BackendConfig, Budget, Rules
from modelrouter.ledger import BudgetUsage, BudgetWindow, Ledger, LedgerError, RequestRecord
from modelrouter.ledger_db import Connection

log = logging.getLogger(__name__)

HOUR_S = 3600.0


def day_start(now: float) -> float:
    """Unix time of the most recent local midnight."""
    t = datetime.fromtimestamp(now).astimezone()
    return t.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def month_start(now: float) -> float:
    """Unix time of the start of the current local calendar month."""
    t = datetime.fromtimestamp(now).astimezone()
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def usd(v: float) -> str:
    """Dollars with cents, and more digits only when cents would hide the amount."""
    if v == 0 or abs(v) >= 1 or round(v, 2) == v:
        return f"${v:,.2f}"
    return f"${v:.4f}".rstrip("0")


@dataclass(frozen=True)
class Limit:
    """A dollar budget that reservations are checked against: one backend's, or one key's."""

    column: str  # the requests/reservations column it counts: "backend" or "key_name"
    name: str
    daily_usd: float | None = None
    monthly_usd: float | None = None

    @property
    def scope(self) -> str:
        return f"budget:{self.column}:{self.name}"

    def names(self) -> str:
        """How a refusal names the budget: a backend's is named by the skip already."""
        return "" if self.column == "backend" else f"key '{self.name}' "


@dataclass(frozen=True)
class Hold:
    """Money reserved for one request in flight (a row of the `reservations` table)."""

    id: int
    amount_usd: float


_COLUMNS = ("backend", "key_name")  # the only columns a Limit may name (they go into SQL)
HOLD_GRACE_S = 60.0  # a hold outlives the backend's total timeout by this much


def reserve(
    conn: Connection,
    limits: Sequence[Limit],
    amount_usd: float,
    *,
    now: float,
    ttl_s: float,
    backend: str | None = None,
    key: str | None = None,
) -> Hold | str:
    """Check `limits` and hold `amount_usd` in the caller's write transaction.

    Returns the Hold, or the reason the first exhausted budget gives. Checkers of the same
    budgets are serialised by `conn.lock`, taken in a fixed order (no deadlock).
    """
    for scope in sorted({limit.scope for limit in limits}):
        conn.lock(scope)
    conn.run("DELETE FROM reservations WHERE expires < ?", (now,))
    day, month = day_start(now), month_start(now)
    for limit in limits:
        if limit.column not in _COLUMNS:
            raise ValueError(f"cannot budget by {limit.column!r}")
        # One statement, so one snapshot: a request settling between two statements
        # would be in neither its hold nor its row.
        row = conn.one(
            "SELECT (SELECT SUM(CASE WHEN ts >= ? THEN cost_usd ELSE 0 END) FROM requests"
            f" WHERE {limit.column} = ? AND ts >= ?) AS day,"
            f" (SELECT SUM(cost_usd) FROM requests WHERE {limit.column} = ? AND ts >= ?)"
            " AS month,"
            f" (SELECT SUM(amount_usd) FROM reservations WHERE {limit.column} = ?"
            " AND expires >= ?) AS held",
            (day, limit.name, min(day, month), limit.name, month, limit.name, now),
        )
        day_spend = float(row["day"] or 0) if row else 0.0
        month_spend = float(row["month"] or 0) if row else 0.0
        held = float(row["held"] or 0) if row else 0.0
        why = _over(limit, day_spend, month_spend, held)
        if why:
            return why
    hold_id = conn.insert(
        "INSERT INTO reservations (created, expires, amount_usd, backend, key_name)"
        " VALUES (?,?,?,?,?)",
        (now, now + ttl_s, amount_usd, backend, key),
    )
    assert hold_id is not None
    return Hold(hold_id, amount_usd)


def _over(limit: Limit, day_spend: float, month_spend: float, held: float) -> str | None:
    inflight = f", {usd(held)} held by requests in flight" if held > 0 else ""
    who = limit.names()
    # Rounded to a nano-dollar: ten holds of $0.10 fill a $1.00 budget (0.1 * 10 < 1.0).
    if limit.daily_usd is not None and round(day_spend + held, 9) >= limit.daily_usd:
        return f"{who}daily budget {usd(limit.daily_usd)} spent ({usd(day_spend)} today{inflight})"
    if limit.monthly_usd is not None and round(month_spend + held, 9) >= limit.monthly_usd:
        return (
            f"{who}monthly budget {usd(limit.monthly_usd)} spent "
            f"({usd(month_spend)} this month{inflight})"
        )
    return None


def release(conn: Connection, hold_ids: Sequence[int]) -> None:
    """Give holds back (the attempt failed or was cancelled) in the caller's transaction."""
    if hold_ids:
        marks = ",".join("?" * len(hold_ids))
        conn.run(f"DELETE FROM reservations WHERE id IN ({marks})", list(hold_ids))


class BudgetGuard:
    """Answers "may this backend be used now?" from the rules' budgets and the ledger."""

    def __init__(
        self,
        ledger: Ledger | None,
        rules: Rules | Callable[[], Rules],
        *,
        refresh_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        # Limits are read on every call: pass a callable (or reassign) to follow rules reloads.
        self._rules = rules
        self.refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._usage: dict[str, BudgetUsage] = {}
        self._covered_id = 0  # requests up to this id are in the last snapshot
        self._noted: list[RequestRecord] = []  # noted since the last snapshot began
        self._loaded_at: float | None = None
        self._day = 0.0
        self._month = 0.0
        self._next_day = 0.0
        self._refreshing = False
        # Per-key dollar budgets: name -> Limit (the proxy sets this from its key store).
        self.key_limit: Callable[[str], Limit | None] | None = None
        if ledger is not None:
            ledger.subscribe(self.note)

    @property
    def rules(self) -> Rules:
        """The rules whose budgets apply."""
        return self._rules() if callable(self._rules) else self._rules

    @rules.setter
    def rules(self, rules: Rules | Callable[[], Rules]) -> None:
        self._rules = rules

    def blocked_reason(self, backend_name: str) -> str | None:
        """Why `backend_name` is over budget right now, or None when it may be used."""
        cfg = self.rules.backends.get(backend_name)
        if cfg is None or cfg.budget == Budget():
            return None  # no limits: nothing to look up
        now = self._clock()
        self._ensure_fresh(now)
        with self._lock:
            usage = self._usage.get(backend_name) or BudgetUsage()
            return _reason(cfg.budget, usage, now)

    def limits_for(self, backend: BackendConfig, key: str | None = None) -> list[Limit]:
        """The dollar budgets a request to `backend` (under proxy key `key`) must fit."""
        limits = []
        b = backend.budget
        if b.daily_usd is not None or b.monthly_usd is not None:
            limits.append(Limit("backend", backend.name, b.daily_usd, b.monthly_usd))
        if key is not None and self.key_limit is not None:
            limit = self.key_limit(key)
            if limit is not None:
                limits.append(limit)
        return limits

    def reserve(
        self, backend: BackendConfig, amount_usd: float, *, key: str | None = None
    ) -> Hold | str | None:
        """Hold `amount_usd` for a request to `backend` if its budgets allow; blocks.

        Returns the Hold, the refusal reason, or None when there is nothing to hold (no
        dollar budget applies) or the ledger cannot be reached (then the in-memory check
        `blocked_reason` is all there is).
        """
        limits = self.limits_for(backend, key)
        if not limits or self.ledger is None:
            return None
        now = self._clock()
        for attempt in (1, 2):  # a connection lost since its last use is replaced once
            try:
                with self.ledger.transaction() as conn:
                    return reserve(
                        conn,
                        limits,
                        amount_usd,
                        now=now,
                        ttl_s=backend.timeouts.total + HOLD_GRACE_S,
                        backend=backend.name,
                        key=key,
                    )
            except LedgerError as exc:
                if attempt == 2:
                    log.debug("no budget reservation (ledger unavailable): %s", exc)
        return None

    async def areserve(
        self, backend: BackendConfig, amount_usd: float, *, key: str | None = None
    ) -> Hold | str | None:
        """`reserve()` in the ledger's operations thread, off the event loop."""
        if not self.limits_for(backend, key) or self.ledger is None:
            return None
        return await asyncio.wrap_future(
            self.ledger.call(lambda: self.reserve(backend, amount_usd, key=key))
        )

    def release(self, holds: Sequence[Hold]) -> None:
        """Give `holds` back without waiting (a failed or cancelled attempt)."""
        if not holds or self.ledger is None:
            return
        ledger, ids = self.ledger, [h.id for h in holds]

        def give_back() -> None:
            try:
                with ledger.transaction() as conn:
                    release(conn, ids)
            except LedgerError as exc:  # the holds expire by themselves
                log.debug("reservation not released: %s", exc)

        ledger.call(give_back)

    def note(self, entry: RequestRecord) -> None:
        """Count a request just made by this process (the ledger calls this on record)."""
        with self._lock:
            self._noted.append(entry)
            if entry.id is None or entry.id > self._covered_id:
                self._apply(entry)

    def refresh(self) -> None:
        """Rebuild the state from the ledger now."""
        now = self._clock()
        day, month = day_start(now), month_start(now)
        budgets = {n: b.budget for n, b in self.rules.backends.items() if b.budget != Budget()}
        windows = {
            name: BudgetWindow(
                spend_since=month if b.monthly_usd is not None else day,
                day=day,
                hour=now - HOUR_S,
                max_calls=b.requests_per_hour or 0,
            )
            for name, b in budgets.items()
        }
        with self._lock:
            noted_before = len(self._noted)
        try:
            if self.ledger is None:
                raise LedgerError("no ledger")
            covered, usage = self.ledger.budget_usage(windows)
        except LedgerError as exc:
            # Keep counting in memory; the ledger's own warning says what is wrong.
            log.debug("budget state not refreshed: %s", exc)
            with self._lock:
                self._noted = self._noted[noted_before:]
                if self._day != day:  # a new day: yesterday's in-memory counts are void
                    self._usage, self._noted = {}, []
                self._set_period(day, month, now)
            return
        with self._lock:
            # Requests noted while the snapshot was read, and not in it, still count.
            late = [e for e in self._noted if e.id is None or e.id > covered]
            self._noted = self._noted[noted_before:]
            self._usage, self._covered_id = usage, covered
            self._set_period(day, month, now)
            for e in late:
                self._apply(e)

    def _ensure_fresh(self, now: float) -> None:
        loaded = self._loaded_at
        if loaded is None or now >= self._next_day or now < self._day:
            self.refresh()  # first use, or a new day: the old numbers must not be used
        elif now - loaded >= self.refresh_s and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._background_refresh, daemon=True).start()

    def _set_period(self, day: float, month: float, now: float) -> None:
        self._day, self._month, self._loaded_at = day, month, now
        # 26 h after midnight is always in the next day, even across a DST change.
        self._next_day = day_start(day + 26 * HOUR_S)

    def _background_refresh(self) -> None:
        try:
            self.refresh()
        except Exception:  # a refresh must never take routing down with it
            log.exception("budget refresh failed")
        finally:
            self._refreshing = False

    def _apply(self, entry: RequestRecord) -> None:
        """Add one request to the in-memory windows (caller holds the lock)."""
        if entry.ts < self._month:
            return
        for a in entry.attempts:
            if a.outcome != "skipped":
                calls = self._for(a.backend).calls
                bisect.insort(calls, entry.ts)
                del calls[: bisect.bisect_left(calls, entry.ts - HOUR_S)]
        if entry.backend and entry.status == "ok":
            u = self._for(entry.backend)
            u.spend += entry.cost_usd
            if entry.ts >= self._day:
                u.day_spend += entry.cost_usd
                u.day_tokens += entry.input_tokens + entry.output_tokens

    def _for(self, name: str) -> BudgetUsage:
        u = self._usage.get(name)
        if u is None:
            u = self._usage[name] = BudgetUsage()
        return u


def _reason(budget: Budget, u: BudgetUsage, now: float) -> str | None:
    if budget.daily_usd is not None and u.day_spend >= budget.daily_usd:
        return f"daily budget {usd(budget.daily_usd)} spent ({usd(u.day_spend)} today)"
    if budget.monthly_usd is not None and u.spend >= budget.monthly_usd:
        return f"monthly budget {usd(budget.monthly_usd)} spent ({usd(u.spend)} this month)"
    if budget.tokens_per_day is not None and u.day_tokens >= budget.tokens_per_day:
        return f"daily token budget {budget.tokens_per_day:,} used ({u.day_tokens:,} today)"
    if budget.requests_per_hour is not None:
        recent = u.calls[bisect.bisect_left(u.calls, now - HOUR_S) :]
        if len(recent) >= budget.requests_per_hour:
            # A slot frees when the oldest of the last `limit` calls turns an hour old.
            oldest = recent[-budget.requests_per_hour] if budget.requests_per_hour else now
            wait_min = max(1, round((oldest + HOUR_S - now) / 60))
            return (
                f"rate limit {budget.requests_per_hour} requests/hour reached "
                f"(next slot in {wait_min} min)"
            )
    return None
