"""A fake model provider: a real HTTP server on 127.0.0.1 speaking four wire formats.

Formats, chosen by path like the real services:
  POST /v1/chat/completions                       OpenAI-compatible (SSE when "stream": true)
  POST /v1/messages                               Anthropic Messages (SSE when "stream": true)
  POST /v1beta/models/M:streamGenerateContent     Gemini (SSE with ?alt=sse)
  POST /v1beta/models/M:generateContent           Gemini, not streamed
  POST /api/chat                                  Ollama (NDJSON unless "stream": false)

Several backends share one server by giving each its own path prefix ("route"):
`fake.base_url("openai", "primary")` is `http://127.0.0.1:PORT/primary/v1`. Each route
answers with its scripted `Reply` (queued replies first, then the route's default) and
every request is recorded for assertions. Streamed bodies use chunked transfer encoding,
so a stream cut mid-way is a real broken connection to the client.

A reply may carry tool calls (`Reply.tool_calls`), written in each format's own shape,
arguments streamed in pieces where the format streams them. Like the real services, a
request whose tool results do not answer the tool calls before them gets a 400.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """How a route answers one request."""

    text: str = "Hello from the fake provider."
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 8  # characters of answer per streamed chunk
    delay: float = 0.0  # seconds before each streamed chunk
    first_delay: float = 0.0  # seconds before the response starts (headers included)
    cut_after: int | None = None  # close the connection after this many text chunks
    garbage_after: int | None = None  # send malformed data after this many text chunks
    error_after: int | None = None  # send the provider's mid-stream error after this many
    input_tokens: int = 11
    output_tokens: int | None = None  # default: one per text chunk
    usage: bool = True  # report usage at all
    model: str | None = None  # reported model name; default: the requested one
    error_body: str | None = None  # raw body for error statuses; default: provider format
    error_type: str = "overloaded_error"  # anthropic mid-stream error type
    hold: threading.Event | None = None  # wait for this before the last text chunk
    whole: bool = False  # answer with one JSON body even when a stream was asked for
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)  # (name, arguments)
    stop: str | None = None  # "max_tokens": the answer is cut at the output limit


@dataclass
class Recorded:
    """One request as the server saw it."""

    route: str
    wire: str  # openai | anthropic | gemini | ollama | unknown
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any
    raw: bytes
    client_port: int = 0  # the same port on two requests means one reused connection
    # Set when the client hung up before the reply was whole: seen at once while the reply
    # waits (first_delay, delay, hold), else on the next write.
    disconnected: threading.Event = field(default_factory=threading.Event)
    rejected: str | None = None  # why the transcript got a 400


class FakeProvider:
    """Start with `start()`, stop with `stop()`; script with `reply()` / `default()`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.ollama_models: list[str] = []  # what Ollama's GET /api/tags lists
        self._queues: dict[str, list[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeProvider:
        handler = type("Handler", (_Handler,), {"provider": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, wire: str, route: str = "default") -> str:
        """The `base_url` a backend of type `wire` uses to reach `route` (SDK conventions)."""
        suffix = "/v1" if wire == "openai" else ""
        return f"{self.url}/{route}{suffix}"

    # scripting

    def default(self, route: str, reply: Reply) -> None:
        """Answer every request on `route` with `reply` once the queue is empty."""
        with self._lock:
            self._defaults[route] = reply

    def reply(self, route: str, *replies: Reply) -> None:
        """Answer the next requests on `route` with `replies`, in order."""
        with self._lock:
            self._queues.setdefault(route, []).extend(replies)

    def requests_to(self, route: str) -> list[Recorded]:
        """Requests received on `route`."""
        return [r for r in self.requests if r.route == route]

    def _next_reply(self, route: str) -> Reply:
        with self._lock:
            queue = self._queues.get(route)
            if queue:
                return queue.pop(0)
            return self._defaults.get(route, Reply())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # load tests open many connections at once (default: 5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (cancelled, timed out) while a handler was still writing
        # is expected here; anything else is a bug in the fake and must be seen.
        import sys

        if not isinstance(sys.exc_info()[1], (OSError, ValueError)):
            super().handle_error(request, client_address)


class _Cut(Exception):
    """Stop writing and drop the connection."""


class _Handler(BaseHTTPRequestHandler):
    provider: FakeProvider
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return None

    def do_GET(self) -> None:
        if urlsplit(self.path).path.endswith("/api/tags"):
            models = [{"name": name} for name in self.provider.ollama_models]
            self._send_json(200, {"models": models})
            return
        self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.split("/", 2)
        route = segments[1] if len(segments) > 1 else ""
        rest = "/" + (segments[2] if len(segments) > 2 else "")
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        wire = _wire(rest)
        record = Recorded(
            route=route,
            wire=wire,
            method="POST",
            path=rest,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            client_port=self.client_address[1],
        )
        self.provider.requests.append(record)
        reply = self.provider._next_reply(route)
        try:
            if reply.first_delay:
                self._pause(reply.first_delay)
            if wire == "unknown":
                self._send_json(404, {"error": {"message": f"no such endpoint {rest}"}})
                return
            if reply.status >= 400:
                self._send_error(wire, reply)
                return
            problem = transcript_problem(wire, body)
            if problem:
                record.rejected = problem
                self._send_json(400, _error_payload(wire, 400, problem))
                return
            model = reply.model or _requested_model(wire, rest, body)
            streamed = _wants_stream(wire, rest, parts.query, body) and not reply.whole
            if streamed:
                self._stream(wire, reply, model)
            else:
                self._send_json(200, _whole(wire, reply, model), reply.headers)
        except (_Cut, BrokenPipeError, ConnectionResetError):
            record.disconnected.set()
            self.close_connection = True

    # responses

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, wire: str, reply: Reply) -> None:
        status = reply.status
        data = (reply.error_body or json.dumps(_error_payload(wire, status))).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _pause(self, seconds: float, until: threading.Event | None = None) -> None:
        """Wait `seconds` (or until `until` is set) while watching the connection: a client
        that hangs up meanwhile is seen at once (`_Cut`), as a real provider stops
        generating for a closed connection, instead of on the next write."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if until is not None and until.is_set():
                return
            # Polled only while an event may end the wait: 64 threads waking every 10 ms
            # would make the fake, not the client under test, the bottleneck of a load test.
            step = min(left, 0.01) if until is not None else left
            readable, _, _ = select.select([self.connection], [], [], step)
            if readable:
                try:
                    closed = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed = True
                if closed:
                    raise _Cut
                time.sleep(step)  # bytes of a next request: not a hang-up

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _cut(self) -> None:
        """Drop the connection without the chunked terminator: a broken stream."""
        self.wfile.flush()
        raise _Cut

    def _stream(self, wire: str, reply: Reply, model: str) -> None:
        self.send_response(200)
        content_type = "application/x-ndjson" if wire == "ollama" else "text/event-stream"
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        writer = _WRITERS[wire](reply, model)
        pieces = _split(reply.text, reply.chunk_size)
        for frame in writer.start():
            self._chunk(frame)
        for index, piece in enumerate(pieces):
            if reply.cut_after is not None and index == reply.cut_after:
                self._cut()
            if reply.garbage_after is not None and index == reply.garbage_after:
                self._chunk(writer.garbage())
                self._chunk(b"")
                return
            if reply.error_after is not None and index == reply.error_after:
                self._chunk(writer.error())
                self._chunk(b"")
                return
            if reply.delay:
                self._pause(reply.delay)
            if reply.hold is not None and index == len(pieces) - 1:
                self._pause(30, until=reply.hold)
            self._chunk(writer.delta(piece))
        if reply.cut_after is not None and reply.cut_after >= len(pieces):
            self._cut()
        for frame in writer.end(len(pieces)):
            self._chunk(frame)
        self._chunk(b"")  # zero-length chunk: end of body


def _split(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _wire(path: str) -> str:
    if path.endswith("/v1/chat/completions") or path == "/chat/completions":
        return "openai"
    if path.endswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1beta/models/") and (
        path.endswith(":streamGenerateContent") or path.endswith(":generateContent")
    ):
        return "gemini"
    if path == "/api/chat":
        return "ollama"
    return "unknown"


def _requested_model(wire: str, path: str, body: Any) -> str:
    if wire == "gemini":
        return path.removeprefix("/v1beta/models/").split(":", 1)[0]
    return (body or {}).get("model", "fake-model") if isinstance(body, dict) else "fake-model"


def _wants_stream(wire: str, path: str, query: str, body: Any) -> bool:
    if wire == "gemini":
        return path.endswith(":streamGenerateContent")
    stream = body.get("stream") if isinstance(body, dict) else None
    if wire == "ollama":
        return stream is not False  # Ollama streams unless told not to
    return bool(stream)


def _output_tokens(reply: Reply, chunks: int) -> int:
    return reply.output_tokens if reply.output_tokens is not None else chunks


def _error_payload(wire: str, status: int, detail: str | None = None) -> Any:
    messages = {
        400: ("invalid_request_error", "INVALID_ARGUMENT", "Invalid request."),
        401: ("authentication_error", "UNAUTHENTICATED", "Invalid API key."),
        403: ("permission_error", "PERMISSION_DENIED", "Forbidden."),
        429: ("rate_limit_error", "RESOURCE_EXHAUSTED", "Rate limit exceeded."),
        500: ("api_error", "INTERNAL", "Internal server error."),
        503: ("api_error", "UNAVAILABLE", "Service unavailable."),
        529: ("overloaded_error", "UNAVAILABLE", "Overloaded"),
    }
    kind, gstatus, message = messages.get(status, ("api_error", "UNKNOWN", f"HTTP {status}"))
    message = detail or message
    if wire == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    if wire == "gemini":
        return {"error": {"code": status, "message": message, "status": gstatus}}
    if wire == "ollama":
        return {"error": message}
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def transcript_problem(wire: str, body: Any) -> str | None:
    """Why the real service would refuse this transcript's tool results, or None."""
    if not isinstance(body, dict):
        return None
    try:
        check = {
            "openai": _openai_problem,
            "anthropic": _anthropic_problem,
            "gemini": _gemini_problem,
            "ollama": _ollama_problem,
        }[wire]
    except KeyError:
        return None
    try:
        return check(body)
    except (AttributeError, TypeError, KeyError):
        return "malformed messages"


def _openai_problem(body: dict) -> str | None:
    pending: list[str] = []  # tool_call ids still waiting for their tool message
    for i, m in enumerate(body.get("messages") or ()):
        role = m["role"]
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return f"messages[{i}]: tool message answers no preceding tool call"
            pending.remove(m["tool_call_id"])
            continue
        if pending:
            return f"messages[{i}]: tool calls {pending} have no tool messages"
        if role == "assistant":
            pending = [c["id"] for c in m.get("tool_calls") or ()]
            for c in m.get("tool_calls") or ():
                json.loads(c["function"]["arguments"] or "{}")
    return None


def _anthropic_problem(body: dict) -> str | None:
    pending: set[str] = set()
    for i, m in enumerate(body.get("messages") or ()):
        content = m["content"] if isinstance(m["content"], list) else []
        results = [b["tool_use_id"] for b in content if b.get("type") == "tool_result"]
        if m["role"] == "user":
            if set(results) - pending:
                return f"messages.{i}: tool_result for a tool_use_id not in the previous message"
            if pending - set(results):
                return (
                    f"messages.{i}: tool_use ids {sorted(pending)} were found without tool_result"
                )
            kinds = [b.get("type") for b in content]
            if results and kinds[: len(results)] != ["tool_result"] * len(results):
                return f"messages.{i}: tool_result blocks must come first"
            pending = set()
        else:
            if pending:
                return (
                    f"messages.{i}: tool_use ids {sorted(pending)} were found without tool_result"
                )
            if results:
                return f"messages.{i}: tool_result in an assistant message"
            pending = {b["id"] for b in content if b.get("type") == "tool_use"}
    return None


def _gemini_problem(body: dict) -> str | None:
    pending: list[str] = []
    for i, c in enumerate(body.get("contents") or ()):
        parts = c.get("parts") or []
        responses = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
        if c.get("role") == "model":
            if pending:
                return f"contents[{i}]: function calls {pending} have no function responses"
            pending = [p["functionCall"]["name"] for p in parts if "functionCall" in p]
            continue
        if sorted(responses) != sorted(pending) and (responses or pending):
            return (
                f"contents[{i}]: the number of function response parts must equal the number "
                "of function call parts of the function call turn"
            )
        pending = []
    return None


def _ollama_problem(body: dict) -> str | None:
    open_calls = 0
    for i, m in enumerate(body.get("messages") or ()):
        if m["role"] == "tool":
            if open_calls <= 0:
                return f"messages[{i}]: tool message without a preceding tool call"
            open_calls -= 1
        elif m["role"] == "assistant":
            open_calls = len(m.get("tool_calls") or ())
            for c in m.get("tool_calls") or ():
                if not isinstance(c["function"]["arguments"], dict):
                    return f"messages[{i}]: tool call arguments must be an object"
    return None


def _call_id(wire: str, index: int) -> str:
    prefix = "toolu_" if wire == "anthropic" else "call_"
    return f"{prefix}{uuid.uuid4().hex[:10]}{index}"


def _sse(payload: Any, event: str | None = None, sep: bytes = b"\n\n") -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(payload).encode() + sep


def _choice(delta: dict) -> dict:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}


def _openai_finish(reply: Reply) -> str:
    if reply.stop == "max_tokens":
        return "length"
    return "tool_calls" if reply.tool_calls else "stop"


def _anthropic_stop(reply: Reply) -> str:
    if reply.stop == "max_tokens":
        return "max_tokens"
    return "tool_use" if reply.tool_calls else "end_turn"


class _OpenAIWriter:
    def __init__(self, reply: Reply, model: str) -> None:
        self.reply = reply
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex[:12]}"

    def _chunk(self, choices: list, usage: Any = None) -> bytes:
        return _sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "system_fingerprint": None,
                "choices": choices,
                "usage": usage,
            }
        )

    def start(self) -> list[bytes]:
        delta = {"role": "assistant", "content": ""}
        return [
            self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
        ]

    def delta(self, text: str) -> bytes:
        choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        return self._chunk([choice])

    def end(self, chunks: int) -> list[bytes]:
        frames = []
        for i, (name, arguments) in enumerate(self.reply.tool_calls):
            start = {
                "index": i,
                "id": _call_id("openai", i),
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            frames.append(self._chunk([_choice({"tool_calls": [start]})]))
            for piece in _split(json.dumps(arguments), self.reply.chunk_size):
                more = {"index": i, "function": {"arguments": piece}}
                frames.append(self._chunk([_choice({"tool_calls": [more]})]))
        finish = _openai_finish(self.reply)
        frames.append(
            self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}])
        )
        if self.reply.usage:
            out = _output_tokens(self.reply, chunks)
            usage = {
                "prompt_tokens": self.reply.input_tokens,
                "completion_tokens": out,
                "total_tokens": self.reply.input_tokens + out,
            }
            frames.append(self._chunk([], usage))
        frames.append(b"data: [DONE]\n\n")
        return frames

    def garbage(self) -> bytes:
        return b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": "tr\n\n'

    def error(self) -> bytes:
        return _sse({"error": {"message": "The server had an error", "type": "server_error"}})


