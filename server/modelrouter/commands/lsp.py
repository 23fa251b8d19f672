"""`modelrouter lsp`: the language server on stdio, or on TCP for debugging."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="listen on TCP instead of stdio (for debugging with a client that connects)",
    )
    parser.add_argument(
        "--log-file", metavar="FILE", help="also write the server log to FILE (never stdout)"
    )
    parser.add_argument("--stdio", action="store_true", help="use stdio (the default)")


def run(args: argparse.Namespace) -> int:
    """Run the server until the client disconnects; returns the exit code."""
    from modelrouter.lsp.app import create_server

    server = create_server(rules_file=args.rules, log_file=args.log_file)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            raise SystemExit(f"modelrouter lsp: --tcp wants HOST:PORT, got {args.tcp!r}")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        if sys.stdin.isatty():
            # Typed in a terminal, the server would wait silently for an editor's messages.
            print(
                "modelrouter lsp: a language server speaking LSP on stdin/stdout; start it "
                "from your editor (see the README), Ctrl-C to quit",
                file=sys.stderr,
            )
        server.start_io()
    # 1 after an `exit` that came without `shutdown`, as the protocol asks.
    return server.exit_code
