"""`modelrouter stats`: spend, savings, fallbacks and latency, worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

import pytest
from modelrouter.cli import main
from modelrouter.ledger import Ledger
from modelrouter.stats import parse_since, percentile, summarize
from support.ledger_samples import entry, make_rules

NOW = time.time()


def four_requests():
    rules = make_rules()
    return [
        # local is free; the top tier (opus, $15/$75 per million) would have cost $0.030.
        entry(rules, ts=NOW - 300, tier="trivial", input_tokens=1000, output_tokens=200,
              latency_s=0.5, action="fix-typo"),
        # mini failed, sonnet answered: $0.012 instead of $0.060.
        entry(rules, ts=NOW - 200, tier="standard", backend="sonnet", failed_first="mini",
              input_tokens=2000, output_tokens=400, latency_s=2.0),
        # Already on the top tier: $0.090, nothing saved.
        entry(rules, ts=NOW - 100, tier="frontier", input_tokens=1000, output_tokens=1000,
              latency_s=4.0, action=None),
        # Every backend failed: no cost, no saving.
        entry(rules, ts=NOW - 50, tier="standard", status="failed", latency_s=1.0),
    ]  # fmt: skip


def test_totals():
    s = summarize(four_requests())
    assert (s["requests"], s["ok"], s["failed"]) == (4, 3, 1)
    assert s["spend_usd"] == pytest.approx(0.102)
    assert s["top_tier_usd"] == pytest.approx(0.180)
    assert s["saved_usd"] == pytest.approx(0.078)
    assert s["saved_pct"] == pytest.approx(43.3)
    assert s["fallback_rate"] == 0.25 and s["fallbacks"] == 1
    assert (s["input_tokens"], s["output_tokens"]) == (4000, 1600)
    # Successful latencies 0.5, 2.0, 4.0: median 2.0, p95 interpolated 2.0 + 0.9 * 2.0.
    assert s["latency_median_s"] == 2.0
    assert s["latency_p95_s"] == pytest.approx(3.8)


def test_grouped_by_tier_largest_spend_first():
    s = summarize(four_requests(), by="tier")
    assert [r["key"] for r in s["by"]] == ["frontier", "standard", "trivial"]
    standard = s["by"][1]
    assert standard["requests"] == 2 and standard["fallback_rate"] == 0.5
    assert standard["spend_usd"] == pytest.approx(0.012)
    assert standard["saved_pct"] == pytest.approx(80.0)


def test_backend_latency_counts_failed_calls_but_times_only_answers():
    s = summarize(four_requests(), by="backend")
    per = {b["backend"]: b for b in s["backends"]}
    assert per["mini"] == {
        "backend": "mini",
        "calls": 2,
        "failed": 2,
        "latency_median_s": None,
        "latency_p95_s": None,
    }
    assert per["sonnet"]["calls"] == 1 and per["sonnet"]["latency_median_s"] == 2.0
    assert {r["key"] for r in s["by"]} == {"local", "sonnet", "opus", "(no answer)"}


def test_grouped_by_action_and_day():
    rules = make_rules()
    by_action = summarize(four_requests(), by="action")
    assert {r["key"]: r["requests"] for r in by_action["by"]} == {
        "fix-typo": 1,
        "implement": 2,
        "(free-form)": 1,
    }
    days = [entry(rules, ts=NOW - 86400 * k) for k in (3, 1, 1)]
    by_day = summarize(days, by="day")
    assert [r["requests"] for r in by_day["by"]] == [1, 2]
    assert by_day["by"][0]["key"] < by_day["by"][1]["key"]


def test_percentile_and_since_parsing():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert parse_since("7d", now=1_000_000) == 1_000_000 - 7 * 86400
    assert parse_since("90m", now=10_000) == 10_000 - 5400
    assert parse_since("all") is None
    assert parse_since("2026-11-01") == datetime(2026, 11, 1).astimezone().timestamp()
    with pytest.raises(ValueError, match="use a span like 7d"):
        parse_since("last week")
    with pytest.raises(ValueError, match="cannot group by"):
        summarize([], by="model")


def _ledger_with(path, entries):
    ledger = Ledger(path)
    for e in entries:
        assert ledger.record(e) is not None
    ledger.close()


def test_cli_json_has_the_documented_keys(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    _ledger_with(path, four_requests())
    # The installed console script, as a user runs it.
    exe = [sys.executable, "-m", "modelrouter", "stats", "--json", "--by", "tier"]
    out = subprocess.run([*exe, "--ledger", str(path)], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert {"requests", "spend_usd", "saved_usd", "fallback_rate", "by"} <= data.keys()
    assert data["requests"] == 4 and data["spend_usd"] == pytest.approx(0.102)
    assert [r["key"] for r in data["by"]] == ["frontier", "standard", "trivial"]


def test_cli_since_filters_and_text_output(tmp_path, capsys):
    path = tmp_path / "ledger.sqlite3"
    rules = make_rules()
    old = entry(rules, ts=NOW - 10 * 86400, tier="frontier", input_tokens=100_000)
    _ledger_with(path, [old, *four_requests()])
    assert main(["stats", "--ledger", str(path), "--since", "7d", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 4
    assert main(["stats", "--ledger", str(path), "--since", "all"]) == 0
    text = capsys.readouterr().out
    assert "requests      5  (1 failed)" in text
    assert "saved" in text and "sonnet" in text and "median" in text


def test_cli_shows_one_entry(tmp_path, capsys):
    path = tmp_path / "ledger.sqlite3"
    _ledger_with(path, four_requests())
    assert main(["stats", "--ledger", str(path), "--id", "2"]) == 0
    text = capsys.readouterr().out
    assert "Ledger entry #2" in text
    assert "1. mini gpt-4.1-mini rate_limit" in text and "2. sonnet claude-sonnet-4-5 ok" in text
    assert main(["stats", "--ledger", str(path), "--id", "99"]) == 1
    assert "no ledger entry #99" in capsys.readouterr().err


def test_cli_errors_are_clear_and_reading_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nothing-yet.sqlite3"
    assert main(["stats", "--ledger", str(missing)]) == 0
    assert "No requests recorded" in capsys.readouterr().out
    assert not missing.exists()
    assert main(["stats", "--ledger", str(missing), "--since", "yesterday"]) == 2
    assert "cannot read --since 'yesterday'" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"garbage" * 1000)
    assert main(["stats", "--ledger", str(corrupt)]) == 1
    assert "corrupt" in capsys.readouterr().err
