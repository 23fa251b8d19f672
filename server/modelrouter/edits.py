"""Model replies become edits: code extraction, indentation, re-anchoring, file placement.

Nothing here talks LSP; the server turns the results into a `WorkspaceEdit`. Positions are
LSP positions in the negotiated encoding (UTF-16 unless the client chose otherwise).
"""

from __future__ import annotations

import ast
import bisect
import re
import textwrap
from pathlib import Path, PurePosixPath

from modelrouter.errors import NoUsableCode
from modelrouter.positions import split_lines, strip_break

_OPENER = re.compile(r"(`{3,}|~{3,})[ \t]*([^\n`]*)")
_CLOSER = re.compile(r"(`{3,}|~{3,})[ \t\r]*")

# Fence info strings that name the same language as an LSP language id.
_ALIASES = {
    "python": {"python", "py", "python3"},
    "javascript": {"javascript", "js", "jsx", "mjs"},
    "typescript": {"typescript", "ts"},
    "typescriptreact": {"tsx", "typescript"},
    "javascriptreact": {"jsx", "javascript"},
    "rust": {"rust", "rs"},
    "go": {"go", "golang"},
    "shellscript": {"sh", "bash", "shell", "zsh"},
    "cpp": {"cpp", "c++", "cc", "cxx"},
    "csharp": {"csharp", "cs", "c#"},
    "ruby": {"ruby", "rb"},
    "markdown": {"markdown", "md"},
}
_NON_CODE = {"text", "txt", "plaintext", "console", "output", "diff", "log"}


