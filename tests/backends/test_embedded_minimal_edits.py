"""The minimal-edit guard keeps only the changes a trivial edit asked for.

A small local model asked to fix a typo often fixes it and then changes something else;
the guard compares its code with the selection token by token and drops what does not fit.
"""

from __future__ import annotations

import pytest
from modelrouter.backends.llamacpp_prompt import EditRequest, edit_chat_parts, edit_prompt_parts
from modelrouter.minimal_edits import (
    close_spelling,
    edit_distance,
    edit_kind,
    minimal_edit,
    out_of_scope,
    rename_pair,
)


def test_a_typo_fix_keeps_the_spelling_fix_and_drops_the_extra_punctuation() -> None:
    original = 'pirnt(f"Hello, {name}")'
    model = 'print(f"Hello, {name}!")'
    assert minimal_edit("typo", "Fix typo", original, model) == 'print(f"Hello, {name}")'


def test_a_typo_fix_drops_case_changes_and_rewritten_words() -> None:
    original = 'pirnt("hello world")'
    model = 'print("Hello, World!")'
    assert minimal_edit("typo", "Fix typo", original, model) == 'print("hello world")'


def test_a_typo_fix_keeps_several_fixes_in_one_line() -> None:
    original = "# Retrun the number of recieved messages."
    model = "# Return the number of received messages."
    assert minimal_edit("typo", "Fix typo", original, model) == model


@pytest.mark.parametrize(
    ("original", "fixed"),
    [
        ("Its recommended to pin the version.", "It's recommended to pin the version."),
        ("We dont retry.", "We don't retry."),
        ("# it doesnt matter", "# it doesn\u2019t matter"),
        ("It's done.", "Its done."),
    ],
)
def test_a_typo_fix_may_add_or_drop_an_apostrophe_inside_a_word(original, fixed) -> None:
    assert minimal_edit("typo", "Fix typo", original, fixed) == fixed
    assert out_of_scope("typo", "Fix typo", original, fixed) is None


@pytest.mark.parametrize(
    ("original", "model"),
    [
        ("x = 'a'", "x = a"),  # a string's quotes are code
        ("x = a", "x = 'a'"),
        ("its_x = 1", "it's_x = 1"),
        ("Its fine.", "It's fine!"),
    ],
)
def test_quotes_that_open_or_close_strings_are_not_apostrophe_fixes(original, model) -> None:
    assert out_of_scope("typo", "Fix typo", original, model) is not None


def test_invented_code_is_dropped_and_the_original_comes_back() -> None:
    original = "retrun value * 2"
    model = "def retrun(value, *args):\n    return value * 2"
    assert minimal_edit("typo", "Fix typo", original, model) == original


def test_a_word_replaced_by_a_different_word_is_not_a_typo_fix() -> None:
    original = "total = count + 1"
    model = "total = amount + 1"
    assert minimal_edit("typo", "Fix typo", original, model) == original


def test_indentation_changes_are_not_part_of_a_typo_fix() -> None:
    original = "for itme in items:\n    total += item"
    model = "for item in items:\n  total += item"
    assert minimal_edit("typo", "Fix typo", original, model) == (
        "for item in items:\n    total += item"
    )


def test_a_rename_keeps_only_the_named_swap() -> None:
    original = "def shout(s):\n    return s.upper()"
    model = "def shout(text):\n    return text.lower()"
    assert minimal_edit("rename", "Rename the parameter s to text", original, model) == (
        "def shout(text):\n    return text.upper()"
    )


def test_a_rename_without_names_keeps_the_models_most_frequent_swap() -> None:
    original = "cnt = 0\ncnt += 1\nlog(cnt, 'x')"
    model = "counter = 0\ncounter += 1\nlog(counter, 'y')"
    assert minimal_edit("rename", "Rename this variable", original, model) == (
        "counter = 0\ncounter += 1\nlog(counter, 'x')"
    )


def test_a_docstring_edit_keeps_the_docstring_and_drops_code_changes() -> None:
    original = 'def greet(name):\n    print(f"Hello, {name}")'
    model = 'def greet(name):\n    """Print a greeting."""\n    print(f"Hello, {name}!")'
    assert minimal_edit("docstring", "Add a docstring", original, model) == (
        'def greet(name):\n    """Print a greeting."""\n    print(f"Hello, {name}")'
    )


def test_a_reformat_keeps_spacing_and_drops_changed_code() -> None:
    original = "def f(a,b):\n    return a*b"
    model = "def f(a, b):\n    return a * b * 2"
    assert minimal_edit("reformat", "Reformat", original, model) == (
        "def f(a, b):\n    return a * b"
    )


def test_no_code_stays_no_code_and_unknown_kinds_pass_through() -> None:
    assert minimal_edit("typo", "Fix typo", "pirnt(x)", "") == ""
    assert minimal_edit("other", "Sort these", "b = 1\na = 2", "a = 2\nb = 1") == "a = 2\nb = 1"


def test_spelling_closeness() -> None:
    assert edit_distance("pirnt", "print") == 1  # a swap of neighbours counts once
    assert edit_distance("kitten", "sitting") == 3
    assert close_spelling("calcualte", "calculate")
    assert close_spelling("fro", "for")
    assert not close_spelling("hello", "Hello")  # case only
    assert not close_spelling("x", "y")  # too short to tell
    assert not close_spelling("count", "amount")
    assert not close_spelling("(", ")")


def test_the_kind_of_edit_comes_from_the_instruction() -> None:
    lsp_task = (
        "Fix spelling and grammar mistakes in the selected code's comments, strings and "
        "names. Change nothing else."
    )
    assert edit_kind(lsp_task) == "typo"
    assert edit_kind("fix typo") == "typo"
    assert edit_kind("Rename foo to load_config") == "rename"
    assert edit_kind('Add the docstring "Read a file."') == "docstring"
    assert edit_kind("Reformat") == "reformat"
    assert edit_kind("Implement the parser") is None
    assert rename_pair("Rename the parameter s to text") == ("s", "text")
    assert rename_pair("rename `getName` to `get_name`") == ("getName", "get_name")
    assert rename_pair("Fix typo") is None


def test_generic_typo_requests_are_asked_in_the_examples_words() -> None:
    request = EditRequest(
        instruction="Fix spelling and grammar mistakes in comments, strings and names.",
        code='pirnt("hi")',
        language="python",
        indent="",
    )
    _intro, _examples, query = edit_prompt_parts(request)
    assert query.startswith("### Instruction\nFix typo\n")
    _system, _exchanges, chat_query, _prefix = edit_chat_parts(request)
    assert chat_query.content.startswith("Fix typo\n")
    renamed = EditRequest("Rename n to size", "n = 1", "python", "")
    assert edit_chat_parts(renamed)[2].content.startswith("Rename n to size\n")
