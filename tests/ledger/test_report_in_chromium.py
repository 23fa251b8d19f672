"""The report opened in a real browser (headless Chromium) draws the charts with the data."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from modelrouter.ledger import Ledger
from support.ledger_samples import make_rules, record_escalated, week_of_entries

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]

WIDTH, HEIGHT = 1200, 1600


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with everything that could reach the network switched off."""
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    now = time.time()
    week = week_of_entries(make_rules(), now)
    ledger = Ledger(tmp / "ledger.sqlite3")
    for e in week:
        assert ledger.record(e) is not None
    # Requests whose cheap answers failed a check and were re-asked a tier up.
    chains = [
        record_escalated(ledger, make_rules(), ts=now - 3600, tier="trivial", steps=1),
        record_escalated(ledger, make_rules(), ts=now - 1800, tier="standard", steps=2,
                         action="implement", input_tokens=4000, output_tokens=900),
    ]  # fmt: skip
    assert ledger.flush()
    ledger.close()
    replaced = [e for chain in chains for e in chain[:-1]]
    week += [e for chain in chains for e in chain]
    out = tmp / "report.html"
    subprocess.run(
        [sys.executable, "-m", "modelrouter", "report", "--ledger", str(tmp / "ledger.sqlite3"),
         "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp, out, week, replaced


def test_screenshot_shows_coloured_charts(report):
    from PIL import Image

    tmp, out, _, _ = report
    shot = tmp / "report.png"
    chromium(tmp, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", out.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # not a blank page

    def saturated(box) -> int:
        """Pixels of chart colour (clearly not grey/white text or background)."""
        region = image.crop(box)
        return sum(
            n
            for n, (r, g, b) in region.getcolors(maxcolors=1 << 20)
            if max(r, g, b) - min(r, g, b) > 60
        )

    # The first chart (spend per day) sits in the top part of the page, below the cards.
    charts = saturated((0, 200, WIDTH, 700))
    assert charts > 5000
    # The palette colours of at least three backends appear (stacked bars, legend).
    colours = {
        (r // 32, g // 32, b // 32)
        for n, (r, g, b) in image.crop((0, 200, WIDTH, 1600)).getcolors(maxcolors=1 << 20)
        if n > 200 and max(r, g, b) - min(r, g, b) > 60
    }
    assert len(colours) >= 3


def test_rendered_dom_carries_the_recorded_numbers(report):
    tmp, out, week, replaced = report
    dom = chromium(tmp, "--dump-dom", out.as_uri()).stdout
    # Chromium parsed the page and kept the inline SVG charts.
    for chart in ("spend-per-day", "savings", "tier-mix", "latency", "fallbacks"):
        assert re.search(rf'<svg[^>]*id="{chart}"', dom), chart
    spend = sum(float(v) for v in re.findall(r'data-usd="([0-9.]+)"', _chart(dom, "spend-per-day")))
    assert spend == pytest.approx(sum(e.cost_usd for e in week), abs=1e-5)
    tiers = dict(re.findall(r'data-tier="(\w+)" data-requests="(\d+)"', dom))
    assert sum(map(int, tiers.values())) == len(week)
    saved = float(re.search(r'data-saved-usd="([0-9.]+)"', _chart(dom, "savings")).group(1))
    # An answer replaced by an automatic re-ask saved nothing: its cost is spend only.
    ok = [e for e in week if e.status == "ok" and e not in replaced]
    expected = sum(e.saved_usd for e in ok) - sum(e.cost_usd for e in replaced)
    assert saved == pytest.approx(expected, abs=1e-5)
    assert f"saved ${saved:,.2f}" in dom
    # The escalation tables survived parsing, with one re-ask per replaced answer.
    rows = re.findall(r'<tr data-escalation-tier="(\w+)"[^>]*data-escalations="(\d+)"', dom)
    assert sum(int(n) for _, n in rows) == len(replaced)
    assert {t for t, n in rows if int(n)} == {e.tier for e in replaced}


def _chart(dom: str, chart_id: str) -> str:
    start = dom.index(f'id="{chart_id}"')
    return dom[start : dom.index("</svg>", start)]
