"""Hostile model replies: fences, nested fences, no fence, enormous, binary, wrong language.

`extract_code` either returns code or raises `NoUsableCode` with a reason — nothing else,
and never slower than reading the reply.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.edits import NoUsableCode, extract_code, fenced_blocks, reindent

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
LANGS = ["python", "javascript", "typescript", "go", "rust", "plaintext", "markdown", "zig"]

# The straightforward definition of a fenced block (quadratic on unclosed fences); the
# linear scanner must agree with it on every input.
REFERENCE = re.compile(
    r"^(?P<ticks>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=ticks)[ \t]*$", re.M | re.S
)

fence_line = st.sampled_from(
    ["```", "````", "~~~", "~~~~", "```python", "``` js", "~~~~ py", "```text", "`` x", "```\t"]
)
reply_lines = st.lists(
    fence_line | st.text(alphabet="ab `~\t:=()x1", max_size=12), max_size=30
).map("\n".join)


@FUZZ
@given(text=reply_lines, trailing=st.booleans())
def test_linear_scanner_agrees_with_the_reference_definition(text: str, trailing: bool) -> None:
    text += "\n" if trailing else ""
    expected = [(m["info"], m["body"]) for m in REFERENCE.finditer(text)]
    assert fenced_blocks(text) == expected


def check(reply: str, lang: str) -> str | None:
    try:
        code = extract_code(reply, lang)
    except NoUsableCode as exc:
        assert str(exc), "the reason must be stated"
        return None
    assert isinstance(code, str) and code.strip()
    return code


@FUZZ
@given(reply=reply_lines, lang=st.sampled_from(LANGS))
def test_fence_soup_gives_code_or_a_reason(reply: str, lang: str) -> None:
    code = check(reply, lang)
    if code is not None and fenced_blocks(reply):
        assert code in reply


@FUZZ
@given(reply=st.text(max_size=400), lang=st.sampled_from(LANGS))
def test_arbitrary_text_gives_code_or_a_reason(reply: str, lang: str) -> None:
    check(reply, lang)


@FUZZ
@given(raw=st.binary(max_size=400), lang=st.sampled_from(LANGS))
def test_binary_garbage_gives_code_or_a_reason(raw: bytes, lang: str) -> None:
    check(raw.decode("utf-8", "replace"), lang)
    check(raw.decode("latin-1"), lang)


body_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="`~\n\r"),
    min_size=1,
    max_size=30,
).filter(str.strip)


@FUZZ
@given(lines=st.lists(body_line, min_size=1, max_size=8), prose=st.text(max_size=40))
def test_the_tagged_block_wins(lines: list[str], prose: str) -> None:
    code = "\n".join(lines) + "\n"
    reply = (
        f"{prose}\n```text\nsome output\n```\n```javascript\nconsole.log(1)\n```\n"
        f"```python\n{code}```\nDone."
    )
    assert extract_code(reply, "python") == code


@FUZZ
@given(lines=st.lists(body_line, min_size=1, max_size=8))
def test_nested_fences_keep_the_inner_block_intact(lines: list[str]) -> None:
    inner = "```python\n" + "\n".join(lines) + "\n```\n"
    reply = f"Here is the README section:\n````markdown\n# Usage\n{inner}````\n"
    assert extract_code(reply, "markdown") == f"# Usage\n{inner}"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("I cannot help with that.", "no fenced code block"),
        ("```text\n$ pytest\n1 passed\n```", "non-code"),
        ("```python\n\n```", "empty"),
        ("```python\nunclosed(", "no fenced code block"),
    ],
)
def test_replies_without_usable_code_say_why(reply: str, reason: str) -> None:
    with pytest.raises(NoUsableCode, match=reason):
        extract_code(reply, "python")


@pytest.mark.parametrize(
    "reply",
    [
        "```python\n" * 40_000,  # a looping model: 40k unclosed fences
        "```\n" * 40_001,
        "~~~~\n" + "~~~\n" * 30_000,
        "```python\n" + "x = 1\n" * 100_000 + "```\n",
    ],
    ids=["unclosed-tagged", "alternating", "tildes", "huge-block"],
)
def test_enormous_replies_are_read_in_one_pass(reply: str) -> None:
    # Not a timing assertion on speed: a quadratic scan of these takes minutes, so this
    # only guards against that class of hang with a very wide margin.
    started = time.monotonic()
    check(reply, "python")
    assert time.monotonic() - started < 30


@FUZZ
@given(
    code=st.lists(body_line, min_size=1, max_size=6).map("\n".join),
    indent=st.sampled_from(["", "    ", "\t", "  "]),
    original=st.lists(body_line, min_size=1, max_size=4).map("\n".join),
    newline=st.booleans(),
)
def test_reindent_keeps_the_ranges_indentation(
    code: str, indent: str, original: str, newline: bool
) -> None:
    orig = "\n".join(indent + line.lstrip() for line in original.split("\n"))
    orig += "\n" if newline else ""
    out = reindent(code, orig)
    assert out.endswith("\n") == newline
    first = next(line for line in out.split("\n") if line.strip())
    assert first.startswith(indent)


def test_a_reply_in_the_wrong_language_changes_nothing() -> None:
    reply = "Sure:\n```javascript\nfunction add(a, b) { return a + b }\n```\n"
    with pytest.raises(NoUsableCode, match="answered in javascript, not python"):
        extract_code(reply, "python")
    # An info string we do not know is given the benefit of the doubt.
    assert extract_code("```py3.12\nx = 1\n```", "python") == "x = 1\n"
