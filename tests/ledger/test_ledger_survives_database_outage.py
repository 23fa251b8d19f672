"""Killing the PostgreSQL server mid-run and restarting it: no request fails because of the
ledger, every queued row arrives exactly once, and cooldowns are shared through it."""

from __future__ import annotations

import asyncio
import time

import httpx
from modelrouter.backends.base import BackendError, Message
from modelrouter.config import Budget
from modelrouter.engine import Engine, Job
from modelrouter.health import Health
from modelrouter.ledger import Ledger
from support.fakes.provider import Reply
from support.ledger_samples import make_rules


async def test_requests_complete_while_the_database_is_down_and_every_row_arrives(
    postgres_server, fake_provider
):
    url = postgres_server.new_database()
    rules = make_rules(
        {"sonnet": Budget(daily_usd=50.0)},  # budgets in play: holds fail over cleanly
        sonnet={"base_url": fake_provider.base_url("anthropic", "sonnet")},
    )
    fake_provider.default("sonnet", Reply(text="answer", input_tokens=100, output_tokens=20))
    ledger = Ledger(url)
    async with httpx.AsyncClient() as client:
        engine = Engine(rules, ledger=ledger, client=client, health=Health())

        async def burst(tag: str, n: int) -> list:
            jobs = [
                Job([Message("user", f"{tag} {i}")], tier="strong", action=tag) for i in range(n)
            ]
            return await asyncio.gather(*(engine.run(j) for j in jobs))

        before = await burst("before", 10)
        postgres_server.kill()
        try:
            during = await burst("during", 25)
            # Requests keep coming while it is away: none waits on the database.
            started = time.perf_counter()
            during += await burst("during", 5)
            assert time.perf_counter() - started < 5
            assert ledger.queued == 30 and ledger.dropped == 0
        finally:
            postgres_server.start()
        after = await burst("after", 10)
        await engine.aclose()
    assert all(o.text == "answer" for o in before + during + after)
    assert all(o.ledger_id is None for o in during)  # queued, not yet written
    assert ledger.flush(timeout=15)
    rows = ledger.entries()
    assert len(rows) == 50 and len({r.uid for r in rows}) == 50
    assert sorted(r.action for r in rows) == ["after"] * 10 + ["before"] * 10 + ["during"] * 30
    assert ledger.query("SELECT COUNT(*) AS n FROM reservations")[0]["n"] == 0
    ledger.close()


def test_rows_queued_at_the_bound_are_counted_and_reported_when_it_is_back(postgres_server):
    from support.ledger_samples import entry

    url = postgres_server.new_database()
    rules = make_rules()
    ledger = Ledger(url, queue_limit=3)
    ledger.record(entry(rules, ts=time.time()))
    postgres_server.kill()
    try:
        for _ in range(5):
            assert ledger.record(entry(rules, ts=time.time())) is None
        assert (ledger.queued, ledger.dropped) == (3, 2)
    finally:
        postgres_server.start()
    assert ledger.flush(timeout=15)
    assert ledger.count() == 4
    assert ledger.dropped_since(None) == 2
    ledger.close()


def test_a_cooldown_set_by_one_process_is_seen_by_another_within_a_second(pg_url):
    first_ledger, second_ledger = Ledger(pg_url), Ledger(pg_url)
    first, second = Health.for_ledger(first_ledger), Health.for_ledger(second_ledger)
    second.refresh()
    assert second.blocked_reason("sonnet") is None
    first.record_failure("sonnet", BackendError("rate_limit", "429", status=429, retry_after=30))
    deadline = time.monotonic() + 1.0
    while second.blocked_reason("sonnet") is None and time.monotonic() < deadline:
        time.sleep(0.02)
        second.refresh()
    assert second.blocked_reason("sonnet") in (
        "cooling down for 30 s (HTTP 429)",
        "cooling down for 29 s (HTTP 429)",
    )
    # A success elsewhere ends it for everyone.
    first.record_success("sonnet")
    deadline = time.monotonic() + 1.0
    while second.blocked_reason("sonnet") is not None and time.monotonic() < deadline:
        time.sleep(0.02)
        second.refresh()
    assert second.blocked_reason("sonnet") is None
    # A process starting now sees the table at once.
    first.record_failure("opus", BackendError("connect", "refused"))
    first_ledger.call(lambda: None).result()
    third = Health.for_ledger(Ledger(pg_url))
    third.refresh()
    assert "connection failed" in third.blocked_reason("opus")
    first_ledger.close()
    second_ledger.close()
