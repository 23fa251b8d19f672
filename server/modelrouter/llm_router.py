"""Optional LLM-as-router: ask a cheap model to classify the least confident requests.

Off by default. With `rules.classifier.llm_router: <backend name>`, a request whose learned
classification is below `llm_router_below` is put to that backend (usually the local tier's
model) with a short instruction; the reply must name one tier. The call is bounded by
`rules.classifier.llm_router_timeout`; on a timeout, an error or an answer that names no
tier, the learned decision stands and the reason says why. The model may move a request
up freely but at most one tier below the learned decision (which is at most one tier above
the most likely tier), so a small model cannot cause a deep under-route.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from modelrouter.backends import unusable_reason
from modelrouter.backends.base import TextDelta
from modelrouter.classify import Classification
from modelrouter.config import Rules
from modelrouter.transcript import Message

# Sends a transcript to the router model and returns its full reply text.
Ask = Callable[[list[Message]], Awaitable[str]]

TIER_HINTS = {
    "trivial": "typos, wording, docs, formatting, renames, version bumps",
    "feature": "add or change a well-defined piece of functionality",
    "debug": "find and fix a bug, a failing test or a crash; write tests",
    "architecture": "design, large refactors, migrations, cross-cutting changes",
}


def should_ask(rules: Rules, result: Classification) -> bool:
    """True when the rules name a router backend and `result` is a low-confidence learned
    decision."""
    s = rules.classifier
    return (
        bool(s.llm_router) and result.source == "learned" and result.confidence < s.llm_router_below
    )


def router_prompt(rules: Rules, text: str) -> list[Message]:
    """The classification instruction: tiers cheapest first, answer with one word."""
    lines = [f"- {t}: {TIER_HINTS.get(t, 'see the name')}" for t in rules.tier_order]
    system = (
        "You route programming requests to the cheapest capable model tier. Tiers, "
        "cheapest first:\n" + "\n".join(lines) + "\nAnswer with exactly one tier name."
    )
    return [Message("system", system), Message("user", text[:2000])]


def parse_tier(reply: str, tiers: list[str]) -> str | None:
    """The first tier named in `reply` as a whole word, or None."""
    hits = []
    for tier in tiers:
        m = re.search(rf"(?<!\w){re.escape(tier)}(?!\w)", reply, re.IGNORECASE)
        if m:
            hits.append((m.start(), tier))
    return min(hits)[1] if hits else None


async def llm_classify(
    ask: Ask, rules: Rules, text: str, fallback: Classification, *, name: str = ""
) -> Classification:
    """Ask the router model; `fallback` (the learned decision) when it cannot answer in time."""
    s = rules.classifier
    name = name or s.llm_router or "LLM router"
    order = rules.tier_order
    started = time.perf_counter()
    try:
        reply = await asyncio.wait_for(ask(router_prompt(rules, text)), s.llm_router_timeout)
    except asyncio.TimeoutError:
        why = f"timed out after {s.llm_router_timeout:g} s"
        return replace(fallback, reason=f"{fallback.reason}; LLM router {name}: {why}, kept")
    except Exception as exc:  # any backend failure leaves the learned decision in place
        why = f"failed ({type(exc).__name__}: {exc})"
        return replace(fallback, reason=f"{fallback.reason}; LLM router {name}: {why}, kept")
    elapsed = time.perf_counter() - started
    tier = parse_tier(reply, order)
    if tier is None:
        snippet = reply.strip().replace("\n", " ")[:40]
        return replace(
            fallback,
            reason=f"{fallback.reason}; LLM router {name}: no tier in {snippet!r}, kept",
        )
    floor = max(0, order.index(fallback.tier) - 1)
    chosen = order[max(order.index(tier), floor)]
    note = "" if chosen == tier else f", kept at {chosen} (at most one tier below the model)"
    return replace(
        fallback,
        tier=chosen,
        source="llm",
        reason=f"LLM router {name}: {tier} in {elapsed * 1000:.0f} ms{note} "
        f"(learned model was unsure: {fallback.reason})",
    )


def backend_ask(backend) -> Ask:
    """An `Ask` over a backend adapter (`modelrouter.backends.make_backend`)."""

    async def ask(messages: list[Message]) -> str:
        parts: list[str] = []
        async for event in backend.stream(messages):
            if isinstance(event, TextDelta):
                parts.append(event.text)
        return "".join(parts)

    return ask


def engine_ask(engine, backend_name: str) -> Ask:
    """An `Ask` that talks to `backend_name` over the engine's connection pool."""
    from modelrouter.backends import make_backend

    cfg = engine.rules.backends[backend_name]
    return backend_ask(make_backend(cfg, engine.client))


async def maybe_llm_route(
    engine, text: str, result: Classification, *, local_only: bool = False, path: str | None = None
) -> Classification:
    """`result`, or the router model's answer when the rules ask for one and `result` is an
    unsure learned decision. The hook for callers that hold an `Engine`.

    The request text is treated like any other outgoing request: a router backend that does
    not run on this machine never sees a `local_only` request, and sees the rest redacted.
    """
    rules = engine.rules
    if not should_ask(rules, result):
        return result
    name = rules.classifier.llm_router
    if name not in rules.backends:
        return replace(result, reason=f"{result.reason}; LLM router {name}: no such backend")
    cfg = rules.backends[name]
    reason = unusable_reason(cfg)
    if not reason and local_only and not cfg.is_local:
        reason = "not local, and this request stays on this machine"
    if reason:
        return replace(result, reason=f"{result.reason}; LLM router {name}: {reason}")
    if not cfg.is_local:
        text = engine.redactor().redact_all([text], path=path)[0]
    return await llm_classify(engine_ask(engine, name), rules, text, result, name=name)
