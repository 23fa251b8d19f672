"""`modelrouter route "REQUEST"`: show how a request would be routed, without sending it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelrouter.config import Rules
from modelrouter.routing.decide import RouteRequest, decide
from modelrouter.routing.plan import plan
from modelrouter.rules import RulesError, find_rules_file, load_rules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("request", help="the request, as you would type it")
    parser.add_argument("--lang", metavar="L", help="language id of the file (python, rust, ...)")
    parser.add_argument("--path", metavar="P", help="path of the file the request is about")
    parser.add_argument(
        "--selection-tokens", type=int, default=0, metavar="N", help="size of the selected code"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_or_report(explicit: str | None, workspace: Path | None = None) -> Rules | None:
    """Find and load the rules; on errors print them (file:line:col) and return None."""
    path = find_rules_file(explicit, workspace if workspace is not None else Path.cwd())
    try:
        return load_rules(path)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    rules = load_or_report(args.rules)
    if rules is None:
        return 2
    request = RouteRequest(
        text=args.request,
        language=args.lang,
        path=args.path,
        selection_tokens=args.selection_tokens,
    )
    result = decide(rules, request).classification
    assert result is not None  # nothing forces the tier here: it is always classified
    from modelrouter.budget import BudgetGuard
    from modelrouter.health import Health
    from modelrouter.ledger import open_ledger

    ledger = open_ledger(rules)
    budget = BudgetGuard(ledger, rules)
    # Cooldowns set by `ask`, the LSP server and the proxy apply here too.
    chosen = plan(rules, result.tier, health=Health.for_ledger(ledger), budget=budget)
    ledger.close()
    if args.json:
        print(
            json.dumps(
                {
                    "tier": result.tier,
                    "confidence": result.confidence,
                    "reason": result.reason,
                    "source": result.source,
                    "tokens": result.tokens,
                    "matched": [
                        {"route": m.route, "tier": m.tier, "pattern": m.pattern, "weight": m.weight}
                        for m in result.matched
                    ],
                    "backends": [
                        {"name": b.name, "type": b.type, "model": b.model, "local": b.is_local}
                        for b in chosen.candidates
                    ],
                    "skipped": [{"name": s.backend, "reason": s.reason} for s in chosen.skipped],
                    "rules_file": rules.source,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print(f"tier:       {result.tier}")
    print(f"confidence: {result.confidence:.2f}")
    print(f"reason:     {result.reason}")
    print("backends:")
    for i, b in enumerate(chosen.candidates):
        role = "primary " if i == 0 else "fallback"
        where = "local" if b.is_local else "cloud"
        print(f"  {role} {b.name} ({b.type} {b.model}, {where})")
    for s in chosen.skipped:
        print(f"  skipped  {s.backend}: {s.reason}")
    if not chosen.candidates:
        print(f"no usable backend for tier {result.tier}: {chosen.why_empty()}")
    print(f"rules:      {rules.source}")
    return 0
