"""What a model sees of the code: selection, enclosing scope, imports and diagnostics.

The enclosing function or class comes from tree-sitter (compiled grammars bundled by
tree-sitter-language-pack), then Python's `ast` for Python, else a window of lines around
the selection. Everything is trimmed to a token budget and every cut is stated in `notes`,
so the prompt can tell the model what it is not seeing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from modelrouter.errors import ContextError
from modelrouter.grammars import encoded, grammar_name, parse
from modelrouter.positions import LineIndex, split_lines

# Node types that make a sensible "surrounding code" unit, across grammars.
_SCOPE_TYPES = frozenset(
    {
        "decorated_definition",
        "function_definition",
        "class_definition",
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "method_declaration",
        "class_declaration",
        "interface_declaration",
        "constructor_declaration",
        "arrow_function",
        "function_expression",
        "function_item",
        "impl_item",
        "trait_item",
        "struct_item",
        "enum_item",
        "mod_item",
        "func_literal",
        "type_declaration",
        "method",
        "singleton_method",
        "class",
        "module",
        "function_definition_statement",
    }
)

_HEADER_PATTERNS = {
    "python": r"^(import\s|from\s+\S+\s+import\s)",
    "go": r"^(package\s|import\s|\s+\"[^\"]+\"$|\)$)",
    "rust": r"^(use\s|extern\s+crate\s|mod\s+\w+;)",
    "c": r"^#\s*(include|define)\b",
    "cpp": r"^(#\s*(include|define)\b|using\s+namespace\s)",
    "java": r"^(package\s|import\s)",
    "csharp": r"^using\s",
}
_HEADER_DEFAULT = (
    r"^(import\s|export\s+.*\sfrom\s|const\s+\w+\s*=\s*require\(|#include\b|use\s|require\b)"
)
_HEADER_SCAN_LINES = 300
_HEADER_MAX_LINES = 60
_MAX_DIAGNOSTICS = 10
# Files past this many characters are searched for the enclosing scope in a window of
# lines around the selection (first WINDOW_LINES each side): parsing a 50 MB file to find
# one function costs seconds and gigabytes.
WINDOW_FROM_CHARS = 500_000
WINDOW_LINES = 1000
WINDOW_MAX_LINES = 64_000


@dataclass
class Context:
    """The code a request is about, ready for a prompt."""

    language_id: str
    path: str | None
    selection: str
    selection_lines: tuple[int, int]  # 1-based, inclusive
    scope: str = ""
    scope_label: str = ""  # e.g. "function `parse` (lines 10-42)"
    header: str = ""
    diagnostics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was trimmed, in plain words

    @property
    def tokens(self) -> int:
        """Estimated size in tokens."""
        return sum(
            _estimate(part)
            for part in (self.selection, self.scope, self.header, "\n".join(self.diagnostics))
        )


def build_context(
    text: str,
    start: int,
    end: int,
    *,
    language_id: str,
    path: str | None = None,
    diagnostics: list[str] | None = None,
    budget_tokens: int = 6000,
    around: int = 30,
    index: LineIndex | None = None,
) -> Context:
    """Gather the context of `text[start:end]` (string offsets) within `budget_tokens`;
    `index` is `text`'s line index when the caller has one.

    Raises ContextError when the selection alone exceeds the budget: a rewrite based on a
    partial view of the code it replaces would destroy the part the model did not see.
    """
    index = index or LineIndex(text)
    first = index.line_of(start)
    last = index.line_of(max(start, end - 1)) if end > start else first
    ctx = Context(
        language_id=language_id,
        path=path,
        selection=text[start:end],
        selection_lines=(first + 1, last + 1),
        diagnostics=list(diagnostics or []),
    )
    scope = enclosing_scope(text, first, last, language_id, index)
    if scope is not None:
        s_first, s_last, label = scope
    else:
        s_first, s_last = max(0, first - around), min(index.line_count - 1, last + around)
        label = f"lines {s_first + 1}-{s_last + 1}"
    ctx.scope = _line_span(text, index, s_first, s_last)
    ctx.scope_label = label
    head = split_lines(text[: index.line_start(_HEADER_SCAN_LINES)])
    header_lines = [line for i, line in _header(head, language_id) if i < s_first or i > s_last]
    ctx.header = "".join(header_lines)
    _trim(ctx, text, index, (s_first, s_last), budget_tokens)
    return ctx


def _line_span(text: str, index: LineIndex, first: int, last: int) -> str:
    """Lines `first`..`last` of `text`, with their line breaks."""
    return text[index.line_start(first) : index.line_start(last + 1)]


def enclosing_scope(
    text: str, first: int, last: int, language_id: str, index: LineIndex | None = None
) -> tuple[int, int, str] | None:
    """(first_line, last_line, label) of the innermost function/class around lines
    `first`..`last` (0-based), or None when none can be found.

    In a big file only a window of lines around the selection is parsed, grown until the
    scope found lies inside it (a scope touching the window's edge may be cut off), up to
    WINDOW_MAX_LINES each side.
    """
    if len(text) <= WINDOW_FROM_CHARS:
        found = _scope(text, first, last, language_id)
        return None if found is None else (*found[:2], _label(*found))
    index = index or LineIndex(text)
    reach = WINDOW_LINES
    while True:
        lo, hi = max(0, first - reach), min(index.line_count, last + 1 + reach)
        window = _line_span(text, index, lo, hi - 1)
        found = _scope(window, first - lo, last - lo, language_id)
        if found is None:
            # The scope may start above the window; past WINDOW_MAX_LINES, assume none.
            if reach >= WINDOW_MAX_LINES or (lo == 0 and hi == index.line_count):
                return None
            reach *= 4
            continue
        s, e, name = found
        whole = (lo == 0 or s > 0) and (hi == index.line_count or e < hi - lo - 1)
        if whole:
            return s + lo, e + lo, _label(s + lo, e + lo, name)
        reach *= 4


def _scope(text: str, first: int, last: int, language_id: str) -> tuple[int, int, str] | None:
    found = _tree_sitter_scope(text, first, last, language_id)
    if found is None and language_id == "python":
        found = _ast_scope(text, first, last)
    return found


def _label(first: int, last: int, name: str) -> str:
    return f"{name} (lines {first + 1}-{last + 1})"


def _tree_sitter_scope(
    text: str, first: int, last: int, language_id: str
) -> tuple[int, int, str] | None:
    data = encoded(text)
    tree = parse(language_id, data)
    if tree is None or not text:
        return None
    # Tree-sitter numbers rows at `\n` only; byte offsets, mapped to lines by the LSP rule,
    # also hold for files with lone `\r` line ends.
    index = LineIndex(text)
    last = min(last, index.line_count - 1)
    first = min(first, last)
    line = text[index.line_start(first) : index.line_end(first)]
    sel_start = index.line_start(first) + len(line) - len(line.lstrip())
    sel_end = index.line_end(last)

    def byte_of(offset: int) -> int:
        return len(text[:offset].encode("utf-8", "surrogatepass"))

    def line_of_byte(b: int) -> tuple[int, bool]:
        offset = len(data[:b].decode("utf-8", "ignore"))
        line = index.line_of(offset)
        return line, offset == index.line_start(line)

    node = tree.root_node.descendant_for_byte_range(byte_of(sel_start), byte_of(sel_end))
    # The root (a Python `module`) is the whole file, never an enclosing scope.
    while node is not None and node.parent is not None:
        if node.type in _SCOPE_TYPES and line_of_byte(node.start_byte)[0] <= first:
            name = node.child_by_field_name("name")
            if name is None and node.type == "decorated_definition":
                inner = node.child_by_field_name("definition")
                name = inner.child_by_field_name("name") if inner is not None else None
            kind = node.type.replace("_", " ")
            label = f"{kind} `{name.text.decode()}`" if name is not None else kind
            s = line_of_byte(node.start_byte)[0]
            e, at_line_start = line_of_byte(node.end_byte)
            if at_line_start and e > s:
                e -= 1
            return s, e, label
        node = node.parent
    return None


def _ast_scope(text: str, first: int, last: int) -> tuple[int, int, str] | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    best: ast.AST | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            end = (node.end_lineno or node.lineno) - 1
            if (
                start <= first
                and last <= end
                and (
                    best is None or start >= best.lineno - 1  # type: ignore[attr-defined]
                )
            ):
                best = node
    if best is None:
        return None
    start = min([best.lineno, *(d.lineno for d in best.decorator_list)]) - 1  # type: ignore[attr-defined]
    end = (best.end_lineno or best.lineno) - 1  # type: ignore[attr-defined]
    kind = "class" if isinstance(best, ast.ClassDef) else "function"
    return start, end, f"{kind} `{best.name}`"  # type: ignore[attr-defined]


def _header(lines: list[str], language_id: str) -> list[tuple[int, str]]:
    pattern = re.compile(_HEADER_PATTERNS.get(grammar_name(language_id), _HEADER_DEFAULT))
    return [(i, line) for i, line in enumerate(lines[:_HEADER_SCAN_LINES]) if pattern.match(line)][
        :_HEADER_MAX_LINES
    ]


def _trim(ctx: Context, text: str, index: LineIndex, scope: tuple[int, int], budget: int) -> None:
    """Cut diagnostics, then imports, then the surrounding code until `ctx` fits."""
    sel = _estimate(ctx.selection)
    if sel > budget:
        raise ContextError(
            f"the selection is about {sel} tokens, more than the {budget} this model can take"
        )
    if ctx.tokens <= budget:
        return
    if len(ctx.diagnostics) > _MAX_DIAGNOSTICS:
        dropped = len(ctx.diagnostics) - _MAX_DIAGNOSTICS
        ctx.diagnostics = ctx.diagnostics[:_MAX_DIAGNOSTICS]
        ctx.notes.append(f"{dropped} further diagnostics omitted")
    if ctx.tokens > budget and ctx.header:
        header = split_lines(ctx.header)
        keep = len(header)
        while keep > 0 and ctx.tokens > budget:
            keep //= 2
            ctx.header = "".join(header[:keep])
        ctx.notes.append(f"imports trimmed to {keep} of {len(header)} lines")
    if ctx.tokens > budget:
        first, last = (n - 1 for n in ctx.selection_lines)
        s_first, s_last = scope
        lo, hi = s_first, s_last
        while ctx.tokens > budget and (lo < first or hi > last):
            # Shrink the window toward the selection, a quarter of the spare lines at a time.
            lo += max(1, (first - lo) // 4) if lo < first else 0
            hi -= max(1, (hi - last) // 4) if hi > last else 0
            ctx.scope = _line_span(text, index, lo, hi)
        if ctx.tokens > budget:
            ctx.scope = ""
            ctx.notes.append(f"surrounding code ({ctx.scope_label}) omitted to fit")
        else:
            ctx.notes.append(
                f"surrounding code ({ctx.scope_label}) trimmed to lines {lo + 1}-{hi + 1}"
            )
    if ctx.tokens > budget and ctx.diagnostics:
        ctx.notes.append(f"{len(ctx.diagnostics)} diagnostics omitted")
        ctx.diagnostics = []


def _estimate(text: str) -> int:
    from modelrouter.tokens import estimate_tokens

    return estimate_tokens(text) if text else 0
