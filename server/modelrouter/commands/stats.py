"""`modelrouter stats`: usage, spend and savings from the ledger."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelrouter.ledger import Ledger

from modelrouter.stats import GROUPINGS

DEFAULT_SINCE = "30d"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        metavar="SPAN",
        help=f"only requests since: 7d, 24h, 30m, 2w, a date (2026-11-01) or 'all' "
        f"(default {DEFAULT_SINCE})",
    )
    parser.add_argument(
        "--by",
        choices=GROUPINGS,
        default="backend",
        help="how to group the breakdown (default backend)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--id", type=int, metavar="N", help="show one ledger entry (as linked from the hover)"
    )
    from modelrouter.commands.ledger_choice import add_ledger_argument

    add_ledger_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from modelrouter.commands.ledger_choice import chosen_ledger
    from modelrouter.ledger import Ledger, LedgerError
    from modelrouter.stats import parse_since, summarize

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"modelrouter stats: {exc}", file=sys.stderr)
        return 2
    try:
        ledger = Ledger(chosen_ledger(args, "stats"))
        try:
            if args.id is not None:
                return _show_entry(ledger, args.id, as_json=args.json)
            # Reading must not create the database: a fresh install has no requests.
            present = ledger.exists()
            entries = ledger.entries(since=since) if present else []
            dropped = ledger.dropped_since(since) if present else 0
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"modelrouter stats: cannot read the ledger: {exc}", file=sys.stderr)
        return 1
    summary = summarize(entries, by=args.by, since=since, until=time.time())
    summary["ledger"] = ledger.location
    summary["not_recorded"] = dropped
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary, args.since))
    return 0


def _show_entry(ledger: Ledger, entry_id: int, *, as_json: bool) -> int:
    # Like reading entries, looking one up must not create the database.
    entry = ledger.entry(entry_id) if ledger.exists() else None
    if entry is None:
        print(
            f"modelrouter stats: no ledger entry #{entry_id} in {ledger.location}",
            file=sys.stderr,
        )
        return 1
    shown = entry.to_dict()
    shown["re_asked_as"] = ledger.re_asks_of(entry_id)
    if as_json:
        print(json.dumps(shown, indent=2))
    else:
        print(format_entry(shown))
    return 0


def _usd(v: float) -> str:
    if v == 0:
        return "$0.00"
    return f"${v:,.4f}" if abs(v) < 1 else f"${v:,.2f}"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def format_summary(s: dict[str, Any], since_text: str) -> str:
    """The human-readable summary."""
    window = "all time" if s["since"] is None else f"since {_when(s['since'])} ({since_text})"
    lines = [f"ModelRouter usage, {window}", f"ledger: {s['ledger']}", ""]
    if s.get("not_recorded"):
        lines += [
            f"  ! {s['not_recorded']:,} request(s) in this period were answered but not "
            "recorded (the ledger was unreachable and a process's queue was full)",
            "",
        ]
    if not s["requests"]:
        lines.append("No requests recorded in this period.")
        return "\n".join(lines)
    problems = []
    if s["failed"]:
        problems.append(f"{s['failed']} failed")
    if s["cancelled"]:
        problems.append(f"{s['cancelled']} cancelled")
    tail = f"  ({', '.join(problems)})" if problems else ""
    est = (
        f"  ({s['estimated_token_requests']} requests with estimated counts)"
        if s["estimated_token_requests"]
        else ""
    )
    lines += [
        f"  requests      {s['requests']:,}{tail}",
        f"  tokens        {s['input_tokens']:,} in, {s['output_tokens']:,} out{est}",
        f"  spend         {_usd(s['spend_usd'])}",
        f"  all top tier  {_usd(s['top_tier_usd'])}  ->  saved {_usd(s['saved_usd'])}"
        f" ({s['saved_pct']:.1f}%)",
        f"  fallbacks     {s['fallbacks']:,} ({100 * s['fallback_rate']:.1f}% of requests)",
        f"  latency       median {_secs(s['latency_median_s'])}, p95 {_secs(s['latency_p95_s'])}",
        *_escalation_lines(s),
        "",
    ]
    header = (s["by_key"], "requests", "tokens in", "tokens out", "spend", "saved")
    header += ("fallback", "p50", "p95")
    table = [header] + [
        (
            r["key"],
            f"{r['requests']:,}",
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            _usd(r["spend_usd"]),
            f"{_usd(r['saved_usd'])} ({r['saved_pct']:.0f}%)",
            f"{100 * r['fallback_rate']:.1f}%",
            _secs(r["latency_median_s"]),
            _secs(r["latency_p95_s"]),
        )
        for r in s["by"]
    ]
    lines += _table(table)
    if s["backends"]:
        lines.append("")
        table = [("backend", "calls", "failed", "median", "p95")] + [
            (
                b["backend"],
                f"{b['calls']:,}",
                f"{b['failed']:,}",
                _secs(b["latency_median_s"]),
                _secs(b["latency_p95_s"]),
            )
            for b in s["backends"]
        ]
        lines += _table(table)
    if s["escalations"] or s["checks_failed"]:
        for by, rows in s["escalation_by"].items():
            lines.append("")
            lines += _table(_escalation_table(by, rows))
    return "\n".join(lines)


def _escalation_lines(s: dict[str, Any]) -> list[str]:
    failed = s["checks_failed"]
    checks = f"{failed:,} answer(s) failed a check" if failed else "no answer failed a check"
    if not s["escalations"]:
        return [f"  escalations   no escalations ({checks})"]
    return [
        f"  checks        {checks}",
        f"  escalations   {s['escalations']:,} automatic re-ask(s) one tier up"
        f" ({100 * s['escalation_rate']:.1f}% of answers), costing"
        f" {_usd(s['escalation_cost_usd'])} with the answers they replaced",
    ]


def _escalation_table(by: str, rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    header = (f"escalated, by {by}", "answers", "saved", "failed check", "re-asks", "rate")
    return [(*header, "escalation cost")] + [
        (
            r["key"],
            f"{r['ok']:,}",
            _usd(r["saved_usd"]),
            f"{r['checks_failed']:,}",
            f"{r['escalations']:,}",
            f"{100 * r['escalation_rate']:.1f}%",
            _usd(r["escalation_cost_usd"]),
        )
        for r in rows
    ]


def format_entry(e: dict[str, Any]) -> str:
    """One ledger entry, human-readable."""
    answered = f"{e['backend']} ({e['model']})" if e["backend"] else "no backend answered"
    est = " (estimated)" if e["tokens_estimated"] else ""
    client = f" ({e['client']})" if e.get("client") else ""
    # A replaced answer saved nothing: the re-ask's entry makes the top-tier comparison.
    saved = (
        "replaced: its cost is spend, saved nothing"
        if e.get("re_asked_as")
        else f"saved {_usd(e['saved_usd'])}"
    )
    lines = [
        f"Ledger entry #{e['id']}  {_when(e['time'])}  [{e['status']}]",
        f"  action    {e['action'] or '(free-form)'}  via {e['source']}{client}",
        f"  tier      {e['tier']}: {e['reason']}",
        f"  answered  {answered}",
        f"  tokens    {e['input_tokens']:,} in, {e['output_tokens']:,} out{est}",
        f"  cost      {_usd(e['cost_usd'])}  (top tier {_usd(e['top_tier_cost_usd'])}, {saved})",
        f"  latency   {_secs(e['latency_s'])}  (first token {_secs(e['first_token_s'])})",
    ]
    if e["workspace"]:
        lines.append(f"  workspace {e['workspace']}")
    if e["redactions"]:
        lines.append(f"  redacted  {e['redactions']} secret(s) before sending")
    if e["tier_override"]:
        lines.append(f"  override  tier chosen explicitly: {e['tier_override']}")
    if e.get("escalation"):
        # An automatic re-ask: the answer it replaced failed a check.
        of = f" from #{e['redo_of']}" if e["redo_of"] else ""
        lines.append(f"  escalated{of}, re-asked one tier up: {e['escalation']}")
    elif e["redo_of"]:
        lines.append(f"  redo of   #{e['redo_of']}")
    if e.get("check_failed"):
        detail = f": {e['check_detail']}" if e.get("check_detail") else ""
        lines.append(f"  check     failed {e['check_failed']}{detail}")
    if e.get("re_asked_as"):
        ids = ", ".join(f"#{i}" for i in e["re_asked_as"])
        lines.append(f"  replaced  by the automatic re-ask {ids}")
    if e["error"]:
        lines.append(f"  error     {e['error']}")
    lines.append("  attempts")
    for i, a in enumerate(e["attempts"], 1):
        detail = f": {a['error']}" if a["error"] else ""
        took = "" if a["outcome"] == "skipped" else f" {_secs(a['elapsed_s'])}"
        lines.append(f"    {i}. {a['backend']} {a['model']} {a['outcome']}{took}{detail}")
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out
