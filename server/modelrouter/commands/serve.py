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
        "--key",
        help="proxy key every request must present (x-api-key or Bearer); required to bind "
        "a non-loopback address (default: $MODELROUTER_PROXY_KEY)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from modelrouter.proxy.server import BindError, build, check_bind, key_from, serve

    key = key_from(args.key)
    try:
        check_bind(args.host, key)
    except BindError as exc:
        print(f"modelrouter serve: {exc}", file=sys.stderr)
        return 2
    rules = load_or_report(args.rules)
    if rules is None:
        return 2
    print(
        f"modelrouter proxy on http://{args.host}:{args.port}  "
        f"(ANTHROPIC_BASE_URL=http://{args.host}:{args.port}  "
        f"OPENAI_BASE_URL=http://{args.host}:{args.port}/v1)",
        file=sys.stderr,
    )
    serve(build(rules, key), args.host, args.port)
    return 0
