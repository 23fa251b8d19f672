"""The `checks:` and `escalation:` rules: defaults, the user's check commands, the knobs that
turn checks and escalation off, and clear errors for what cannot be used."""

from __future__ import annotations

import pytest
from modelrouter.config import BUILTIN_CHECKS, CheckCommand
from modelrouter.routing.escalation import CheckFailure, EscalationPolicy
from modelrouter.rules import RulesError, default_rules_path, load_rules


def _load(tmp_path, body: str):
    path = tmp_path / "rules.yaml"
    path.write_text("extends: default\n" + body, encoding="utf-8")
    return load_rules(path)


def _problems(tmp_path, body: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        _load(tmp_path, body)
    return [str(p) for p in caught.value.problems]


def test_the_default_rules_check_every_answer_and_escalate_once():
    rules = load_rules(default_rules_path())
    assert rules.checks.enabled is True and rules.checks.commands == ()
    assert rules.escalation.max_steps == 1
    assert EscalationPolicy(rules).max_steps == 1
    # Formatting and sorting imports may rightly give the code back as it was.
    assert "unchanged" in rules.actions["format"].skip_checks
    assert "unchanged" in rules.actions["organize-imports"].skip_checks
    assert rules.actions["fix-typo"].skip_checks == ()


def test_the_knobs_turn_checks_and_escalation_off(tmp_path):
    rules = _load(tmp_path, "checks: {enabled: false}\nescalation: {max_steps: 0}\n")
    assert rules.checks.enabled is False
    policy = EscalationPolicy(rules)
    failure = CheckFailure("unchanged", "did not change the selection")
    assert policy.escalate(rules.tier_order[0], failure, model="m") is None


def test_check_commands_are_read_in_order_with_their_languages_and_time_caps(tmp_path):
    rules = _load(
        tmp_path,
        "checks:\n  commands:\n"
        '    - {name: mypy, languages: [python], command: [mypy, "{file}"], timeout_s: 20}\n'
        '    - {name: lint, command: [mylint, "{file}"]}\n',
    )
    assert rules.checks.commands == (
        CheckCommand("mypy", ("mypy", "{file}"), ("python",), 20.0),
        CheckCommand("lint", ("mylint", "{file}")),
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("escalation: {max_steps: -1}\n", "escalation.max_steps must be 0 or more"),
        ("escalation: {max_steps: one}\n", "escalation.max_steps must be a whole number"),
        ("escalation: {steps: 1}\n", "unknown key 'steps' in escalation"),
        ("checks: {enabled: maybe}\n", "checks.enabled must be true or false"),
        ("checks: {timeout_s: 0}\n", "checks.timeout_s must be a positive number"),
        ("checks: {commands: mypy}\n", "checks.commands must be a list"),
        ("checks: {commands: [mypy]}\n", "checks.commands[0] must be a mapping"),
        ("checks: {commands: [{name: x}]}\n", "checks.commands[0] is missing 'command'"),
        ("checks: {commands: [{name: x, command: []}]}\n", "checks.commands[0] has no command"),
        (
            "checks: {commands: [{name: x, command: 'mypy --strict'}]}\n",
            "checks.commands[0].command must be a list (argv)",
        ),
        (
            "checks: {commands: [{name: ruff, command: [ruff]}]}\n",
            "the check name 'ruff' is already taken",
        ),
        (
            "checks: {commands: [{name: a, command: [a]}, {name: a, command: [b]}]}\n",
            "checks.commands[1]: the check name 'a' is already taken",
        ),
        (
            "checks: {commands: [{name: a, command: [a], timeout_s: -2}]}\n",
            "checks.commands[0].timeout_s must be a positive number",
        ),
        (
            "actions:\n  fix-typo: {skip_checks: [unchanged, sintax]}\n",
            "unknown check 'sintax' in action 'fix-typo'",
        ),
    ],
)
def test_unusable_check_rules_are_errors_that_say_what_to_fix(tmp_path, body, expected):
    problems = _problems(tmp_path, body)
    assert any(expected in p for p in problems), problems


def test_an_action_may_skip_a_users_check_by_name(tmp_path):
    rules = _load(
        tmp_path,
        "checks: {commands: [{name: mypy, command: [mypy, '{file}']}]}\n"
        "actions:\n  implement: {skip_checks: [mypy, ruff]}\n",
    )
    assert rules.actions["implement"].skip_checks == ("mypy", "ruff")
    assert set(rules.actions["implement"].skip_checks) - {"mypy"} <= set(BUILTIN_CHECKS)
