"""`modelrouter doctor`: which backends are usable right now, and why not."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelrouter import __version__
from modelrouter.rules import RulesError, find_rules_file, load_rules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def report(explicit: str | None = None, workspace: Path | None = None) -> dict:
    """The doctor's findings: version, rules file and errors, every backend's state."""
    path = find_rules_file(explicit, workspace)
    out: dict = {
        "version": __version__,
        "rules_file": str(path),
        "rules_errors": [],
        "backends": [],
    }
    try:
        rules = load_rules(path)
    except RulesError as exc:
        out["rules_errors"] = [str(p) for p in exc.problems]
        return out
    from modelrouter.budget import BudgetGuard
    from modelrouter.ledger import Ledger

    budget = BudgetGuard(Ledger(), rules)  # over-budget backends are skipped by routing too
    reasons = {
        n: b.unusable_reason() or budget.blocked_reason(n) for n, b in rules.backends.items()
    }
    for name, backend in rules.backends.items():
        reason = reasons[name]
        out["backends"].append(
            {
                "name": name,
                "type": backend.type,
                "model": backend.model,
                "usable": reason is None,
                "reason": reason,
                "tiers": [t for t, names in rules.tiers.items() if name in names],
            }
        )
    out["tiers"] = {t: [n for n in names if reasons[n] is None] for t, names in rules.tiers.items()}
    return out


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code (1 when the rules file is broken)."""
    found = report(args.rules, Path.cwd())
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print(f"modelrouter {found['version']}")
        print(f"rules: {found['rules_file']}")
        for err in found["rules_errors"]:
            print(f"  {err}", file=sys.stderr)
        for b in found["backends"]:
            state = "ok" if b["usable"] else f"unusable: {b['reason']}"
            tiers = ", ".join(b["tiers"]) or "no tier"
            print(f"  {b['name']:<10} {b['type']:<10} {b['model']:<24} {state}  [{tiers}]")
        for tier, usable in found.get("tiers", {}).items():
            if not usable:
                print(f"  tier {tier}: no usable backend — its requests will fail")
    return 1 if found["rules_errors"] else 0
