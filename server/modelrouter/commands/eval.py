"""`modelrouter eval FILE.jsonl`: score the router on labelled requests.

Every line is routed through the public `classify()`, so the figures describe exactly the
classifier that ships. Costs assume every request has the same size (``--input-tokens``,
``--output-tokens``) and is priced at its tier's primary backend, so the savings compare
routing decisions, not prompt lengths.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from modelrouter.classify import classify
from modelrouter.commands.route import load_or_report
from modelrouter.config import Rules
from modelrouter.errors import EvalInputError

DEFAULT_INPUT_TOKENS = 2000
DEFAULT_OUTPUT_TOKENS = 500
CALIBRATION_EDGES = (0.0, 0.4, 0.55, 0.7, 0.85, 1.0001)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument(
        "file", metavar="FILE.jsonl", help='one {"prompt": ..., "tier": ...} per line'
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--by-source",
        action="store_true",
        help="also break the figures down by the kind in the `source` field "
        "(commit, issue, pr, instruction)",
    )
    parser.add_argument(
        "--input-tokens",
        type=int,
        default=DEFAULT_INPUT_TOKENS,
        help=f"assumed input tokens per request for costs (default {DEFAULT_INPUT_TOKENS})",
    )
    parser.add_argument(
        "--output-tokens",
        type=int,
        default=DEFAULT_OUTPUT_TOKENS,
        help=f"assumed output tokens per request for costs (default {DEFAULT_OUTPUT_TOKENS})",
    )
    parser.add_argument(
        "--errors", type=int, default=0, metavar="N", help="also list up to N misrouted requests"
    )
    parser.add_argument(
        "--model",
        metavar="shipped|personal|FILE",
        help="learned model to evaluate with (default: the rules' choice; personal if trained)",
    )


@dataclass(frozen=True)
class Example:
    """One labelled request."""

    prompt: str
    tier: str
    source: str = ""
    language: str | None = None
    path: str | None = None


def read_examples(path: Path, tiers: list[str]) -> list[Example]:
    """Parse a JSONL file of labelled requests; raises EvalInputError with file:line."""
    examples: list[Example] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{number}:{exc.colno}: invalid JSON: {exc.msg}") from exc
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise EvalInputError(f'{path}:{number}:1: expected an object with a "prompt" string')
        tier = row.get("tier")
        if tier is None:
            raise EvalInputError(
                f'{path}:{number}:1: no "tier" label; every line needs one, e.g. '
                f'{{"prompt": "...", "tier": "{next(iter(tiers), "trivial")}"}}'
            )
        if tier not in tiers:
            raise EvalInputError(
                f"{path}:{number}:1: tier {tier!r} is not one of the rules' tiers "
                f"({', '.join(tiers)})"
            )
        examples.append(
            Example(
                prompt=row["prompt"],
                tier=tier,
                source=str(row.get("source") or ""),
                language=row.get("language"),
                path=row.get("path"),
            )
        )
    if not examples:
        raise EvalInputError(f"{path}: no labelled requests")
    return examples


def source_kind(source: str) -> str:
    """'owner/repo (commit)' -> 'commit'; anything else -> 'other'."""
    if source.endswith(")") and "(" in source:
        return source[source.rindex("(") + 1 : -1].strip() or "other"
    return "other"


def tier_costs(rules: Rules, input_tokens: int, output_tokens: int) -> dict[str, float]:
    """USD per request at each tier's primary backend."""
    return {
        tier: rules.backends[names[0]].price.cost(input_tokens, output_tokens)
        for tier, names in rules.tiers.items()
    }


