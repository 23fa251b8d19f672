"""Hostile provider streams: every byte split, truncation, invalid UTF-8 and garbage.

Each decoder (OpenAI SSE, Anthropic SSE, Gemini SSE, Ollama NDJSON) either returns exactly
the answer that was sent, or raises a `BackendError` — never another exception, and never
a `StreamDone` after a partial answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.backends import make_backend
from modelrouter.backends.base import BackendError, Message, StreamDone, TextDelta
from support.fakes.provider import _WRITERS, Reply
from support.fakes.rules import backend

WIRES = ("openai", "anthropic", "gemini", "ollama")
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
answer_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60
).filter(lambda t: t.strip() != "")


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def wire_bytes(wire: str, text: str, chunk_size: int = 4) -> bytes:
    """A complete, correct stream for `text` exactly as the provider sends it."""
    writer = _WRITERS[wire](Reply(text=text, chunk_size=chunk_size), "m")
    pieces = [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)] or [""]
    frames = [*writer.start(), *(writer.delta(p) for p in pieces), *writer.end(len(pieces))]
    return b"".join(frames)


def decode(wire: str, chunks: list[bytes]) -> tuple[str, bool]:
    """(text, completed) from the adapter reading `chunks` as its HTTP response body."""
    content_type = "application/x-ndjson" if wire == "ollama" else "text/event-stream"

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, stream=Chunks(chunks))

    async def run() -> tuple[str, bool]:
        parts: list[str] = []
        done = False
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
            cfg = backend("b", wire, "http://127.0.0.1:9")
            async for event in make_backend(cfg, client).stream([Message("user", "q")]):
                assert not done, "events after StreamDone"
                if isinstance(event, TextDelta):
                    assert isinstance(event.text, str)
                    parts.append(event.text)
                else:
                    assert isinstance(event, StreamDone)
                    done = True
        return "".join(parts), done

    return asyncio.run(run())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("wire", WIRES)
def test_every_single_byte_boundary_gives_the_same_answer(wire: str) -> None:
    text = "héllo wörld 👋\nline two ✓"
    data = wire_bytes(wire, text)
    for cut in range(len(data) + 1):
        got, done = decode(wire, [data[:cut], data[cut:]])
        assert (got, done) == (text, True), cut


@pytest.mark.parametrize("wire", WIRES)
def test_one_byte_at_a_time(wire: str) -> None:
    text = "ü" * 7 + "\r\n" + "data: [DONE]\n\n" + "{json}"
    data = wire_bytes(wire, text, chunk_size=3)
    assert decode(wire, [bytes([b]) for b in data]) == (text, True)


@pytest.mark.parametrize("wire", WIRES)
@FUZZ
@given(text=answer_text, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_gives_the_same_answer(wire: str, text: str, cuts: list[int]) -> None:
    data = wire_bytes(wire, text)
    assert decode(wire, split(data, cuts)) == (text, True)


@pytest.mark.parametrize("wire", WIRES)
@FUZZ
@given(text=answer_text, cut=st.integers(min_value=0))
def test_truncated_stream_is_an_error_or_the_whole_answer(wire: str, text: str, cut: int) -> None:
    data = wire_bytes(wire, text)
    prefix = data[: cut % len(data)]
    try:
        got, done = decode(wire, [prefix])
    except BackendError as exc:
        assert exc.kind == "stream"
        return
    # Accepted only when the answer is whole (e.g. OpenAI's final chunk arrived without [DONE]).
    assert done and got == text


@pytest.mark.parametrize("wire", WIRES)
@FUZZ
@given(
    text=answer_text,
    junk=st.binary(min_size=1, max_size=40),
    where=st.integers(min_value=0),
)
def test_injected_garbage_and_invalid_utf8_never_crash(
    wire: str, text: str, junk: bytes, where: int
) -> None:
    data = wire_bytes(wire, text)
    at = where % (len(data) + 1)
    try:
        got, done = decode(wire, [data[:at] + junk + data[at:]])
    except BackendError as exc:
        assert exc.kind == "stream"
        assert str(exc)
        return
    assert done
    assert isinstance(got, str)


@pytest.mark.parametrize("wire", WIRES)
@FUZZ
@given(body=st.binary(max_size=300))
def test_random_bodies_are_a_clear_stream_error(wire: str, body: bytes) -> None:
    try:
        got, done = decode(wire, [body])
    except BackendError as exc:
        assert exc.kind == "stream"
        return
    assert done and isinstance(got, str)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = {
    "openai": ["choices", "delta", "content", "usage", "finish_reason", "error", "model"],
    "anthropic": ["type", "delta", "text", "usage", "message", "error", "index"],
    "gemini": ["candidates", "content", "parts", "text", "usageMetadata", "finishReason"],
    "ollama": ["message", "content", "done", "error", "eval_count", "prompt_eval_count"],
}


@pytest.mark.parametrize("wire", WIRES)
@FUZZ
@given(data=st.data())
def test_well_formed_json_of_the_wrong_shape_is_a_clear_error(wire: str, data) -> None:
    import json

    keys = st.sampled_from(FIELDS[wire]) | st.text(max_size=5)
    shape = st.recursive(
        JSON_VALUES,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=10,
    )
    objects = data.draw(st.lists(shape, min_size=1, max_size=4))
    if wire == "ollama":
        body = b"".join(json.dumps(o).encode() + b"\n" for o in objects)
    else:
        event = data.draw(
            st.sampled_from(["", "content_block_delta", "message_delta", "message_stop", "error"])
        )
        head = f"event: {event}\n".encode() if event else b""
        body = b"".join(head + b"data: " + json.dumps(o).encode() + b"\n\n" for o in objects)
    try:
        got, done = decode(wire, [body])
    except BackendError as exc:
        assert exc.kind == "stream"
        return
    assert done and isinstance(got, str)