class _AnthropicWriter:
    def __init__(self, reply: Reply, model: str) -> None:
        self.reply = reply
        self.model = model

    def start(self) -> list[bytes]:
        message = {
            "id": f"msg_{uuid.uuid4().hex[:16]}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": None,
            "stop_sequence": None,
        }
        if self.reply.usage:  # the real API always reports it; compatible servers may not
            message["usage"] = {"input_tokens": self.reply.input_tokens, "output_tokens": 1}
        return [
            _sse({"type": "message_start", "message": message}, "message_start"),
            _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]

    def delta(self, text: str) -> bytes:
        return _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            "content_block_delta",
        )

    def end(self, chunks: int) -> list[bytes]:
        delta: dict = {
            "type": "message_delta",
            "delta": {"stop_reason": _anthropic_stop(self.reply), "stop_sequence": None},
        }
        if self.reply.usage:
            delta["usage"] = {"output_tokens": _output_tokens(self.reply, chunks)}
        frames = [_sse({"type": "content_block_stop", "index": 0}, "content_block_stop")]
        for i, (name, arguments) in enumerate(self.reply.tool_calls, start=1):
            block = {"type": "tool_use", "id": _call_id("anthropic", i), "name": name, "input": {}}
            frames.append(
                _sse(
                    {"type": "content_block_start", "index": i, "content_block": block},
                    "content_block_start",
                )
            )
            for piece in _split(json.dumps(arguments), self.reply.chunk_size):
                frames.append(
                    _sse(
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                        "content_block_delta",
                    )
                )
            frames.append(_sse({"type": "content_block_stop", "index": i}, "content_block_stop"))
        return [
            *frames,
            _sse(delta, "message_delta"),
            _sse({"type": "message_stop"}, "message_stop"),
        ]

    def garbage(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_blo\x00\xff\n\n'

    def error(self) -> bytes:
        return _sse(
            {"type": "error", "error": {"type": self.reply.error_type, "message": "Overloaded"}},
            "error",
        )


class _GeminiWriter:
    def __init__(self, reply: Reply, model: str) -> None:
        self.reply = reply
        self.model = model

    def _usage(self, chunks: int) -> dict:
        out = _output_tokens(self.reply, chunks)
        return {
            "promptTokenCount": self.reply.input_tokens,
            "candidatesTokenCount": out,
            "totalTokenCount": self.reply.input_tokens + out,
        }

    def _frame(self, text: str, finish: str | None, chunks: int) -> bytes:
        candidate: dict = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        payload: dict = {"candidates": [candidate], "modelVersion": self.model}
        if self.reply.usage:
            payload["usageMetadata"] = self._usage(chunks)
        return _sse(payload, sep=b"\r\n\r\n")

    def start(self) -> list[bytes]:
        self.sent = 0
        return []

    def delta(self, text: str) -> bytes:
        self.sent += 1
        return self._frame(text, None, self.sent)

    def end(self, chunks: int) -> list[bytes]:
        finish = "MAX_TOKENS" if self.reply.stop == "max_tokens" else "STOP"
        if self.reply.tool_calls:
            parts = [
                {"functionCall": {"name": name, "args": arguments}}
                for name, arguments in self.reply.tool_calls
            ]
            candidate = {
                "content": {"parts": parts, "role": "model"},
                "index": 0,
                "finishReason": finish,
            }
            payload: dict = {"candidates": [candidate], "modelVersion": self.model}
            if self.reply.usage:
                payload["usageMetadata"] = self._usage(chunks)
            return [_sse(payload, sep=b"\r\n\r\n")]
        return [self._frame("", finish, chunks)]

    def garbage(self) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"te\r\n\r\n'

    def error(self) -> bytes:
        return _sse({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}})


