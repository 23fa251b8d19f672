"""Hostile rules files: the loader returns rules or file:line:col problems, never a traceback.

A workspace's `.modelrouter.yaml` comes with the repository, so it is untrusted input.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.config import Rules
from modelrouter.rules import TOP_KEYS, RulesError, default_rules_path, load_rules

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
DEFAULT = default_rules_path().read_text(encoding="utf-8")
DEFAULT_LINES = DEFAULT.splitlines(keepends=True)
PROBLEM = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): \S.*$", re.S)


def load(tmp_path: Path, text: str | bytes) -> Rules | None:
    """Load `text` as a rules file; on error check every problem is located and clear."""
    path = tmp_path / "rules.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        rules = load_rules(path)
    except RulesError as exc:
        assert exc.problems
        for problem in exc.problems:
            m = PROBLEM.match(str(problem))
            assert m, str(problem)
            assert int(m["line"]) >= 1 and int(m["col"]) >= 1
            if m["file"] == str(path) and isinstance(text, str):
                assert int(m["line"]) <= text.count("\n") + 2, str(problem)
        return None
    assert isinstance(rules, Rules)
    assert rules.default_tier in rules.tiers
    return rules


def test_the_shipped_rules_load(tmp_path: Path) -> None:
    assert load(tmp_path, DEFAULT) is not None


mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(min_value=0)),
    st.tuples(st.just("duplicate"), st.integers(min_value=0)),
    st.tuples(st.just("indent"), st.integers(min_value=0)),
    st.tuples(st.just("dedent"), st.integers(min_value=0)),
    st.tuples(
        st.just("insert"),
        st.integers(min_value=0),
        st.sampled_from(
            [
                "  bogus: 1\n",
                "tiers: 5\n",
                "    type: telepathy\n",
                "  - {tier: nowhere, patterns: ['re:(']}\n",
                "extends: /nonexistent/rules.yaml\n",
                "extends: default\n",
                "default_tier: [a, b]\n",
                "    context_window: -1\n",
                "    price: {input: lots}\n",
                "privacy: {local_only: 7}\n",
                "    command: 'rm -rf /'\n",
                "\t\tx: y\n",
                "key: &a [*a]\n",
                "!!python/object:os.system ['id']\n",
                "? [complex, key]\n: v\n",
                "---\nsecond: document\n",
            ]
        ),
    ),
    st.tuples(st.just("replace"), st.integers(min_value=0), st.sampled_from(":-[]{}'\"#&*!|>%@`")),
    st.tuples(st.just("truncate"), st.integers(min_value=0)),
)


def mutate(lines: list[str], op: tuple) -> list[str]:
    lines = list(lines)
    i = op[1] % max(1, len(lines))
    kind = op[0]
    if kind == "delete" and lines:
        del lines[i]
    elif kind == "duplicate" and lines:
        lines.insert(i, lines[i])
    elif kind == "indent" and lines:
        lines[i] = "  " + lines[i]
    elif kind == "dedent" and lines:
        lines[i] = lines[i].lstrip()
    elif kind == "insert":
        lines.insert(i, op[2])
    elif kind == "replace" and lines:
        line = lines[i]
        j = op[1] % max(1, len(line))
        lines[i] = line[:j] + op[2] + line[j + 1 :]
    elif kind == "truncate":
        text = "".join(lines)
        return [text[: op[1] % (len(text) + 1)]]
    return lines


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_default_rules_load_or_explain(tmp_path: Path, ops: list[tuple]) -> None:
    lines = DEFAULT_LINES
    for op in ops:
        lines = mutate(lines, op)
    load(tmp_path, "".join(lines))


yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["default", "ollama", "cli", "trivial", "re:(", "re:.*", "**/x", "auto"])
)
rule_keys = st.sampled_from(
    [
        *TOP_KEYS,
        "type",
        "model",
        "patterns",
        "tier",
        "local_only",
        "command",
        "price",
        "timeouts",
        "budget",
    ]
) | st.text(max_size=6)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(rule_keys, inner, max_size=5),
    max_leaves=25,
)


@FUZZ
@given(doc=st.dictionaries(rule_keys, yaml_values, max_size=8))
def test_random_documents_load_or_explain(tmp_path: Path, doc: dict) -> None:
    load(tmp_path, yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_load_or_explain(tmp_path: Path, raw: bytes) -> None:
    load(tmp_path, raw)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, n in zip("abcdefgh", "bcdefghi", strict=True)
            ),
            "expands to more than",
        ),
        ("x: " + "[" * 400 + "]" * 400 + "\n", "nested"),
        ("".join("  " * i + "-\n" for i in range(500)), "nested"),
        ("", "empty"),
        ("- just\n- a list\n", "must be a mapping"),
        ("extends: " + "x/" * 200 + "\n", "extends"),
    ],
    ids=["alias-bomb", "deep-flow", "deep-block", "empty", "list", "bad-extends"],
)
def test_pathological_files_are_refused_quickly_with_a_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(_write(tmp_path, text))
    assert message in str(caught.value)
    load(tmp_path, text)


def test_circular_extends_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "a.yaml")
    assert "circular" in str(caught.value) or "too deep" in str(caught.value)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path
