"""The trivial-edit set (bench/trivial_edits.jsonl) is well-formed, and bench/cascade.py's
fixer-only mode, run as a user runs it (a real subprocess with the shipped fixers),
reports figures computed from what the fixers did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
FIELDS = ("id", "kind", "language", "instruction", "code", "expected")


@pytest.fixture
def cascade(monkeypatch):
    """bench/cascade.py as a module (it imports bench/embedded.py beside it)."""
    monkeypatch.syspath_prepend(str(BENCH))
    import cascade

    return cascade


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH / "cascade.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def test_the_trivial_edit_set_is_well_formed(cascade):
    lines = (BENCH / "trivial_edits.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    assert len(cases) >= 60
    ids = Counter(c["id"] for c in cases)
    assert [i for i, n in ids.items() if n > 1] == []
    for case in cases:
        assert set(FIELDS) <= case.keys(), case
        assert all(isinstance(case[f], str) and case[f] for f in FIELDS), case
        assert cascade.normalise(case["expected"]) != cascade.normalise(case["code"]), case["id"]
        assert case["kind"] in cascade.ACTIONS, case["id"]
        assert case["language"] in cascade.EXTENSIONS, case["id"]
    # Across languages, not only Python.
    assert len({c["language"] for c in cases}) >= 6


# Each class of input with what the shipped fixers do with it.
CLASSES = [
    ("known-typo", "typo", "python", "Fix typo", '    return "Helo, " + name\n',
     '    return "Hello, " + name\n', "right"),
    ("known-typo-prose", "typo", "markdown", "Fix typo", "## Instalation\n",
     "## Installation\n", "right"),
    ("unknown-typo", "typo", "python", "Fix typo", '    return "Hlelo, " + name\n',
     '    return "Hello, " + name\n', "unchanged"),
    ("half-known", "typo", "markdown", "Fix typo", "Install the dependancies before runing.\n",
     "Install the dependencies before running.\n", "wrong"),
    ("python-format", "reformat", "python", "Reformat", "x=1+2\n", "x = 1 + 2\n", "right"),
    ("no-js-formatter", "reformat", "javascript", "Reformat", "let x=1+2;\n",
     "let x = 1 + 2;\n", "unchanged"),
    ("imports", "imports", "python", "Organize imports", "import sys\nimport os\n",
     "import os\nimport sys\n", "right"),
    ("rename", "rename", "python", "Rename x to n", "x = 1\n", "n = 1\n", "unchanged"),
]  # fmt: skip


def test_fixer_mode_reports_what_the_fixers_did(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "".join(json.dumps(dict(zip(FIELDS, c[:6], strict=True))) + "\n" for c in CLASSES)
    )
    out = tmp_path / "figures.json"
    ran = run_bench("--mode", "fixer", "--cases", str(cases), "--json", str(out))
    assert ran.returncode == 0, ran.stderr
    assert "fixer only" in ran.stdout and "typos" in ran.stdout
    figures = json.loads(out.read_text())
    should = Counter(c[6] for c in CLASSES)
    fixer = figures["fixer"]
    assert fixer["cases"] == len(CLASSES)
    assert fixer["exact"] == should["right"]
    assert fixer["wrong_applied"] == should["wrong"]
    assert fixer["unchanged"] == should["unchanged"]
    typos = [c[6] for c in CLASSES if c[1] == "typo"]
    assert fixer["per_kind"]["typo"] == [typos.count("right"), len(typos)]
    assert 0 < fixer["median_ms"] <= fixer["p95_ms"]
    edits = {e["id"]: e for e in figures["edits"]["fixer"]}
    for case_id, *_, expected, outcome in CLASSES:
        edit = edits[case_id]
        assert edit["exact"] == (outcome == "right"), edit
        assert edit["applied"] == (outcome != "unchanged"), edit
        if outcome == "right":
            assert edit["text"] == expected
            assert edit["by"] in {"typos", "ruff-format", "ruff-imports"}
        elif outcome == "unchanged":
            assert edit["by"] == "" and edit["note"]
    # Modes not asked for do not run.
    assert set(figures["edits"]) == {"fixer"}


def test_a_case_of_a_kind_no_action_sends_is_refused(tmp_path):
    cases = tmp_path / "cases.jsonl"
    case = dict(zip(FIELDS, ("x", "translate", "python", "Translate", "a\n", "b\n"), strict=True))
    cases.write_text(json.dumps(case) + "\n")
    ran = run_bench("--mode", "fixer", "--cases", str(cases))
    assert ran.returncode != 0
    assert "translate" in ran.stderr and "no editor action" in ran.stderr
