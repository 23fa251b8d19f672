"""`modelrouter serve`: the HTTP proxy for agents (Anthropic Messages and OpenAI chat APIs)."""

from __future__ import annotations

import argparse
import sys

from modelrouter.commands.route import load_or_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8082, help="port (default 8082)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the port, the ledger and the budgets (default 1)",
    )
    parser.add_argument(
        "--key",
        help="proxy key every request must present (x-api-key or Bearer); required to bind "
        "a non-loopback address (default: $MODELROUTER_PROXY_KEY)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from modelrouter.proxy.server import (
        BindError,
        build,
        check_bind,
        key_from,
        serve,
        serve_workers,
    )

    if args.workers < 1:
        print("modelrouter serve: --workers must be at least 1", file=sys.stderr)
        return 2
    key = key_from(args.key)
    rules = load_or_report(args.rules)
    if rules is None:
        return 2
    try:
        check_bind(args.host, key, _team_keys(rules) if not key else False)
    except BindError as exc:
        print(f"modelrouter serve: {exc}", file=sys.stderr)
        return 2
    print(
        f"modelrouter proxy on http://{args.host}:{args.port}  "
        f"(ANTHROPIC_BASE_URL=http://{args.host}:{args.port}  "
        f"OPENAI_BASE_URL=http://{args.host}:{args.port}/v1)",
        file=sys.stderr,
    )
    if args.workers > 1:
        serve_workers(rules.source, key, args.host, args.port, args.workers)
    else:
        serve(build(rules, key), args.host, args.port)
    return 0


def _team_keys(rules) -> bool:
    """Whether the ledger holds active proxy keys (a ledger that cannot be read: no)."""
    from modelrouter.keys import has_keys
    from modelrouter.ledger import LedgerError, open_ledger

    try:
        ledger = open_ledger(rules)
        try:
            return ledger.exists() and has_keys(ledger)
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"modelrouter serve: proxy keys not checked: {exc}", file=sys.stderr)
        return False
