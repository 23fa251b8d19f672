"""A client that closes its connection cancels the upstream request, on every endpoint.

Each case sends a real request over a plain socket and closes it: mid-stream (after the
first answer text), before the first token (the provider is still thinking), or while a
whole (non-streamed) answer is pending. The fake provider must see its own connection
closed long before its answer would have ended, the ledger must hold one row for the
request, marked cancelled (as the engine records an editor's cancellation), and the proxy
must go on serving.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
from modelrouter.errors import LedgerError
from modelrouter.ledger import default_path, read_entries
from support.fakes.provider import FakeProvider, Reply
from support.proxy import proxy_rules, running_proxy

# (model, route): an OpenAI-wire and an Anthropic-wire backend behind the proxy.
BACKENDS = {"openai": ("modelrouter/trivial", "cheap"), "anthropic": ("claude", "claude")}
ENDPOINTS = ("/v1/messages", "/v1/chat/completions", "/v1/responses")
SLOW = Reply(text="word " * 400, chunk_size=5, delay=0.02)  # ~8 s if nobody hangs up
THINKING = Reply(text="never sent", first_delay=30)


def _body(path: str, model: str, stream: bool) -> dict:
    if path == "/v1/responses":
        return {"model": model, "stream": stream, "input": "rename x to count"}
    body = {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "rename x to count"}]}  # fmt: skip
    if path == "/v1/messages":
        body["max_tokens"] = 100
    return body


def _send(port: int, path: str, body: dict) -> socket.socket:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head.encode() + data)
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the proxy closed the stream before {marker!r}: {received[-300:]!r}"
        received += chunk
    return received


def _wait_for(condition, bound: float = 10.0) -> bool:
    """Poll `condition` until it holds or `bound` seconds pass (a bound, not a measure)."""
    end = time.monotonic() + bound
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def _recorded() -> list:
    """The ledger's entries, or none while the proxy is still creating the file (its first
    connection switches the new database to WAL, which briefly locks out readers)."""
    try:
        return read_entries(default_path())
    except LedgerError:
        return []


def _hang_up_and_check(fake: FakeProvider, proxy, route: str, sock: socket.socket) -> None:
    sock.close()
    request = fake.requests_to(route)[0]
    assert request.disconnected.wait(10), "the provider's connection stayed open"
    assert _wait_for(_recorded)
    assert [e.status for e in read_entries(default_path())] == ["cancelled"]
    # The proxy goes on serving.
    fake.default(route, Reply(text="still here"))
    model = BACKENDS["openai" if route == "cheap" else "anthropic"][0]
    reply = httpx.post(
        f"{proxy.url}/v1/chat/completions", json=_body("/v1/chat/completions", model, False),
        timeout=30,
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "still here"


@pytest.mark.parametrize("wire", BACKENDS)
@pytest.mark.parametrize("path", ENDPOINTS)
def test_hanging_up_mid_stream_closes_the_provider_stream(fake_provider, wire, path):
    model, route = BACKENDS[wire]
    fake_provider.reply(route, SLOW)
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        sock = _send(proxy.port, path, _body(path, model, True))
        received = _read_until(sock, b"word")
        assert received.startswith(b"HTTP/1.1 200")
        _hang_up_and_check(fake_provider, proxy, route, sock)


@pytest.mark.parametrize("wire", BACKENDS)
@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("stream", [True, False], ids=["before-first-token", "whole"])
def test_hanging_up_before_the_answer_closes_the_provider_request(
    fake_provider, wire, path, stream
):
    model, route = BACKENDS[wire]
    fake_provider.reply(route, THINKING)
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        sock = _send(proxy.port, path, _body(path, model, stream))
        assert _wait_for(lambda: fake_provider.requests_to(route))
        _hang_up_and_check(fake_provider, proxy, route, sock)


def test_other_clients_streams_go_on_while_one_hangs_up(fake_provider):
    hold = threading.Event()
    fake_provider.reply("cheap", SLOW)
    fake_provider.reply("claude", Reply(text="the whole answer", chunk_size=3, hold=hold))
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        cheap = _body("/v1/messages", "modelrouter/trivial", True)
        leaving = _send(proxy.port, "/v1/messages", cheap)
        _read_until(leaving, b"word")
        staying = _send(proxy.port, "/v1/messages", _body("/v1/messages", "claude", True))
        answer = _read_until(staying, b"text_delta")
        leaving.close()
        assert fake_provider.requests_to("cheap")[0].disconnected.wait(10)
        hold.set()
        answer += _read_until(staying, b"message_stop")
        staying.close()
    texts = [
        json.loads(line[6:])["delta"]["text"]
        for line in answer.decode().splitlines()
        if line.startswith("data: ") and "text_delta" in line
    ]
    assert "".join(texts) == "the whole answer"
    assert not fake_provider.requests_to("claude")[0].disconnected.is_set()
    statuses = sorted(e.status for e in read_entries(default_path()))
    assert statuses == ["cancelled", "ok"]
