"""`modelrouter rules check [FILE]`: validate a rules file; `rules path` shows which one is used."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelrouter.classify import REGEX_PREFIX
from modelrouter.config import Rules
from modelrouter.route_regex import backtracking_risk
from modelrouter.rules import check_rules, find_rules_file, load_rules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    sub = parser.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")
    check = sub.add_parser("check", help="validate a rules file; errors as file:line:col")
    check.add_argument("file", nargs="?", help="rules file (default: the one in use)")
    sub.add_parser("path", help="print the rules file that would be used here")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    command = args.rules_command or "check"
    if command == "path":
        print(find_rules_file(args.rules, Path.cwd()))
        return 0
    target = getattr(args, "file", None) or find_rules_file(args.rules, Path.cwd())
    problems = check_rules(target)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"{len(problems)} {noun} in {target}", file=sys.stderr)
        return 1
    rules = load_rules(target)
    for warning in regex_warnings(rules):
        print(warning, file=sys.stderr)
    print(
        f"{target}: ok ({len(rules.backends)} backends, {len(rules.tiers)} tiers, "
        f"{len(rules.routes)} routes, {len(rules.actions)} actions)"
    )
    return 0


def regex_warnings(rules: Rules) -> list[str]:
    """A `file:line: warning: ...` line for each `re:` pattern that may backtrack
    catastrophically (it still loads: it runs with a time limit, see `route_regex`)."""
    out = []
    for route in rules.routes:
        for pattern in route.patterns:
            if not pattern.startswith(REGEX_PREFIX):
                continue
            risk = backtracking_risk(pattern[len(REGEX_PREFIX) :])
            if risk:
                out.append(
                    f"{route.file}:{route.line}: warning: pattern {pattern!r} can backtrack "
                    f"catastrophically ({risk}); it runs with a time limit and is switched off "
                    "if it reaches it: rewrite it without nested or overlapping repetitions"
                )
    return out