def extract_code(reply: str, language_id: str) -> str:
    """The code to apply from a model reply.

    Prefers a fenced block tagged with the document's language, then an untagged one, then
    the longest block that is neither plain output nor in another known language. A reply
    without fences is accepted only when it is Python that parses (small local models often
    drop the fence). Raises NoUsableCode otherwise.
    """
    blocks = [(info.strip().split(" ")[0].lower(), body) for info, body in fenced_blocks(reply)]
    if not blocks:
        bare = reply.strip("\n")
        if bare.strip() and language_id == "python" and _parses(bare) and "\n" in bare.strip():
            return bare + "\n"
        if not reply.strip():
            raise NoUsableCode("the model's reply was empty")
        raise NoUsableCode("the model's reply contained no fenced code block")
    names = _ALIASES.get(language_id, {language_id})
    tagged = [body for info, body in blocks if info in names]
    untagged = [body for info, body in blocks if not info]
    # A block in another language we know (JavaScript for a Python file) is not an answer;
    # unknown info strings ("py3.12", "pycon") still are.
    foreign = set().union(*_ALIASES.values()) - names if language_id in _ALIASES else set()
    others = [body for info, body in blocks if info not in _NON_CODE and info not in foreign]
    for group in (tagged, untagged, others):
        if group:
            code = max(group, key=len)
            if not code.strip():
                raise NoUsableCode("the model's code block was empty")
            return code
    wrong = sorted({info for info, _ in blocks if info in foreign})
    if wrong:
        raise NoUsableCode(
            f"the model answered in {', '.join(wrong)}, not {language_id}; nothing changed"
        )
    raise NoUsableCode("the model's reply had only non-code blocks (output or text)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of each fenced code block, in order, in linear time.

    A block opens with a line of 3+ backticks or tildes plus an optional info string and
    closes at the next line holding exactly the same fence. A fence that never closes is
    not a block. Each line is looked at a bounded number of times, so a hostile reply of
    thousands of unclosed fences costs no more than reading it.
    """
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    closers: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        m = _CLOSER.fullmatch(line)
        if m:
            closers.setdefault(m.group(1), []).append(index)
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines) - 1:  # an opening line must be followed by a newline
        m = _OPENER.fullmatch(lines[i])
        close = None
        if m:
            fence = m.group(1)
            # `~~~~` may also open as `~~~` with the extra tilde read as the info string.
            shortest = len(fence) if fence[0] == "`" else 3
            for size in range(len(fence), shortest - 1, -1):
                found = closers.get(fence[:size], [])
                k = bisect.bisect_right(found, i)
                if k < len(found):
                    close = found[k]
                    info = lines[i][size:].lstrip(" \t")
                    break
        if close is None:
            i += 1
            continue
        blocks.append((info, text[starts[i + 1] : starts[close]]))
        i = close + 1
    return blocks


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def syntax_error(code: str, language_id: str) -> str | None:
    """Why `code` does not parse, for languages we can check; None when it parses or we can't
    tell. Python is checked with `ast`; code that is only valid inside a block is dedented
    first."""
    if language_id != "python":
        return None
    try:
        ast.parse(textwrap.dedent(code))
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:
        return str(exc)
    return None


# How far an edit may outgrow the text it replaces. Trivial-tier actions (a typo, a
# docstring) rewrite what is there; other rewrites may add much more, but not without end.
TRIVIAL_GROWTH, TRIVIAL_ALLOWANCE = 4, 2_000
GROWTH, ALLOWANCE = 40, 40_000


def oversized_edit(original: str, new_text: str, *, trivial: bool) -> str | None:
    """Why replacing `original` by `new_text` is out of proportion for the action, or None."""
    factor, allowance = (TRIVIAL_GROWTH, TRIVIAL_ALLOWANCE) if trivial else (GROWTH, ALLOWANCE)
    limit = factor * len(original) + allowance
    if len(new_text) <= limit:
        return None
    return (
        f"the reply would replace {len(original):,} characters with {len(new_text):,}, "
        f"more than this action may write there ({limit:,})"
    )


def reindent(
    code: str, original: str, *, line_indent: str | None = None, newline: str = "\n"
) -> str:
    """`code` re-indented to the indentation of `original`, its lines ended with the
    document's `newline`, and ending with a line break exactly when `original` does.

    `line_indent` is given when the replaced range starts mid-line: it is the indentation of
    that line, which the code's later lines are relative to; its first line stays as is
    (the text before it on that line stays in place).
    """
    mid_line = line_indent is not None
    if mid_line:
        base = line_indent or ""
    else:
        lines = (strip_break(line) for line in split_lines(original))
        first = next((line for line in lines if line.strip()), "")
        base = first[: len(first) - len(first.lstrip())]
    body = textwrap.dedent("\n".join(strip_break(ln) for ln in split_lines(code)).strip("\n"))
    out = []
    for i, line in enumerate(body.split("\n")):
        if not line.strip():
            out.append("")
        elif i == 0 and mid_line:
            out.append(line)
        else:
            out.append(base + line)
    text = newline.join(out)
    if strip_break(original) != original:
        text += newline
    return text


def indent_before(text: str, offset: int) -> str | None:
    """The indentation of the line holding `offset` when `offset` is not at the start of
    that line's code, else None (the `line_indent` argument of `reindent`)."""
    line_start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    before = text[line_start:offset]
    if not before.strip():
        return None
    return before[: len(before) - len(before.lstrip())]


def widen_to_scope(
    code: str, text: str, start: int, end: int, scope: tuple[int, int] | None
) -> tuple[int, int]:
    """The range `code` should replace: the selection, or the whole enclosing scope when
    the model answered with the complete function/class instead of just the selected part.

    `scope` is the (start, end) string offsets of the enclosing scope. The reply is taken
    as the whole scope when its first code line is the scope's first line, the selection
    does not start there, and the reply is at least half as long as the scope (a short reply
    that merely starts like the scope must never replace all of it).
    """
    if scope is None or (scope[0] >= start and scope[1] <= end):
        return start, end
    code_lines = [ln.strip() for ln in split_lines(code) if ln.strip()]
    scope_lines = [ln.strip() for ln in split_lines(text[scope[0] : scope[1]]) if ln.strip()]
    selected_first = next((ln.strip() for ln in split_lines(text[start:end]) if ln.strip()), "")
    if (
        code_lines
        and scope_lines
        and code_lines[0] == scope_lines[0]
        and code_lines[0] != selected_first
        and 2 * len(code_lines) >= len(scope_lines)
    ):
        return scope
    return start, end


def widen_to_echoed_lines(code: str, text: str, start: int, end: int) -> tuple[int, int]:
    """Extend a whole-line range over the lines around it that the reply repeats.

    Models often echo a line of context before or after the selected code; replacing only
    the selection would then duplicate that line. Lines the reply starts (or ends) with that
    equal the lines just before (or after) the range join the range, so they are replaced by
    themselves. At least one line of the reply always stays for the selection itself.
    """
    starts_line = not start or text[start - 1] in "\r\n"
    ends_line = end == len(text) or text[end - 1] in "\r\n"
    if not (starts_line and ends_line):
        return start, end
    if text.startswith("\r\n", start - 1) or text.startswith("\r\n", end - 1):
        return start, end  # a "range" splitting a CRLF is not a whole-line range
    reply = [ln.strip() for ln in split_lines(code)]
    # Only the lines next to the range can be echoed: look at a bounded window of them,
    # never at the whole file.
    window = 64 * (len(code) + 256)
    before = split_lines(text[max(0, start - window) : start])
    if start > window and before:
        before = before[1:]  # the window's first line may be cut
    after = split_lines(text[end : end + window])
    if end + window < len(text) and after:
        after = after[:-1]
    k = 0
    while (
        k + 1 < len(reply)
        and k < len(before)
        and reply[k]
        and [ln.strip() for ln in before[len(before) - k - 1 :]] == reply[: k + 1]
    ):
        k += 1
    m = 0
    while (
        k + m + 1 < len(reply)
        and m < len(after)
        and reply[-m - 1]
        and [ln.strip() for ln in after[: m + 1]] == reply[len(reply) - m - 1 :]
    ):
        m += 1
    start -= sum(len(ln) for ln in before[len(before) - k :]) if k else 0
    end += sum(len(ln) for ln in after[:m])
    return start, end


# --- where tests and notes go -----------------------------------------------------------


def test_file_path(path: Path, language_id: str, root: Path | None) -> Path:
    """The language's conventional test file for the source file `path`.

    Python: `<root>/tests/test_<module>.py`; TS/JS: `<name>.test.<ext>` beside the source;
    Go: `<name>_test.go`; Ruby: `<root>/spec/<name>_spec.rb`; Rust: the file itself (tests
    live in a `mod tests` block); otherwise `<name>_test.<ext>` beside the source.
    """
    stem, suffix = path.stem, path.suffix
    base = root if root is not None and _is_relative(path, root) else path.parent
    if language_id == "python" or suffix == ".py":
        if stem.startswith("test_") or stem.endswith("_test"):
            return path
        return base / "tests" / f"test_{stem}.py"
    if language_id in {"typescript", "javascript", "typescriptreact", "javascriptreact"}:
        if ".test" in stem or ".spec" in stem:
            return path
        return path.with_name(f"{stem}.test{suffix}")
    if language_id == "go":
        return path if stem.endswith("_test") else path.with_name(f"{stem}_test.go")
    if language_id == "ruby":
        return base / "spec" / f"{stem}_spec.rb"
    if language_id == "rust":
        return path
    return path.with_name(f"{stem}_test{suffix}")


def _is_relative(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def merge_tests(existing: str, code: str, language_id: str) -> str:
    """The text to append to an existing test file: `code` without import lines the file
    already has, separated from it by a blank line or two."""
    have = {line.strip() for line in split_lines(existing)}
    if language_id == "python":
        kept = [
            line
            for line in map(strip_break, split_lines(code))
            if not (line.strip() in have and re.match(r"(import|from)\s", line.strip()))
        ]
        code = "\n".join(kept).strip("\n") + "\n"
    if not existing.strip():
        return code
    # Two blank lines between top-level Python definitions (PEP 8), one elsewhere.
    need = 3 if language_id == "python" else 2
    trailing = len(existing) - len(existing.rstrip("\n"))
    return "\n" * max(0, need - trailing) + code


def slug(text: str, limit: int = 48) -> str:
    """A file-name-safe slug."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = "-".join(words)[:limit].strip("-")
    return out or "note"


def design_note_path(folder: Path, title: str) -> Path:
    """A new Markdown file in `folder` named after `title`, not overwriting any."""
    name = slug(title)
    candidate = folder / f"{name}.md"
    n = 2
    while candidate.exists():
        candidate = folder / f"{name}-{n}.md"
        n += 1
    return candidate


def relative_posix(path: Path, root: Path | None) -> str:
    """`path` relative to `root` when inside it, with forward slashes."""
    if root is not None and _is_relative(path, root):
        return str(PurePosixPath(path.relative_to(root)))
    return str(PurePosixPath(path))
