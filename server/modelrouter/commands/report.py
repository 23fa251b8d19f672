"""`modelrouter report`: a self-contained HTML usage report from the ledger."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_OUT = "report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument(
        "--out", default=DEFAULT_OUT, metavar="FILE", help=f"where to write (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--since",
        default="30d",
        metavar="SPAN",
        help="period covered: 7d, 24h, 2w, a date (2026-11-01) or 'all' (default 30d)",
    )
    from modelrouter.commands.ledger_choice import add_ledger_argument

    add_ledger_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from modelrouter.commands.ledger_choice import chosen_ledger
    from modelrouter.ledger import Ledger, LedgerError
    from modelrouter.report import render
    from modelrouter.stats import parse_since

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"modelrouter report: {exc}", file=sys.stderr)
        return 2
    try:
        ledger = Ledger(chosen_ledger(args, "report"))
        try:
            entries = ledger.entries(since=since) if ledger.exists() else []
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"modelrouter report: cannot read the ledger: {exc}", file=sys.stderr)
        return 1
    page = render(entries, since=since, until=time.time(), ledger_path=ledger.location)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        print(f"modelrouter report: cannot write {out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out.resolve()} ({len(entries)} requests)")
    return 0
