"""`modelrouter eval`: metrics on a small synthetic file whose answers are worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from modelrouter.commands.eval import source_kind

# Prices chosen so that with 1M input tokens and 0 output tokens a request costs exactly
# 0, 1 and 10 USD on t1, t2, t3.
RULES = """\
backends:
  free: {type: ollama, price: {input: 0, output: 0}}
  mid: {type: ollama, price: {input: 1, output: 7}}
  top: {type: ollama, price: {input: 10, output: 70}}
tiers:
  t1: [free]
  t2: [mid, top]
  t3: [top]
default_tier: t3
routes:
  - {tier: t1, patterns: [cheap]}
  - {tier: t2, patterns: [middle]}
  - {tier: t3, patterns: [expensive]}
actions: {}
"""

# (label, prompt -> routed tier, source)
ROWS = [
    ("t1", "cheap", "a/b (commit)"),  # t1: right
    ("t1", "middle", "a/b (commit)"),  # t2: over
    ("t2", "middle", "a/b (commit)"),  # t2: right
    ("t2", "cheap", "a/b (commit)"),  # t1: under
    ("t3", "expensive", "c/d (issue)"),  # t3: right
    ("t3", "nothing matches", "c/d (issue)"),  # default t3: right
    ("t1", "expensive", "c/d (issue)"),  # t3: over
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    data = tmp_path / "set.jsonl"
    lines = [
        json.dumps({"prompt": p, "tier": t, "source": s, "id": i})
        for i, (t, p, s) in enumerate(ROWS)
    ]
    data.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return rules, data


def run_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelrouter", "eval", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_json_metrics_match_hand_computation(files):
    rules, data = files
    proc = run_eval(
        str(data),
        "--rules",
        str(rules),
        "--json",
        "--by-source",
        "--input-tokens",
        "1000000",
        "--output-tokens",
        "0",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in (
        "accuracy",
        "under_route_rate",
        "over_route_rate",
        "cost_saving",
        "oracle_saving",
        "n",
        "per_tier",
        "confusion",
        "by_source",
        "calibration",
    ):
        assert key in out
    assert out["n"] == 7
    assert out["accuracy"] == pytest.approx(4 / 7)
    assert out["under_route_rate"] == pytest.approx(1 / 7)
    assert out["over_route_rate"] == pytest.approx(2 / 7)
    # routed: 0+1+1+0+10+10+10 = 32; all on t3: 70; labels: 0+0+1+1+10+10+0 = 22
    assert out["cost_saving"] == pytest.approx(1 - 32 / 70)
    assert out["oracle_saving"] == pytest.approx(1 - 22 / 70)
    assert out["per_tier"]["t1"]["precision"] == pytest.approx(1 / 2)
    assert out["per_tier"]["t1"]["recall"] == pytest.approx(1 / 3)
    assert out["per_tier"]["t2"]["precision"] == pytest.approx(1 / 2)
    assert out["per_tier"]["t2"]["recall"] == pytest.approx(1 / 2)
    assert out["per_tier"]["t3"]["precision"] == pytest.approx(2 / 3)
    assert out["per_tier"]["t3"]["recall"] == pytest.approx(1.0)
    assert out["confusion"] == {
        "t1": {"t1": 1, "t2": 1, "t3": 1},
        "t2": {"t1": 1, "t2": 1, "t3": 0},
        "t3": {"t1": 0, "t2": 0, "t3": 2},
    }
    assert out["by_source"]["commit"]["n"] == 4
    assert out["by_source"]["commit"]["accuracy"] == pytest.approx(2 / 4)
    assert out["by_source"]["issue"]["accuracy"] == pytest.approx(2 / 3)
    commit = out["by_source"]["commit"]
    assert sum(commit["labelled"].values()) == sum(commit["routed"].values()) == 4
    assert 0.0 <= commit["oracle_saving"] <= 1.0
    assert sum(b["n"] for b in out["calibration"]) == 7
    right = sum(round(b["accuracy"] * b["n"]) for b in out["calibration"] if b["n"])
    assert right == 4


def test_costs_use_primary_backend_and_both_token_counts(files):
    rules, data = files
    out = json.loads(
        run_eval(
            str(data),
            "--rules",
            str(rules),
            "--json",
            "--input-tokens",
            "0",
            "--output-tokens",
            "1000000",
        ).stdout
    )
    # output prices 0, 7, 70: the same ratios as the input-only case
    assert out["cost_saving"] == pytest.approx(1 - 32 / 70)
    assert out["cost_assumption"]["usd_per_request"] == {"t1": 0.0, "t2": 7.0, "t3": 70.0}


def test_text_report(files):
    rules, data = files
    proc = run_eval(str(data), "--rules", str(rules), "--by-source")
    assert proc.returncode == 0, proc.stderr
    assert "accuracy:        0.571" in proc.stdout
    assert "under-route:     0.143" in proc.stdout
    assert "calibration" in proc.stdout and "by source" in proc.stdout
    assert "× oracle" in proc.stdout and "labelled→routed" in proc.stdout
    assert "cost assumption: 2000 input + 500 output tokens" in proc.stdout


def test_bad_input_line_is_reported_with_position(files, tmp_path):
    rules, _ = files
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "tier": "t1"}\n{"prompt": "y", "tier": "t9"}\n')
    proc = run_eval(str(bad), "--rules", str(rules))
    assert proc.returncode == 2
    assert f"{bad}:2:1:" in proc.stderr and "t9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_source_kind():
    assert source_kind("tmux/tmux (commit)") == "commit"
    assert source_kind("x/y (pr)") == "pr"
    assert source_kind("") == "other"


SHARED = Path(__file__).resolve().parents[3] / "shared" / "routing" / "dev_routing.jsonl"


@pytest.mark.skipif(not SHARED.is_file(), reason="labelled routing set ../shared not present")
def test_shipped_rules_on_dev_set():
    out = json.loads(run_eval(str(SHARED), "--json").stdout)
    assert out["n"] > 0
    assert out["accuracy"] >= 0.70
    assert out["under_route_rate"] <= 0.10
    assert out["cost_saving"] >= 0.75 * out["oracle_saving"]
