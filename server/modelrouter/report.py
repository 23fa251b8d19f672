"""The usage report: one self-contained HTML page with inline SVG charts.

No script, no fonts, no network: the file opens the same from disk, an e-mail attachment or
a CI artifact. Every chart element carries its number in a ``data-*`` attribute and a
``<title>`` tooltip, so the figures can be read back (and tested) from the page itself.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from modelrouter import __version__
from modelrouter.ledger import RequestRecord
from modelrouter.stats import NO_ANSWER, Escalations, day_of, percentile, summarize

# Colour-blind-friendly palette (Okabe-Ito, darkened yellow), assigned to backends by name.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#B59B00",
    "#7F5AB5",
    "#444444",
)
TIER_SHADES = ("#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
SPEND = "#0072B2"
TOP_TIER = "#D55E00"
SAVED = "#009E73"
MAX_DAYS = 120  # longer periods keep the most recent days (the headline covers all)

W, H = 1040, 260
ML, MR, MT, MB = 64, 16, 14, 44  # plot margins


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _usd(v: float) -> str:
    if v == 0:
        return "$0"
    return f"${v:,.4f}" if abs(v) < 1 else f"${v:,.2f}"


def _usd_short(v: float) -> str:
    """Axis and bar labels: cents, or the first significant digit below a cent."""
    if v == 0:
        return "$0"
    if abs(v) >= 0.01:
        return f"${v:,.2f}"
    return f"${v:.1g}" if f"{v:.1g}".find("e") < 0 else f"${v:.4f}"


def _usd_tick(v: float, step: float) -> str:
    """An axis label with just enough decimals to tell neighbouring ticks apart."""
    if v == 0:
        return "$0"
    decimals = max(2, math.ceil(-math.log10(step)) + 1)
    text = f"{v:,.{decimals}f}"
    head, _, tail = text.partition(".")
    tail = tail[:2] + tail[2:].rstrip("0")
    return f"${head}.{tail}"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def _nice_ceiling(v: float) -> float:
    """The smallest 1/2/2.5/5 x 10^k at or above v (axis tops)."""
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp + 1e-12:
            return m * exp
    return 10 * exp


def _days(entries: list[RequestRecord], since: float | None, until: float) -> list[str]:
    # From the first recorded request (or the start of the period, if later): a new user's
    # 30-day report should not be mostly empty days.
    starts = [day_of(entries[0].ts)] if entries else []
    if since is not None:
        starts.append(day_of(since))
    first = max(starts) if starts else None
    last = day_of(until)
    if first is None or first > last:
        first = last
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    days = []
    while d <= end:
        days.append(d.isoformat())
        d += timedelta(days=1)
    return days[-MAX_DAYS:]


def _colors(names: Iterable[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(names)))}


def _legend(items: list[tuple[str, str]]) -> str:
    return (
        '<ul class="legend">'
        + "".join(
            f'<li><span class="swatch" style="background:{c}"></span>{_e(n)}</li>' for n, c in items
        )
        + "</ul>"
    )


def _y_axis(top: float, fmt) -> str:
    """Grid lines and labels; `fmt(value, step)` writes a label."""
    # Round steps: a top of 2 x 10^k splits in 4, 1/2.5/5 x 10^k in 5.
    mantissa = top / 10 ** math.floor(math.log10(top))
    ticks = 4 if abs(mantissa - 2) < 1e-9 else 5
    out = []
    ph = H - MT - MB
    for i in range(ticks + 1):
        v = top * i / ticks
        y = MT + ph - ph * i / ticks
        label = _e(fmt(v, top / ticks))
        out.append(
            f'<line class="grid" x1="{ML}" x2="{W - MR}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    return "".join(out)


def _x_labels(days: list[str], x_of) -> str:
    step = max(1, math.ceil(len(days) / 14))
    out = []
    for i, d in enumerate(days):
        if i % step == 0 or i == len(days) - 1:
            out.append(
                f'<text class="tick" x="{x_of(i):.1f}" y="{H - MB + 18}" '
                f'text-anchor="middle">{_e(d[5:])}</text>'
            )
    return "".join(out)


def _svg(chart_id: str, label: str, body: str, height: int = H) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _empty(chart_id: str, message: str) -> str:
    return _svg(
        chart_id,
        message,
        f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">{_e(message)}</text>',
        height=120,
    )


def spend_chart(entries: list[RequestRecord], days: list[str], colors: dict[str, str]) -> str:
    """Spend per day, stacked by the backend that answered."""
    per: dict[str, dict[str, float]] = {d: {} for d in days}
    for e in entries:
        d = day_of(e.ts)
        if d in per and e.backend and e.cost_usd:
            per[d][e.backend] = per[d].get(e.backend, 0.0) + e.cost_usd
    totals = {d: sum(v.values()) for d, v in per.items()}
    if not any(totals.values()):
        return _empty("spend-per-day", "No spend recorded in this period")
    top = _nice_ceiling(max(totals.values()))
    ph, pw = H - MT - MB, W - ML - MR
    band = pw / len(days)
    bar = max(2.0, min(48.0, band * 0.7))

    def x_of(i: int) -> float:
        return ML + band * (i + 0.5)

    parts = [_y_axis(top, _usd_tick)]
    for i, d in enumerate(days):
        y = MT + ph
        for backend in sorted(per[d]):
            v = per[d][backend]
            h = ph * v / top
            y -= h
            parts.append(
                f'<rect class="bar" x="{x_of(i) - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colors[backend]}" data-day="{d}" '
                f'data-backend="{_e(backend)}" data-usd="{v:.6f}">'
                f"<title>{d} · {_e(backend)}: {_usd(v)}</title></rect>"
            )
        if totals[d] and band >= 44:  # narrower bands would make the labels overlap
            parts.append(
                f'<text class="value" x="{x_of(i):.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'data-day-total="{totals[d]:.6f}">{_e(_usd_short(totals[d]))}</text>'
            )
    parts.append(_x_labels(days, x_of))
    legend = _legend([(b, colors[b]) for b in sorted({b for v in per.values() for b in v})])
    return _svg("spend-per-day", "Spend per day by backend", "".join(parts)) + legend


def savings_chart(entries: list[RequestRecord], days: list[str]) -> str:
    """Cumulative spend versus what the same requests would have cost on the top tier (an
    answer replaced by an automatic re-ask is spend only, as in `stats`)."""
    esc = Escalations.among(entries)
    spend = dict.fromkeys(days, 0.0)
    top = dict.fromkeys(days, 0.0)
    for e in entries:
        d = day_of(e.ts)
        if d in spend and e.status == "ok":
            spend[d] += e.cost_usd
            top[d] += esc.top_tier_usd(e)
    cum_s, cum_t, s_acc, t_acc = [], [], 0.0, 0.0
    for d in days:
        s_acc += spend[d]
        t_acc += top[d]
        cum_s.append(s_acc)
        cum_t.append(t_acc)
    if not t_acc and not s_acc:
        return _empty("savings", "No priced requests in this period")
    y_top = _nice_ceiling(max(max(cum_t), max(cum_s)))
    ph, pw = H - MT - MB, W - ML - MR
    n = len(days)

    def x_of(i: int) -> float:
        return ML + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y_of(v: float) -> float:
        return MT + ph - ph * v / y_top

    pts_s = [(x_of(i), y_of(v)) for i, v in enumerate(cum_s)]
    pts_t = [(x_of(i), y_of(v)) for i, v in enumerate(cum_t)]
    area = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts_t + pts_s[::-1])
    saved = t_acc - s_acc
    pct = 100 * saved / t_acc if t_acc else 0.0
    parts = [
        _y_axis(y_top, _usd_tick),
        f'<polygon class="saved-area" points="{area}" fill="{SAVED}" fill-opacity="0.22">'
        f"<title>saved {_usd(saved)}</title></polygon>",
        f'<polyline class="line" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts_t)}" '
        f'stroke="{TOP_TIER}" data-series="top-tier" data-usd="{t_acc:.6f}"/>',
        f'<polyline class="line" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts_s)}" '
        f'stroke="{SPEND}" data-series="spend" data-usd="{s_acc:.6f}"/>',
    ]
    for i, d in enumerate(days):
        parts.append(
            f'<circle cx="{pts_s[i][0]:.1f}" cy="{pts_s[i][1]:.1f}" r="3" fill="{SPEND}" '
            f'data-day="{d}" data-cum-usd="{cum_s[i]:.6f}" data-cum-top-usd="{cum_t[i]:.6f}">'
            f"<title>{d}: spent {_usd(cum_s[i])} so far; top tier would be "
            f"{_usd(cum_t[i])}</title></circle>"
        )
    xe, ye = pts_t[-1]
    parts.append(
        f'<text class="value" x="{min(xe, W - MR - 4):.1f}" y="{max(ye - 8, MT + 12):.1f}" '
        f'text-anchor="end" data-saved-usd="{saved:.6f}">saved {_e(_usd(saved))} '
        f"({pct:.1f}%)</text>"
    )
    parts.append(_x_labels(days, x_of))
    legend = _legend(
        [
            ("actual spend (cumulative)", SPEND),
            ("all requests on the top tier (cumulative)", TOP_TIER),
            ("saved", SAVED),
        ]
    )
    return _svg("savings", "Savings versus all-top-tier", "".join(parts)) + legend


def _hbars(chart_id: str, label: str, rows: list[tuple[str, float, str, str, str]]) -> str:
    """Horizontal bars: (name, value, colour, text shown, data attributes)."""
    row_h, gap, top_pad = 30, 10, 8
    height = top_pad * 2 + len(rows) * (row_h + gap)
    name_w, value_w = 180, 260
    pw = W - name_w - value_w
    vmax = max((v for _, v, _, _, _ in rows), default=0) or 1
    parts = []
    for i, (name, v, color, text, data) in enumerate(rows):
        y = top_pad + i * (row_h + gap)
        w = max(1.0, pw * v / vmax)
        parts.append(
            f'<text class="name" x="{name_w - 10}" y="{y + row_h / 2 + 5}" '
            f'text-anchor="end">{_e(name)}</text>'
            f'<rect class="bar" x="{name_w}" y="{y}" width="{w:.1f}" height="{row_h}" '
            f'fill="{color}" {data}><title>{_e(name)}: {_e(text)}</title></rect>'
            f'<text class="value" x="{name_w + w + 8:.1f}" y="{y + row_h / 2 + 5}">'
            f"{_e(text)}</text>"
        )
    return _svg(chart_id, label, "".join(parts), height=height)


def tier_chart(entries: list[RequestRecord]) -> str:
    """How many requests went to each tier, cheapest (by mean cost) first."""
    if not entries:
        return _empty("tier-mix", "No requests in this period")
    groups: dict[str, list[RequestRecord]] = {}
    for e in entries:
        groups.setdefault(e.tier, []).append(e)
    order = sorted(groups, key=lambda t: (sum(e.cost_usd for e in groups[t]) / len(groups[t]), t))
    # One hue, darker for dearer tiers: tiers are an order, not categories like backends.
    shades = TIER_SHADES[-len(order) :] if len(order) <= len(TIER_SHADES) else None
    colors = {t: shades[i] if shades else PALETTE[i % len(PALETTE)] for i, t in enumerate(order)}
    total = len(entries)
    rows = []
    for t in order:
        n = len(groups[t])
        spend = sum(e.cost_usd for e in groups[t])
        rows.append(
            (
                t,
                float(n),
                colors[t],
                f"{n} requests ({100 * n / total:.0f}%) · {_usd(spend)}",
                f'data-tier="{_e(t)}" data-requests="{n}" data-usd="{spend:.6f}"',
            )
        )
    return _hbars("tier-mix", "Tier mix", rows)


def latency_chart(entries: list[RequestRecord], colors: dict[str, str]) -> str:
    """Median bar and p95 whisker of each backend's successful calls."""
    calls: dict[str, list[float]] = {}
    for e in entries:
        for a in e.attempts:
            if a.outcome == "ok":
                calls.setdefault(a.backend, []).append(a.elapsed_s)
    if not calls:
        return _empty("latency", "No successful calls in this period")
    row_h, gap, top_pad = 30, 10, 8
    height = top_pad * 2 + len(calls) * (row_h + gap) + 24
    name_w, value_w = 180, 260
    pw = W - name_w - value_w
    stats = {b: (percentile(v, 50) or 0.0, percentile(v, 95) or 0.0) for b, v in calls.items()}
    vmax = _nice_ceiling(max(p95 for _, p95 in stats.values()))
    parts = []
    for i, b in enumerate(sorted(stats, key=lambda b: stats[b][0])):
        p50, p95 = stats[b]
        y = top_pad + i * (row_h + gap)
        w50, w95 = pw * p50 / vmax, pw * p95 / vmax
        mid = y + row_h / 2
        text = f"median {_secs(p50)} · p95 {_secs(p95)} · {len(calls[b])} calls"
        parts.append(
            f'<text class="name" x="{name_w - 10}" y="{mid + 5}" text-anchor="end">{_e(b)}</text>'
            f'<rect class="bar" x="{name_w}" y="{y}" width="{max(w50, 1):.1f}" height="{row_h}" '
            f'fill="{colors.get(b, PALETTE[-1])}" data-backend="{_e(b)}" '
            f'data-median-s="{p50:.4f}" data-p95-s="{p95:.4f}" data-calls="{len(calls[b])}">'
            f"<title>{_e(b)}: {_e(text)}</title></rect>"
            f'<line class="whisker" x1="{name_w + w50:.1f}" x2="{name_w + w95:.1f}" '
            f'y1="{mid}" y2="{mid}"/>'
            f'<line class="whisker" x1="{name_w + w95:.1f}" x2="{name_w + w95:.1f}" '
            f'y1="{y + 6}" y2="{y + row_h - 6}"/>'
            f'<text class="value" x="{name_w + max(w95, w50) + 8:.1f}" y="{mid + 5}">'
            f"{_e(text)}</text>"
        )
    axis_y = height - 10
    for i in range(5):
        x = name_w + pw * i / 4
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{axis_y}" text-anchor="middle">'
            f"{vmax * i / 4:g}s</text>"
        )
    return _svg("latency", "Latency per backend", "".join(parts), height=height)


