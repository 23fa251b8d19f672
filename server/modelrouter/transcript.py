"""The neutral transcript and its translation into each provider's payload shape.

A conversation is a list of `Message`s (system, user, assistant; assistant turns carry the
model that wrote them), so a follow-up routed to a different model still sees the earlier
exchange. Before a call the transcript is trimmed to the target backend's context window,
keeping the system prompt and the newest turns.
"""

from __future__ import annotations

from modelrouter.backends.base import Message
from modelrouter.errors import ContextTooSmall
from modelrouter.tokens import estimate_tokens

# Per-message framing the providers add (role markers, separators), in tokens.
_MESSAGE_OVERHEAD = 4


def message_tokens(message: Message) -> int:
    """Estimated tokens one message costs in a request."""
    return estimate_tokens(message.content) + _MESSAGE_OVERHEAD


def transcript_tokens(messages: list[Message]) -> int:
    """Estimated input tokens of a whole transcript."""
    return sum(message_tokens(m) for m in messages)


def trim(messages: list[Message], context_window: int, reserve: int) -> list[Message]:
    """Keep the system prompt and the newest turns that fit `context_window - reserve` tokens.

    `reserve` is room left for the answer. Dropped history goes oldest first; the kept part
    always starts with a user turn (Anthropic and Gemini require it). Raises
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
    while kept and kept[0].role != "user":
        kept.pop(0)
    return system + kept


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


def to_openai(messages: list[Message]) -> list[dict[str, str]]:
    """OpenAI chat messages (also Ollama's /api/chat): system stays a `system` turn."""
    return [{"role": m.role, "content": m.content} for m in messages]


def to_anthropic(messages: list[Message]) -> tuple[str, list[dict]]:
    """(top-level system prompt, messages of text content blocks) for the Messages API."""
    turns = [
        {"role": role, "content": [{"type": "text", "text": text}]}
        for role, text in _merged_turns(messages)
    ]
    return system_text(messages), turns


def to_gemini(messages: list[Message]) -> tuple[str, list[dict]]:
    """(system instruction text, contents) for Gemini: roles `user`/`model`, alternating."""
    contents = [
        {"role": "model" if role == "assistant" else "user", "parts": [{"text": text}]}
        for role, text in _merged_turns(messages)
    ]
    return system_text(messages), contents


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
