"""Prompts: an action and its context become the neutral transcript sent to a model."""

from __future__ import annotations

from modelrouter.config import Action
from modelrouter.context import Context
from modelrouter.transcript import Message

# Room kept for the system prompt, the task text and formatting around the context.
OVERHEAD_TOKENS = 600

_SYSTEM = {
    "rewrite": (
        "You are a careful programmer editing one part of a source file. Reply with the "
        "complete replacement for the selected code in exactly one fenced code block, "
        "nothing else around it. Keep the code's language, style and indentation; change only "
        "what the task asks."
    ),
    "tests": (
        "You are a careful programmer writing automated tests. Reply with exactly one fenced "
        "code block holding test code for the test file named below, using the project's "
        "usual test framework (pytest for Python). Include the imports the tests need. If the "
        "test file already exists, write only the new tests."
    ),
    "design": (
        "You are a senior software architect. Reply with a design note in Markdown: the "
        "problem, the constraints, options with trade-offs, the recommendation and the next "
        "steps. Quote code only where it helps."
    ),
    "answer": (
        "You are a senior programmer answering a question about code. Answer concisely in "
        "Markdown. Show code only where it helps the answer."
    ),
}


def fence(code: str, language_id: str) -> str:
    """`code` in a Markdown fence long enough not to be closed by the code itself."""
    ticks = "```"
    while ticks in code:
        ticks += "`"
    body = code if code.endswith("\n") else code + "\n"
    return f"{ticks}{language_id}\n{body}{ticks}"


def describe_context(ctx: Context, *, test_path: str | None = None) -> str:
    """The user-visible description of the code a request is about."""
    parts = [f"File: {ctx.path or 'untitled'} (language: {ctx.language_id})"]
    if test_path:
        parts.append(f"Test file: {test_path}")
    if ctx.header:
        parts.append("Imports and header:\n" + fence(ctx.header, ctx.language_id))
    if ctx.scope and ctx.scope.strip() != ctx.selection.strip():
        parts.append(f"Surrounding code, {ctx.scope_label}:\n" + fence(ctx.scope, ctx.language_id))
    first, last = ctx.selection_lines
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    parts.append(f"Selected code ({where}):\n" + fence(ctx.selection, ctx.language_id))
    if ctx.diagnostics:
        parts.append(
            "Diagnostics in the selection:\n" + "\n".join(f"- {d}" for d in ctx.diagnostics)
        )
    if ctx.notes:
        parts.append(
            "Context trimmed to fit the model: " + "; ".join(ctx.notes) + ". Do not invent "
            "what was left out."
        )
    return "\n\n".join(parts)


def task_text(action: Action, ctx: Context, instruction: str | None) -> str:
    """The action's prompt with its placeholders filled, plus the user's instruction."""
    text = action.prompt.replace("{language}", ctx.language_id).replace(
        "{instruction}", instruction or ""
    )
    if instruction and "{instruction}" not in action.prompt:
        text = f"{text}\n\nInstruction: {instruction}"
    return text.strip()


def build_messages(
    action: Action,
    ctx: Context,
    *,
    instruction: str | None = None,
    test_path: str | None = None,
) -> list[Message]:
    """A fresh transcript for `action` on `ctx`."""
    system = _SYSTEM.get(action.kind, _SYSTEM["rewrite"])
    task = task_text(action, ctx, instruction)
    user = f"{describe_context(ctx, test_path=test_path)}\n\nTask: {task}"
    return [Message("system", system), Message("user", user)]


def follow_up(
    transcript: list[Message],
    action: Action,
    ctx: Context,
    *,
    instruction: str | None = None,
) -> list[Message]:
    """Continue `transcript` with a new request on the same code, which may have changed."""
    user = (
        f"Follow-up on the same code, as it is now:\n\n{describe_context(ctx)}\n\n"
        f"Task: {task_text(action, ctx, instruction)}"
    )
    return [*transcript, Message("user", user)]


def retry(transcript: list[Message], why: str) -> list[Message]:
    """Ask again after an answer that was not good enough, keeping it in view."""
    model = next((m.model for m in reversed(transcript) if m.role == "assistant"), None)
    who = f"by {model} " if model else ""
    user = (
        f"The previous answer {who}was not good enough: {why}. Solve the same task again, "
        "following the same reply format."
    )
    return [*transcript, Message("user", user)]
