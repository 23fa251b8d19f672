"""Prompts for small local models: neutral messages in, a plain-text completion prompt out.

Models of a few hundred million parameters follow a chat transcript badly but continue a
pattern well. When the newest user turn asks to change a piece of code, the request is
rewritten as a few-shot completion: worked examples, then the instruction and the code,
then an opened code fence the model fills in. Generation stops at the closing fence, so
the answer is the edited code and nothing else. Everything else goes through the model's
own chat template (or a plain transcript when it has none).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from modelrouter.minimal_edits import edit_kind, request_kinds
from modelrouter.transcript import Message

# The model's answer ends where it closes the code fence.
EDIT_STOP = ("```",)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$", re.MULTILINE)
_LABELS = ("instruction", "request", "task", "action", "edit")
_LABEL = re.compile(rf"^\W*(?P<label>{'|'.join(_LABELS)})\s*[:\-]\s*(?P<text>\S.*)$", re.IGNORECASE)
_SELECTION_HINT = re.compile(r"\b(?:select(?:ed|ion)?|edit this|change this|rewrite)\b", re.I)
_MAX_INSTRUCTION_CHARS = 240

INTRO = (
    "Each example below shows an instruction, a piece of code, and the same code rewritten to "
    "follow the instruction. Only the requested change is made; everything else is copied "
    "exactly.\n\n"
)


@dataclass(frozen=True)
class EditRequest:
    """A request to rewrite one piece of code, pulled out of a neutral transcript."""

    instruction: str
    code: str  # dedented, without the trailing newline
    language: str  # the fence's info string, may be empty
    indent: str  # the common indentation removed from `code`, put back on the answer


@dataclass(frozen=True)
class Example:
    """One worked example of the few-shot prompt."""

    kind: str  # a key of minimal_edits.KIND_WORDS
    instruction: str
    language: str
    code: str
    result: str


# Worked examples, a few per kind of trivial edit; the prompt uses those nearest the
# request. Kept distinct from the cases in bench/trivial_edits.jsonl so the benchmark
# measures the model, not recall of its own prompt.
EXAMPLES: tuple[Example, ...] = (
    Example(
        "typo",
        "Fix typo",
        "python",
        'def greet(nmae):\n    print("Helo", nmae)',
        'def greet(name):\n    print("Hello", name)',
    ),
    Example(
        "typo",
        "Fix typo",
        "python",
        "fro key in keys:\n    print(key)",
        "for key in keys:\n    print(key)",
    ),
    Example(
        "typo",
        "Fix typo",
        "python",
        "# Calcualte the avarage score.",
        "# Calculate the average score.",
    ),
    Example(
        "typo",
        "Fix typo",
        "javascript",
        "fucntion total(items) {\n  return items.lenght;\n}",
        "function total(items) {\n  return items.length;\n}",
    ),
    Example(
        "rename",
        "Rename total to subtotal",
        "python",
        "total = price * qty\nreturn total",
        "subtotal = price * qty\nreturn subtotal",
    ),
    Example(
        "rename",
        "Rename n to size",
        "python",
        "def grow(n):\n    return n + 1",
        "def grow(size):\n    return size + 1",
    ),
    Example(
        "rename",
        "Rename fetchData to fetch_data",
        "python",
        "def fetchData(url):\n    return get(url)",
        "def fetch_data(url):\n    return get(url)",
    ),
    Example(
        "rename",
        "Rename el to element",
        "javascript",
        "const el = find();\nshow(el);",
        "const element = find();\nshow(element);",
    ),
    Example(
        "docstring",
        'Add the docstring "Return the square of n."',
        "python",
        "def square(n):\n    return n * n",
        'def square(n):\n    """Return the square of n."""\n    return n * n',
    ),
    Example(
        "docstring",
        'Add the docstring "Close the connection."',
        "python",
        "def close(self):\n    self.sock.close()",
        'def close(self):\n    """Close the connection."""\n    self.sock.close()',
    ),
    Example(
        "docstring",
        "Add a docstring",
        "python",
        "def area(w, h):\n    return w * h",
        'def area(w, h):\n    """Return the area of a w by h rectangle."""\n    return w * h',
    ),
    Example(
        "docstring",
        'Add the docstring "Split a header line into name and value."',
        "python",
        'def parse_header(line):\n    return line.split(":", 1)',
        'def parse_header(line):\n    """Split a header line into name and value."""\n'
        '    return line.split(":", 1)',
    ),
    Example(
        "reformat",
        "Reformat",
        "python",
        "def scale(v,k):\n    return [x*k for x in v]",
        "def scale(v, k):\n    return [x * k for x in v]",
    ),
    Example("reformat", "Reformat", "python", "total=a+b", "total = a + b"),
    Example("reformat", "Reformat", "python", "call( x,y )", "call(x, y)"),
    Example(
        "reformat",
        "Reformat",
        "python",
        "if ok :\n  return {'k':v}",
        "if ok:\n    return {'k': v}",
    ),
)
EXAMPLES_PER_PROMPT = 4


def _blocks(text: str) -> list[tuple[int, int, str, str]]:
    """Fenced code blocks in `text`: (start, end, info, body), in order."""
    blocks: list[tuple[int, int, str, str]] = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if opening is None:
            return blocks
        fence = opening.group("fence")
        closing_re = re.compile(
            rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE
        )
        closing = closing_re.search(text, opening.end())
        if closing is None:
            return blocks  # an unclosed fence is not a code block we can trust
        body = text[opening.end() + 1 : closing.start()]
        blocks.append((opening.start(), closing.end(), opening.group("info").strip(), body))
        pos = closing.end()


def _instruction(prose: str) -> str:
    lines = [line.strip() for line in prose.splitlines() if line.strip()]
    labelled = [m for m in map(_LABEL.match, lines) if m]
    if labelled:
        # "Instruction:" (what the user typed) beats "Task:" (the action's wording).
        best = min(labelled, key=lambda m: _LABELS.index(m.group("label").lower()))
        return best.group("text")[:_MAX_INSTRUCTION_CHARS]
    for line in lines:
        # Markdown headings and context captions ("Surrounding code:") are not the request.
        if not line.startswith("#") and not line.endswith(":"):
            return line[:_MAX_INSTRUCTION_CHARS]
    return ""


def parse_edit_request(messages: list[Message]) -> EditRequest | None:
    """The edit the newest user turn asks for, or None when it is not a code edit.

    The code to change is the fenced block introduced by a line mentioning the selection,
    else the last fenced block. The instruction is the line labelled `Instruction:` /
    `Request:` / `Task:`, else the first line of prose.
    """
    user = next((m for m in reversed(messages) if m.role == "user"), None)
    if user is None:
        return None
    text = user.content
    blocks = _blocks(text)
    if not blocks:
        return None
    chosen = blocks[-1]
    prose, prev_end = [], 0  # the prose is everything outside the code blocks
    for block in blocks:
        before = text[prev_end : block[0]]
        caption = before.strip().splitlines()[-1:] or [""]
        if _SELECTION_HINT.search(caption[0]):
            chosen = block
        prose.append(before)
        prev_end = block[1]
    prose.append(text[prev_end:])
    instruction = _instruction("\n".join(prose))
    if not instruction:
        return None
    _start, _end, info, body = chosen
    dedented = textwrap.dedent(body)
    # textwrap.dedent removed the common leading whitespace; measure it on one line.
    original = next((line for line in body.splitlines() if line.strip()), "")
    stripped = next((line for line in dedented.splitlines() if line.strip()), "")
    indent = original[: len(original) - len(stripped)]
    language = info.split()[0] if info else ""
    return EditRequest(
        instruction=instruction,
        code=dedented.rstrip("\n"),
        language=language,
        indent=indent,
    )


def render_example(instruction: str, language: str, code: str, result: str | None) -> str:
    """One few-shot block; with `result=None` it ends on the opened fence for the model."""
    head = (
        f"### Instruction\n{instruction}\n"
        f"### Code\n```{language}\n{code}\n```\n"
        f"### Result\n```{language}\n"
    )
    if result is None:
        return head
    return f"{head}{result}\n```\n\n"


# Generic requests ("Fix spelling and grammar mistakes in the selected code's comments...")
# are asked in the few-shot examples' own words: a small model follows the pattern it was
# shown better than a paraphrase of it. Renames and docstrings carry their own details.
CANONICAL_INSTRUCTIONS = {"typo": "Fix typo", "reformat": "Reformat"}


def prompt_instruction(request: EditRequest) -> str:
    """The instruction as the model is asked it."""
    return CANONICAL_INSTRUCTIONS.get(edit_kind(request.instruction) or "", request.instruction)


def pick_examples(request: EditRequest, count: int = EXAMPLES_PER_PROMPT) -> list[Example]:
    """The examples most like the request, least alike first (the best sit nearest it).

    Likeness is the kind of edit the instruction names, then the same language. Similar
    requests get the same prompt prefix, which llama.cpp keeps evaluated between requests.
    """
    kinds = request_kinds(request.instruction)
    language = request.language or "python"

    def score(example: Example) -> tuple[int, bool]:
        return (kinds[example.kind], example.language == language)

    ranked = sorted(EXAMPLES, key=score, reverse=True)[:count]  # stable: bank order on ties
    return ranked[::-1]


def edit_prompt_parts(request: EditRequest) -> tuple[str, list[str], str]:
    """Completion style, for base models: (intro, example blocks, query).

    The query ends on an opened fence. A caller short of context drops examples from the
    front.
    """
    examples = [
        render_example(e.instruction, e.language, e.code, e.result) for e in pick_examples(request)
    ]
    query = render_example(prompt_instruction(request), request.language, request.code, None)
    return INTRO, examples, query


CHAT_SYSTEM = "Rewrite the code as instructed. Reply with only the rewritten code."


def _chat_turns(instruction: str, language: str, code: str) -> Message:
    return Message("user", f"{instruction}\n```{language}\n{code}\n```")


def edit_chat_parts(request: EditRequest) -> tuple[Message, list[list[Message]], Message, str]:
    """Chat style, for instruction-tuned models with a chat template.

    (system, example exchanges, query, answer prefix): the examples become earlier turns,
    and the answer is started with an opened fence the model fills in.
    """
    exchanges = [
        [
            _chat_turns(e.instruction, e.language, e.code),
            Message("assistant", f"```{e.language}\n{e.result}\n```"),
        ]
        for e in pick_examples(request)
    ]
    query = _chat_turns(prompt_instruction(request), request.language, request.code)
    return Message("system", CHAT_SYSTEM), exchanges, query, f"```{request.language}\n"


class EditReply:
    """Turns the streamed completion into a reply: the edited code in one fenced block.

    The common indentation removed from the selection is put back on every line, and
    trailing whitespace is held back so the block closes right after the last code.
    A completion with no code yields no block at all, so nothing gets replaced.
    """

    def __init__(self, request: EditRequest) -> None:
        self._request = request
        self._pending = ""
        self._started = False
        self._at_line_start = True

    def feed(self, text: str) -> str:
        """Reply text for the next piece of completion (may be empty while held back)."""
        self._pending += text
        if not self._started:
            self._pending = self._pending.lstrip("\r\n")
        body = self._pending.rstrip()
        if not body:
            return ""
        self._pending = self._pending[len(body) :]
        out = ""
        if not self._started:
            out = f"```{self._request.language}\n"
            self._started = True
        indent = self._request.indent
        lines = body.split("\n")
        for i, line in enumerate(lines):
            if i:
                out += "\n"
            if indent and line.strip() and (i or self._at_line_start):
                out += indent
            out += line
        self._at_line_start = False
        return out

    def close(self) -> str:
        """The end of the reply: the closing fence, or nothing when no code came."""
        return "\n```\n" if self._started else ""

    @property
    def empty(self) -> bool:
        """True while no code has been produced."""
        return not self._started


def plain_transcript(messages: list[Message]) -> str:
    """A transcript prompt for models without a chat template."""
    parts = []
    for m in messages:
        label = {"system": "System", "user": "User", "assistant": "Assistant"}[m.role]
        parts.append(f"{label}: {m.content.strip()}\n")
    parts.append("Assistant:")
    return "\n".join(parts)