class _OllamaWriter:
    def __init__(self, reply: Reply, model: str) -> None:
        self.reply = reply
        self.model = model

    def _line(self, payload: dict) -> bytes:
        return json.dumps(payload).encode() + b"\n"

    def start(self) -> list[bytes]:
        return []

    def delta(self, text: str) -> bytes:
        return self._line(
            {
                "model": self.model,
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": False,
            }
        )

    def end(self, chunks: int) -> list[bytes]:
        frames = []
        if self.reply.tool_calls:
            calls = [
                {"function": {"name": name, "arguments": arguments}}
                for name, arguments in self.reply.tool_calls
            ]
            frames.append(
                self._line(
                    {
                        "model": self.model,
                        "created_at": "2025-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": "", "tool_calls": calls},
                        "done": False,
                    }
                )
            )
        final: dict = {
            "model": self.model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length" if self.reply.stop == "max_tokens" else "stop",
            "total_duration": 1000,
        }
        if self.reply.usage:
            final["prompt_eval_count"] = self.reply.input_tokens
            final["eval_count"] = _output_tokens(self.reply, chunks)
        return [*frames, self._line(final)]

    def garbage(self) -> bytes:
        return b'{"model": "x", "message": {"content": "tru\n'

    def error(self) -> bytes:
        return self._line({"error": "model runner has unexpectedly stopped"})


