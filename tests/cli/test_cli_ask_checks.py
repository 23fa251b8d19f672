"""`ask` with a file range checks a code answer as the edit of those lines: a cheap answer
that fails is re-asked one tier up, and stderr and `--json` say which checks ran and what
escalated; an answer that never passes is still printed, with exit status 1."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from support.cli import run_modelrouter
from support.fakes.provider import Reply

SOURCE = 'def greet(name):\n    return "Hlelo, " + name\n'
FIXED = '    return "Hello, " + name\n'
ASK = ("ask", "--tier", "trivial", "--range", "2:2", "fix the spelling of the greeting")


def _rules(tmp_path: Path, fake) -> dict[str, str]:
    path = tmp_path / "rules.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        backends:
          cheap:
            type: openai
            base_url: "{fake.base_url("openai", "cheap")}"
            model: cheap-model
            price: {{input: 0.1, output: 0.2}}
          strong:
            type: anthropic
            base_url: "{fake.base_url("anthropic", "strong")}"
            model: strong-model
            price: {{input: 3, output: 15}}
        tiers:
          trivial: [cheap]
          feature: [strong]
        default_tier: feature
        """),
        encoding="utf-8",
    )
    return {
        "MODELROUTER_RULES": str(path),
        "HOME": str(tmp_path),
        "OPENAI_API_KEY": "k",
        "ANTHROPIC_API_KEY": "k",
    }


def _fenced(code: str) -> str:
    return f"Here it is:\n\n```python\n{code}```\n"


def _ask(tmp_path, fake, *extra):
    source = tmp_path / "greet.py"
    source.write_text(SOURCE, encoding="utf-8")
    env = _rules(tmp_path, fake)
    return run_modelrouter(ASK[0], "--file", str(source), *ASK[1:], *extra, env=env, cwd=tmp_path)


def test_an_unchanged_cheap_answer_is_re_asked_one_tier_up(tmp_path, fake_provider):
    fake_provider.default("cheap", Reply(text=_fenced('    return "Hlelo, " + name\n')))
    fake_provider.default("strong", Reply(text=_fenced(FIXED)))
    result = _ask(tmp_path, fake_provider, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "strong" and data["tier"] == "feature"
    assert FIXED in data["text"]
    first, second = data["checks"]
    assert (first["model"], first["tier"]) == ("cheap-model", "trivial")
    assert first["checks"][0] == {
        "check": "unchanged",
        "status": "failed",
        "detail": "did not change the selection",
    }
    assert second["tier"] == "feature"
    assert all(c["status"] != "failed" for c in second["checks"])
    assert [c["check"] for c in second["checks"]][:3] == ["unchanged", "syntax", "scope"]
    assert len(data["escalations"]) == 1 and "re-ran on tier feature" in data["escalations"][0]
    assert data["check_failure"] is None
    sent = fake_provider.requests_to("strong")[0].body["messages"]
    assert "did not change the selection" in json.dumps(sent[-1])


def test_the_summary_says_which_checks_ran_and_what_escalated(tmp_path, fake_provider):
    fake_provider.default("cheap", Reply(text=_fenced('    return "Hello, " + name.upper()\n')))
    fake_provider.default("strong", Reply(text=_fenced(FIXED)))
    result = _ask(tmp_path, fake_provider)
    assert result.returncode == 0, result.stderr
    assert FIXED in result.stdout
    assert "changed more than a typo fix" in result.stderr
    assert "re-ran on tier feature" in result.stderr
    assert "checks on answer 2 (strong-model, tier feature): unchanged passed" in result.stderr


def test_an_answer_that_never_passes_is_printed_with_exit_status_1(tmp_path, fake_provider):
    broken = _fenced('    return ("Hello, " + name\n')
    fake_provider.default("cheap", Reply(text=broken))
    fake_provider.default("strong", Reply(text=broken))
    result = _ask(tmp_path, fake_provider, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert "did not parse" in data["check_failure"] and data["backend"] == "strong"
    assert data["redo_tier"] is None  # feature is the top tier here
    assert "return (" in data["text"]  # nothing is lost


def test_an_answer_in_prose_is_not_checked(tmp_path, fake_provider):
    fake_provider.default("cheap", Reply(text="The greeting is misspelled: it should say Hello."))
    result = _ask(tmp_path, fake_provider, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "cheap"
    assert data["checks"][0]["checks"] == [] and data["escalations"] == []
    assert fake_provider.requests_to("strong") == []
