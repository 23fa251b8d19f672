"""The embedded backend turns edit requests into few-shot completion prompts and back."""

from __future__ import annotations

from modelrouter.backends.base import Message
from modelrouter.backends.llamacpp_prompt import (
    EXAMPLES,
    EXAMPLES_PER_PROMPT,
    EditReply,
    edit_chat_parts,
    edit_prompt_parts,
    parse_edit_request,
    pick_examples,
    plain_transcript,
)


def user(text: str) -> list[Message]:
    return [Message("system", "You edit code."), Message("user", text)]


def test_labelled_instruction_and_selection_are_found_among_context_blocks() -> None:
    request = parse_edit_request(
        user(
            "Instruction: Fix typo\n\n"
            "Surrounding code:\n```python\ndef f():\n    x = 1\n    retrun x\n```\n"
            "Selected code:\n```python\n    retrun x\n```\n"
            "Reply with one fenced block."
        )
    )
    assert request is not None
    assert request.instruction == "Fix typo"
    assert request.code == "retrun x"
    assert request.indent == "    "
    assert request.language == "python"


def test_selection_caption_wins_even_when_it_is_not_the_last_block() -> None:
    request = parse_edit_request(
        user(
            "Rename foo to bar\nThe selection:\n```js\nfoo()\n```\nContext:\n```js\nlet a = 1;\n```"
        )
    )
    assert request is not None
    assert (request.instruction, request.code, request.language) == (
        "Rename foo to bar",
        "foo()",
        "js",
    )


def test_unlabelled_request_uses_first_prose_line_and_last_block() -> None:
    request = parse_edit_request(user("# Task\nreformat this\n```\nx=1\n```"))
    assert request is not None
    assert request.instruction == "reformat this"
    assert request.code == "x=1"
    assert request.language == ""


def test_questions_without_code_are_not_edits() -> None:
    assert parse_edit_request(user("What does a GIL do?")) is None
    assert parse_edit_request([Message("system", "x")]) is None
    # An unclosed fence is not trusted as code.
    assert parse_edit_request(user("Fix typo\n```python\nprnt(1)\n")) is None


def test_the_newest_user_turn_is_the_request() -> None:
    messages = [
        Message("user", "Fix typo\n```python\nprnt(1)\n```"),
        Message("assistant", "```python\nprint(1)\n```", model="m"),
        Message("user", "Rename a to b\n```python\na = 2\n```"),
    ]
    request = parse_edit_request(messages)
    assert request is not None
    assert (request.instruction, request.code) == ("Rename a to b", "a = 2")


def test_prompt_uses_the_nearest_examples_and_ends_on_an_open_fence() -> None:
    request = parse_edit_request(user("Fix typo\n```javascript\nconst mesage = 1;\n```"))
    assert request is not None
    intro, examples, query = edit_prompt_parts(request)
    assert len(examples) == EXAMPLES_PER_PROMPT < len(EXAMPLES)
    assert all("### Instruction\nFix typo\n" in block for block in examples)
    assert "```javascript" in examples[-1]  # the closest example sits next to the query
    assert query.endswith("### Result\n```javascript\n")
    assert "const mesage = 1;" in query
    assert intro.strip()


def test_examples_follow_the_kind_of_edit() -> None:
    rename = parse_edit_request(user("Rename a to b\n```python\na = 1\n```"))
    assert rename is not None
    assert [e.instruction.split()[0] for e in pick_examples(rename)] == ["Rename"] * 4
    system, exchanges, query, prefix = edit_chat_parts(rename)
    assert system.role == "system"
    assert [[m.role for m in pair] for pair in exchanges] == [["user", "assistant"]] * 4
    assert query.content == "Rename a to b\n```python\na = 1\n```"
    assert prefix == "```python\n"


def test_reply_is_one_fenced_block_with_indentation_restored_while_streaming() -> None:
    request = parse_edit_request(user("Fix typo\n```python\n    if x:\n        retrun 1\n```"))
    assert request is not None
    reply = EditReply(request)
    pieces = [reply.feed(t) for t in ["\n", "if", " x:\n", "    ", "return 1", "\n", "  "]]
    # Trailing whitespace is held back until the end, not streamed.
    assert pieces[-1] == "" and pieces[-2] == ""
    text = "".join(pieces) + reply.close()
    assert text == "```python\n    if x:\n        return 1\n```\n"


def test_reply_without_code_has_no_block() -> None:
    request = parse_edit_request(user("Fix typo\n```python\nprnt(1)\n```"))
    assert request is not None
    reply = EditReply(request)
    assert reply.feed("  \n") == ""
    assert reply.close() == ""
    assert reply.empty


def test_plain_transcript_labels_turns_and_leaves_the_answer_open() -> None:
    text = plain_transcript([Message("system", "Be brief."), Message("user", "Hi")])
    assert text.startswith("System: Be brief.")
    assert "User: Hi" in text
    assert text.endswith("Assistant:")


def test_editor_requests_use_the_selection_and_prefer_the_typed_instruction() -> None:
    text = (
        "File: app.py (language: python)\n\n"
        "Surrounding code, function run:\n````python\ndef run():\n    x = 1\n    pirnt(x)\n````\n\n"
        "Selected code (line 3):\n````python\n    pirnt(x)\n````\n\n"
        "Task: Carry out the user's instruction on the selected code.\n\n"
        "Instruction: fix the typo"
    )
    request = parse_edit_request(user(text))
    assert request is not None
    assert (request.instruction, request.code, request.indent) == (
        "fix the typo",
        "pirnt(x)",
        "    ",
    )


def test_action_wording_picks_examples_of_its_kind() -> None:
    typo = "Fix spelling and grammar mistakes in the selected code's comments, strings and names."
    doc = "Add a concise docstring or doc comment to the selected function in the usual style."
    for instruction, kind in [(typo, "typo"), (doc, "docstring"), ("reformat", "reformat")]:
        request = parse_edit_request(user(f"Task: {instruction}\n```python\nx=1\n```"))
        assert request is not None
        assert {e.kind for e in pick_examples(request)} == {kind}
