"""Dollar budgets hold across connections, processes and hosts: a request reserves its
estimated maximum cost in the transaction that checks the budget, and settles afterwards."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from modelrouter.backends.base import Message
from modelrouter.budget import BudgetGuard, Hold, Limit
from modelrouter.config import Budget
from modelrouter.engine import Engine, Job
from modelrouter.ledger import Ledger
from support.fakes.provider import Reply
from support.ledger_samples import entry, make_rules

TESTS = str(Path(__file__).resolve().parents[1])


def _guard(target: str, rules) -> BudgetGuard:
    return BudgetGuard(Ledger(target), rules)


def test_concurrent_checks_admit_only_what_fits(ledger_target):
    rules = make_rules({"sonnet": Budget(daily_usd=1.0)})
    sonnet = rules.backends["sonnet"]
    guards = [_guard(ledger_target, rules) for _ in range(12)]  # 12 connections
    for g in guards:  # open the connections first: the race is between the checks
        g.ledger.count()
    go = threading.Barrier(len(guards))
    results: list[Hold | str | None] = [None] * len(guards)

    def ask(i: int) -> None:
        go.wait()
        results[i] = guards[i].reserve(sonnet, 0.30)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(guards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, str)]
    # Held 0, .30, .60, .90 are below $1.00; the fifth would see $1.20 held.
    assert len(admitted) == 4 and len(refused) == 8
    assert all(r.startswith("daily budget $1.00 spent ($0.00 today, $1.20 held") for r in refused)
    for g in guards:
        g.ledger.close()


def test_recording_settles_the_hold_to_the_real_cost(ledger_target):
    rules = make_rules({"sonnet": Budget(daily_usd=0.10)})
    sonnet = rules.backends["sonnet"]
    guard = _guard(ledger_target, rules)
    hold = guard.reserve(sonnet, 0.06)
    other = guard.reserve(sonnet, 0.06)
    assert isinstance(hold, Hold) and isinstance(other, Hold)  # $0.06 held is under $0.10
    assert guard.reserve(sonnet, 0.06) == (
        "daily budget $0.10 spent ($0.00 today, $0.12 held by requests in flight)"
    )
    guard.release([other])
    guard.ledger.call(lambda: None).result()  # the release runs in the operations thread
    # The request cost $0.051; its row and the end of its hold are one commit.
    done = entry(rules, ts=time.time(), tier="strong", input_tokens=2000, output_tokens=3000)
    done.reservations = [hold.id]
    guard.ledger.record(done)
    assert guard.ledger.query("SELECT COUNT(*) AS n FROM reservations")[0]["n"] == 0
    second = guard.reserve(sonnet, 0.06)
    assert isinstance(second, Hold)  # $0.051 spent, nothing held: under $0.10
    assert guard.reserve(sonnet, 0.06) == (
        "daily budget $0.10 spent ($0.051 today, $0.06 held by requests in flight)"
    )
    guard.release([second])
    guard.ledger.call(lambda: None).result()  # the release runs in the operations thread
    assert guard.ledger.query("SELECT COUNT(*) AS n FROM reservations")[0]["n"] == 0
    guard.ledger.close()


def test_a_crashed_processs_hold_expires(ledger_target):
    rules = make_rules({"sonnet": Budget(monthly_usd=0.10)})
    sonnet = rules.backends["sonnet"]
    now = [time.time()]
    guard = BudgetGuard(Ledger(ledger_target), rules, clock=lambda: now[0])
    assert isinstance(guard.reserve(sonnet, 0.20), Hold)
    assert "monthly budget $0.10 spent" in guard.reserve(sonnet, 0.01)
    now[0] += sonnet.timeouts.total + 61  # the holder never came back
    assert isinstance(guard.reserve(sonnet, 0.01), Hold)
    guard.ledger.close()


def test_a_keys_budget_counts_every_backend_it_used(ledger_target):
    rules = make_rules()
    guard = _guard(ledger_target, rules)
    guard.key_limit = lambda name: Limit("key_name", name, daily_usd=0.05)
    spent = entry(
        rules,
        ts=time.time(),
        tier="standard",
        backend="mini",
        key="alice",
        input_tokens=50_000,
        output_tokens=20_000,
    )  # $0.052 on mini
    guard.ledger.record(spent)
    why = guard.reserve(rules.backends["sonnet"], 0.01, key="alice")
    assert why == "key 'alice' daily budget $0.05 spent ($0.052 today)"
    assert isinstance(guard.reserve(rules.backends["sonnet"], 0.01, key="bob"), Hold)
    assert guard.reserve(rules.backends["sonnet"], 0.01) is None  # no budget applies
    guard.ledger.close()


RESERVER = """
import sys, threading, time
sys.path.insert(0, sys.argv[2])
from support.ledger_samples import make_rules
from modelrouter.budget import BudgetGuard, Hold
from modelrouter.config import Budget
from modelrouter.ledger import Ledger
rules = make_rules({"sonnet": Budget(daily_usd=1.0)})
guards = [BudgetGuard(Ledger(sys.argv[1]), rules) for _ in range(5)]
for g in guards:
    g.ledger.count()
