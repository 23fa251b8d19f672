"""`modelrouter doctor`: which backends are usable right now, and why not."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from modelrouter import __version__
from modelrouter.fixers import statuses as fixer_statuses
from modelrouter.rules import RulesError, find_rules_file, load_rules

PROBE_TIMEOUT_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="do not contact local Ollama servers to check they run and have the model",
    )


def probe_ollama(base_url: str, model: str) -> str | None:
    """Why a local Ollama backend cannot answer (not running, model not pulled), or None.

    Only `modelrouter doctor` calls this: routing itself never probes the network.
    """
    import httpx

    url = (base_url or "http://127.0.0.1:11434").rstrip("/")
    try:
        reply = httpx.get(f"{url}/api/tags", timeout=PROBE_TIMEOUT_S)
        reply.raise_for_status()
        names = {m.get("name", "") for m in reply.json().get("models", [])}
    except (httpx.HTTPError, ValueError, AttributeError):
        return f"not reachable at {url} (is `ollama serve` running?)"
    wanted = model if ":" in model else f"{model}:latest"
    if model and wanted not in names and model not in names:
        return f"model {model} not pulled (run `ollama pull {model}`)"
    return None


def report(
    explicit: str | None = None, workspace: Path | None = None, *, probe: bool = False
) -> dict:
    """The doctor's findings: version, rules file and errors, every backend's state.

    With `probe`, usable Ollama backends are also asked whether they run and have the model.
    """
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
    from modelrouter.health import Health
    from modelrouter.ledger import open_ledger
    from modelrouter.routing.plan import skip_reason

    # Over-budget and cooling-down backends (set by ask / the server) are skipped by routing.
    ledger = open_ledger(rules)
    budget = BudgetGuard(ledger, rules)
    health = Health.for_ledger(ledger)
    reasons = {}
    for name, b in rules.backends.items():
        reason = skip_reason(b, health=health, budget=budget)
        if reason is None and probe and b.type == "ollama":
            reason = probe_ollama(b.base_url, b.model)
        reasons[name] = reason
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
    out["fixers"] = asyncio.run(fixer_statuses(rules))
    return out


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code (1 when the rules file is broken or no tier
    has a usable backend)."""
    found = report(args.rules, Path.cwd(), probe=not args.no_probe)
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
        for f in found.get("fixers", []):
            state = (f["version"] or "found") if f["found"] else "not found (the models answer)"
            print(f"  fixer {f['name']:<14} {state}  [{', '.join(f['actions'])}]")
    tiers = found.get("tiers", {})
    if tiers and not any(tiers.values()):
        # Nothing can answer: a script or CI check must see that as a failure.
        print("no tier has a usable backend: every request would fail", file=sys.stderr)
        return 1
    return 1 if found["rules_errors"] else 0