def fallback_chart(entries: list[RequestRecord], days: list[str]) -> str:
    """Requests per day that fell back, over all requests that day."""
    per = {d: [0, 0] for d in days}
    for e in entries:
        d = day_of(e.ts)
        if d in per:
            per[d][0] += 1
            per[d][1] += int(e.fallback)
    if not any(n for n, _ in per.values()):
        return _empty("fallbacks", "No requests in this period")
    top = _nice_ceiling(max(n for n, _ in per.values()))
    ph, pw = H - MT - MB, W - ML - MR
    band = pw / len(days)
    bar = max(2.0, min(48.0, band * 0.7))

    def x_of(i: int) -> float:
        return ML + band * (i + 0.5)

    parts = [_y_axis(top, lambda v, _step: f"{v:g}")]
    for i, d in enumerate(days):
        n, fb = per[d]
        if not n:
            continue
        h_all, h_fb = ph * n / top, ph * fb / top
        x = x_of(i) - bar / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{MT + ph - h_all:.1f}" width="{bar:.1f}" '
            f'height="{h_all:.1f}" fill="#BBBBBB" data-day="{d}" data-requests="{n}">'
            f"<title>{d}: {n} requests</title></rect>"
            f'<rect class="bar" x="{x:.1f}" y="{MT + ph - h_fb:.1f}" width="{bar:.1f}" '
            f'height="{h_fb:.1f}" fill="{TOP_TIER}" data-day="{d}" data-fallbacks="{fb}">'
            f"<title>{d}: {fb} fell back</title></rect>"
        )
    parts.append(_x_labels(days, x_of))
    legend = _legend([("requests", "#BBBBBB"), ("fell back to another backend", TOP_TIER)])
    return _svg("fallbacks", "Fallback events per day", "".join(parts)) + legend


