"""Summaries of the ledger: requests, tokens, spend, savings, fallbacks, latency, checks
and escalations.

Used by `modelrouter stats`, the HTML report and the language server's `modelrouter.stats`
command, so all three show the same numbers.

Escalation: an automatic re-ask (an entry with `escalation`) replaces the answer it names in
`redo_of`, which failed a check. It counts against the tier and action of that failed answer
(its own when that answer is not among the entries, say before the period). The replaced
answer saved nothing: its cost counts against the savings, and the top-tier comparison is
made once, for the re-ask. The cost of escalations is what the failed answers and their
re-asks cost together.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from modelrouter.ledger import RequestRecord

GROUPINGS = ("tier", "backend", "action", "source", "day", "key")
NO_ANSWER = "(no answer)"
NO_ACTION = "(free-form)"
NO_KEY = "(no key)"

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_SPAN_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """Read a --since value: 7d, 24h, 30m, 2w, an ISO date/time, or "all" (None).

    Returns a unix time. Raises ValueError with a message naming the accepted forms.
    """
    if text is None or text.strip().lower() in ("", "all"):
        return None
    now = time.time() if now is None else now
    m = _SPAN.match(text)
    if m:
        return now - float(m.group(1)) * _SPAN_S[m.group(2).lower()]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"cannot read --since {text!r}: use a span like 7d, 24h, 30m, 2w, "
            "a date like 2026-11-01, or 'all'"
        ) from None
    return when.astimezone().timestamp() if when.tzinfo is None else when.timestamp()


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def day_of(ts: float) -> str:
    """The local calendar day of a unix time, as YYYY-MM-DD."""
    return datetime.fromtimestamp(ts).astimezone().date().isoformat()


_KEYS: dict[str, Callable[[RequestRecord], str]] = {
    "tier": lambda e: e.tier,
    "backend": lambda e: e.backend or NO_ANSWER,
    "action": lambda e: e.action or NO_ACTION,
    # Where the request came from: lsp, ask, or proxy with the client program.
    "source": lambda e: f"{e.source} ({e.client})" if e.client else e.source,
    "day": lambda e: day_of(e.ts),
    "key": lambda e: e.key or NO_KEY,
}


@dataclass
class Escalations:
    """The automatic re-asks among some entries and the answers they replaced."""

    re_asks: list[RequestRecord] = field(default_factory=list)
    replaced: dict[int, RequestRecord] = field(default_factory=dict)  # by id
    of: dict[int, RequestRecord] = field(default_factory=dict)  # re-ask's id -> failed answer

    @classmethod
    def among(cls, entries: Iterable[RequestRecord]) -> Escalations:
        """The re-asks in `entries`, each with the failed answer it names when that is there."""
        listed = list(entries)
        by_id = {e.id: e for e in listed if e.id is not None}
        found = cls()
        for e in listed:
            if not e.escalation:
                continue
            found.re_asks.append(e)
            failed = by_id.get(e.redo_of) if e.redo_of is not None else None
            if failed is not None and e.id is not None:
                found.of[e.id] = failed
                found.replaced[e.redo_of] = failed
        return found

    def failed_answer(self, re_ask: RequestRecord) -> RequestRecord | None:
        """The answer `re_ask` replaced, when it is among the entries."""
        return self.of.get(re_ask.id) if re_ask.id is not None else None

    def cost_usd(self, re_asks: Iterable[RequestRecord]) -> float:
        """What `re_asks` and the failed answers they replaced cost, each entry once."""
        involved: dict[int, RequestRecord] = {}
        for r in re_asks:
            involved[id(r)] = r
            failed = self.failed_answer(r)
            if failed is not None:
                involved[id(failed)] = failed
        return sum(e.cost_usd for e in involved.values())

    def top_tier_usd(self, e: RequestRecord) -> float:
        """What `e` would have cost on the top tier, as the savings count it."""
        if e.status != "ok" or (e.id is not None and e.id in self.replaced):
            return 0.0
        return e.top_tier_cost_usd

    def saved_usd(self, e: RequestRecord) -> float:
        """`e`'s saving: a replaced answer saved nothing and its cost counts against it."""
        if e.id is not None and e.id in self.replaced:
            return -e.cost_usd
        return e.saved_usd


class Totals(TypedDict):
    """The figures of a set of requests: the whole period, or one group of it."""

    requests: int
    ok: int
    failed: int
    cancelled: int
    input_tokens: int
    output_tokens: int
    estimated_token_requests: int
    spend_usd: float
    top_tier_usd: float
    saved_usd: float
    saved_pct: float
    fallbacks: int
    fallback_rate: float
    latency_median_s: float | None
    latency_p95_s: float | None
    checks_failed: int
    escalations: int
    escalation_rate: float
    escalation_cost_usd: float


class GroupRow(Totals):
    """One group's figures (`key` names the tier, backend, action, source, day or key)."""

    key: str


class EscalationRow(TypedDict):
    """Whether a tier or an action is worth it: its answers, savings and escalations."""

    key: str
    ok: int
    saved_usd: float
    checks_failed: int
    escalations: int
    escalation_rate: float
    escalation_cost_usd: float


class BackendLatency(TypedDict):
    """Calls to one backend, its failures, and the latency of its good answers."""

    backend: str
    calls: int
    failed: int
    latency_median_s: float | None
    latency_p95_s: float | None


