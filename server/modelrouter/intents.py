"""Requests that ask for exactly what one of the editor's actions does.

"What does this function do?" is the Explain action typed out; "refactor this class into
smaller functions" is the Refactor action; "change the function so that it returns a list"
is the Implement action on code in front of the user. Such a request goes to that action's
tier, whatever its other words suggest, because the rules already say what the action
costs. An intent is only recognised when nothing in the request contradicts it: a word of
another kind of work (a defect, tests, performance, design, several modules or services)
leaves the request to the classifier.

The recognisers work on kinds of words (`modelrouter.request_words.concepts`), so they hold
for any function, class or wording, and for the languages the lexicon covers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from modelrouter.request_words import concepts, words_of

# Words that ask what code does rather than for a change.
_EXPLAIN_OPENERS = frozenset({"explain", "describe", "what", "how", "walk", "summarize"})
# Kinds of work that an intent must not overrule.
_DEFECT = frozenset({"defect", "fix", "test", "perf", "build"})
# Cheaper kinds of work: the classifier routes those below the action's tier.
_CHEAPER = frozenset({"docs", "wording", "tidy", "release", "remove"})
_CONTRADICTING = _DEFECT | _CHEAPER
_LARGE = frozenset({"design", "migrate", "system", "concurrency", "security", "breadth"})
_CHANGE = frozenset({"change", "add", "capability"})
# Words that name a piece of code in front of the user (besides the "local" concept).
_CODE_OBJECTS = frozenset(
    {"code", "function", "method", "class", "regex", "snippet", "selection", "loop", "query",
     "expression", "block", "line", "lines", "it", "this", "these", "module", "file"}
)  # fmt: skip
# A multi-module refactor is design work however it is phrased.
_WIDE_OBJECTS = frozenset({"modules", "packages", "services", "files", "crates", "layers"})
MAX_WORDS = 60
_REFACTOR_VERBS = frozenset(
    {"refactor", "restructure", "simplify", "split", "extract", "encapsulate", "reorganize",
     "reorganise", "break", "clean"}
)  # fmt: skip
_REFACTOR_OBJECTS = frozenset({"this", "these", "function", "functions", "method", "methods",
                               "class", "code", "snippet", "selection", "selected", "regex",
                               "loop", "it"})  # fmt: skip
# Openers that say what the code must do, so the request is about code in front of the user
# though it names no function or class.
_BEHAVIOUR_VERBS = frozenset({"return", "returns"})
# Verbs an instruction to change code in front of the user opens with, besides "add",
# "change", "support" and their kin.
_EDIT_VERBS = frozenset({"return", "write", "finish", "complete", "use", "convert", "wrap",
                         "encapsulate", "accept", "take", "raise", "sort", "count"})  # fmt: skip


@dataclass(frozen=True)
class Intent:
    """An action the request asks for, and the words that showed it."""

    action: str  # the action id in the rules (explain, refactor, implement)
    evidence: str


def recognise(text: str) -> Intent | None:
    """The action `text` asks for, when it asks for one and nothing contradicts it."""
    words = words_of(text[:600])
    if not words or len(words) > MAX_WORDS:
        return None
    kinds = set(itertools.chain.from_iterable(map(concepts, words)))
    if not kinds.isdisjoint(_CONTRADICTING):
        return None
    first = words[0]
    # "Return the last match" names no code, but only code returns things.
    local = "local" in kinds or not _CODE_OBJECTS.isdisjoint(words) or first in _BEHAVIOUR_VERBS
    if not local or not _WIDE_OBJECTS.isdisjoint(words) or not kinds.isdisjoint(_LARGE):
        return None
    if (first in _EXPLAIN_OPENERS or "explain" in concepts(first)) and not kinds & _CHANGE:
        if first in {"what", "how"} and not _asks_what_it_does(words):
            return None
        return Intent("explain", f"asks what the code does ({' '.join(words[:4])}…)")
    if first in _REFACTOR_VERBS and any(w in _REFACTOR_OBJECTS for w in words):
        return Intent("refactor", f"a refactor of code in front of you ({' '.join(words[:4])}…)")
    # A question ("how should I …?") is not an instruction; "which" in a relative clause is.
    asks = "?" in text or "question" in concepts(first) or "explain" in kinds
    opens_with_change = bool(set(concepts(first)) & _CHANGE) or first in _EDIT_VERBS
    if opens_with_change and not asks and "restructure" not in kinds:
        return Intent("implement", f"a change to code in front of you ({' '.join(words[:4])}…)")
    return None


def _asks_what_it_does(words: Sequence[str]) -> bool:
    # "what does this function do", "how does this regex work", "what is this for"
    rest = set(words[1:6])
    return bool(rest & {"does", "do", "is", "are", "works", "work"})
