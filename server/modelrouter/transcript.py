"""The neutral transcript and its translation into each provider's payload shape.

A conversation is a list of `Message`s (system, user, assistant; assistant turns carry the
model that wrote them), so a follow-up routed to a different model still sees the earlier
exchange. A plain turn is its `content` text; an agent's turn also carries `parts`: text,
images, tool calls, tool results and thinking, in order. Tool definitions, the tool choice
and other per-call settings travel beside the transcript in `CallOptions`.

Translation goes to every wire format the backends speak (OpenAI chat, Anthropic
Messages, Gemini, Ollama): Anthropic `tool_use`/`tool_result` blocks, OpenAI
`tool_calls`/`tool` messages, Gemini `functionCall`/`functionResponse` parts and Ollama
`tool_calls`. Thinking blocks go to Anthropic unchanged (their signatures cover them) and
are dropped for the others. Before a call the transcript is trimmed to the target's
context window, keeping the system prompt and the newest turns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from modelrouter.errors import ContextTooSmall
from modelrouter.tokens import estimate_tokens

Role = Literal["system", "user", "assistant"]

# Per-message framing the providers add (role markers, separators), in tokens.
_MESSAGE_OVERHEAD = 4
# What an image costs in the estimate (Anthropic: about (width*height)/750 tokens).
_IMAGE_TOKENS = 1600


@dataclass(frozen=True)
class Text:
    """Text of a turn."""

    text: str


@dataclass(frozen=True)
class Image:
    """An image: base64 `data` with its `media_type`, or a `url`."""

    media_type: str = "image/png"
    data: str = ""
    url: str = ""


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool; `arguments` is the JSON text of its input."""

    id: str
    name: str
    arguments: str = "{}"

    def input(self) -> Any:
        """The arguments as JSON data (`{}` when they are not valid JSON)."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned to the call `call_id`; `parts` are Text and Image only."""

    call_id: str
    parts: tuple[Text | Image, ...] = ()
    is_error: bool = False
    name: str = ""  # the tool's name when the client's format carries it (Gemini needs it)

    @property
    def text(self) -> str:
        """The result's text parts joined."""
        return "\n".join(p.text for p in self.parts if isinstance(p, Text))


@dataclass(frozen=True)
class Thinking:
    """Model reasoning; only Anthropic may see it again, signature intact."""

    text: str = ""
    signature: str = ""
    redacted: str = ""  # the opaque data of a `redacted_thinking` block


Part = Text | Image | ToolCall | ToolResult | Thinking


@dataclass(frozen=True)
class Message:
    """One turn of the neutral transcript; assistant turns name the model that wrote them.

    `content` is the turn's text. When `parts` is set it is the whole turn (text, images,
    tool calls and results, in order) and `content` is only its text, for routing and
    token counts.
    """

    role: Role
    content: str
    model: str | None = None
    backend: str | None = None
    parts: tuple[Part, ...] = ()

    @classmethod
    def of(cls, role: Role, parts: list[Part] | tuple[Part, ...], **kw: Any) -> Message:
        """A turn made of `parts`; plain text only becomes a plain turn."""
        parts = tuple(parts)
        text = "\n\n".join(p.text for p in parts if isinstance(p, Text))
        if all(isinstance(p, Text) for p in parts):
            return cls(role, text, **kw)
        return cls(role, text, parts=parts, **kw)

    def all_parts(self) -> tuple[Part, ...]:
        """The turn as parts (a plain turn is one Text)."""
        return self.parts if self.parts else ((Text(self.content),) if self.content else ())

    @property
    def tool_results(self) -> list[ToolResult]:
        return [p for p in self.parts if isinstance(p, ToolResult)]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]

    @property
    def has_images(self) -> bool:
        return any(
            isinstance(p, Image)
            or (isinstance(p, ToolResult) and any(isinstance(q, Image) for q in p.parts))
            for p in self.parts
        )


