"""The minimal-edit rule: which changes fit a trivial edit (a typo fix, a rename, a
docstring, a reformat), and which kind of trivial edit an instruction asks for.

The embedded backend keeps only the fitting changes of its small model's answer
(`minimal_edit`); the "scope" answer check fails any answer with a change that does not fit
(`out_of_scope`). Changes inside comments and strings may be wording: a caller that knows
where those are passes them as `prose`, and a typo fix may reword them.
"""

from __future__ import annotations

import difflib
import re

_WORD = re.compile(r"[a-z0-9]+")

# Words that say which kind of edit a request is; matched as word prefixes.
KIND_WORDS = {
    "typo": ("typo", "spell", "misspel", "grammar"),
    "rename": ("rename", "name"),
    "docstring": ("docstring", "doc", "comment", "document"),
    "reformat": ("reformat", "format", "whitespace", "style", "pep8", "indent", "spacing"),
}


def request_kinds(instruction: str) -> dict[str, int]:
    """How strongly the instruction points at each kind of edit."""
    words = _WORD.findall(instruction.lower())
    return {
        kind: sum(any(w.startswith(p) for p in prefixes) for w in words)
        for kind, prefixes in KIND_WORDS.items()
    }


def edit_kind(instruction: str) -> str | None:
    """The one kind of trivial edit the instruction names most, or None when unclear."""
    kinds = request_kinds(instruction)
    best = max(kinds.values())
    top = [kind for kind, score in kinds.items() if score == best]
    return top[0] if best and len(top) == 1 else None


# Minimal-edit guard. A small model asked for a trivial edit often makes it and then some
# (fixes `pirnt` and adds a "!" to the string). Its code is compared with the selection
# token by token, and only the changed hunks that fit the kind of edit asked for are kept.
GUARDED_KINDS = ("typo", "rename", "docstring", "reformat")
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
_WORD_TOKEN = re.compile(r"\w+")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_FILLER = r"(?:\s+(?:the|a|an|this|that|variable|parameter|argument|function|method|class|field|attribute|constant|name))*"  # noqa: E501
_RENAME = re.compile(
    rf"\brename{_FILLER}\s+[`'\"]?(?P<old>[A-Za-z_]\w*)[`'\"]?\s+(?:to|as|into|->)\s+"
    rf"[`'\"]?(?P<new>[A-Za-z_]\w*)",
    re.IGNORECASE,
)
_APOSTROPHE = re.compile("['\u2019]")
# Letters with apostrophes between them ("It's", "o'clock"), nothing else.
_IN_WORD_APOSTROPHES = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_COMMENT_MARKERS = ('"""', "'''", "#", "//", "/*", "* ")


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: Levenshtein plus swaps of adjacent letters."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def close_spelling(old: str, new: str) -> bool:
    """Whether `new` reads as a spelling fix of the word `old` (not another word)."""
    if not (_WORD_TOKEN.fullmatch(old) and _WORD_TOKEN.fullmatch(new)):
        return False  # words only: punctuation and spaces are not spelling
    if old.lower() == new.lower() or min(len(old), len(new)) < 3:
        return False  # a change of case, or of a one- or two-letter name, is not a typo fix
    # One slip (a letter added, dropped, changed or swapped with its neighbour) for words up to
    # six letters, two for longer ones: beyond that a short word becomes another word
    # ("count" -> "amount").
    limit = 1 if max(len(old), len(new)) <= 6 else 2
    return abs(len(old) - len(new)) <= 2 and edit_distance(old, new) <= limit


def _apostrophe_fix(old: list[str], new: list[str]) -> bool:
    """Whether the hunk only adds or drops apostrophes, each between two letters (a quote
    that opens or closes a string is code, not spelling)."""
    before, after = "".join(old), "".join(new)
    words = _IN_WORD_APOSTROPHES.fullmatch(before) and _IN_WORD_APOSTROPHES.fullmatch(after)
    return (
        bool(words)
        and before != after
        and _APOSTROPHE.sub("", before) == _APOSTROPHE.sub("", after)
    )