_WRITERS: dict[str, Any] = {
    "openai": _OpenAIWriter,
    "anthropic": _AnthropicWriter,
    "gemini": _GeminiWriter,
    "ollama": _OllamaWriter,
}


def _whole(wire: str, reply: Reply, model: str) -> Any:
    """The non-streamed response body."""
    chunks = len(_split(reply.text, reply.chunk_size))
    out = _output_tokens(reply, chunks)
    if wire == "openai":
        body: dict = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.text or None,
                        "refusal": None,
                        **(
                            {
                                "tool_calls": [
                                    {
                                        "id": _call_id("openai", i),
                                        "type": "function",
                                        "function": {"name": n, "arguments": json.dumps(a)},
                                    }
                                    for i, (n, a) in enumerate(reply.tool_calls)
                                ]
                            }
                            if reply.tool_calls
                            else {}
                        ),
                    },
                    "logprobs": None,
                    "finish_reason": _openai_finish(reply),
                }
            ],
        }
        if reply.usage:
            body["usage"] = {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": out,
                "total_tokens": reply.input_tokens + out,
            }
        return body
    if wire == "anthropic":
        return {
            "id": f"msg_{uuid.uuid4().hex[:16]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": ([{"type": "text", "text": reply.text}] if reply.text else [])
            + [
                {"type": "tool_use", "id": _call_id("anthropic", i), "name": n, "input": a}
                for i, (n, a) in enumerate(reply.tool_calls)
            ],
            "stop_reason": _anthropic_stop(reply),
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": out},
        }
    if wire == "gemini":
        return {
            "candidates": [
                {
                    "content": {
                        "parts": ([{"text": reply.text}] if reply.text else [])
                        + [{"functionCall": {"name": n, "args": a}} for n, a in reply.tool_calls],
                        "role": "model",
                    },
                    "finishReason": "MAX_TOKENS" if reply.stop == "max_tokens" else "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": reply.input_tokens,
                "candidatesTokenCount": out,
                "totalTokenCount": reply.input_tokens + out,
            },
            "modelVersion": model,
        }
    return {
        "model": model,
        "created_at": "2025-01-01T00:00:00Z",
        "message": {
            "role": "assistant",
            "content": reply.text,
            **(
                {
                    "tool_calls": [
                        {"function": {"name": n, "arguments": a}} for n, a in reply.tool_calls
                    ]
                }
                if reply.tool_calls
                else {}
            ),
        },
        "done": True,
        "done_reason": "length" if reply.stop == "max_tokens" else "stop",
        "prompt_eval_count": reply.input_tokens,
        "eval_count": out,
    }
