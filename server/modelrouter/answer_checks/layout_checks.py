"""The "layout" check: a reformat must leave every line of the edit that is inside a block
indented deeper than the line that opens the block.

A small model asked to reformat often fixes the spacing it sees and leaves a function body
flush left (`func add(a int, b int) int {` then `return a + b` at column 0): nothing but
whitespace changed, so the scope check passes it, and the file still parses. Brace
languages do not need the indentation to parse, which is why it is checked here, on the
tree tree-sitter gives for the edited file: for each line that starts in the edit, the
innermost block (a node whose type names a block or body, or C's compound statement and
its kin) that opened on an earlier line, unless the line starts with the block's own
closing bracket or is a `case`, label, access specifier, preprocessor or comment line. C++
namespaces and `extern "C"` blocks are not judged (many styles leave them flat), nor are
lines inside multi-line strings. Indentation-sensitive languages (Python, YAML) are not
checked here: their layout is syntax.
"""

from __future__ import annotations

import asyncio
from typing import Any

from modelrouter.answer_checks.edit import EditUnderCheck
from modelrouter.routing.escalation import CheckFailure, Verdict

# Languages (LSP ids) whose blocks are bracketed and conventionally indented.
BRACE_LANGUAGES = frozenset(
    {
        "c",
        "cpp",
        "csharp",
        "css",
        "dart",
        "go",
        "java",
        "javascript",
        "javascriptreact",
        "kotlin",
        "less",
        "php",
        "rust",
        "scala",
        "scss",
        "swift",
        "typescript",
        "typescriptreact",
    }
)
# Block nodes whose type names no block or body, by grammar: C and C++ bodies, Rust and C#
# item lists, struct fields, enum members.
BLOCK_TYPES = frozenset(
    {
        "compound_statement",
        "declaration_list",
        "field_declaration_list",
        "enumerator_list",
        "enum_variant_list",
    }
)
# Blocks whose contents many styles leave unindented: C++ namespaces, `extern "C" { … }`.
FLAT_PARENTS = frozenset({"namespace_definition", "linkage_specification"})
# Lines that styles keep level with their block's opener: C++ `public:`.
ON_ROW_FREE = frozenset({"access_specifier"})
# Preprocessor lines sit at column 0 in most C styles, whatever the block.
PREPROCESSED = frozenset({"c", "cpp", "csharp"})
TAB_WIDTH = 8  # as C's GNU style mixes tabs and spaces
# Beyond this many characters the edited file is not parsed for its layout.
LAYOUT_MAX_CHARS = 2_000_000


async def layout(edit: EditUnderCheck) -> CheckFailure | Verdict | None:
    """Fails when a line of the reformatted code sits no deeper than its block's opener."""
    if edit.language_id not in BRACE_LANGUAGES:
        return Verdict.skipped("layout", f"not checked for {edit.language_id or 'plain text'}")
    if len(edit.after) > LAYOUT_MAX_CHARS:
        return Verdict.skipped("layout", "the file is too large to parse for its layout")
    found = await asyncio.to_thread(flush_line, edit)
    if found is None:
        return None
    line, opener = found
    detail = f"line {line} is inside the block opened on line {opener} but not indented"
    return CheckFailure(
        "layout",
        "left a block unindented",
        detail,
        f"the previous answer left code inside a block unindented ({detail}); indent every "
        "block one level deeper than the line that opens it, in the language's usual style",
    )


def flush_line(edit: EditUnderCheck) -> tuple[int, int] | None:
    """(line, line of its block's opener), 1-based, of the first line starting in the edit
    that is not indented deeper than its block's opener; None when every line is."""
    text = edit.after
    tree = edit.after_tree
    if tree is None:
        return None
    # Rows as tree-sitter counts them: a row ends at "\n" only.
    rows = text.split("\n")
    first = text.count("\n", 0, edit.start)
    last = text.count("\n", 0, edit.start + len(edit.new.rstrip("\n")))
    for row in range(first, last + 1):
        content = rows[row]
        stripped = content.lstrip(" \t")
        if not stripped.strip() or (edit.language_id in PREPROCESSED and stripped[0] == "#"):
            continue
        # Only spaces and tabs precede it: its column in characters is its column in bytes.
        opener = _open_block(tree, row, len(content) - len(stripped))
        if opener is not None and _indent(content) <= _indent(rows[opener]):
            return row + 1, opener + 1
    return None


def _open_block(tree: Any, row: int, column: int) -> int | None:
    """The row of the innermost block opened before `row` that holds the position, or None
    (also in a comment, or a string that started earlier; on a `case`, label or `public:`
    line, which styles keep level with the block's opener; and in a namespace or
    `extern "C"` block)."""
    node = tree.root_node.descendant_for_point_range((row, column), (row, column))
    while node is not None:
        kind = node.type
        starts_before = node.start_point[0] < row
        if "comment" in kind or (starts_before and "string" in kind):
            return None
        on_row = node.start_point[0] == row
        if on_row and ("case" in kind or "label" in kind or kind in ON_ROW_FREE):
            return None
        if starts_before and ("block" in kind or "body" in kind or kind in BLOCK_TYPES):
            closing = node.end_point[0] == row and node.end_point[1] == column + 1
            flat = node.parent is not None and node.parent.type in FLAT_PARENTS
            return None if closing or flat else node.start_point[0]
        node = node.parent
    return None


def _indent(line: str) -> int:
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(TAB_WIDTH))
