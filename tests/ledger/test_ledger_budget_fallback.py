"""A backend whose budget runs out is skipped on the next request, and the reason is shown."""

from __future__ import annotations

import httpx
from modelrouter.backends.base import Message
from modelrouter.config import Budget
from modelrouter.engine import Engine, Job
from modelrouter.ledger import Ledger
from support.fakes.provider import Reply
from support.ledger_samples import make_rules


async def test_low_budget_makes_the_next_request_fall_back(tmp_path, fake_provider):
    rules = make_rules(
        {"mini": Budget(daily_usd=0.001)},
        mini={"base_url": fake_provider.base_url("openai", "mini")},
        sonnet={"base_url": fake_provider.base_url("anthropic", "sonnet")},
    )
    # 2000 in + 200 out on mini ($0.40/$1.60 per million) costs $0.00112: over the budget.
    fake_provider.default("mini", Reply(text="from mini", input_tokens=2000, output_tokens=200))
    fake_provider.default("sonnet", Reply(text="from sonnet", input_tokens=2000, output_tokens=200))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    async with httpx.AsyncClient() as client:
        engine = Engine(rules, ledger=ledger, client=client)

        def job() -> Job:
            return Job([Message("user", "implement it")], tier="standard", action="implement")

        first = await engine.run(job())
        assert (first.backend, first.text) == ("mini", "from mini")

        plan = engine.plan("standard")
        reason = "daily budget $0.001 spent ($0.0011 today)"
        assert [(s.backend, s.reason) for s in plan.skipped] == [("mini", reason)]

        second = await engine.run(job())
        assert (second.backend, second.text) == ("sonnet", "from sonnet")
        assert [(s.backend, s.reason) for s in second.skipped] == [("mini", reason)]
        await engine.aclose()

    assert len(fake_provider.requests_to("mini")) == 1  # the second request never reached it
    recorded = ledger.entry(second.ledger_id)
    assert recorded is not None and recorded.fallback
    assert [(a.backend, a.outcome, a.error) for a in recorded.attempts] == [
        ("mini", "skipped", reason),
        ("sonnet", "ok", None),
    ]
    assert ledger.entry(first.ledger_id).cost_usd == (2000 * 0.4 + 200 * 1.6) / 1e6
