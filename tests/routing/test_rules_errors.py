"""Every kind of broken rules file is reported as file:line:col with a hint, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from modelrouter.rules import RulesError, check_rules, load_rules

VALID = """\
version: 1
backends:
  local:
    type: ollama
    model: gemma3:27b
  cloud:
    type: anthropic
    model: claude-opus-4-5
    api_key_env: ANTHROPIC_API_KEY
tiers:
  trivial: [local]
  top: [cloud, local]
routes:
  - tier: trivial
    patterns: [typo, "re:spell(ing)?"]
default_tier: top
actions:
  fix-typo:
    title: Fix typo
    tier: trivial
    prompt: Fix the typo.
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in VALID
    return write(tmp_path, VALID.replace(old, new, 1))


def only_problem(path: Path):
    problems = check_rules(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_valid_file_loads(tmp_path):
    rules = load_rules(write(tmp_path, VALID))
    assert rules.tier_order == ["trivial", "top"]
    assert rules.backends["cloud"].price.input == 0.0
    assert check_rules(write(tmp_path, VALID)) == []


# (what to replace, replacement, line, col, words in the message, words in the hint)
CASES = [
    pytest.param(
        "  trivial: [local]\n",
        "  trivial: [local\n",
        12,
        6,
        "YAML syntax",
        "indentation",
        id="yaml-syntax",
    ),
    pytest.param(
        "    model: gemma3:27b\n",
        "    modle: gemma3:27b\n",
        5,
        5,
        "unknown key 'modle'",
        "did you mean 'model'",
        id="unknown-key",
    ),
    pytest.param(
        "version: 1\n",
        "version: 1\nbackend: {}\n",
        2,
        1,
        "unknown top-level key 'backend'",
        "did you mean 'backends'",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "  top: [cloud, local]\n",
        "  top: [cloud, lokal]\n",
        12,
        16,
        "unknown backend 'lokal' in tier 'top'",
        "did you mean 'local'",
        id="unknown-backend-in-tier",
    ),
    pytest.param(
        '"re:spell(ing)?"',
        '"re:spell(ing"',
        15,
        22,
        "bad regular expression",
        "`re:`",
        id="bad-regex",
    ),
    pytest.param(
        "  - tier: trivial\n",
        "  - tier: trival\n",
        14,
        11,
        "unknown tier 'trival'",
        "trivial, top",
        id="unknown-tier-in-route",
    ),
    pytest.param(
        "default_tier: top\n",
        "default_tier: middle\n",
        16,
        15,
        "unknown tier 'middle'",
        "trivial, top",
        id="unknown-default-tier",
    ),
    pytest.param(
        "    tier: trivial\n    prompt",
        "    tier: huge\n    prompt",
        20,
        11,
        "unknown tier 'huge' in action",
        "auto",
        id="unknown-tier-in-action",
    ),
    pytest.param(
        "    type: ollama\n",
        "    type: olama\n",
        4,
        11,
        "unknown backend type 'olama'",
        "did you mean 'ollama'?",
        id="unknown-backend-type",
    ),
    pytest.param(
        "    api_key_env: ANTHROPIC_API_KEY\n",
        "    api_key_env: ANTHROPIC_API_KEY\n    context_window: big\n",
        10,
        21,
        "context_window must be a whole number",
        "str 'big'",
        id="wrong-type",
    ),
    pytest.param(
        "    api_key_env: ANTHROPIC_API_KEY\n",
        "    api_key_env: ANTHROPIC_API_KEY\n    price: 5\n",
        10,
        12,
        "price must be a mapping",
        "input",
        id="wrong-shape",
    ),
    pytest.param(
        "    model: gemma3:27b\n",
        "    model: gemma3:27b\n    model: other\n",
        6,
        5,
        "duplicate key 'model'",
        "line 5",
        id="duplicate-key",
    ),
    pytest.param(
        "    type: ollama\n    model: gemma3:27b\n",
        "    model: gemma3:27b\n",
        4,
        5,
        "backend 'local' is missing 'type'",
        "add `type",
        id="missing-required-key",
    ),
    pytest.param(
        "  cloud:\n",
        "  tool:\n    type: cli\n    command: codex exec -\n  cloud:\n",
        8,
        14,
        "command must be a list (argv)",
        "[codex, exec, -]",
        id="cli-command-as-one-string",
    ),
]


@pytest.mark.parametrize(("old", "new", "line", "col", "message", "hint"), CASES)
def test_each_error_kind_points_at_its_position(tmp_path, old, new, line, col, message, hint):
    path = broken(tmp_path, old, new)
    problem = only_problem(path)
    assert (problem.file, problem.line, problem.col) == (str(path), line, col)
    assert message in problem.message
    assert hint in problem.hint
    assert str(problem).startswith(f"{path}:{line}:{col}: ")


def test_all_problems_are_collected(tmp_path):
    text = VALID.replace("modle", "model").replace("    model: gemma3:27b\n", "    modle: x\n")
    text = text.replace("default_tier: top", "default_tier: nope")
    with pytest.raises(RulesError) as info:
        load_rules(write(tmp_path, text))
    lines = [p.line for p in info.value.problems]
    assert lines == sorted(lines) and len(lines) == 2


def test_error_in_extended_file_names_that_file(tmp_path):
    base = write(tmp_path, VALID.replace("    type: ollama\n", "    type: olama\n"), "base.yaml")
    child = write(tmp_path, "extends: base.yaml\ndefault_tier: trivial\n", "child.yaml")
    problem = only_problem(child)
    assert (problem.file, problem.line, problem.col) == (str(base), 4, 11)


def test_missing_extended_file(tmp_path):
    child = write(tmp_path, "version: 1\nextends: nowhere.yaml\n")
    problem = only_problem(child)
    assert (problem.line, problem.col) == (2, 10)
    assert "not found" in problem.message


def test_empty_and_non_mapping_files(tmp_path):
    assert "empty" in only_problem(write(tmp_path, "", "a.yaml")).message
    assert "mapping" in only_problem(write(tmp_path, "- a\n- b\n", "b.yaml")).message


@pytest.mark.parametrize(
    ("old", "new"),
    [(c.values[0], c.values[1]) for c in CASES],
    ids=[c.id for c in CASES],
)
def test_rules_check_command_prints_errors_and_fails(tmp_path, old, new):
    path = broken(tmp_path, old, new)
    proc = subprocess.run(
        [sys.executable, "-m", "modelrouter", "rules", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{path}:")


def test_rules_check_command_accepts_valid_file(tmp_path):
    path = write(tmp_path, VALID)
    proc = subprocess.run(
        [sys.executable, "-m", "modelrouter", "rules", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok (2 backends, 2 tiers, 1 routes, 1 actions)" in proc.stdout


def test_shipped_default_rules_are_valid():
    from modelrouter.rules import default_rules_path

    assert check_rules(default_rules_path()) == []