def score(
    rules: Rules,
    labels: list[str],
    predicted: list[str],
    confidences: list[float] | None = None,
    *,
    input_tokens: int = DEFAULT_INPUT_TOKENS,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> dict:
    """Every metric `eval` prints, from labels and predictions (pure; used by tests too)."""
    order = rules.tier_order
    rank = {t: i for i, t in enumerate(order)}
    n = len(labels)
    confusion = {t: dict.fromkeys(order, 0) for t in order}  # label -> predicted -> count
    for label, pred in zip(labels, predicted, strict=True):
        confusion[label][pred] += 1
    correct = sum(confusion[t][t] for t in order)
    under = sum(1 for a, p in zip(labels, predicted, strict=True) if rank[p] < rank[a])
    over = sum(1 for a, p in zip(labels, predicted, strict=True) if rank[p] > rank[a])
    per_tier = {}
    for t in order:
        predicted_t = sum(confusion[a][t] for a in order)
        actual_t = sum(confusion[t].values())
        per_tier[t] = {
            "precision": confusion[t][t] / predicted_t if predicted_t else 0.0,
            "recall": confusion[t][t] / actual_t if actual_t else 0.0,
            "support": actual_t,
            "predicted": predicted_t,
        }
    costs = tier_costs(rules, input_tokens, output_tokens)
    top_cost = costs[rules.top_tier] * n
    routed_cost = sum(costs[p] for p in predicted)
    oracle_cost = sum(costs[a] for a in labels)
    result = {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "under_route_rate": under / n if n else 0.0,
        "over_route_rate": over / n if n else 0.0,
        "cost_saving": 1 - routed_cost / top_cost if top_cost else 0.0,
        "oracle_saving": 1 - oracle_cost / top_cost if top_cost else 0.0,
        "per_tier": per_tier,
        "confusion": confusion,
        "cost_assumption": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "usd_per_request": costs,
            "priced_at": {t: names[0] for t, names in rules.tiers.items()},
        },
    }
    if confidences is not None:
        result["calibration"] = calibration(labels, predicted, confidences)
    return result


def calibration(labels: list[str], predicted: list[str], confidences: list[float]) -> list[dict]:
    """Accuracy per confidence bucket: does a higher confidence mean more often right?"""
    buckets = []
    for lo, hi in itertools.pairwise(CALIBRATION_EDGES):
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi]
        right = sum(1 for i in idx if labels[i] == predicted[i])
        buckets.append(
            {
                "bucket": f"{lo:.2f}-{min(hi, 1.0):.2f}",
                "n": len(idx),
                "accuracy": right / len(idx) if idx else None,
            }
        )
    return buckets


def evaluate(rules: Rules, examples: list[Example], **cost_args: int) -> tuple[dict, list]:
    """Classify every example through `classify()` and score the result."""
    results = [classify(rules, ex.prompt, language=ex.language, path=ex.path) for ex in examples]
    labels = [ex.tier for ex in examples]
    predicted = [r.tier for r in results]
    report = score(rules, labels, predicted, [r.confidence for r in results], **cost_args)
    return report, results


def by_source(rules: Rules, examples: list[Example], results: list, **cost_args: int) -> dict:
    """The headline metrics per source kind."""
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(source_kind(ex.source), []).append(i)
    out = {}
    for kind, idx in sorted(groups.items()):
        sub = score(
            rules,
            [examples[i].tier for i in idx],
            [results[i].tier for i in idx],
            **cost_args,
        )
        out[kind] = {
            k: sub[k]
            for k in (
                "n",
                "accuracy",
                "under_route_rate",
                "over_route_rate",
                "cost_saving",
                "oracle_saving",
            )
        }
        # Which tiers this kind of request needs and gets: editor instructions are mostly
        # features, commit subjects spread over all four.
        out[kind]["labelled"] = {t: sum(sub["confusion"][t].values()) for t in rules.tier_order}
        out[kind]["routed"] = {t: sub["per_tier"][t]["predicted"] for t in rules.tier_order}
    return out


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    rules = load_or_report(args.rules)
    if rules is None:
        return 2
    try:
        examples = read_examples(Path(args.file), rules.tier_order)
    except EvalInputError as exc:
        print(f"modelrouter eval: {exc}", file=sys.stderr)
        return 2
    if args.model:
        from modelrouter.learned import select_weights

        try:
            rules = select_weights(rules, args.model)
        except ValueError as exc:
            print(f"modelrouter eval: {exc}", file=sys.stderr)
            return 2
    cost_args = {"input_tokens": args.input_tokens, "output_tokens": args.output_tokens}
    report, results = evaluate(rules, examples, **cost_args)
    if args.by_source:
        report["by_source"] = by_source(rules, examples, results, **cost_args)
    report["rules_file"] = rules.source
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_report(report, rules))
        if args.errors:
            print(format_errors(examples, results, args.errors))
    return 0


