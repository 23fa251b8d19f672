"""The proxy's Starlette application: endpoints, body limits, headers.

Endpoints stay thin: parse the client's wire format into an `AgentRequest`, decide where
it goes, run it on the engine, and write the neutral answer back in the client's format.
Who may call it, and under which team key, is `access` (a middleware in front of every
route). Every endpoint routes through `_route`, which bounds the tier by the key's tiers
and names the key on the job, so its budgets hold and its ledger rows carry its name.
Every response names what answered: the body's `model` is the real model, and the
`x-modelrouter-backend`, `-tier` and `-reason` headers say where and why (the reason never
quotes the request). No CORS headers: browsers on other origins cannot call it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelrouter import __version__
from modelrouter.config import Rules
from modelrouter.engine import Engine, EngineError, Job, Outcome
from modelrouter.keys import KeyStore
from modelrouter.privacy import command_words, local_only_reason, patch_paths
from modelrouter.proxy import anthropic_api, openai_api, responses_api
from modelrouter.proxy.access import (
    Access,
    AccessMiddleware,
    presented_keys,
    request_key,
    request_secret,
    within_key,
)
from modelrouter.proxy.decide import AUTO_MODEL, MODEL_PREFIX, Routed, route_request
from modelrouter.proxy.hangup import ClientGone, Hangup
from modelrouter.proxy.relay import Relay, Started, StreamBroken
from modelrouter.proxy.request import AgentRequest, RequestError, Wire, client_name
from modelrouter.routing.decide import remember
from modelrouter.routing.sticky import Sessions
from modelrouter.transcript import ToolCall, tools_tokens, transcript_tokens

log = logging.getLogger(__name__)

# Tool inputs that name a file (Claude Code, Codex, aider tools): checked against local_only.
_PATH_KEYS = ("file_path", "path", "notebook_path", "filename")
# Tool inputs that hold a shell command (Claude Code's Bash, Codex's exec_command and shell):
# each word of it that could be a file is checked too.
_COMMAND_KEYS = ("command", "cmd")
# Tool inputs that hold a patch (Codex's apply_patch): the files it names are checked.
_PATCH_KEYS = ("input", "patch")
_CALLS_CHECKED_ON_LOOP = 8
_HEADER_LIMIT = 200


@dataclass
class ProxyState:
    """What every request shares: the rules, the engine, the conversations, the keys."""

    rules: Rules
    engine: Engine
    sessions: Sessions
    access: Access


class _TooLarge(Exception):
    pass


_PARSERS = {"anthropic": anthropic_api, "openai": openai_api, "responses": responses_api}


def create_app(
    rules: Rules, engine: Engine, *, key: str | None = None, keys: KeyStore | None = None
) -> Starlette:
    """The proxy as an ASGI app. `engine` is closed when the app shuts down.

    `key` is the single proxy key; with `keys` and any key in the ledger, every request must
    present a team key (or the single one), and the key's budgets and tiers apply.
    """
    sessions = Sessions(ttl_s=rules.proxy.sticky_minutes * 60)
    state = ProxyState(rules, engine, sessions, Access(key, keys))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.aclose()
            if engine.ledger is not None:
                engine.ledger.close()  # waits for queued entries: nothing half-written

    async def messages(request: Request) -> Response:
        return await _answer(state, request, "anthropic")

    async def chat(request: Request) -> Response:
        return await _answer(state, request, "openai")

    async def responses(request: Request) -> Response:
        return await _answer(state, request, "responses")

    async def count_tokens(request: Request) -> Response:
        try:
            body = await _read_json(request, state.rules.proxy.max_request_bytes)
            body.setdefault("max_tokens", 1)
            parsed = anthropic_api.parse_request(body, _headers(request), None)
        except _TooLarge:
            return _too_large(state, "anthropic")
        except RequestError as exc:
            return _error("anthropic", 400, str(exc))
        tokens = transcript_tokens(parsed.messages) + tools_tokens(parsed.options.tools)
        return JSONResponse(
            anthropic_api.count_tokens_reply(tokens), headers={"x-modelrouter-estimate": "true"}
        )

    async def models(request: Request) -> Response:
        names = [AUTO_MODEL, *(MODEL_PREFIX + t for t in state.rules.tiers)]
        names += [
            b for b in state.rules.backends if any(b in c for c in state.rules.tiers.values())
        ]
        data = [
            {
                "id": name,
                "object": "model",
                "type": "model",
                "created": 0,
                "created_at": "1970-01-01T00:00:00Z",
                "owned_by": "modelrouter",
                "display_name": name,
            }
            for name in names
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "has_more": False,
                "first_id": names[0],
                "last_id": names[-1],
            }
        )

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "modelrouter", "version": __version__})

    routes = [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/chat/completions", chat, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/responses", responses, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    guard = Middleware(AccessMiddleware, access=state.access, error_body=_error_body_for_path)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[guard])


# -- request handling -------------------------------------------------------------------------


async def _answer(state: ProxyState, request: Request, wire: Wire) -> Response:
    api = _PARSERS[wire]
    try:
        body = await _read_json(request, state.rules.proxy.max_request_bytes)
        parsed = api.parse_request(body, _headers(request), _client_key(state, request))
        routed = _route(state, request, parsed)
    except _TooLarge:
        return _too_large(state, wire)
    except RequestError as exc:
        return _error(wire, 400, str(exc))
    job = _job(state, parsed, routed, await _private(state.rules, parsed))
    hangup = Hangup(request.receive)
    if parsed.stream:
        return await _stream(state, parsed, routed, job, hangup)
    try:
        outcome = await hangup.unless_gone(state.engine.run(job))
    except ClientGone:
        return _gone()
    except EngineError as exc:
        return _engine_error(wire, exc)
    finally:
        hangup.stop()
    remember(state.sessions, routed.route, outcome.tier, outcome.backend, outcome.model)
    headers = _routing_headers(outcome.backend, routed)
    if wire == "anthropic":
        payload = anthropic_api.whole_message(
            outcome.model, outcome.parts, outcome.text, outcome.stop_reason, outcome.usage
        )
    elif wire == "responses":
        payload = responses_api.whole_response(
            outcome.model,
            outcome.parts,
            outcome.text,
            outcome.stop_reason,
            outcome.usage,
            parsed.echo,
        )
    else:
        payload = openai_api.whole_completion(
            outcome.model, outcome.parts, outcome.text, outcome.stop_reason, outcome.usage
        )
    return JSONResponse(payload, headers=headers)


def _route(state: ProxyState, request: Request, parsed: AgentRequest) -> Routed:
    """Where `parsed` goes: the shared routing decision, bounded by the request's team key
    (which also names the request's ledger rows and budgets). Every endpoint routes here."""
    parsed.client = client_name(request.headers.get("user-agent"))
    key = request_key(request.scope)
    parsed.key = key.name if key is not None else None
    routed = route_request(state.rules, parsed, state.sessions)
    bounded = within_key(state.rules, key, routed.decision)
    return routed if bounded is routed.decision else dataclasses.replace(routed, decision=bounded)


def _job(state: ProxyState, parsed: AgentRequest, routed: Routed, private: str | None) -> Job:
    decision = routed.decision
    return Job(
        messages=routed.messages,
        tier=decision.tier,
        reason=decision.reason,
        path=private,
        local_only=private is not None,
        prefer_backend=decision.prefer_backend,
        source="proxy",
        client=parsed.client,
        options=parsed.options,
        key=parsed.key,
        wait_for_ledger_id=False,
    )


async def _private(rules: Rules, parsed: AgentRequest) -> str | None:
    """`_private_path`, in a worker thread for a long conversation: each path named is
    looked up on disk (symlinks), and a long agent session names hundreds of them."""
    calls = sum(len(m.tool_calls) for m in parsed.messages)
    if calls <= _CALLS_CHECKED_ON_LOOP:
        return _private_path(rules, parsed)
    return await asyncio.to_thread(_private_path, rules, parsed)


def _private_path(rules: Rules, parsed: AgentRequest) -> str | None:
    """A file the conversation's tool calls touched that matches `local_only`, if any."""
    for m in parsed.messages:
        for call in m.tool_calls:
            arguments = call.input() if isinstance(call, ToolCall) else {}
            for name, on_disk in _files_named(arguments):
                if local_only_reason([name], rules, resolve=on_disk):
                    return name
    return None


def _files_named(arguments: dict) -> Iterator[tuple[str, bool]]:
    """Each file a tool call's arguments name, and whether it is a path to look up on disk
    (the words of a command or a patch's headers are matched as written)."""
    for key in _PATH_KEYS:
        path = arguments.get(key)
        if isinstance(path, str):
            yield path, True
    for key in _COMMAND_KEYS:
        for word in command_words(arguments.get(key)):
            yield word, False
    for key in _PATCH_KEYS:
        for path in patch_paths(arguments.get(key)):
            yield path, False


async def _stream(
    state: ProxyState, parsed: AgentRequest, routed: Routed, job: Job, hangup: Hangup
) -> Response:
    relay = Relay(state.engine, job)
    hangup.on_gone(relay.abort)
    try:
        first = await relay.first()
    except ClientGone:
        await _finish(hangup, relay)
        return _gone()
    except EngineError as exc:
        await _finish(hangup, relay)
        return _engine_error(parsed.wire, exc)
    except BaseException:
        await _finish(hangup, relay)
        raise
    remember(state.sessions, routed.route, job.tier, first.backend, first.model)
    input_tokens = transcript_tokens(job.messages) + tools_tokens(job.options.tools)
    if parsed.wire == "anthropic":
        writer: Any = anthropic_api.StreamWriter(first.model, input_tokens)
    elif parsed.wire == "responses":
        writer = responses_api.StreamWriter(first.model, parsed.echo)
    else:
        writer = openai_api.StreamWriter(first.model, parsed.include_usage)

    async def body() -> AsyncIterator[bytes]:
        # The message start goes out with the first content: one write, not two.
        head = writer.start()
        try:
            if isinstance(first, Started):
                try:
                    async for batch in relay.batches():
                        yield head + b"".join(writer.feed(event) for event in batch)
                        head = b""
                except StreamBroken as exc:
                    yield head + writer.error(502, f"the answer failed part-way: {exc}")
                    return
            outcome = relay.outcome
            if outcome is not None:
                if isinstance(first, Outcome):
                    head += b"".join(writer.feed(event) for event in _replay(outcome))
                yield head + writer.finish(outcome.stop_reason, outcome.usage)
        except ClientGone:
            return  # nobody is reading: the job is stopped and recorded as cancelled

    headers = {
        **_routing_headers(first.backend, routed),
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
    }
    return EventStream(body(), headers, lambda: _finish(hangup, relay))


async def _finish(hangup: Hangup, relay: Relay) -> None:
    hangup.stop()
    await relay.aclose()  # the client went away: stop the upstream call


def _gone() -> Response:
    """The reply to a client that already disconnected: never delivered, never logged as an
    error (499 is the usual "client closed request")."""
    return Response(status_code=499)


class EventStream(StreamingResponse):
    """A server-sent event stream written from the request's own task.

    Starlette's streaming response runs the body in a task group beside its own disconnect
    listener: a task and a hop per request, and a cancellation that can strike the body
    anywhere. Here the request's `Hangup` aborts the relay instead, so the body ends by
    itself, and `done` (stop watching, wait for the job to record itself) always runs.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        headers: dict[str, str],
        done: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(content, headers=headers, media_type="text/event-stream")
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        finally:
            await self._done()


def _replay(outcome: Outcome) -> list:
    """Content events of an answer that arrived whole (no streamed content)."""
    from modelrouter.backends.base import TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart
    from modelrouter.transcript import Text

    events: list = []
    calls = 0
    for p in outcome.parts:
        if isinstance(p, Text):
            events.append(TextDelta(p.text))
        elif isinstance(p, ToolCall):
            events += [
                ToolCallStart(calls, p.id, p.name),
                ToolCallDelta(calls, p.arguments),
                ToolCallEnd(calls),
            ]
            calls += 1
    return events


# -- helpers ----------------------------------------------------------------------------------


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _client_key(state: ProxyState, request: Request) -> str | None:
    """The client's own credential (for `forward_client_key` backends); never a proxy key."""
    used = {state.access.key, request_secret(request.scope)}
    for key in presented_keys(request.headers)[:2]:
        if key and key not in used:
            return key
    return None


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise _TooLarge
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request body is not valid JSON ({exc})") from None


def _too_large(state: ProxyState, wire: Wire) -> Response:
    limit = state.rules.proxy.max_request_bytes
    return _error(
        wire, 413, f"the request body is larger than {limit} bytes (proxy.max_request_bytes)"
    )


def _error_body_for_path(path: str, status: int, message: str) -> dict:
    """An error in the format of the API `path` belongs to (for refusals before routing)."""
    if path.startswith("/v1/messages"):
        return anthropic_api.error_body(status, message)
    return openai_api.error_body(status, message)


def _error(wire: Wire, status: int, message: str) -> Response:
    body = (
        anthropic_api.error_body(status, message)
        if wire == "anthropic"
        else openai_api.error_body(status, message)
    )
    return JSONResponse(body, status_code=status)


def _engine_error(wire: Wire, exc: EngineError) -> Response:
    """No backend answered: a status the client's retry logic understands."""
    log.warning("%s", exc.message)
    outcomes = {a.outcome for a in exc.attempts}
    if not exc.attempts and "budget" in exc.message:
        # Every backend was passed over, at least one for a budget: the message names it.
        return _error(wire, 429, exc.message)
    if outcomes == {"bad_request"}:
        status = 400
    elif outcomes == {"auth"}:
        status = 401
    elif outcomes and outcomes <= {"rate_limit"}:
        status = 429
    elif wire == "anthropic":
        status = 529
    else:
        status = 503
    return _error(wire, status, exc.message)


def _header_value(text: str) -> str:
    """A header-safe one-line ASCII value."""
    flat = " ".join(text.split())
    safe = flat.encode("ascii", "replace").decode("ascii")
    return safe[:_HEADER_LIMIT]


def _routing_headers(backend: str, routed: Routed) -> dict[str, str]:
    return {
        "x-modelrouter-backend": _header_value(backend),
        "x-modelrouter-tier": _header_value(routed.decision.tier),
        "x-modelrouter-reason": _header_value(routed.decision.reason),
    }
