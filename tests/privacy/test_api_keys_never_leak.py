"""API keys stay with their own backend: never in other requests, errors, transcripts or logs."""

from __future__ import annotations

import json
import logging

import pytest
from modelrouter.backends.base import Message
from modelrouter.engine import Engine, EngineError, Job
from support.fakes.provider import Reply
from support.fakes.rules import backend, rules_with

KEYS = {
    "KEY_A": "sk-ant-SECRET-aaaa1111",
    "KEY_G": "AIza-SECRET-gggg2222",
    "KEY_O": "sk-proj-SECRET-oooo3333",
}


@pytest.fixture
def keys(monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def _everything_sent(fake, route: str) -> str:
    return "\n".join(
        json.dumps(r.headers) + r.raw.decode("utf-8", "replace") + r.path
        for r in fake.requests_to(route)
    )


async def test_keys_reach_only_their_own_backend_across_a_fallback_chain(
    fake_provider, keys, caplog
):
    caplog.set_level(logging.DEBUG)
    chain = rules_with(
        backend("a", "anthropic", fake_provider.base_url("anthropic", "a"), api_key_env="KEY_A"),
        backend("g", "gemini", fake_provider.base_url("gemini", "g"), api_key_env="KEY_G"),
        backend("o", "openai", fake_provider.base_url("openai", "o"), api_key_env="KEY_O"),
    )
    # The providers echo the key back in their errors, as some real ones do.
    fake_provider.default(
        "a",
        Reply(
            status=429,
            error_body=json.dumps(
                {
                    "type": "error",
                    "error": {"type": "rate_limit_error", "message": f"slow down, {KEYS['KEY_A']}"},
                }
            ),
        ),
    )
    fake_provider.default("g", Reply(text="partial " * 10, chunk_size=4, cut_after=3))
    fake_provider.default("o", Reply(text="final answer"))
    async with Engine(chain) as engine:
        outcome = await engine.run(Job(messages=[Message("user", "hi")], tier="feature"))
    assert outcome.text == "final answer"
    sent = {route: _everything_sent(fake_provider, route) for route in "ago"}
    assert KEYS["KEY_A"] in sent["a"] and KEYS["KEY_G"] in sent["g"] and KEYS["KEY_O"] in sent["o"]
    for route, own in (("a", "KEY_A"), ("g", "KEY_G"), ("o", "KEY_O")):
        for name, value in KEYS.items():
            if name != own:
                assert value not in sent[route], f"{name} was sent to backend {route}"
    reported = " ".join(str(a.error) for a in outcome.attempts) + caplog.text
    reported += outcome.as_message().content
    for value in KEYS.values():
        assert value not in reported
    assert "[key hidden]" in outcome.attempts[0].error
    # keys travel in headers only, never inside the transcript sent as the body
    for request in fake_provider.requests:
        for value in KEYS.values():
            assert value.encode() not in request.raw


async def test_key_echoed_in_an_auth_error_is_hidden_from_the_engine_error(fake_provider, keys):
    fake_provider.default(
        "o",
        Reply(
            status=401,
            error_body=json.dumps(
                {"error": {"message": f"Incorrect API key provided: {KEYS['KEY_O']}"}}
            ),
        ),
    )
    rules = rules_with(
        backend("o", "openai", fake_provider.base_url("openai", "o"), api_key_env="KEY_O")
    )
    async with Engine(rules) as engine:
        with pytest.raises(EngineError) as info:
            await engine.run(Job(messages=[Message("user", "hi")], tier="feature"))
    assert KEYS["KEY_O"] not in str(info.value)
    assert "Incorrect API key provided: [key hidden]" in str(info.value)
