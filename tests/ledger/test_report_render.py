"""The HTML report is self-contained and every chart carries the recorded numbers."""

from __future__ import annotations

import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from modelrouter.cli import main
from modelrouter.ledger import Ledger
from modelrouter.report import _usd, render
from modelrouter.stats import day_of, percentile
from support.ledger_samples import entry, make_rules, week_of_entries

NOW = time.time()


class Elements(HTMLParser):
    """Every start tag with its attributes, and the chart each one sits in."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str], str | None]] = []
        self._chart: list[str | None] = [None]
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "svg":
            self._chart.append(a.get("id"))
        self.tags.append((tag, a, self._chart[-1]))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart.pop()

    def handle_data(self, data):
        self.text.append(data)

    def in_chart(self, chart: str, tag: str) -> list[dict[str, str]]:
        return [a for t, a, c in self.tags if c == chart and t == tag]


def parse(page: str) -> Elements:
    p = Elements()
    p.feed(page)
    return p


@pytest.fixture(scope="module")
def week():
    return week_of_entries(make_rules(), NOW)


@pytest.fixture(scope="module")
def page(week):
    return parse(render(week, since=NOW - 7 * 86400, until=NOW))


def test_page_is_self_contained(week):
    html = render(week, until=NOW)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"\b(src|href)\s*=", html)
    # The only URL is the SVG namespace name, which browsers never fetch.
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}


def test_spend_chart_stacks_each_backends_spend_per_day(week, page):
    expected: dict[tuple[str, str], float] = defaultdict(float)
    for e in week:
        if e.cost_usd:
            expected[(day_of(e.ts), e.backend)] += e.cost_usd
    bars = {
        (a["data-day"], a["data-backend"]): float(a["data-usd"])
        for a in page.in_chart("spend-per-day", "rect")
    }
    assert bars.keys() == expected.keys()
    for k, v in expected.items():
        assert bars[k] == pytest.approx(v, abs=1e-6)


def test_savings_chart_ends_at_the_total_saved(week, page):
    ok = [e for e in week if e.status == "ok"]
    spend = sum(e.cost_usd for e in ok)
    top = sum(e.top_tier_cost_usd for e in ok)
    lines = {a["data-series"]: float(a["data-usd"]) for a in page.in_chart("savings", "polyline")}
    assert lines == pytest.approx({"spend": spend, "top-tier": top}, abs=1e-6)
    (label,) = [a for a in page.in_chart("savings", "text") if "data-saved-usd" in a]
    assert float(label["data-saved-usd"]) == pytest.approx(top - spend, abs=1e-6)
    points = page.in_chart("savings", "circle")
    assert float(points[-1]["data-cum-usd"]) == pytest.approx(spend, abs=1e-6)


def test_tier_mix_and_latency_and_fallbacks(week, page):
    tiers = {a["data-tier"]: int(a["data-requests"]) for a in page.in_chart("tier-mix", "rect")}
    assert tiers == Counter(e.tier for e in week)

    calls = defaultdict(list)
    for e in week:
        for a in e.attempts:
            if a.outcome == "ok":
                calls[a.backend].append(a.elapsed_s)
    latency = {a["data-backend"]: a for a in page.in_chart("latency", "rect")}
    assert latency.keys() == calls.keys()
    for backend, times in calls.items():
        assert float(latency[backend]["data-median-s"]) == pytest.approx(
            percentile(times, 50), abs=1e-4
        )
        assert float(latency[backend]["data-p95-s"]) == pytest.approx(
            percentile(times, 95), abs=1e-4
        )

    fallbacks = sum(int(a.get("data-fallbacks", 0)) for a in page.in_chart("fallbacks", "rect"))
    assert fallbacks == sum(e.fallback for e in week) > 0
    rows = [a["data-entry"] for t, a, _ in page.tags if t == "tr" and "data-entry" in a]
    assert len(rows) == fallbacks  # the table lists each fallback (fewer than 25 here)


def test_headline_cards(week, page):
    cards = {
        k: v for t, a, _ in page.tags if t == "div" for k, v in a.items() if k.startswith("data-")
    }
    assert int(cards["data-requests"]) == len(week)
    assert float(cards["data-spend-usd"]) == pytest.approx(sum(e.cost_usd for e in week), abs=1e-6)


def test_recorded_text_is_escaped():
    rules = make_rules()
    hostile = entry(rules, ts=NOW, backend="sonnet", failed_first="mini", tier="standard",
                    action='<img src=x onerror="alert(1)">')  # fmt: skip
    html = render([hostile], until=NOW)
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_empty_ledger_renders_placeholders():
    p = parse(render([], until=NOW))
    text = " ".join(p.text)
    assert "No spend recorded in this period" in text and "No fallbacks in this period." in text
    assert {a.get("id") for t, a, _ in p.tags if t == "svg"} >= {"spend-per-day", "tier-mix"}


def test_cli_writes_the_report(tmp_path, capsys, week):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    for e in week:
        ledger.record(e)
    ledger.close()
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--ledger", str(path), "--out", str(out), "--since", "all"]) == 0
    assert f"({len(week)} requests)" in capsys.readouterr().out
    p = parse(out.read_text(encoding="utf-8"))
    assert int(next(a for t, a, _ in p.tags if "data-requests" in a)["data-requests"]) == len(week)


def test_money_axis_labels_are_distinct_even_for_tiny_amounts():
    from modelrouter.report import _usd_tick

    for top, ticks in [(0.0005, 5), (0.025, 5), (0.001, 5), (2.0, 4)]:
        labels = [_usd_tick(top * i / ticks, top / ticks) for i in range(ticks + 1)]
        assert len(set(labels)) == len(labels), labels


def test_a_team_report_shows_spend_and_savings_per_proxy_key(week):
    rng = random.Random(3)
    keyed = [replace(e, key=rng.choice(["alice", "ci-bot", None])) for e in week]
    html = render(keyed, since=NOW - 7 * 86400, until=NOW)
    expected: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for e in keyed:
        row = expected[e.key or "(no key)"]
        row[0] += 1
        row[1] += e.cost_usd
        row[2] += e.top_tier_cost_usd - e.cost_usd
    cells = re.findall(
        r'<tr data-key="([^"]+)"><td>[^<]*</td><td class="n">([\d,]+)</td>'
        r'<td class="n">([^<]+)</td><td class="n">([^<]+)</td>',
        html,
    )
    assert {k: (int(n.replace(",", "")), s, v) for k, n, s, v in cells} == {
        k: (n, _usd(spend), _usd(saved)) for k, (n, spend, saved) in expected.items()
    }
    assert "By proxy key" in html
    # One person's ledger (no keys) has no per-key section at all.
    assert "By proxy key" not in render(week, until=NOW)


def test_the_report_shows_each_source_with_its_request_count(week):
    sourced = [replace(e, source="proxy" if i % 3 else "lsp") for i, e in enumerate(week)]
    html = render(sourced, until=NOW)
    cells = re.findall(r'<tr data-source="([^"]+)"><td>[^<]*</td><td class="n">([\d,]+)</td>', html)
    assert dict((k, int(n)) for k, n in cells) == dict(Counter(e.source for e in sourced))