while time.time() < float(sys.argv[3]):
    time.sleep(0.0005)
out = []
def go(g):
    out.append(g.reserve(rules.backends["sonnet"], 0.10))
threads = [threading.Thread(target=go, args=(g,)) for g in guards]
[t.start() for t in threads]
[t.join() for t in threads]
print(sum(isinstance(r, Hold) for r in out), sum(isinstance(r, str) for r in out))
"""


def test_processes_racing_for_one_budget_cannot_all_pass(pg_url):
    Ledger(pg_url).count()  # migrated before the race
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESERVER, pg_url, TESTS, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outputs]
    counts = [tuple(map(int, o[0].split())) for o in outputs]
    assert sum(a for a, _ in counts) == 10  # $1.00 / $0.10: ten holds, 20 processes' worth
    assert sum(r for _, r in counts) == 10


async def test_concurrent_requests_spend_within_one_request_of_the_budget(
    ledger_target, fake_provider
):
    rules = make_rules(
        {"sonnet": Budget(daily_usd=0.20)},
        sonnet={
            "base_url": fake_provider.base_url("anthropic", "sonnet"),
            "max_output_tokens": 3000,
        },
        opus={"base_url": fake_provider.base_url("anthropic", "opus")},
    )
    # 3000 out on sonnet costs $0.045: what the hold estimates for max_output_tokens.
    slow = Reply(text="x" * 64, input_tokens=1, output_tokens=3000, delay=0.01)
    fake_provider.default("sonnet", slow)
    fake_provider.default("opus", Reply(text="from opus", input_tokens=10, output_tokens=10))
    ledger = Ledger(ledger_target)
    async with httpx.AsyncClient() as client:
        engine = Engine(rules, ledger=ledger, client=client)
        jobs = [Job([Message("user", f"test {i}")], tier="strong") for i in range(20)]
        outcomes = await asyncio.gather(*(engine.run(j) for j in jobs))
        await engine.aclose()
    assert ledger.flush()
    on_sonnet = [o for o in outcomes if o.backend == "sonnet"]
    assert len(on_sonnet) + sum(o.backend == "opus" for o in outcomes) == 20
    spent = sum(o.cost_usd for o in on_sonnet)
    one_request = 0.045003
    assert spent <= 0.20 + one_request + 1e-9
    assert spent >= 0.20 - one_request  # the budget was used, not refused out of caution
    skipped = {s.reason for o in outcomes if o.backend == "opus" for s in o.skipped}
    assert skipped and all("daily budget $0.20 spent" in r for r in skipped)
    assert ledger.count() == 20
    assert ledger.query("SELECT COUNT(*) AS n FROM reservations")[0]["n"] == 0
    ledger.close()


@pytest.mark.parametrize("failure", [Reply(status=529), Reply(cut_after=1)])
async def test_a_failed_attempt_gives_its_hold_back(tmp_path, fake_provider, failure):
    rules = make_rules(
        {"sonnet": Budget(daily_usd=0.20)},
        sonnet={"base_url": fake_provider.base_url("anthropic", "sonnet")},
        opus={"base_url": fake_provider.base_url("anthropic", "opus")},
    )
    fake_provider.default("sonnet", failure)
    fake_provider.default("opus", Reply(text="from opus"))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    async with httpx.AsyncClient() as client:
        engine = Engine(rules, ledger=ledger, client=client)
        out = await engine.run(Job([Message("user", "why does it fail")], tier="strong"))
        await engine.aclose()
    assert out.backend == "opus"
    ledger.call(lambda: None).result()
    assert ledger.query("SELECT COUNT(*) AS n FROM reservations")[0]["n"] == 0
    ledger.close()
