"""`modelrouter keys`: create, list and revoke proxy keys (stored hashed in the ledger)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    from modelrouter.commands.ledger_choice import add_ledger_argument

    add_ledger_argument(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    create = sub.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("name", help="who or what uses it: a person, a service, a CI job")
    create.add_argument("--daily-usd", type=_dollars, metavar="X", help="daily budget in USD")
    create.add_argument("--monthly-usd", type=_dollars, metavar="X", help="monthly budget in USD")
    create.add_argument(
        "--tiers",
        metavar="T1,T2",
        help="tiers this key may use, comma-separated (default: every tier)",
    )
    create.add_argument("--json", action="store_true", help="print the new key as JSON")
    listing = sub.add_parser("list", help="list keys (names, prefixes, budgets; never keys)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print the keys as JSON")
    revoke = sub.add_parser("revoke", help="revoke a key at once, on every proxy process")
    revoke.add_argument("name")


def _dollars(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of dollars: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a budget must be a number of dollars >= 0: {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from modelrouter.commands.ledger_choice import chosen_ledger
    from modelrouter.keys import create_key, list_keys, revoke_key
    from modelrouter.ledger import Ledger, LedgerError

    if args.action is None:
        print("modelrouter keys: say create NAME, list or revoke NAME", file=sys.stderr)
        return 2
    tiers: list[str] = []
    if args.action == "create" and args.tiers:
        tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
        unknown = _unknown_tiers(args, tiers)
        if unknown:
            print(f"modelrouter keys: {unknown}", file=sys.stderr)
            return 2
    try:
        ledger = Ledger(chosen_ledger(args, "keys"))
        try:
            if args.action == "create":
                key, secret = create_key(
                    ledger,
                    args.name,
                    daily_usd=args.daily_usd,
                    monthly_usd=args.monthly_usd,
                    tiers=tiers,
                )
                if args.json:
                    print(json.dumps({**key.to_dict(), "key": secret}, indent=2))
                else:
                    print(secret)
                    print(
                        f"created key {key.name!r} in {ledger.location}; it is shown only "
                        "this once (only its hash is stored)",
                        file=sys.stderr,
                    )
            elif args.action == "list":
                keys = list_keys(ledger, include_revoked=args.all) if ledger.exists() else []
                if args.json:
                    print(json.dumps([k.to_dict() for k in keys], indent=2))
                else:
                    print(_table(keys) if keys else "no keys")
            else:
                key = revoke_key(ledger, args.name)
                print(f"revoked key {key.name!r} ({key.prefix}…)")
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"modelrouter keys: {exc}", file=sys.stderr)
        return 1
    return 0


def _unknown_tiers(args: argparse.Namespace, tiers: list[str]) -> str | None:
    """Why `tiers` does not fit the rules' tiers, or None (rules that do not load: no check)."""
    from pathlib import Path

    from modelrouter.rules import RulesError, find_rules_file, load_rules

    try:
        rules = load_rules(find_rules_file(args.rules, Path.cwd()))
    except RulesError:
        return None
    unknown = [t for t in tiers if t not in rules.tiers]
    if unknown:
        return f"unknown tier(s) {', '.join(unknown)}: the rules have {', '.join(rules.tiers)}"
    return None


def _table(keys) -> str:
    rows = [("name", "key", "created", "daily", "monthly", "tiers", "state")]
    for k in keys:
        rows.append(
            (
                k.name,
                f"{k.prefix}…",
                datetime.fromtimestamp(k.created).astimezone().strftime("%Y-%m-%d %H:%M"),
                "-" if k.daily_usd is None else f"${k.daily_usd:,.2f}",
                "-" if k.monthly_usd is None else f"${k.monthly_usd:,.2f}",
                ",".join(k.tiers) or "all",
                "active" if k.active else "revoked",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
