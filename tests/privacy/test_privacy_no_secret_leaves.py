"""A workspace with planted secrets: the cloud provider sees none of them, the user keeps them.

Requests go over real HTTP to the recording fake provider on loopback.
"""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path

import pytest
from modelrouter.backends.base import Message
from modelrouter.config import PrivacySettings, Rules
from modelrouter.engine import Engine, EngineError, Job, Progress
from support.fakes.provider import FakeProvider, Reply
from support.fakes.rules import backend

RNG = random.Random(88)


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


OPENAI_KEY = "sk-proj-" + rand(40)
OTHER_PROVIDER_KEY = "plain" + rand(12, string.ascii_lowercase)  # no key shape: known value
AWS_ID = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
DB_PASSWORD = "pw-" + rand(10)
ENV_VALUE = "env-only-" + rand(16)

APP = f'''import boto3

OPENAI_API_KEY = "{OPENAI_KEY}"
AWS_ACCESS_KEY_ID = "{AWS_ID}"
DATABASE_URL = "postgres://app:{DB_PASSWORD}@db:5432/app"
GEMINI = "{OTHER_PROVIDER_KEY}"


def connect():
    return boto3.client("s3", aws_access_key_id=AWS_ACCESS_KEY_ID)
'''
SECRETS = [OPENAI_KEY, OTHER_PROVIDER_KEY, AWS_ID, DB_PASSWORD]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / ".env").write_text(f"SERVICE_TOKEN={ENV_VALUE}\n")
    return tmp_path


def make_rules(fake: FakeProvider, *, tier_backends: tuple[str, ...], redact: bool = True) -> Rules:
    backends = {
        "cloud": backend(
            "cloud", "openai", fake.base_url("openai", "cloud"), api_key_env="MR_TEST_CLOUD_KEY"
        ),
        "other": backend(
            "other", "anthropic", fake.base_url("anthropic", "other"), api_key_env="MR_TEST_OTHER"
        ),
        "local": backend("local", "ollama", fake.base_url("ollama", "local")),
    }
    return Rules(
        backends=backends,
        tiers={"feature": tier_backends, "top": ("cloud",)},
        routes=(),
        default_tier="feature",
        actions={},
        privacy=PrivacySettings(redact_secrets=redact),
    )


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MR_TEST_CLOUD_KEY", "cloud-header-key-" + rand(20))
    monkeypatch.setenv("MR_TEST_OTHER", OTHER_PROVIDER_KEY)


def job_for(workspace: Path, path: str, text: str) -> Job:
    return Job(
        messages=[
            Message("system", "Rewrite the selection. Answer with one fenced code block."),
            Message("user", f"File: {path}\n```python\n{text}```"),
        ],
        tier="feature",
        reason="test",
        workspace=str(workspace),
        path=str(workspace / path),
    )


def sent_text(fake: FakeProvider, route: str) -> str:
    """Everything a route received in request bodies (headers carry only its own key)."""
    return "\n".join(r.raw.decode() for r in fake.requests_to(route))


async def test_cloud_backend_receives_no_secret_and_the_reply_is_restored(
    fake_provider: FakeProvider, workspace: Path
) -> None:
    rules = make_rules(fake_provider, tier_backends=("cloud",))
    async with Engine(rules) as engine:
        job = job_for(workspace, "app.py", APP)
        # First request: learn what the provider saw.
        await engine.run(job)
        body = sent_text(fake_provider, "cloud")
        for secret in SECRETS:
            assert secret not in body
        user_turn = json.loads(fake_provider.requests_to("cloud")[0].raw)["messages"][-1]
        code_seen = user_turn["content"].split("```python\n", 1)[1].rsplit("```", 1)[0]
        placeholders = sorted(set(re.findall(r"REDACTED_[A-Z_]+_\d+", code_seen)))
        assert len(placeholders) == len(SECRETS)

        # The model echoes the code it saw (with a change): the placeholders must come back
        # as the user's real values, in the final text and in what is streamed.
        fake_provider.default(
            "cloud", Reply(text=f"```python\n# tidied\n{code_seen}```", chunk_size=5)
        )
        streamed: list[str] = []
        outcome = await engine.run(
            job, lambda e: streamed.append(e.text) if isinstance(e, Progress) else None
        )
        assert outcome.text == f"```python\n# tidied\n{APP}```"
        assert "".join(streamed) == outcome.text
        assert outcome.redactions == len(SECRETS)
        for secret in SECRETS:
            assert secret not in sent_text(fake_provider, "cloud")


async def test_local_backend_gets_the_real_text(
    fake_provider: FakeProvider, workspace: Path
) -> None:
    async with Engine(make_rules(fake_provider, tier_backends=("local",))) as engine:
        outcome = await engine.run(job_for(workspace, "app.py", APP))
        assert OPENAI_KEY in sent_text(fake_provider, "local")
        assert outcome.redactions == 0


async def test_redaction_can_be_turned_off(fake_provider: FakeProvider, workspace: Path) -> None:
    async with Engine(make_rules(fake_provider, tier_backends=("cloud",), redact=False)) as engine:
        outcome = await engine.run(job_for(workspace, "app.py", APP))
        assert DB_PASSWORD in sent_text(fake_provider, "cloud")
        # Configured keys are replaced even with redaction off: never sent to another backend.
        assert OTHER_PROVIDER_KEY not in sent_text(fake_provider, "cloud")
        assert outcome.redactions == 1


async def test_env_file_goes_only_to_the_local_backend(
    fake_provider: FakeProvider, workspace: Path
) -> None:
    async with Engine(
        make_rules(fake_provider, tier_backends=("cloud", "other", "local"))
    ) as engine:
        env = (workspace / ".env").read_text()
        outcome = await engine.run(job_for(workspace, ".env", env))
        assert outcome.backend == "local"
        assert fake_provider.requests_to("cloud") == []
        assert fake_provider.requests_to("other") == []
        assert ENV_VALUE in sent_text(fake_provider, "local")


async def test_env_file_is_refused_when_no_local_backend_exists(
    fake_provider: FakeProvider, workspace: Path
) -> None:
    async with Engine(make_rules(fake_provider, tier_backends=("cloud", "other"))) as engine:
        env = (workspace / ".env").read_text()
        with pytest.raises(EngineError) as caught:
            await engine.run(job_for(workspace, ".env", env))
        assert "not local: .env matches local_only pattern '.env*'" in caught.value.message
        assert fake_provider.requests == []


async def test_job_marked_local_only_never_leaves(
    fake_provider: FakeProvider, workspace: Path
) -> None:
    async with Engine(make_rules(fake_provider, tier_backends=("cloud", "local"))) as engine:
        job = job_for(workspace, "app.py", APP)
        job.local_only = True  # e.g. its context includes a local-only file
        outcome = await engine.run(job)
        assert outcome.backend == "local"
        assert fake_provider.requests_to("cloud") == []