class EscalationsBy(TypedDict):
    """Escalation rows per tier and per action, whatever the summary is grouped by."""

    tier: list[EscalationRow]
    action: list[EscalationRow]


class Summary(Totals):
    """What `summarize` returns (and `modelrouter.stats` sends to editors)."""

    since: float | None
    until: float | None
    backends: list[BackendLatency]
    by_key: str
    by: list[GroupRow]
    escalation_by: EscalationsBy


def _totals(entries: list[RequestRecord], esc: Escalations, re_asks: list[RequestRecord]) -> Totals:
    """`entries`' figures; `re_asks` are the automatic re-asks counted against them."""
    n = len(entries)
    spend = sum(e.cost_usd for e in entries)
    top = sum(esc.top_tier_usd(e) for e in entries)
    saved = sum(esc.saved_usd(e) for e in entries)
    answers = sum(1 for e in entries if e.status == "ok")
    fallbacks = sum(1 for e in entries if e.fallback)
    latencies = [e.latency_s for e in entries if e.status == "ok" and e.latency_s is not None]
    return Totals(
        requests=n,
        ok=answers,
        failed=sum(1 for e in entries if e.status == "failed"),
        cancelled=sum(1 for e in entries if e.status == "cancelled"),
        input_tokens=sum(e.input_tokens for e in entries),
        output_tokens=sum(e.output_tokens for e in entries),
        estimated_token_requests=sum(1 for e in entries if e.tokens_estimated),
        spend_usd=round(spend, 6),
        top_tier_usd=round(top, 6),
        saved_usd=round(saved, 6),
        saved_pct=round(100 * saved / top, 1) if top > 0 else 0.0,
        fallbacks=fallbacks,
        fallback_rate=round(fallbacks / n, 4) if n else 0.0,
        latency_median_s=_round(percentile(latencies, 50)),
        latency_p95_s=_round(percentile(latencies, 95)),
        checks_failed=sum(1 for e in entries if e.check_failed),
        escalations=len(re_asks),
        escalation_rate=round(len(re_asks) / answers, 4) if answers else 0.0,
        escalation_cost_usd=round(esc.cost_usd(re_asks), 6),
    )


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def backend_latency(entries: Iterable[RequestRecord]) -> list[BackendLatency]:
    """Per backend: calls made to it, failures, and latency of its successful answers."""
    calls: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    for e in entries:
        for a in e.attempts:
            if a.outcome == "skipped":
                continue
            calls.setdefault(a.backend, [])
            if a.outcome == "ok":
                calls[a.backend].append(a.elapsed_s)
            else:
                failures[a.backend] = failures.get(a.backend, 0) + 1
    return [
        BackendLatency(
            backend=name,
            calls=len(ok) + failures.get(name, 0),
            failed=failures.get(name, 0),
            latency_median_s=_round(percentile(ok, 50)),
            latency_p95_s=_round(percentile(ok, 95)),
        )
        for name, ok in sorted(calls.items())
    ]


def summarize(
    entries: list[RequestRecord],
    *,
    by: str = "backend",
    since: float | None = None,
    until: float | None = None,
) -> Summary:
    """The summary of `entries`, grouped `by` tier, backend, action, source, day or proxy key.

    Top-level keys: the totals (requests, tokens, spend_usd, saved_usd, saved_pct,
    fallback_rate, latency), `backends` (per-backend call latency median/p95) and `by`
    (one row per group, largest spend first; by day: chronological).
    """
    if by not in _KEYS:
        raise ValueError(f"cannot group by {by!r}: use one of {', '.join(GROUPINGS)}")
    esc = Escalations.among(entries)
    return Summary(
        since=since,
        until=until,
        **_totals(entries, esc, esc.re_asks),
        backends=backend_latency(entries),
        by_key=by,
        by=grouped(entries, by, esc),
        # Whether a cheap tier (or an action's tier) is worth it, whatever `by` is.
        escalation_by=EscalationsBy(
            tier=_escalation_rows(grouped(entries, "tier", esc)),
            action=_escalation_rows(grouped(entries, "action", esc)),
        ),
    )


def _escalation_rows(rows: list[GroupRow]) -> list[EscalationRow]:
    return [
        EscalationRow(
            key=r["key"],
            ok=r["ok"],
            saved_usd=r["saved_usd"],
            checks_failed=r["checks_failed"],
            escalations=r["escalations"],
            escalation_rate=r["escalation_rate"],
            escalation_cost_usd=r["escalation_cost_usd"],
        )
        for r in rows
    ]


def grouped(entries: list[RequestRecord], by: str, esc: Escalations) -> list[GroupRow]:
    """One row of totals per group `by`: largest spend first (by day: chronological)."""
    key = _KEYS[by]
    groups: dict[str, list[RequestRecord]] = {}
    for e in entries:
        groups.setdefault(key(e), []).append(e)
    counted: dict[str, list[RequestRecord]] = {}
    for r in esc.re_asks:
        counted.setdefault(key(esc.failed_answer(r) or r), []).append(r)
    rows = [GroupRow(key=k, **_totals(g, esc, counted.get(k, []))) for k, g in groups.items()]
    if by == "day":
        rows.sort(key=lambda r: r["key"])
    else:
        rows.sort(key=lambda r: (-r["spend_usd"], -r["requests"], r["key"]))
    return rows
