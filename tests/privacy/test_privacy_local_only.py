"""Local-only globs: which files must never leave the machine, and which backends may see them."""

from __future__ import annotations

import pytest
from modelrouter.config import BackendConfig, PrivacySettings
from modelrouter.privacy import (
    is_local_only,
    local_only_match,
    local_only_reason,
    split_candidates,
)

DEFAULTS = PrivacySettings()
WS = "/home/dev/project"


@pytest.mark.parametrize(
    ("path", "glob"),
    [
        (f"{WS}/.env", ".env*"),
        (f"{WS}/.env.production", ".env*"),
        (f"{WS}/.envrc", ".env*"),
        (f"{WS}/services/api/.ENV", ".env*"),
        (f"{WS}/certs/server.pem", "*.pem"),
        (f"{WS}/tls.key", "*.key"),
        (f"{WS}/secrets/db.yaml", "**/secrets/**"),
        (f"{WS}/deploy/secrets/prod/token.txt", "**/secrets/**"),
        ("/home/dev/.ssh/id_rsa", "id_rsa*"),
        ("/home/dev/.ssh/id_rsa.pub", "id_rsa*"),
        (f"file://{WS}/secrets/a%20b.txt", "**/secrets/**"),
        ("C:\\work\\proj\\cert.pem", "*.pem"),
    ],
)
def test_default_globs_protect_secret_files(path: str, glob: str) -> None:
    assert local_only_match(path, DEFAULTS, workspace=WS) == glob
    assert is_local_only(path, DEFAULTS, workspace=WS)


@pytest.mark.parametrize(
    "path",
    [f"{WS}/main.py", f"{WS}/environment.py", f"{WS}/docs/secrets.md", f"{WS}/keys.py", None, ""],
)
def test_ordinary_files_may_leave(path: str | None) -> None:
    assert not is_local_only(path, DEFAULTS, workspace=WS)


def test_anchored_globs_are_relative_to_the_workspace() -> None:
    globs = ["config/prod.yaml", "/build/*.json"]
    assert is_local_only(f"{WS}/config/prod.yaml", globs, workspace=WS)
    assert not is_local_only(f"{WS}/vendor/config/prod.yaml", globs, workspace=WS)
    assert is_local_only(f"{WS}/build/out.json", globs, workspace=WS)
    assert not is_local_only(f"{WS}/build/sub/out.json", globs, workspace=WS)
    # Without a workspace, any trailing part of the path may match.
    assert is_local_only("/elsewhere/config/prod.yaml", globs)


def test_directory_globs_cover_their_contents() -> None:
    assert is_local_only(f"{WS}/private/notes/a.txt", ["private/"], workspace=WS)
    assert is_local_only(f"{WS}/x/private/a.txt", ["private"], workspace=WS)


def test_character_classes_and_question_marks() -> None:
    assert is_local_only("/a/key1.txt", ["key[0-9].txt"])
    assert not is_local_only("/a/keyX.txt", ["key[0-9].txt"])
    assert is_local_only("/a/keyX.txt", ["key[!0-9].txt"])
    assert is_local_only("/a/k.p12", ["k.p1?"])


def test_reason_names_the_file_and_the_pattern() -> None:
    reason = local_only_reason([f"{WS}/app.py", f"{WS}/.env.local"], DEFAULTS, workspace=WS)
    assert reason == ".env.local matches local_only pattern '.env*'"
    assert local_only_reason([f"{WS}/app.py"], DEFAULTS, workspace=WS) is None


def test_private_requests_keep_only_local_backends() -> None:
    local = BackendConfig(name="local", type="ollama")
    marked = BackendConfig(name="box", type="openai", local=True)
    cloud = BackendConfig(name="cloud", type="anthropic")
    decision = split_candidates([cloud, local, marked], "x matches local_only pattern 'y'")
    assert [b.name for b in decision.allowed] == ["local", "box"]
    assert [(b.name, why) for b, why in decision.refused] == [
        ("cloud", "not local; x matches local_only pattern 'y'")
    ]
    assert [b.name for b in split_candidates([cloud, local], None).allowed] == ["cloud", "local"]


def test_shipped_rules_state_the_privacy_defaults() -> None:
    from modelrouter.rules import default_rules_path, load_rules

    rules = load_rules(default_rules_path())
    assert rules.privacy == PrivacySettings()
    assert rules.privacy.redact_secrets is True
    assert is_local_only("/w/.env", rules, workspace="/w")


def test_relative_paths_are_taken_from_the_workspace() -> None:
    globs = ["config/prod.yaml"]
    assert is_local_only("config/prod.yaml", globs, workspace=WS)
    assert not is_local_only("vendor/config/prod.yaml", globs, workspace=WS)
    assert is_local_only("deploy/.env", DEFAULTS, workspace=WS)
