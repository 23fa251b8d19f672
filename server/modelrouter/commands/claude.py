"""`modelrouter claude [ARGS…]`: Claude Code with every request routed through the proxy."""

from __future__ import annotations

import argparse

from modelrouter.commands.run import run_with_proxy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="arguments for claude")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    return run_with_proxy(["claude", *argv], args.rules, "claude")