@dataclass(frozen=True)
class Tool:
    """A tool the model may call: name, description and JSON Schema of its input."""

    name: str
    description: str = ""
    schema: dict = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolChoice:
    """`auto` (model decides), `any` (must call one), `none`, or `tool` (must call `name`)."""

    mode: Literal["auto", "any", "none", "tool"] = "auto"
    name: str = ""
    parallel: bool = True  # several calls in one turn allowed


@dataclass(frozen=True)
class CallOptions:
    """Per-call settings beside the transcript; None/empty means the backend's own default."""

    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    response_format: dict | None = None  # OpenAI's, passed to targets that take it
    thinking: dict | None = None  # Anthropic's thinking setting, passed to Anthropic only
    # Anthropic client to Anthropic backend: the client's own body, sent essentially as is.
    passthrough: dict | None = None
    passthrough_headers: dict[str, str] = field(default_factory=dict)  # anthropic-beta…
    client_key: str | None = None  # the client's credential, for forward_client_key backends


def _part_tokens(part: Part) -> int:
    if isinstance(part, Text):
        return estimate_tokens(part.text)
    if isinstance(part, Image):
        return _IMAGE_TOKENS
    if isinstance(part, ToolCall):
        return estimate_tokens(part.name) + estimate_tokens(part.arguments)
    if isinstance(part, ToolResult):
        return sum(_part_tokens(p) for p in part.parts) + 2
    return estimate_tokens(part.text)


def message_tokens(message: Message) -> int:
    """Estimated tokens one message costs in a request."""
    if message.parts:
        return sum(_part_tokens(p) for p in message.parts) + _MESSAGE_OVERHEAD
    return estimate_tokens(message.content) + _MESSAGE_OVERHEAD


def transcript_tokens(messages: list[Message]) -> int:
    """Estimated input tokens of a whole transcript."""
    return sum(message_tokens(m) for m in messages)


def tools_tokens(tools: tuple[Tool, ...]) -> int:
    """Estimated tokens the tool definitions add to a request."""
    return sum(
        estimate_tokens(t.name + t.description + json.dumps(t.schema)) + _MESSAGE_OVERHEAD
        for t in tools
    )


