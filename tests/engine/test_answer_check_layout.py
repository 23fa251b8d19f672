"""The "layout" check of reformats, on classes of input: nested blocks of any depth in
several brace languages, tabs and spaces, CRLF, multi-line strings and comments, `case`
and label lines, closing brackets, files that do not parse, and languages it leaves out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.answer_checks import EditUnderCheck
from modelrouter.answer_checks.layout_checks import layout
from modelrouter.routing.escalation import CheckFailure, Verdict


def whole(code: str, language: str, before: str | None = None) -> EditUnderCheck:
    """`code` as the reformat of a whole file (`before` it was `code` squeezed flat)."""
    before = code if before is None else before
    return EditUnderCheck(before, 0, len(before), code, language, "mod")


# A brace program of nested blocks: each node is a statement or a block of nodes.
STATEMENTS = {
    "go": ("x := 1", "if x > 0 {", "}"),
    "javascript": ("x = 1;", "if (x > 0) {", "}"),
    "rust": ("x += 1;", "if x > 0 {", "}"),
    "c": ("x = 1;", "if (x > 0) {", "}"),
}
HEADS = {
    "go": "func f(x int) {",
    "javascript": "function f(x) {",
    "rust": "fn f(mut x: i32) {",
    "c": "void f(int x) {",
}
TREES = st.recursive(
    st.just("stmt"), lambda inner: st.lists(inner, min_size=1, max_size=3), max_leaves=8
)


def render(tree, language: str, unit: str, depth: int = 1) -> list[str]:
    statement, opener, closer = STATEMENTS[language]
    if tree == "stmt":
        return [unit * depth + statement]
    lines = [unit * depth + opener]
    for child in tree:
        lines += render(child, language, unit, depth + 1)
    return [*lines, unit * depth + closer]


def program(trees, language: str, unit: str) -> list[str]:
    body = [line for tree in trees for line in render(tree, language, unit)]
    return [HEADS[language], *body, "}"]


@given(
    st.lists(TREES, min_size=1, max_size=3),
    st.sampled_from(sorted(STATEMENTS)),
    st.sampled_from(["\t", "  ", "    "]),
    st.sampled_from(["\n", "\r\n"]),
    st.data(),
)
@settings(max_examples=80, deadline=None)
async def test_indented_blocks_pass_and_any_line_pulled_level_with_its_block_fails(
    trees, language, unit, newline, data
):
    lines = program(trees, language, unit)
    code = newline.join(lines) + newline
    assert await layout(whole(code, language)) is None

    # Pull one line inside a block back to its block opener's depth: that line fails.
    inner = [i for i, line in enumerate(lines) if line.strip() not in ("}",) and i > 0]
    if not inner:
        return
    row = data.draw(st.sampled_from(inner))
    depth = (len(lines[row]) - len(lines[row].lstrip())) // len(unit)
    pulled = list(lines)
    pulled[row] = unit * (depth - 1) + lines[row].lstrip()
    found = await layout(whole(newline.join(pulled) + newline, language))
    assert isinstance(found, CheckFailure) and found.check == "layout"
    assert f"line {row + 1} " in found.detail


async def test_the_go_reformat_that_left_the_body_flush_left_fails_with_the_line():
    found = await layout(
        whole(
            "func add(a int,b int) int {\nreturn a + b\n}\n",
            "go",
            before="func add(a int,b int) int {\nreturn a+b\n}\n",
        )
    )
    assert isinstance(found, CheckFailure)
    assert found.detail == "line 2 is inside the block opened on line 1 but not indented"
    assert "indent" in found.to_model


@pytest.mark.parametrize(
    ("language", "code"),
    [
        # gofmt keeps `case` level with `switch`; C styles often do too.
        ("go", "func f(x int) {\n\tswitch x {\n\tcase 1:\n\t\tg()\n\tdefault:\n\t}\n}\n"),
        ("c", "int f(int x) {\n  switch (x) {\n  case 1:\n    return 1;\n  }\n  return 0;\n}\n"),
        # Lines of a multi-line string or comment are the user's text.
        ("javascript", "function f() {\n  const s = `a\nb`;\n  /* one\ntwo */\n}\n"),
        ("go", "func f() string {\n\treturn `line\nflush`\n}\n"),
        # Closing brackets sit level with their opener; `} else {` too.
        ("javascript", "if (a) {\n  b();\n} else {\n  c();\n}\n"),
        ("rust", "fn f() {\n    let v = vec![\n        1,\n    ];\n}\n"),
        ("typescript", "class A {\n  m(): void {\n    const o = {\n      a: 1,\n    };\n  }\n}\n"),
        ("java", "class A {\n    void m() {\n        outer:\n        for (;;) {}\n    }\n}\n"),
        # Preprocessor lines at column 0, `public:`, flat namespaces and `extern "C"`,
        # commented-out code at column 0.
        (
            "c",
            "enum e {\n  A,\n#define A A\n  B,\n};\nvoid f(void) {\n#ifdef X\n  g();\n#endif\n}\n",
        ),
        ("cpp", "class A {\npublic:\n  int x;\n};\nnamespace n {\nint f();\n}\n"),
        ("cpp", 'extern "C" {\nint f(void);\n}\n'),
        ("go", "func f() {\n// g()\n\th()\n}\n"),
        # GNU style: braces on their own line, tabs of 8 columns mixed with spaces.
        ("c", "int\nf (int x)\n{\n  if (x)\n    {\n\treturn 1;\n    }\n  return 0;\n}\n"),
        # A form feed and blank lines are not lines of code.
        ("c", "void f(void) {\n\n  g();\n\x0c\n}\n"),
    ],
)
async def test_conventional_layouts_pass(language, code):
    assert await layout(whole(code, language)) is None


async def test_only_lines_of_the_edit_are_judged():
    before = "func f() {\nx := 1\n\ty := 2\n}\n"
    start = before.index("\ty")
    kept = EditUnderCheck(before, start, start + 7, "\ty := 3", "go", "m.go")
    assert await layout(kept) is None  # line 2 is not the reformat's
    flat = EditUnderCheck(before, start, start + 7, "y := 3", "go", "m.go")
    found = await layout(flat)
    assert isinstance(found, CheckFailure) and "line 3 " in found.detail


async def test_a_file_that_does_not_parse_is_still_judged_where_its_blocks_are_clear():
    found = await layout(whole("func f() {\nx := (\n}\n", "go"))
    assert isinstance(found, CheckFailure)


@pytest.mark.parametrize("language", ["python", "yaml", "markdown", "", "plaintext"])
async def test_languages_whose_layout_is_syntax_or_prose_are_skipped(language):
    found = await layout(whole("if x:\ny = 1\n", language))
    assert isinstance(found, Verdict) and found.status == "skipped"


async def test_non_ascii_before_a_line_keeps_columns_right():
    code = 'fn f() {\n    let s = "é";\n    g(s);\n}\n'
    assert await layout(whole(code, "rust")) is None
    found = await layout(whole(code.replace("    g(s)", "g(s)"), "rust"))
    assert isinstance(found, CheckFailure) and "line 3 " in found.detail


@given(
    st.text(st.sampled_from(list("{}()[]\"'`/*#\\ \t\n\r\x0cabé;:")), max_size=200),
    st.sampled_from(["go", "javascript", "rust", "c", "cpp", "typescript"]),
    st.data(),
)
@settings(max_examples=150, deadline=None)
async def test_any_text_gets_a_verdict_naming_lines_that_exist(text, language, data):
    # Brackets, quotes, comment markers and line breaks of every kind, in any order.
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    edit = EditUnderCheck(text, start, end, text[start:end], language, "mod")
    found = await layout(edit)
    if isinstance(found, CheckFailure):
        rows = edit.after.count("\n") + 1
        line, opener = (int(w) for w in found.detail.split() if w.isdigit())
        assert 1 <= opener < line <= rows
    else:
        assert found is None
