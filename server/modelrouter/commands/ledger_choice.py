"""Which ledger a command reads or writes: --ledger, $MODELROUTER_LEDGER_URL, the rules'
`ledger:`, or the default SQLite file (in that order)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from modelrouter.ledger import LEDGER_URL_ENV, ledger_target


def chosen_ledger(args: argparse.Namespace, command: str) -> str | Path:
    """The ledger for `args`; rules are read only when nothing more explicit is given.

    A rules file with errors does not stop a ledger command: it says so and uses the
    default ledger (`modelrouter rules check` lists the errors).
    """
    explicit = getattr(args, "ledger", None)
    if explicit or os.environ.get(LEDGER_URL_ENV):
        return ledger_target(None, explicit)
    from modelrouter.rules import RulesError, find_rules_file, load_rules

    path = find_rules_file(getattr(args, "rules", None), Path.cwd())
    try:
        rules = load_rules(path)
    except RulesError:
        print(
            f"modelrouter {command}: {path} has errors (see `modelrouter rules check`); "
            "using the default ledger",
            file=sys.stderr,
        )
        return ledger_target()
    return ledger_target(rules)


def add_ledger_argument(parser: argparse.ArgumentParser) -> None:
    """--ledger FILE|URL, the same for every command that reads the ledger."""
    parser.add_argument(
        "--ledger",
        metavar="FILE|URL",
        help="ledger: a SQLite file or a postgresql:// URL (default: $MODELROUTER_LEDGER_URL, "
        "the rules' `ledger:`, else ledger.sqlite3 in $MODELROUTER_DATA_DIR or the user data "
        "directory)",
    )
