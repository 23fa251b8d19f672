"""Tree-sitter parsers by LSP language id (compiled grammars bundled by
tree-sitter-language-pack), and what the server reads from their trees: error nodes and the
comment and string spans of a text."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

# LSP language ids -> tree-sitter-language-pack grammar names, where they differ.
GRAMMAR_NAMES = {
    "typescriptreact": "tsx",
    "javascriptreact": "javascript",
    "shellscript": "bash",
    "sh": "bash",
    "c++": "cpp",
    "cs": "csharp",
}
# Language ids that name no programming language.
_NOT_CODE = frozenset({"plaintext", "text", ""})


def grammar_name(language_id: str) -> str:
    """The grammar's name in tree-sitter-language-pack for an LSP language id."""
    return GRAMMAR_NAMES.get(language_id, language_id)


@lru_cache(maxsize=32)
def parser_for(language_id: str) -> Any:
    """A tree-sitter parser, or None when the grammar is unavailable."""
    if language_id in _NOT_CODE:
        return None
    try:
        from tree_sitter_language_pack import get_parser

        return get_parser(grammar_name(language_id))
    except Exception:
        # Unknown language or no grammar: callers fall back (ast, line windows) or skip.
        return None


# A parser is not safe to share between threads parsing at once.
_PARSING = threading.Lock()


def parse(language_id: str, data: bytes) -> Any:
    """The tree of `data` in `language_id`, or None when there is no grammar for it. Loads
    and parses: call it from a worker thread."""
    parser = parser_for(language_id)
    if parser is None:
        return None
    with _PARSING:
        return parser.parse(data)


def encoded(text: str) -> bytes:
    """`text` as the bytes tree-sitter parses (lone surrogates kept, one per character)."""
    return text.encode("utf-8", "surrogatepass")


def error_nodes(tree: Any) -> list[tuple[int, int, str]]:
    """(start byte, end byte, "ERROR" or "MISSING x") of every error node, in order."""
    found: list[tuple[int, int, str]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            found.append((node.start_byte, node.end_byte, f"MISSING {node.type}"))
        elif node.is_error:
            found.append((node.start_byte, node.end_byte, "ERROR"))
        # Only subtrees holding an error are walked: a clean file costs one node.
        stack.extend(c for c in reversed(node.children) if c.has_error or c.is_missing)
    return sorted(found)


def prose_spans(tree: Any, start_byte: int, end_byte: int) -> list[tuple[int, int]]:
    """Byte spans of comments and strings that overlap `[start_byte, end_byte)`."""
    spans: list[tuple[int, int]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_byte <= start_byte or node.start_byte >= end_byte:
            continue
        kind = node.type
        if "comment" in kind or "string" in kind or kind in ("char_literal", "heredoc_body"):
            spans.append((node.start_byte, node.end_byte))
            continue
        stack.extend(node.children)
    return sorted(spans)