def trim(messages: list[Message], context_window: int, reserve: int) -> list[Message]:
    """Keep the system prompt and the newest turns that fit `context_window - reserve` tokens.

    `reserve` is room left for the answer. Dropped history goes oldest first; the kept part
    always starts with a user turn that is not only tool results (Anthropic and Gemini
    require a user turn first, and a tool result must follow its call). Raises
    `ContextTooSmall` when even the system prompt and the last turn do not fit.
    """
    budget = context_window - reserve
    system = [m for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    used = transcript_tokens(system)
    kept: list[Message] = []
    for message in reversed(turns):
        cost = message_tokens(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    if turns and not kept:
        need = transcript_tokens(system) + message_tokens(turns[-1]) + reserve
        raise ContextTooSmall(
            f"the request needs about {need} tokens, the context window is {context_window}"
        )
    if len(kept) < len(turns):
        while kept and (kept[0].role != "user" or kept[0].tool_results):
            kept.pop(0)
        if not kept:
            raise ContextTooSmall(
                f"the current task (its tool calls and results) needs more than the context "
                f"window of {context_window} tokens"
            )
    return system + kept


def map_texts(messages: list[Message], change: Callable[[list[str]], list[str]]) -> list[Message]:
    """`messages` with every text a model reads replaced by `change(texts)` (same order).

    Covers turn text, tool-call arguments and tool-result text; thinking is left alone
    (its signature covers it). Used to redact secrets before a call.
    """
    texts: list[str] = []
    for m in messages:
        if not m.parts:
            texts.append(m.content)
            continue
        for p in m.parts:
            if isinstance(p, Text):
                texts.append(p.text)
            elif isinstance(p, ToolCall):
                texts.append(p.arguments)
            elif isinstance(p, ToolResult):
                texts.extend(q.text for q in p.parts if isinstance(q, Text))
    changed = iter(change(texts))
    out: list[Message] = []
    for m in messages:
        if not m.parts:
            out.append(replace(m, content=next(changed)))
            continue
        parts: list[Part] = []
        for p in m.parts:
            if isinstance(p, Text):
                parts.append(Text(next(changed)))
            elif isinstance(p, ToolCall):
                parts.append(replace(p, arguments=next(changed)))
            elif isinstance(p, ToolResult):
                inner = tuple(Text(next(changed)) if isinstance(q, Text) else q for q in p.parts)
                parts.append(replace(p, parts=inner))
            else:
                parts.append(p)
        text = "\n\n".join(p.text for p in parts if isinstance(p, Text))
        out.append(replace(m, content=text, parts=tuple(parts)))
    return out


def system_text(messages: list[Message]) -> str:
    """All system turns joined, for providers that take the system prompt apart."""
    return "\n\n".join(m.content for m in messages if m.role == "system")


def _merged_turns(messages: list[Message]) -> list[tuple[str, str]]:
    """(role, text) for non-system turns with consecutive same-role turns merged."""
    merged: list[tuple[str, str]] = []
    for m in messages:
        if m.role == "system":
            continue
        if merged and merged[-1][0] == m.role:
            merged[-1] = (m.role, merged[-1][1] + "\n\n" + m.content)
        else:
            merged.append((m.role, m.content))
    return merged


def _merged_parts(messages: list[Message]) -> list[tuple[str, list[Part]]]:
    """(role, parts) for non-system turns with consecutive same-role turns merged."""
    merged: list[tuple[str, list[Part]]] = []
    for m in messages:
        if m.role == "system":
            continue
        parts = list(m.all_parts())
        if merged and merged[-1][0] == m.role:
            merged[-1][1].extend(parts)
        else:
            merged.append((m.role, parts))
    return merged


def _rich(messages: list[Message]) -> bool:
    return any(m.parts for m in messages)


def _data_url(image: Image) -> str:
    return image.url or f"data:{image.media_type};base64,{image.data}"


# -- OpenAI chat (and Ollama) -----------------------------------------------------------------


def to_openai(messages: list[Message]) -> list[dict[str, Any]]:
    """OpenAI chat messages: system stays a `system` turn, tool results become `tool` turns."""
    if not _rich(messages):
        return [{"role": m.role, "content": m.content} for m in messages]
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            out.append({"role": "system", "content": m.content})
            continue
        if m.role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments or "{}"},
                }
                for c in m.tool_calls
            ]
            if calls:
                turn["tool_calls"] = calls
            elif turn["content"] is None:
                turn["content"] = ""
            out.append(turn)
            continue
        # A user turn: tool results first (they answer the previous assistant turn), then
        # what the user added.
        content: list[dict[str, Any]] = []
        for p in m.all_parts():
            if isinstance(p, ToolResult):
                images = [q for q in p.parts if isinstance(q, Image)]
                text = p.text or ("(error)" if p.is_error else "(no output)")
                out.append({"role": "tool", "tool_call_id": p.call_id, "content": text})
                content += [
                    {"type": "image_url", "image_url": {"url": _data_url(i)}} for i in images
                ]
            elif isinstance(p, Text):
                content.append({"type": "text", "text": p.text})
            elif isinstance(p, Image):
                content.append({"type": "image_url", "image_url": {"url": _data_url(p)}})
        if content:
            if all(c["type"] == "text" for c in content):
                out.append({"role": "user", "content": "\n\n".join(c["text"] for c in content)})
            else:
                out.append({"role": "user", "content": content})
    return out


def openai_tools(tools: tuple[Tool, ...]) -> list[dict[str, Any]]:
    """Tool definitions in OpenAI's (and Ollama's) `tools` shape."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.schema},
        }
        for t in tools
    ]


def openai_tool_choice(choice: ToolChoice) -> Any:
    """OpenAI's `tool_choice` value."""
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return {"auto": "auto", "any": "required", "none": "none"}[choice.mode]


