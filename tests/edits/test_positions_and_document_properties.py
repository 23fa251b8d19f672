"""Positions, incremental changes and range following, against a plain reference model.

The reference splits lines one character at a time by the LSP rule (`\\r\\n`, `\\r`, `\\n`
only), counts UTF-16 units by encoding, applies changes by slicing, and follows a range by
giving every character an identity. The texts mix in every character Python's
`splitlines` treats as a line end but LSP does not, lone `\\r`, CRLF and astral characters.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.document import Document
from modelrouter.positions import (
    LineIndex,
    Pos,
    end_after,
    line_starts,
    offset_at,
    position_at,
    spliced_starts,
    split_lines,
    units,
)

ALPHABET = ["a", " ", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]
ALPHABET += ["\u2028", "\u2029", "é", "😀", "\t"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join)
encodings = st.sampled_from(["utf-16", "utf-8", "utf-32"])


def ref_lines(text: str) -> list[str]:
    """Lines without their breaks, by the LSP rule, one character at a time."""
    lines, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" or ch == "\n":
            lines.append(cur)
            cur = ""
            i += 2 if text[i : i + 2] == "\r\n" else 1
            continue
        cur += ch
        i += 1
    lines.append(cur)
    return lines


def ref_units(text: str, encoding: str) -> int:
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    return len(text)


def ref_offset(text: str, line: int, character: int, encoding: str) -> int:
    """Offset of a position, clamped to its line (and to the last line)."""
    lines = ref_lines(text)
    offset = 0
    i = 0
    for n in range(min(line, len(lines))):
        offset += len(lines[n])
        offset += 2 if text[offset : offset + 2] == "\r\n" else 1
    if line >= len(lines):
        return len(text)
    content = lines[line]
    used = 0
    for ch in content:
        size = ref_units(ch, encoding)
        if used + size > character:
            break
        used += size
        i += 1
    return offset + i


@given(texts)
def test_lines_end_only_at_lsp_line_breaks(text):
    ref = ref_lines(text)
    if ref[-1] == "":
        ref = ref[:-1]  # split_lines adds no empty last line
    assert [line.rstrip("\r\n") for line in split_lines(text)] == ref
    assert "".join(split_lines(text)) == text
    assert len(line_starts(text)) == len(ref_lines(text))


@given(texts, st.integers(0, 12), st.integers(0, 12), encodings)
def test_offsets_and_positions_agree_with_the_reference(text, line, character, encoding):
    off = offset_at(text, Pos(line, character), encoding)
    assert off == ref_offset(text, line, character, encoding)
    pos = position_at(text, off, encoding)
    assert offset_at(text, pos, encoding) == off
    lines = ref_lines(text)
    assert pos.line == min(line, len(lines) - 1)
    before = text[ref_offset(text, pos.line, 0, encoding) : off]
    assert pos.character == ref_units(before, encoding)


@given(texts, encodings)
def test_every_offset_round_trips(text, encoding):
    index = LineIndex(text)
    for off in range(len(text) + 1):
        pos = index.position_at(off, encoding)
        back = index.offset_at(pos, encoding)
        # Only an offset between `\r` and `\n` has no position of its own.
        assert back == off or text[off - 1 : off + 1] == "\r\n"


@given(texts, texts, st.data())
def test_spliced_line_starts_equal_a_fresh_scan(text, insert, data):
    a = data.draw(st.integers(0, len(text)))
    b = data.draw(st.integers(a, len(text)))
    new = text[:a] + insert + text[b:]
    assert spliced_starts(line_starts(text), len(text), a, b, new) == line_starts(new)


@given(texts, texts, encodings)
def test_end_after_insertion_matches_the_text(start_text, inserted, encoding):
    start = position_at(start_text, len(start_text), encoding)
    if start_text.endswith("\r") and inserted.startswith("\n"):
        return  # the break merges with its neighbour; the document model handles that
    assert end_after(start, inserted, encoding) == position_at(
        start_text + inserted, len(start_text + inserted), encoding
    )


changes = st.lists(
    st.tuples(st.integers(0, 8), st.integers(0, 6), st.integers(0, 8), st.integers(0, 6), texts),
    max_size=12,
)


@settings(max_examples=300)
@given(texts, changes, encodings, st.booleans())
def test_incremental_changes_equal_reference_slicing(text, edits, encoding, full):
    doc = Document("file:///t", text, 1, "python", encoding)
    if full:
        doc.lines  # noqa: B018  (build the index so that changes splice it)
    ref = text
    for l1, c1, l2, c2, new in edits:
        a, b = ref_offset(ref, l1, c1, encoding), ref_offset(ref, l2, c2, encoding)
        doc.change(Pos(l1, c1), Pos(l2, c2), new)
        a, b = min(a, b), max(a, b)
        ref = ref[:a] + new + ref[b:]
        assert doc.text == ref
        assert doc.lines.starts == line_starts(ref)
    doc.change(None, None, text)
    assert doc.text == text


@settings(max_examples=300)
@given(texts, changes, st.data())
def test_a_range_is_followed_exactly_or_refused(text, edits, data):
    """A range maps to where its very characters are now, and is refused as soon as any of
    them was replaced or text was put between them (never to equal text elsewhere)."""
    if not text:
        return
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    doc = Document("file:///t", text, 1, "python", "utf-32")
    mark = doc.mark()
    ids = list(range(len(text)))  # one identity per original character
    chars = list(text)
    fresh = len(text)
    for l1, c1, l2, c2, new in edits:
        cur = "".join(chars)
        a, b = ref_offset(cur, l1, c1, "utf-32"), ref_offset(cur, l2, c2, "utf-32")
        a, b = min(a, b), max(a, b)
        doc.change(Pos(l1, c1), Pos(l2, c2), new)
        ids[a:b] = range(fresh, fresh + len(new))
        chars[a:b] = list(new)
        fresh += len(new)
    wanted = list(range(start, end))
    got = doc.map_range(mark, start, end)
    where = [ids.index(i) for i in wanted if i in ids]
    same = len(where) == len(wanted) and where == list(range(where[0], where[0] + len(wanted)))
    if same:
        assert got == (where[0], where[0] + len(wanted))
        assert doc.text[got[0] : got[1]] == text[start:end]
    else:
        assert got is None
    doc.release(mark)
    assert doc._log == []


def test_changes_are_logged_only_while_a_mark_is_held():
    doc = Document("file:///t", "a\nb\n")
    doc.change(Pos(0, 0), Pos(0, 0), "x")
    assert doc._log == []
    first = doc.mark()
    doc.change(Pos(0, 0), Pos(0, 0), "y")
    second = doc.mark()
    doc.change(Pos(1, 0), Pos(1, 0), "z")
    doc.release(first)
    assert doc.map_range(second, 0, 3) == (0, 3)
    doc.release(second)
    assert doc._log == []
    assert units("😀", "utf-16") == 2