def fallback_table(entries: list[RequestRecord], limit: int = 25) -> str:
    """The most recent fallbacks: what failed or was skipped, and who answered instead."""
    events = [e for e in entries if e.fallback][-limit:][::-1]
    if not events:
        return '<p class="muted">No fallbacks in this period.</p>'
    rows = []
    for e in events:
        why = "; ".join(
            f"{a.backend}: {a.outcome}" + (f" ({a.error})" if a.error else "")
            for a in e.attempts
            if a.outcome != "ok"
        )
        when = datetime.fromtimestamp(e.ts).astimezone().strftime("%Y-%m-%d %H:%M")
        rows.append(
            f'<tr data-entry="{e.id}"><td>#{e.id}</td><td>{_e(when)}</td>'
            f"<td>{_e(e.action or 'free-form')}</td><td>{_e(e.tier)}</td><td>{_e(why)}</td>"
            f"<td>{_e(e.backend or NO_ANSWER)}</td></tr>"
        )
    return (
        '<table class="events"><thead><tr><th>entry</th><th>time</th><th>action</th>'
        "<th>tier</th><th>failed or skipped</th><th>answered by</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


CSS = """
:root { color-scheme: light; --fg:#1d2330; --muted:#5b6477; --bg:#f6f7f9; --card:#fff;
  --line:#e3e6ec; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 10px; }
.muted, .sub { color: var(--muted); }
.cards { display:grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin: 18px 0; }
.card, section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.card { padding: 12px 14px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 22px; font-weight: 650; margin-top: 2px; }
.card .s { color: var(--muted); font-size: 12px; }
section { padding: 16px 18px; margin: 14px 0; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .tick { fill: var(--muted); font-size: 12px; }
svg .value { fill: var(--fg); font-size: 12px; font-weight: 600; }
svg .name { fill: var(--fg); font-size: 13px; }
svg .empty { fill: var(--muted); font-size: 15px; }
svg .line { fill: none; stroke-width: 2.5; }
svg .whisker { stroke: var(--fg); stroke-width: 1.5; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 6px 18px; padding: 0;
  margin: 8px 0 0; color: var(--muted); font-size: 12px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.escalation + table.escalation { margin-top: 14px; }
"""


def _card(key: str, value: str, sub: str, data: str) -> str:
    return (
        f'<div class="card" {data}><div class="k">{_e(key)}</div>'
        f'<div class="v">{_e(value)}</div><div class="s">{_e(sub)}</div></div>'
    )


def _group_table(summary: dict, heading: str, attr: str) -> str:
    """Requests, spend, savings and fallbacks per group (a source or a proxy key)."""
    rows = "".join(
        f'<tr data-{attr}="{_e(r["key"])}"><td>{_e(r["key"])}</td><td class="n">{r["requests"]:,}'
        f'</td><td class="n">{_usd(r["spend_usd"])}</td><td class="n">{_usd(r["saved_usd"])}</td>'
        f'<td class="n">{100 * r["fallback_rate"]:.1f}%</td></tr>'
        for r in summary["by"]
    )
    return (
        f'<table><thead><tr><th>{_e(heading)}</th><th class="n">requests</th>'
        '<th class="n">spend</th>'
        f'<th class="n">saved</th><th class="n">fell back</th></tr></thead><tbody>{rows}'
        "</tbody></table>"
    )


def escalation_tables(summary: dict) -> str:
    """Per tier and per action: answers, savings, failed checks, automatic re-asks one tier
    up (and their rate), and what the escalations cost."""
    if not summary["escalations"] and not summary["checks_failed"]:
        return '<p class="muted" id="no-escalations">No escalations in this period.</p>'
    out = [
        f'<p data-escalations="{summary["escalations"]}" '
        f'data-escalation-rate="{summary["escalation_rate"]:.4f}" '
        f'data-escalation-cost-usd="{summary["escalation_cost_usd"]:.6f}">'
        f"{summary['checks_failed']:,} answer(s) failed a check; "
        f"{summary['escalations']:,} automatic re-ask(s) one tier up "
        f"({100 * summary['escalation_rate']:.1f}% of answers), costing "
        f"{_e(_usd(summary['escalation_cost_usd']))} with the answers they replaced.</p>"
    ]
    for by, rows in summary["escalation_by"].items():
        body = "".join(
            f'<tr data-escalation-{by}="{_e(r["key"])}" data-answers="{r["ok"]}" '
            f'data-saved-usd="{r["saved_usd"]:.6f}" data-checks-failed="{r["checks_failed"]}" '
            f'data-escalations="{r["escalations"]}" data-rate="{r["escalation_rate"]:.4f}" '
            f'data-cost-usd="{r["escalation_cost_usd"]:.6f}">'
            f'<td>{_e(r["key"])}</td><td class="n">{r["ok"]:,}</td>'
            f'<td class="n">{_usd(r["saved_usd"])}</td><td class="n">{r["checks_failed"]:,}</td>'
            f'<td class="n">{r["escalations"]:,}</td>'
            f'<td class="n">{100 * r["escalation_rate"]:.1f}%</td>'
            f'<td class="n">{_usd(r["escalation_cost_usd"])}</td></tr>'
            for r in rows
        )
        out.append(
            f'<table class="escalation" id="escalation-by-{by}"><thead><tr><th>{_e(by)}</th>'
            '<th class="n">answers</th><th class="n">saved</th><th class="n">failed a check</th>'
            '<th class="n">re-asked a tier up</th><th class="n">escalation rate</th>'
            f'<th class="n">escalation cost</th></tr></thead><tbody>{body}</tbody></table>'
        )
    return "".join(out)


def _backend_table(summary: dict) -> str:
    rows = "".join(
        f'<tr data-backend="{_e(r["key"])}"><td>{_e(r["key"])}</td><td class="n">{r["requests"]:,}'
        f'</td><td class="n">{r["input_tokens"]:,}</td><td class="n">{r["output_tokens"]:,}</td>'
        f'<td class="n">{_usd(r["spend_usd"])}</td><td class="n">{_usd(r["saved_usd"])}</td>'
        f'<td class="n">{100 * r["fallback_rate"]:.1f}%</td></tr>'
        for r in summary["by"]
    )
    return (
        '<table><thead><tr><th>answered by</th><th class="n">requests</th>'
        '<th class="n">tokens in</th><th class="n">tokens out</th><th class="n">spend</th>'
        f'<th class="n">saved</th><th class="n">fell back</th></tr></thead><tbody>{rows}'
        "</tbody></table>"
    )


def render(
    entries: list[RequestRecord],
    *,
    since: float | None = None,
    until: float | None = None,
    ledger_path: str = "",
) -> str:
    """The complete HTML report for `entries` (oldest first)."""
    until = time.time() if until is None else until
    s = summarize(entries, by="backend", since=since, until=until)
    days = _days(entries, since, until)
    colors = _colors(
        [e.backend for e in entries if e.backend] + [a.backend for e in entries for a in e.attempts]
    )
    window = f"{days[0]} to {days[-1]}"
    est = s["estimated_token_requests"]
    cards = "".join(
        [
            _card(
                "Requests",
                f"{s['requests']:,}",
                f"{s['failed']} failed, {s['cancelled']} cancelled",
                f'data-requests="{s["requests"]}"',
            ),
            _card(
                "Spend",
                _usd(s["spend_usd"]),
                f"{s['input_tokens']:,} in / {s['output_tokens']:,} out tokens"
                + (f" ({est} estimated)" if est else ""),
                f'data-spend-usd="{s["spend_usd"]:.6f}"',
            ),
            _card(
                "Saved vs top tier",
                _usd(s["saved_usd"]),
                f"{s['saved_pct']:.1f}% of {_usd(s['top_tier_usd'])}",
                f'data-saved-usd="{s["saved_usd"]:.6f}"',
            ),
            _card(
                "Fallback rate",
                f"{100 * s['fallback_rate']:.1f}%",
                f"{s['fallbacks']} requests fell back",
                f'data-fallback-rate="{s["fallback_rate"]:.4f}"',
            ),
            _card(
                "Latency",
                _secs(s["latency_median_s"]),
                f"median; p95 {_secs(s['latency_p95_s'])}",
                f'data-latency-median-s="{s["latency_median_s"] or 0:.4f}"',
            ),
        ]
    )
    generated = datetime.fromtimestamp(until).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    sections = [
        ("Spend per day, by backend", spend_chart(entries, days, colors)),
        ("Savings versus sending everything to the top tier", savings_chart(entries, days)),
        ("Tier mix", tier_chart(entries)),
        (
            "Latency per backend (successful calls: median bar, p95 whisker)",
            latency_chart(entries, colors),
        ),
        ("Fallback events", fallback_chart(entries, days) + fallback_table(entries)),
        ("Checks and escalation, beside the savings", escalation_tables(s)),
        ("By backend", _backend_table(s) if s["by"] else '<p class="muted">No requests.</p>'),
        (
            "By source (editor, command line, proxy clients)",
            _group_table(
                summarize(entries, by="source", since=since, until=until), "from", "source"
            )
            if entries
            else '<p class="muted">No requests.</p>',
        ),
    ]
    if any(e.key for e in entries):
        # Only a team's proxy writes keys; a single user's report has no such section.
        by_key = summarize(entries, by="key", since=since, until=until)
        sections.append(("By proxy key", _group_table(by_key, "key", "key")))
    body = "".join(f"<section><h2>{_e(t)}</h2>{c}</section>" for t, c in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ModelRouter usage report, {_e(window)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>ModelRouter usage report</h1>"
        f'<div class="sub">{_e(window)} · generated {_e(generated)} · ModelRouter '
        f"{_e(__version__)}" + (f" · {_e(ledger_path)}" if ledger_path else "") + "</div>"
        f'<div class="cards">{cards}</div>{body}</main></body></html>\n'
    )