def rename_pair(instruction: str) -> tuple[str, str] | None:
    """(old, new) from "Rename [the parameter] old to new", else None."""
    match = _RENAME.search(instruction)
    return (match.group("old"), match.group("new")) if match else None


def _only_space(tokens: list[str]) -> bool:
    return all(t.isspace() for t in tokens)


def _kept(kind: str, old: list[str], new: list[str], pair: tuple[str, str] | None) -> list[str]:
    """The tokens one changed hunk ends up as: `new` where it fits the edit, else `old`."""
    if kind == "reformat":
        # Spacing and line breaks may change; the code's own tokens may not.
        same = [t for t in old if not t.isspace()] == [t for t in new if not t.isspace()]
        return new if same else old
    if kind == "docstring":
        # Only added text that is a docstring or comment (and the spacing around it).
        added = "".join(new)
        return new if _only_space(old) and any(m in added for m in _COMMENT_MARKERS) else old
    if kind == "typo" and _apostrophe_fix(old, new):
        return new  # "Its" -> "It's", "dont" -> "don't": a fix that splits the word
    if len(old) != len(new):
        return old  # a typo fix or rename swaps words one for one
    if kind == "typo":
        return [n if o == n or close_spelling(o, n) else o for o, n in zip(old, new, strict=True)]
    return [n if (o, n) == pair else o for o, n in zip(old, new, strict=True)]


def _dominant_rename(opcodes: list[tuple[str, list[str], list[str]]]) -> tuple[str, str] | None:
    """The identifier swap the model made most often, when the instruction names none."""
    counts: dict[tuple[str, str], int] = {}
    for tag, old, new in opcodes:
        if tag == "replace" and len(old) == len(new):
            for o, n in zip(old, new, strict=True):
                if o != n and _IDENT.fullmatch(o) and _IDENT.fullmatch(n):
                    counts[o, n] = counts.get(o, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def minimal_edit(kind: str, instruction: str, original: str, edited: str) -> str:
    """`original` with only those changes of `edited` that fit a `kind` edit.

    Both are compared as word, punctuation and whitespace tokens (difflib). A typo fix keeps
    words replaced by a close spelling; a rename keeps one identifier consistently replaced
    by another (the pair named in the instruction, else the model's most frequent swap); a
    docstring keeps added docstrings and comments; a reformat keeps whitespace changes.
    Everything else is dropped; when nothing fits, `original` comes back unchanged.
    """
    if kind not in GUARDED_KINDS or not edited.strip():
        return edited  # no code at all is reported as such, not turned into a copy
    a, b = _TOKEN.findall(original), _TOKEN.findall(edited)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks = [(tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    pair = None
    if kind == "rename":
        pair = rename_pair(instruction) or _dominant_rename(hunks)
    out: list[str] = []
    for tag, old, new in hunks:
        out.extend(old if tag == "equal" else _kept(kind, old, new, pair))
    return "".join(out)


def out_of_scope(
    kind: str,
    instruction: str,
    original: str,
    edited: str,
    prose: tuple[tuple[int, int], ...] = (),
) -> tuple[int, str, str] | None:
    """The first change of `edited` that does not fit a `kind` edit of `original`, as
    (offset in `original`, old text, new text); None when every change fits.

    Spacing is not judged (the edit step re-indents answers). In a typo fix, a change
    inside `prose` (comment and string spans of `original`, as offsets) may reword it.
    """
    if kind not in GUARDED_KINDS:
        return None
    a, b = _TOKEN.findall(original), _TOKEN.findall(edited)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    opcodes = matcher.get_opcodes()
    hunks = [(tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in opcodes]
    pair = (rename_pair(instruction) or _dominant_rename(hunks)) if kind == "rename" else None
    offsets = [0]
    for token in a:
        offsets.append(offsets[-1] + len(token))
    for (tag, old, new), (_, i1, i2, _j1, _j2) in zip(hunks, opcodes, strict=True):
        if tag == "equal" or (_only_space(old) and _only_space(new)):
            continue
        at, until = offsets[i1], offsets[i2]
        if kind == "typo" and any(s <= at and until <= e for s, e in prose):
            continue
        if _kept(kind, old, new, pair) != new:
            return at, "".join(old), "".join(new)
    return None
