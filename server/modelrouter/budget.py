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
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from modelrouter.config import Budget, Rules
from modelrouter.ledger import BudgetUsage, BudgetWindow, Ledger, LedgerError, RequestRecord

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