def to_ollama(messages: list[Message]) -> list[dict[str, Any]]:
    """Ollama /api/chat messages: OpenAI-like, images as base64 on the turn, tool_calls
    with arguments as objects."""
    if not _rich(messages):
        return to_openai(messages)
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            out.append({"role": "system", "content": m.content})
            continue
        if m.role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": m.content}
            if m.tool_calls:
                turn["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": c.input()}} for c in m.tool_calls
                ]
            out.append(turn)
            continue
        texts: list[str] = []
        images: list[str] = []
        for p in m.all_parts():
            if isinstance(p, ToolResult):
                out.append({"role": "tool", "content": p.text, "tool_name": p.name})
                images += [q.data for q in p.parts if isinstance(q, Image) and q.data]
            elif isinstance(p, Text):
                texts.append(p.text)
            elif isinstance(p, Image) and p.data:
                images.append(p.data)
        if texts or images:
            turn = {"role": "user", "content": "\n\n".join(texts)}
            if images:
                turn["images"] = images
            out.append(turn)
    return out


# -- Anthropic Messages -----------------------------------------------------------------------


def _anthropic_image(image: Image) -> dict[str, Any]:
    if image.url:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    source = {"type": "base64", "media_type": image.media_type, "data": image.data}
    return {"type": "image", "source": source}


def _anthropic_block(part: Part) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Image):
        return _anthropic_image(part)
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.input()}
    if isinstance(part, ToolResult):
        inner = [
            {"type": "text", "text": q.text} if isinstance(q, Text) else _anthropic_image(q)
            for q in part.parts
        ]
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id}
        block["content"] = inner
        if part.is_error:
            block["is_error"] = True
        return block
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.redacted}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def to_anthropic(messages: list[Message]) -> tuple[str, list[dict]]:
    """(top-level system prompt, messages of content blocks) for the Messages API."""
    if not _rich(messages):
        turns = [
            {"role": role, "content": [{"type": "text", "text": text}]}
            for role, text in _merged_turns(messages)
        ]
        return system_text(messages), turns
    turns = []
    for role, parts in _merged_parts(messages):
        # Tool results must come first in their user turn.
        ordered = [p for p in parts if isinstance(p, ToolResult)]
        ordered += [p for p in parts if not isinstance(p, ToolResult)]
        blocks = [_anthropic_block(p) for p in ordered if not _empty_text(p)]
        turns.append({"role": role, "content": blocks or [{"type": "text", "text": "(empty)"}]})
    return system_text(messages), turns


def _empty_text(part: Part) -> bool:
    return isinstance(part, Text) and not part.text.strip()


def anthropic_tools(tools: tuple[Tool, ...]) -> list[dict[str, Any]]:
    """Tool definitions in the Messages API shape."""
    return [{"name": t.name, "description": t.description, "input_schema": t.schema} for t in tools]


def anthropic_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    """The Messages API `tool_choice` value."""
    value: dict[str, Any] = {"type": choice.mode}
    if choice.mode == "tool":
        value["name"] = choice.name
    if not choice.parallel and choice.mode != "none":
        value["disable_parallel_tool_use"] = True
    return value


# -- Gemini -----------------------------------------------------------------------------------


def to_gemini(messages: list[Message]) -> tuple[str, list[dict]]:
    """(system instruction text, contents) for Gemini: roles `user`/`model`, alternating."""
    if not _rich(messages):
        contents = [
            {"role": "model" if role == "assistant" else "user", "parts": [{"text": text}]}
            for role, text in _merged_turns(messages)
        ]
        return system_text(messages), contents
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    contents = []
    for role, parts in _merged_parts(messages):
        out: list[dict[str, Any]] = []
        for p in parts:
            if isinstance(p, Text) and p.text.strip():
                out.append({"text": p.text})
            elif isinstance(p, Image):
                out.append(_gemini_image(p))
            elif isinstance(p, ToolCall):
                out.append({"functionCall": {"name": p.name, "args": p.input()}})
            elif isinstance(p, ToolResult):
                response: dict[str, Any] = {"error" if p.is_error else "output": p.text}
                name = p.name or names.get(p.call_id, "tool")
                out.append({"functionResponse": {"name": name, "response": response}})
                out += [_gemini_image(q) for q in p.parts if isinstance(q, Image)]
        contents.append(
            {"role": "model" if role == "assistant" else "user", "parts": out or [{"text": " "}]}
        )
    return system_text(messages), contents


