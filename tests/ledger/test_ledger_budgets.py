"""Budgets in the rules turn into routing decisions, rebuilt from the ledger after restarts."""

from __future__ import annotations

import time

from modelrouter.budget import BudgetGuard, day_start
from modelrouter.config import Budget
from modelrouter.ledger import AttemptRecord, Ledger
from modelrouter.routing.plan import plan
from support.ledger_samples import entry, make_rules


def test_daily_budget_blocks_and_survives_a_restart(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    rules = make_rules({"sonnet": Budget(daily_usd=0.05)})
    ledger = Ledger(path)
    guard = BudgetGuard(ledger, rules)
    now = time.time()
    assert guard.blocked_reason("sonnet") is None
    # 2000 in + 3000 out on sonnet ($3/$15 per million) costs $0.051.
    ledger.record(entry(rules, ts=now, tier="strong", input_tokens=2000, output_tokens=3000))
    reason = guard.blocked_reason("sonnet")
    assert reason == "daily budget $0.05 spent ($0.051 today)"
    assert guard.blocked_reason("opus") is None
    ledger.close()

    # A new process: the state comes back from the ledger.
    restarted = BudgetGuard(Ledger(path), rules)
    assert restarted.blocked_reason("sonnet") == reason


def test_spend_before_today_does_not_count_against_the_daily_budget(tmp_path):
    rules = make_rules({"sonnet": Budget(daily_usd=0.05, monthly_usd=100)})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    yesterday = day_start(time.time()) - 3600
    ledger.record(entry(rules, ts=yesterday, tier="strong", input_tokens=2000, output_tokens=9000))
    assert BudgetGuard(ledger, rules).blocked_reason("sonnet") is None


def test_monthly_and_token_budgets(tmp_path):
    rules = make_rules({"mini": Budget(tokens_per_day=5000), "sonnet": Budget(monthly_usd=0.01)})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    guard = BudgetGuard(ledger, rules)
    now = time.time()
    ledger.record(entry(rules, ts=now, tier="standard", input_tokens=4000, output_tokens=999))
    assert guard.blocked_reason("mini") is None
    ledger.record(entry(rules, ts=now, tier="standard", input_tokens=1, output_tokens=0))
    assert guard.blocked_reason("mini") == "daily token budget 5,000 used (5,000 today)"
    ledger.record(entry(rules, ts=now, tier="strong", input_tokens=1000, output_tokens=1000))
    assert guard.blocked_reason("sonnet") == "monthly budget $0.01 spent ($0.018 this month)"


def test_request_rate_counts_every_call_but_not_skips(tmp_path):
    rules = make_rules({"sonnet": Budget(requests_per_hour=3)})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    guard = BudgetGuard(ledger, rules)
    now = time.time()
    # sonnet failed (429) before opus answered: the provider counted that call.
    ledger.record(entry(rules, ts=now, tier="strong", backend="opus", failed_first="sonnet"))
    skipped = entry(rules, ts=now, tier="strong", backend="opus")
    skipped.attempts.insert(0, AttemptRecord("sonnet", outcome="skipped", error="cooling down"))
    ledger.record(skipped)
    ledger.record(entry(rules, ts=now, tier="strong"))
    assert guard.blocked_reason("sonnet") is None  # 2 calls, the skip is not one
    ledger.record(entry(rules, ts=now, tier="strong"))
    reason = guard.blocked_reason("sonnet")
    assert reason == "rate limit 3 requests/hour reached (next slot in 60 min)"
    # An hour later the window has moved on.
    later = BudgetGuard(ledger, rules, clock=lambda: now + 3601)
    assert later.blocked_reason("sonnet") is None


def test_other_processes_spend_is_seen_after_refresh(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    rules = make_rules({"opus": Budget(daily_usd=0.10)})
    guard = BudgetGuard(Ledger(path), rules, refresh_s=0)
    assert guard.blocked_reason("opus") is None
    other = Ledger(path)  # e.g. `modelrouter ask` in a terminal
    other.record(
        entry(rules, ts=time.time(), tier="frontier", input_tokens=5000, output_tokens=1000)
    )
    # The stale state is refreshed in the background; the check never waits for it.
    deadline = time.monotonic() + 10
    while guard.blocked_reason("opus") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert guard.blocked_reason("opus") == "daily budget $0.10 spent ($0.15 today)"


def test_own_requests_count_once_across_refreshes(tmp_path):
    rules = make_rules({"sonnet": Budget(daily_usd=0.05, requests_per_hour=10)})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    guard = BudgetGuard(ledger, rules)
    guard.blocked_reason("sonnet")
    # $0.03 each (2000 in + 1600 out at $3/$15): two make $0.06, over the budget.
    ledger.record(
        entry(rules, ts=time.time(), tier="strong", input_tokens=2000, output_tokens=1600)
    )
    guard.refresh()  # the snapshot now holds it; it must not be counted a second time
    assert guard.blocked_reason("sonnet") is None
    ledger.record(
        entry(rules, ts=time.time(), tier="strong", input_tokens=2000, output_tokens=1600)
    )
    assert guard.blocked_reason("sonnet") == "daily budget $0.05 spent ($0.06 today)"


def test_over_budget_backend_is_skipped_with_the_reason_in_the_plan(tmp_path):
    rules = make_rules({"mini": Budget(daily_usd=0.0)}, mini={"api_key_env": None})
    guard = BudgetGuard(Ledger(tmp_path / "ledger.sqlite3"), rules)
    p = plan(rules, "standard", budget=guard)
    assert [c.name for c in p.candidates] == ["sonnet"]
    assert [(s.backend, s.reason) for s in p.skipped] == [
        ("mini", "daily budget $0.00 spent ($0.00 today)")
    ]


def test_budget_follows_reloaded_rules(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    current = {"rules": make_rules()}
    guard = BudgetGuard(ledger, lambda: current["rules"])
    ledger.record(entry(make_rules(), ts=time.time(), tier="strong"))
    assert guard.blocked_reason("sonnet") is None
    current["rules"] = make_rules({"sonnet": Budget(daily_usd=0.001)})
    assert guard.blocked_reason("sonnet") == "daily budget $0.001 spent ($0.006 today)"
