"""`modelrouter train`: rebuild the learned router, or fine-tune a personal one.

modelrouter train FILE.jsonl... --out WEIGHTS  # from labelled requests (fixed seed)
modelrouter train --from-history               # personal model from your own corrections
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument(
        "files", nargs="*", metavar="FILE.jsonl", help="labelled requests (one or more files)"
    )
    parser.add_argument(
        "--out", metavar="WEIGHTS", help="weights file to write (.json or .json.gz)"
    )
    parser.add_argument(
        "--from-history",
        action="store_true",
        help="fine-tune a personal model from your redo/override history",
    )
    parser.add_argument("--seed", type=int, default=13, help="random seed (default: 13)")
    parser.add_argument(
        "--min-examples",
        type=int,
        default=5,
        help="--from-history: corrections needed before a personal model is written",
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from modelrouter import learned
    from modelrouter.rules import RulesError, find_rules_file, load_rules

    try:
        rules = load_rules(find_rules_file(args.rules, Path.cwd()))
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    tiers = rules.tier_order
    if args.from_history:
        return _from_history(args, rules, learned)
    if not args.files:
        print("modelrouter train: give FILE.jsonl, or --from-history", file=sys.stderr)
        return 2
    if not args.out:
        print("modelrouter train: --out WEIGHTS is required with FILE.jsonl", file=sys.stderr)
        return 2

    from modelrouter import train

    data = []
    try:
        for file in args.files:
            data += train.read_jsonl(file, tiers)
    except (OSError, ValueError) as exc:
        print(f"modelrouter train: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(Path(f).name for f in args.files)
    if len({e.tier for e in data}) < 2 or len(data) < 2 * train.TrainConfig.folds:
        print(
            f"modelrouter train: {names}: need at least {2 * train.TrainConfig.folds} "
            "examples covering at least two tiers",
            file=sys.stderr,
        )
        return 2
    cfg = train.TrainConfig(seed=args.seed)
    model, report = train.train_model(
        data, tiers, cfg, meta={"files": [Path(f).name for f in args.files]}, rules=rules
    )
    path = model.save(args.out)
    for line in report.lines():
        print(line)
    print(
        f"rule weight in hybrid mode {model.rule_alpha:g}; temperature {model.temperature:g} "
        f"(fused {model.fused_temperature:g})"
    )
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(model.vocab)} features)")
    return 0


def _from_history(args: argparse.Namespace, rules, learned) -> int:
    from modelrouter import train
    from modelrouter.ledger import ledger_target

    examples, source = history_examples(rules.tier_order, ledger_target(rules))
    if len(examples) < args.min_examples:
        print(
            f"modelrouter train: {len(examples)} correction(s) in {source}; need at least "
            f"{args.min_examples} to fine-tune a personal model",
            file=sys.stderr,
        )
        return 1
    base_path = Path(rules.classifier.weights) if rules.classifier.weights else None
    try:
        base = learned.load(base_path or learned.shipped_weights_path())
    except learned.WeightsError as exc:
        print(f"modelrouter train: {exc}", file=sys.stderr)
        return 2
    if base.tiers != rules.tier_order:
        print(
            f"modelrouter train: the base model's tiers ({', '.join(base.tiers)}) differ from "
            f"the rules' tiers ({', '.join(rules.tier_order)}); train one with FILE.jsonl",
            file=sys.stderr,
        )
        return 2
    model = train.fine_tune(base, examples, meta={"history": str(source)})
    out = Path(args.out) if args.out else learned.personal_weights_path()
    model.save(out)
    agree_before = sum(base.predict(e.prompt).tier == e.tier for e in examples)
    agree_after = sum(model.predict(e.prompt).tier == e.tier for e in examples)
    print(f"fine-tuned on {len(examples)} correction(s) from {source}")
    print(
        f"corrections the model now agrees with: {agree_after}/{len(examples)} "
        f"(shipped model: {agree_before})"
    )
    print(f"wrote {out}; it is used ahead of the shipped model")
    return 0


def history_examples(tiers: list[str], target: str | Path | None = None):
    """Labelled examples from the user's corrections, and where they came from.

    Two sources, read in this order (a later label for the same text wins): the ledger's
    labelled requests (`Ledger.labels()`: redo one tier up, explicit tier override), then
    the plain JSONL log `overrides.jsonl` in the data dir, one
    {"prompt": ..., "tier": ..., "source": "redo" | "override"} per line. Explicit overrides
    weigh more than redos because the user named the tier.
    """
    from modelrouter import learned
    from modelrouter.ledger import Ledger, LedgerError, default_path
    from modelrouter.train import Example

    rows: list[tuple[object, object, object]] = []
    sources: list[str] = []
    ledger: Ledger | None = None
    try:
        ledger = Ledger(target if target is not None else default_path())
        if ledger.exists():
            rows.extend(ledger.labels())
            sources.append(ledger.location)
    except LedgerError as exc:
        print(f"modelrouter train: ledger skipped: {exc}", file=sys.stderr)
    finally:
        if ledger is not None:
            ledger.close()
    path = learned.overrides_log_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        sources.append(str(path))
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a torn last line from a crash must not block training
        if isinstance(row, dict):
            rows.append((row.get("prompt"), row.get("tier"), row.get("source")))
    latest: dict[str, Example] = {}
    for prompt, tier, source in rows:
        if not isinstance(prompt, str) or not prompt.strip() or tier not in tiers:
            continue
        latest.pop(prompt, None)
        latest[prompt] = Example(prompt, str(tier), 2.0 if source == "override" else 1.0)
    where = " and ".join(sources) or f"{default_path_hint()} (nothing recorded yet)"
    return list(latest.values()), where


def default_path_hint() -> str:
    """The overrides log location, for messages."""
    from modelrouter import learned

    return str(learned.overrides_log_path())