def format_report(report: dict, rules: Rules) -> str:
    """The human-readable report."""
    order = rules.tier_order
    ca = report["cost_assumption"]
    lines = [
        f"rules: {report['rules_file']}",
        f"requests: {report['n']}",
        f"accuracy:        {report['accuracy']:.3f}",
        f"under-route:     {report['under_route_rate']:.3f}  (cheaper tier than labelled)",
        f"over-route:      {report['over_route_rate']:.3f}  (costlier tier than labelled)",
        f"cost saving:     {report['cost_saving']:.3f}  (vs. everything on {rules.top_tier})",
        f"oracle saving:   {report['oracle_saving']:.3f}  (a perfect router at the same prices)",
    ]
    if report["oracle_saving"] > 0:
        lines.append(
            f"saving captured: {report['cost_saving'] / report['oracle_saving']:.2f} × oracle"
        )
    priced = ", ".join(f"{t} {ca['priced_at'][t]} ${ca['usd_per_request'][t]:.5f}" for t in order)
    lines.append(
        f"cost assumption: {ca['input_tokens']} input + {ca['output_tokens']} output tokens "
        f"per request at each tier's primary backend ({priced})"
    )
    lines += ["", f"{'tier':<14}{'precision':>10}{'recall':>8}{'support':>9}{'routed':>8}"]
    for t in order:
        m = report["per_tier"][t]
        lines.append(
            f"{t:<14}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['support']:>9}{m['predicted']:>8}"
        )
    width = max(len(t) for t in order) + 2
    lines += ["", "confusion (rows: label, columns: routed)"]
    lines.append(" " * width + "".join(f"{t[:12]:>13}" for t in order))
    for t in order:
        lines.append(f"{t:<{width}}" + "".join(f"{report['confusion'][t][p]:>13}" for p in order))
    if "calibration" in report:
        lines += ["", "calibration (confidence -> accuracy)"]
        for b in report["calibration"]:
            acc = "-" if b["accuracy"] is None else f"{b['accuracy']:.3f}"
            lines.append(f"  {b['bucket']:<11} n={b['n']:<6} accuracy {acc}")
    if "by_source" in report:
        lines += ["", "by source"]
        for kind, m in report["by_source"].items():
            ratio = m["cost_saving"] / m["oracle_saving"] if m["oracle_saving"] else 0.0
            lines.append(
                f"  {kind:<11} n={m['n']:<6} accuracy {m['accuracy']:.3f}  "
                f"under {m['under_route_rate']:.3f}  over {m['over_route_rate']:.3f}  "
                f"saving {m['cost_saving']:.3f} ({ratio:.2f} × oracle)"
            )
            mix = "  ".join(f"{t} {m['labelled'][t]}→{m['routed'][t]}" for t in order)
            lines.append(f"  {'':<11} labelled→routed: {mix}")
    return "\n".join(lines)


def format_errors(examples: list[Example], results: list, limit: int) -> str:
    """Misrouted requests with the classifier's reason, for tuning rules."""
    lines = ["", "misrouted"]
    shown = 0
    for ex, res in zip(examples, results, strict=True):
        if ex.tier != res.tier and shown < limit:
            shown += 1
            lines.append(f"  [{ex.tier} -> {res.tier}] {ex.prompt[:90]!r}  ({res.reason[:80]})")
    return "\n".join(lines)
