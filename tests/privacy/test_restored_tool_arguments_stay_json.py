"""A secret restored into tool-call arguments is JSON-escaped, so a `"` or `\\` in it never
breaks the arguments JSON: for any secret and any chunk split, and on both client wires."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.redact import Redactor, StreamRestorer
from support.fakes.provider import Reply
from support.proxy import proxy_rules, running_proxy

SECRET_CHARS = st.sampled_from('"\\/\n\t\x00é😀') | st.characters(
    codec="utf-8", exclude_categories=("Cs",)
)


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(SECRET_CHARS, min_size=6, max_size=24).filter(lambda s: "REDACTED" not in s),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_streamed_arguments_with_a_restored_secret_parse_to_the_secret(secret, cuts):
    redactor = Redactor(known=(secret,), enabled=False)
    placeholder = redactor.redact(secret)
    arguments = json.dumps({"command": f"login {placeholder} now", "n": 1})
    restorer = StreamRestorer(redactor, in_json=True)
    bounds = sorted({min(c, len(arguments)) for c in cuts} | {0, len(arguments)})
    out = [restorer.feed(arguments[a:b]) for a, b in itertools.pairwise(bounds)]
    out.append(restorer.flush())
    assert json.loads("".join(out)) == {"command": f"login {secret} now", "n": 1}


def test_restored_text_outside_json_keeps_the_secret_as_is():
    redactor = Redactor(known=('a"b\\c-secret',), enabled=False)
    placeholder = redactor.redact('a"b\\c-secret')
    assert redactor.restore(f"say {placeholder}") == 'say a"b\\c-secret'


SECRET = 'p4ss\\\\w0rd\\"7Qz'  # as the password scanner reads it from the quoted value


def _streamed_arguments(wire: str, lines: list[str]) -> str:
    parts: list[str] = []
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[len("data: ") :])
        if wire == "openai":
            for choice in event.get("choices") or ():
                for call in choice.get("delta", {}).get("tool_calls") or ():
                    parts.append(call.get("function", {}).get("arguments") or "")
        elif event.get("type") == "content_block_delta":
            parts.append(event["delta"].get("partial_json", ""))
    return "".join(parts)


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_secret_with_quotes_and_backslashes_streams_back_as_valid_arguments(fake_provider, wire):
    fake_provider.default(
        "cheap",
        Reply(text="", chunk_size=3, tool_calls=[("Bash", {"cmd": "login REDACTED_PASSWORD_1"})]),
    )
    prompt = f'rename the config; set password = "{SECRET}" there'
    body = {"model": "modelrouter/trivial", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
    path = "/v1/chat/completions" if wire == "openai" else "/v1/messages"
    if wire == "openai":
        body["tools"] = [{"type": "function", "function": {"name": "Bash", "parameters": {}}}]
    else:
        body["tools"] = [{"name": "Bash", "input_schema": {"type": "object"}}]
    with (
        running_proxy(proxy_rules(fake_provider)) as proxy,
        httpx.stream("POST", f"{proxy.url}{path}", json=body, timeout=30) as reply,
    ):
        assert reply.status_code == 200
        lines = list(reply.iter_lines())
    sent = json.dumps(fake_provider.requests_to("cheap")[0].body)
    assert "REDACTED_PASSWORD_1" in sent and "w0rd" not in sent
    assert json.loads(_streamed_arguments(wire, lines)) == {"cmd": f"login {SECRET}"}
