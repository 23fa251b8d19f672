"""Proxied requests land in the ledger as source `proxy` with the client's name, and
`stats` and the report show them beside editor requests; secrets are redacted on the way
out and restored in the streamed reply, tool-call arguments included."""

from __future__ import annotations

import json

import anthropic
import openai
from modelrouter.ledger import default_path, read_entries
from modelrouter.report import render
from modelrouter.stats import summarize
from support.fakes.provider import Reply
from support.proxy import proxy_rules, running_proxy

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_proxied_requests_are_recorded_with_their_client(fake_provider):
    fake_provider.default("cheap", Reply(text="ok"))
    with (
        running_proxy(proxy_rules(fake_provider)) as proxy,
        openai.OpenAI(
            base_url=f"{proxy.url}/v1",
            api_key="k",
            max_retries=0,
            default_headers={"user-agent": "aider/0.86.1"},
        ) as client,
    ):
        client.chat.completions.create(
            model="modelrouter/trivial", messages=[{"role": "user", "content": "rename"}]
        )
    entries = read_entries(default_path())
    assert [(e.source, e.client, e.backend, e.status) for e in entries] == [
        ("proxy", "aider", "cheap", "ok")
    ]
    by_source = summarize(entries, by="source")
    assert by_source["by"][0]["key"] == "proxy (aider)"
    assert "proxy (aider)" in render(entries)


def test_secrets_are_redacted_upstream_and_restored_in_streamed_tool_calls(fake_provider):
    # The model answers with the placeholder it was shown; the client must get the value.
    with (
        running_proxy(proxy_rules(fake_provider)) as proxy,
        anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as client,
    ):
        # First learn which placeholder the proxy uses for the secret.
        fake_provider.default("cheap", Reply(text="noted"))
        client.messages.create(
            model="modelrouter/trivial",
            max_tokens=50,
            messages=[{"role": "user", "content": f"rename TOKEN = '{SECRET}'"}],
        )
        sent = json.dumps(fake_provider.requests_to("cheap")[0].body)
        assert SECRET not in sent
        placeholder = sent.split("TOKEN = '")[1].split("'")[0]
        fake_provider.default(
            "cheap",
            Reply(
                text=f"Keep {placeholder} as is.",
                chunk_size=3,
                tool_calls=[("Write", {"content": f"TOKEN = '{placeholder}'"})],
            ),
        )
        with client.messages.stream(
            model="modelrouter/trivial",
            max_tokens=50,
            tools=[{"name": "Write", "input_schema": {"type": "object"}}],
            messages=[{"role": "user", "content": f"rename TOKEN = '{SECRET}'"}],
        ) as stream:
            final = stream.get_final_message()
    text = "".join(b.text for b in final.content if b.type == "text")
    call = next(b for b in final.content if b.type == "tool_use")
    assert text == f"Keep {SECRET} as is."
    assert call.input == {"content": f"TOKEN = '{SECRET}'"}