def _gemini_image(image: Image) -> dict[str, Any]:
    if image.url:
        return {"fileData": {"mimeType": image.media_type, "fileUri": image.url}}
    return {"inlineData": {"mimeType": image.media_type, "data": image.data}}


# Keywords of the OpenAPI 3.0 schema subset Gemini's function declarations accept.
_GEMINI_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "items",
        "anyOf",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "title",
        "propertyOrdering",
    }
)
_GEMINI_STRING_FORMATS = frozenset({"enum", "date-time"})


def gemini_schema(schema: Any, defs: dict | None = None, depth: int = 0) -> Any:
    """A JSON Schema translated to the subset Gemini accepts.

    `$ref`s into `$defs`/`definitions` are inlined (bounded depth), type lists become
    `type` + `nullable`, `const` becomes a one-value `enum`, `oneOf` becomes `anyOf`,
    exclusive bounds become inclusive ones; other keywords (`$schema`,
    `additionalProperties`, `default`, `examples`, …) are dropped.
    """
    if not isinstance(schema, dict):
        return {}
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if depth > 12:
        return {"type": "object"}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        merged = {**(target if isinstance(target, dict) else {}), **schema}
        merged.pop("$ref")
        return gemini_schema(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": k} for k in kinds]
    if isinstance(kind, str):
        out["type"] = kind
    for key, value in schema.items():
        if key not in _GEMINI_KEYWORDS or key in ("type", "anyOf"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: gemini_schema(v, defs, depth + 1) for k, v in value.items()}
        elif key == "items":
            out[key] = gemini_schema(value, defs, depth + 1)
        elif key == "format":
            if out.get("type") != "string" or value in _GEMINI_STRING_FORMATS:
                out[key] = value
        elif key == "enum" and isinstance(value, list):
            out[key] = [str(v) for v in value if v is not None]
        elif key == "required" and isinstance(value, list):
            names = set((schema.get("properties") or {}).keys())
            out[key] = [r for r in value if r in names]
        else:
            out[key] = value
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list):
        real = [a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")]
        if len(real) < len(alternatives):
            out["nullable"] = True
        if len(real) == 1:
            out.update(gemini_schema(real[0], defs, depth + 1))
        elif real:
            out["anyOf"] = [gemini_schema(a, defs, depth + 1) for a in real]
    if "const" in schema:
        out["enum"] = [str(schema["const"])]
        out.setdefault("type", "string")
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], (int, float)):
        out.setdefault("minimum", schema["exclusiveMinimum"])
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], (int, float)):
        out.setdefault("maximum", schema["exclusiveMaximum"])
    if "enum" in out:
        out["type"] = "string"  # Gemini's enums are string enums
    if out.get("type") == "object" and not out.get("properties"):
        out.pop("required", None)
    return out


def gemini_tools(tools: tuple[Tool, ...]) -> list[dict[str, Any]]:
    """Tool definitions as one Gemini `functionDeclarations` tool."""
    declarations = []
    for t in tools:
        declaration: dict[str, Any] = {"name": t.name, "description": t.description}
        parameters = gemini_schema(t.schema)
        if parameters.get("properties"):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def gemini_tool_config(choice: ToolChoice) -> dict[str, Any]:
    """Gemini's `toolConfig` for a tool choice."""
    mode = {"auto": "AUTO", "any": "ANY", "none": "NONE", "tool": "ANY"}[choice.mode]
    config: dict[str, Any] = {"mode": mode}
    if choice.mode == "tool":
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


# -- command-line tools -----------------------------------------------------------------------


def to_prompt(messages: list[Message]) -> str:
    """One plain-text prompt for command-line tools that read stdin.

    A single question goes as is (after the system prompt); a longer conversation is
    written out with speaker labels so the tool sees the earlier exchange.
    """
    system = system_text(messages)
    turns = _merged_turns(messages)
    if len(turns) == 1:
        body = turns[0][1]
    else:
        body = "\n\n".join(
            f"{'User' if role == 'user' else 'Assistant'}:\n{text}" for role, text in turns
        )
    return f"{system}\n\n{body}" if system else body
