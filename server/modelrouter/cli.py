"""The `modelrouter` command line: a thin dispatcher over `modelrouter.commands.*`.

Each subcommand lives in its own module with `add_arguments(parser)` and `run(args) -> int`,
imported only when chosen so that `modelrouter lsp` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from modelrouter import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "lsp": ("lsp", "run the language server (stdio; --tcp HOST:PORT for debugging)"),
    "route": ("route", "show how a request would be routed, without sending it"),
    "ask": ("ask", "route a request and stream the answer"),
    "eval": ("eval", "score the router on a labelled JSONL file"),
    "rules": ("rules", "check a rules file, or show which one applies"),
    "doctor": ("doctor", "show which backends are usable and why not"),
    "stats": ("stats", "usage, spend and savings from the ledger"),
    "report": ("report", "write a self-contained HTML usage report"),
    "train": ("train", "train the learned router"),
    "serve": ("serve", "run the HTTP proxy for agents (Claude Code, Codex, aider, …)"),
    "claude": ("claude", "run Claude Code with every request routed through the proxy"),
    "run": ("run", "run a command with ANTHROPIC_BASE_URL/OPENAI_BASE_URL at the proxy"),
    "keys": ("keys", "create, list and revoke proxy keys"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; subcommand arguments are added by each command module."""
    parser = argparse.ArgumentParser(
        prog="modelrouter",
        description="Route LLM code actions to the cheapest model that can do them.",
    )
    parser.add_argument("--version", action="version", version=f"modelrouter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--rules",
            metavar="FILE",
            help="rules file (default: $MODELROUTER_RULES, .modelrouter.yaml, user config, "
            "shipped default)",
        )
        p.set_defaults(_module=module)
        _command_module(module).add_arguments(p)
    return parser


def _command_module(module: str):
    return importlib.import_module(f"modelrouter.commands.{module}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    # `modelrouter lsp` must start fast: skip building every subparser for it.
    if argv[:1] == ["lsp"]:
        from modelrouter.commands import lsp

        parser = argparse.ArgumentParser(prog="modelrouter lsp")
        parser.add_argument(
            "--rules",
            metavar="FILE",
            help="rules file (default: $MODELROUTER_RULES, .modelrouter.yaml, user config, "
            "shipped default)",
        )
        lsp.add_arguments(parser)
        return lsp.run(parser.parse_args(argv[1:]))
    if argv[:1] in (["claude"], ["run"]):
        # Everything after our own --rules belongs to the command being run.
        rest = argv[1:]
        rules = None
        if rest[:1] == ["--rules"] and len(rest) > 1:
            rules, rest = rest[1], rest[2:]
        return _command_module(argv[0]).run(argparse.Namespace(argv=rest, rules=rules))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        return _command_module(args._module).run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `modelrouter stats | head`: the reader left; exit quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
