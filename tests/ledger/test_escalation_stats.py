"""`stats` and the report show, per tier and per action, answers that failed a check, the
escalation rate (automatic re-asks / answers) and the cost of escalations beside the
savings, from recorded ledgers; and say "no escalations" when there were none."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.cli import main
from modelrouter.ledger import Ledger
from modelrouter.report import render
from modelrouter.stats import NO_ACTION, summarize
from support.ledger_samples import (
    TIERS,
    entry,
    make_rules,
    record_escalated,
    top_tier_cost_usd,
)

NOW = time.time()
ORDER = list(TIERS)

# One request: (first tier's rank, action, escalation steps, input tokens, output tokens).
requests = st.lists(
    st.tuples(
        st.integers(0, len(ORDER) - 1),
        st.sampled_from(["fix-typo", "implement", None]),
        st.integers(0, 2),
        st.integers(1, 5000),
        st.integers(1, 2000),
    ),
    max_size=14,
)


def _record(ledger: Ledger, generated) -> list[list]:
    """Each generated request recorded; its answers, standing one last."""
    rules = make_rules()
    out = []
    for i, (rank, action, steps, tin, tout) in enumerate(generated):
        steps = min(steps, len(ORDER) - 1 - rank)  # no tier above the top one
        out.append(
            record_escalated(
                ledger, rules, ts=NOW - 3600 + 10 * i, tier=ORDER[rank], steps=steps,
                action=action, input_tokens=tin, output_tokens=tout,
            )
        )  # fmt: skip
    assert ledger.flush()
    return out


def _expected(chains, group) -> dict[str, dict[str, float]]:
    """Per group, worked out from what was generated (not from the ledger)."""
    out: dict[str, dict[str, float]] = {}
    involved: dict[str, dict[int, float]] = {}  # entries an escalation took, each once
    for chain in chains:
        for answer in chain:
            row = out.setdefault(group(answer), {"re_asks": 0, "failed": 0, "answers": 0})
            row["answers"] += 1
        for failed, re_ask in itertools.pairwise(chain):
            out[group(failed)]["re_asks"] += 1
            out[group(failed)]["failed"] += 1
            took = involved.setdefault(group(failed), {})
            took[failed.id] = failed.cost_usd
            took[re_ask.id] = re_ask.cost_usd
    for key, row in out.items():
        row["cost"] = sum(involved.get(key, {}).values())
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_rates_and_costs_per_tier_and_action_match_the_recorded_escalations(
    tmp_path_factory, generated
):
    ledger = Ledger(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")
    chains = _record(ledger, generated)
    entries = ledger.entries()
    ledger.close()
    for by, group in (("tier", lambda e: e.tier), ("action", lambda e: e.action or NO_ACTION)):
        s = summarize(entries, by=by)
        want = _expected(chains, group)
        rows = {r["key"]: r for r in s["by"]}
        assert rows.keys() == want.keys()
        for key, w in want.items():
            r = rows[key]
            assert r["ok"] == w["answers"]
            assert r["escalations"] == w["re_asks"]
            assert r["checks_failed"] == w["failed"]
            assert r["escalation_rate"] == pytest.approx(w["re_asks"] / w["answers"], abs=1e-4)
            assert r["escalation_cost_usd"] == pytest.approx(w["cost"], abs=1e-6)
        # The same figures whatever `--by` is, beside each group's savings.
        assert s["escalation_by"][by] == [
            {f: r[f] for f in ("key", "ok", "saved_usd", "checks_failed", "escalations",
                               "escalation_rate", "escalation_cost_usd")}
            for r in s["by"]
        ]  # fmt: skip
    s = summarize(entries)
    re_asks = sum(len(c) - 1 for c in chains)
    answers = sum(len(c) for c in chains)
    assert s["escalations"] == re_asks and s["checks_failed"] == re_asks
    assert s["escalation_rate"] == pytest.approx(re_asks / answers if answers else 0, abs=1e-4)
    # Each request is compared with the top tier once; every answer it took is spend.
    top = sum(top_tier_cost_usd(make_rules(), c[-1].input_tokens, c[-1].output_tokens)
              for c in chains)  # fmt: skip
    spend = sum(e.cost_usd for c in chains for e in c)
    assert s["saved_usd"] == pytest.approx(top - spend, abs=1e-5)
    assert s["escalation_cost_usd"] == pytest.approx(
        sum(e.cost_usd for c in chains if len(c) > 1 for e in c), abs=1e-6
    )


def test_both_ledger_kinds_give_the_same_escalation_figures(ledger_target, tmp_path):
    generated = [(0, "fix-typo", 1, 1200, 90), (1, "implement", 2, 3000, 800), (0, None, 0, 10, 5)]
    sqlite = Ledger(tmp_path / "other.sqlite3")
    _record(sqlite, generated)
    ledger = Ledger(ledger_target)
    _record(ledger, generated)
    for by in ("tier", "action"):
        figures = [summarize(lg.entries(), by=by)["escalation_by"] for lg in (sqlite, ledger)]
        assert figures[0] == figures[1]
        assert sum(r["escalations"] for r in figures[0][by]) == 3
    sqlite.close()
    ledger.close()


def test_a_re_ask_of_an_answer_before_the_period_counts_in_its_own_row(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _, re_ask = record_escalated(ledger, make_rules(), ts=NOW - 60, tier="trivial", steps=1)
    only = ledger.entries(since=re_ask.ts)  # the failed answer is just before the period
    ledger.close()
    assert [e.id for e in only] == [re_ask.id]
    s = summarize(only, by="tier")
    assert [(r["key"], r["escalations"], r["escalation_rate"]) for r in s["by"]] == [
        (re_ask.tier, 1, 1.0)
    ]
    assert s["escalation_cost_usd"] == pytest.approx(re_ask.cost_usd)
    assert s["saved_usd"] == pytest.approx(re_ask.saved_usd)


def _ledger(tmp_path, steps_per_request: list[tuple[str, str | None, int]]) -> str:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    rules = make_rules()
    for i, (tier, action, steps) in enumerate(steps_per_request):
        record_escalated(ledger, rules, ts=NOW - 600 + 10 * i, tier=tier, steps=steps,
                         action=action)  # fmt: skip
    assert ledger.flush()
    ledger.close()
    return str(path)


def test_stats_says_no_escalations_when_there_were_none(tmp_path, capsys):
    path = _ledger(tmp_path, [("trivial", "fix-typo", 0), ("standard", "implement", 0)])
    assert main(["stats", "--ledger", path, "--by", "tier"]) == 0
    text = capsys.readouterr().out
    assert "escalations   no escalations (no answer failed a check)" in text
    assert "escalated, by" not in text and "re-ask" not in text
    assert main(["stats", "--ledger", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["escalations"], data["escalation_rate"], data["escalation_cost_usd"]) == (0, 0, 0)


def test_stats_a_failed_check_that_was_not_escalated(tmp_path, capsys):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    stored = ledger.record(entry(make_rules(), ts=NOW - 60, tier="frontier"))
    ledger.submit_check(stored, "syntax", "line 2: invalid syntax")
    assert ledger.flush()
    ledger.close()
    assert main(["stats", "--ledger", str(path)]) == 0
    text = capsys.readouterr().out
    assert "escalations   no escalations (1 answer(s) failed a check)" in text
    assert re.search(r"frontier\s+1\s+\$0\.00\s+1\s+0\s+0\.0%\s+\$0\.00", text), text


def test_stats_text_shows_the_escalation_figures_per_tier_and_action(tmp_path, capsys):
    path = _ledger(
        tmp_path,
        [("trivial", "fix-typo", 1), ("trivial", "fix-typo", 0), ("trivial", "fix-typo", 0),
         ("standard", "implement", 2)],
    )  # fmt: skip
    assert main(["stats", "--ledger", path, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert main(["stats", "--ledger", path]) == 0
    text = capsys.readouterr().out
    answers = s["ok"]
    assert (s["escalations"], answers) == (3, 7)
    assert f"checks        {s['checks_failed']} answer(s) failed a check" in text
    assert (
        f"{s['escalations']} automatic re-ask(s) one tier up "
        f"({100 * s['escalations'] / answers:.1f}% of answers)"
    ) in text
    assert "escalated, by tier" in text and "escalated, by action" in text
    trivial = next(r for r in s["escalation_by"]["tier"] if r["key"] == "trivial")
    assert (trivial["ok"], trivial["escalations"], trivial["checks_failed"]) == (3, 1, 1)
    assert re.search(rf"trivial\s+3\s+\S+\s+1\s+1\s+{100 / 3:.1f}%", text), text


def test_one_entry_shows_its_failed_check_and_its_re_ask(tmp_path, capsys):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    failed, re_ask = record_escalated(ledger, make_rules(), ts=NOW - 60, tier="trivial", steps=1)
    assert ledger.flush()
    ledger.close()
    assert main(["stats", "--ledger", str(path), "--id", str(failed.id)]) == 0
    text = capsys.readouterr().out
    assert "check     failed unchanged: the answer equals the selection" in text
    assert f"replaced  by the automatic re-ask #{re_ask.id}" in text
    assert "replaced: its cost is spend, saved nothing" in text
    assert main(["stats", "--ledger", str(path), "--id", str(re_ask.id)]) == 0
    text = capsys.readouterr().out
    assert f"escalated from #{failed.id}, re-asked one tier up: {re_ask.escalation}" in text
    assert "redo of" not in text and "check     failed" not in text
    exe = [sys.executable, "-m", "modelrouter", "stats", "--ledger", str(path), "--json", "--id"]
    out = subprocess.run([*exe, str(failed.id)], capture_output=True, text=True, check=True)
    shown = json.loads(out.stdout)
    assert (shown["check_failed"], shown["re_asked_as"]) == ("unchanged", [re_ask.id])


def _rows(page: str, by: str) -> dict[str, dict[str, str]]:
    out = {}
    for attrs in re.findall(rf"<tr (data-escalation-{by}=[^>]*)>", page):
        fields = dict(re.findall(r'data-([\w-]+)="([^"]*)"', attrs))
        out[fields.pop(f"escalation-{by}")] = fields
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_the_report_shows_the_same_escalation_figures(tmp_path_factory, generated):
    ledger = Ledger(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")
    chains = _record(ledger, generated)
    entries = ledger.entries()
    ledger.close()
    page = render(entries, since=NOW - 86400, until=NOW)
    if not any(len(c) > 1 for c in chains):
        assert "No escalations in this period." in page
        assert "data-escalation-tier" not in page
        return
    for by, group in (("tier", lambda e: e.tier), ("action", lambda e: e.action or NO_ACTION)):
        shown = _rows(page, by)
        want = _expected(chains, group)
        assert shown.keys() == want.keys()
        for key, w in want.items():
            assert int(shown[key]["answers"]) == w["answers"]
            assert int(shown[key]["escalations"]) == w["re_asks"]
            assert int(shown[key]["checks-failed"]) == w["failed"]
            assert float(shown[key]["rate"]) == pytest.approx(w["re_asks"] / w["answers"], abs=1e-4)
            assert float(shown[key]["cost-usd"]) == pytest.approx(w["cost"], abs=1e-6)
    # The savings chart ends where `stats` does: replaced answers are spend only.
    saved = float(re.search(r'data-saved-usd="(-?[0-9.]+)">saved', page).group(1))
    assert saved == pytest.approx(summarize(entries)["saved_usd"], abs=1e-5)
