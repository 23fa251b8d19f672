"""Routing quality on repositories the router has never seen: grouped cross-validation.

Run: python bench/crossval.py [TRAIN.jsonl ...]   (default: ../shared/routing/train_*.jsonl)

The training files are split into folds by repository; each fold is routed by a model
trained on the other folds only, through the whole decision the shipped rules make (action
intents, rules that decide alone, the learned model with the rules' evidence, escalation).
Prints accuracy, under- and over-routing, the saving against the oracle's, a breakdown by
file and source kind, and the calibration of the model's confidence.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from modelrouter import train
from modelrouter.rules import default_rules_path, load_rules

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "routing"


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted(DATA.glob("train_*.jsonl"))
    if not files:
        print(f"no training files given and none in {DATA}", file=sys.stderr)
        return 2
    rules = load_rules(default_rules_path())
    data = [e for f in files for e in train.read_jsonl(f, rules.tier_order)]
    print(f"files: {', '.join(str(f) for f in files)}")
    started = time.perf_counter()
    _, report = train.train_model(data, rules.tier_order, train.TrainConfig(), rules=rules)
    for line in report.lines():
        print(line)
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
