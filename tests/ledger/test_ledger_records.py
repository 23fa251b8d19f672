"""The ledger stores each request with its attempts, prices and labels, and reads them back."""

from __future__ import annotations

import sqlite3
import time

from modelrouter.backends.base import Message, Usage
from modelrouter.engine import Attempt, Job, Outcome
from modelrouter.ledger import SCHEMA_VERSION, Ledger, build_entry, default_path
from modelrouter.routing.plan import Skip
from support.ledger_samples import MODELS, cost_usd, entry, make_rules, top_tier_cost_usd


def _outcome(backend: str, tier: str, usage: Usage, attempts: list[Attempt]) -> Outcome:
    rules = make_rules()
    return Outcome(
        text="answer",
        backend=backend,
        model=MODELS[backend][1],
        tier=tier,
        reason="action implement",
        attempts=attempts,
        usage=usage,
        cost_usd=cost_usd(rules, backend, usage.input_tokens, usage.output_tokens),
        top_tier_cost_usd=top_tier_cost_usd(rules, usage.input_tokens, usage.output_tokens),
        latency_s=1.5,
        first_token_s=0.3,
        redactions=1,
    )


def test_entry_round_trips_with_attempts(tmp_path):
    rules = make_rules()
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    now = time.time()
    first = entry(rules, ts=now - 10, tier="strong", backend="opus", failed_first="sonnet")
    second = entry(rules, ts=now, tier="trivial", redactions=2)
    id1, id2 = ledger.record(first), ledger.record(second)
    assert id1 is not None and id2 == id1 + 1
    back = ledger.entries()
    assert [e.id for e in back] == [id1, id2]
    got = back[0]
    assert (got.tier, got.backend, got.model) == ("strong", "opus", "claude-opus-4-1")
    assert [(a.backend, a.outcome, a.error) for a in got.attempts] == [
        ("sonnet", "rate_limit", "429"),
        ("opus", "ok", None),
    ]
    assert got.fallback and not back[1].fallback
    assert got.cost_usd == first.cost_usd and got.top_tier_cost_usd == first.top_tier_cost_usd
    assert back[1].redactions == 2
    assert ledger.entry(id2).to_dict()["attempts"][0]["backend"] == "local"
    assert ledger.entry(id2 + 100) is None
    assert [e.id for e in ledger.entries(since=now - 5)] == [id2]


def test_database_is_wal_and_schema_versioned(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).record(entry(make_rules(), ts=time.time()))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_data_dir_comes_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "ledger.sqlite3"
    assert Ledger().record(entry(make_rules(), ts=time.time())) == 1
    assert (tmp_path / "data" / "ledger.sqlite3").exists()


def test_build_entry_keeps_outcome_and_skips_as_fallbacks():
    job = Job([Message("user", "implement the parser")], tier="standard", action="implement")
    outcome = _outcome(
        "sonnet",
        "standard",
        Usage(2000, 500, estimated=True),
        [Attempt("sonnet", "claude-sonnet-4-5", "ok", None, 1.2)],
    )
    skips = [Skip("mini", "daily budget $1.00 spent")]
    e = build_entry(job, outcome=outcome, skipped=skips, chain=("mini", "sonnet"))
    assert (e.cost_usd, e.top_tier_cost_usd) == (outcome.cost_usd, outcome.top_tier_cost_usd)
    assert (e.input_tokens, e.output_tokens, e.tokens_estimated) == (2000, 500, True)
    assert (e.status, e.backend, e.latency_s, e.first_token_s) == ("ok", "sonnet", 1.5, 0.3)
    assert e.redactions == 1 and e.source == "ask" and e.fallback
    assert [(a.backend, a.outcome, a.error) for a in e.attempts] == [
        ("mini", "skipped", "daily budget $1.00 spent"),
        ("sonnet", "ok", None),
    ]
    assert e.prompt is None  # no label, no request text
    # A backend skipped *behind* the one that answered is no fallback.
    behind = build_entry(job, outcome=outcome, skipped=skips, chain=("sonnet", "mini"))
    assert not behind.fallback and behind.attempts[0].outcome == "skipped"


def test_build_entry_for_failure_has_no_cost():
    job = Job([Message("user", "x")], tier="strong")
    attempts = [Attempt("sonnet", "claude-sonnet-4-5", "overloaded", "529", 0.4)]
    e = build_entry(job, attempts=attempts, status="failed", error="no backend answered")
    assert (e.status, e.backend, e.cost_usd, e.saved_usd) == ("failed", None, 0.0, 0.0)
    assert e.latency_s == 0.4 and e.error == "no backend answered" and not e.fallback


def test_request_text_is_stored_only_for_labelled_requests(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")

    def run(job: Job) -> int | None:
        ok = [Attempt("opus", "claude-opus-4-1", "ok")]
        return ledger.record(build_entry(job, outcome=_outcome("opus", job.tier, Usage(9, 9), ok)))

    plain = run(Job([Message("user", "secret plan for the parser")], tier="standard"))
    override = run(Job([Message("user", "design a cache")], "frontier", tier_override="frontier"))
    redo_messages = [
        Message("system", "You edit code."),
        Message("user", "fix the flaky test"),
        Message("assistant", "done", model="gpt-4.1-mini"),
        Message("user", "the user asked for a stronger model to redo it"),
    ]
    redo = run(Job(redo_messages, tier="strong", redo_of=plain))
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    raw = dict(db.execute("SELECT id, prompt FROM requests"))
    assert raw[plain] is None
    assert raw[override] == "design a cache"
    assert ledger.labels() == [
        ("design a cache", "frontier", "override"),
        ("fix the flaky test", "strong", "redo"),
    ]
    assert ledger.entry(redo).redo_of == plain
