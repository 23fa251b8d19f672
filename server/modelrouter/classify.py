"""Classify a free-form request into a tier.

`classify()` is the public entry point used by the CLI, `eval` and the language server.
`classify_rules()` is the rule-based classifier: every route whose filters pass and one of
whose patterns occurs in the request adds its weight to its tier's score; the highest score
wins (ties go to the more capable tier, because under-routing costs a failed edit while
over-routing only costs money). Nothing matching sends the request to `default_tier`.

Patterns, all case-insensitive:
- ``"fix typo"``: a phrase matched on word boundaries;
- ``"refactor*"``: a trailing ``*`` matches any word starting with ``refactor``;
- ``"^bump"``: a leading ``^`` matches only at the start of the request (after an optional
  ``scope:`` / ``[tag]`` / ``type(scope):`` prefix, as in commit subjects);
- ``"修复"``: phrases in scripts written without spaces (CJK) match as substrings;
- ``"re:<regex>"``: a Python regular expression, searched anywhere;
- ``"kind:fix"``: any word of that kind of work, in any language the lexicon of
  `modelrouter.request_words` covers ("fix", "修复", "corrige", "behebt", …).

All patterns are compiled once per `Rules` object, so a request costs a tokenisation plus a
few dictionary look-ups.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from modelrouter.config import Route, Rules
from modelrouter.intents import recognise
from modelrouter.memo import looked_up
from modelrouter.request_words import concepts, words_of
from modelrouter.route_regex import RouteRegex, required_text
from modelrouter.tokens import estimate_tokens

REGEX_PREFIX = "re:"
KIND_PREFIX = "kind:"
# Long pasted code says nothing more about the task than its first few thousand characters.
SCAN_CHARS = 1000
NO_MATCH_CONFIDENCE = 0.3
INTENT_CONFIDENCE = 0.9

_WORD = re.compile(r"\w+")
# Characters that tokenising into words would lose (hyphens, quotes and spaces are harmless).
_SYMBOLS = re.compile(r"[^\w\s\-'*]")
_SPACELESS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# "unix: ", "[CI] ", "feat(http2): ", "area/sub: " before the real start of a commit subject.
_HEAD = re.compile(r"^\s*(?:\[[^\]]{1,30}\]\s*|[\w./\-]{1,30}(?:\([^)]{0,30}\))?!?:\s+)+")


@dataclass(frozen=True)
class Match:
    """One pattern that matched: which route, which tier, how much it weighs."""

    route: str
    tier: str
    pattern: str
    weight: float

    def __str__(self) -> str:
        return f"{self.tier} ← {self.pattern!r} ({self.route}, weight {self.weight:g})"


@dataclass(frozen=True)
class Classification:
    """Where a request should go and why."""

    tier: str
    confidence: float  # 0..1
    reason: str
    source: str = "rules"  # rules | learned | llm | action | default
    matched: list[Match] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # tier -> summed rule weight
    tokens: int = 0  # estimated request size (text + selection)

    def revised(
        self,
        reason: str,
        *,
        tier: str | None = None,
        confidence: float | None = None,
        source: str | None = None,
    ) -> Classification:
        """This classification with another reason (and tier, confidence, source), the
        rules' evidence kept; a third of what `dataclasses.replace` costs per request."""
        return Classification(
            self.tier if tier is None else tier,
            self.confidence if confidence is None else confidence,
            reason,
            self.source if source is None else source,
            self.matched,
            self.scores,
            self.tokens,
        )


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...]  # after the first word; a trailing "*" marks a prefix word
    route: int
    pattern: str
    anchored: bool
    wildcard: bool  # some word after the first is a prefix word


# A word's phrases (by their first word) and its kinds of work as (route, pattern).
_WordRoutes = tuple[tuple[_Phrase, ...], tuple[tuple[int, str], ...]]
# What most words are: no phrase starts with them and no route asks for their kind.
_NO_ROUTES: _WordRoutes = ((), ())


@dataclass
class _CompiledRoute:
    route: Route
    label: str
    languages: frozenset[str]
    paths: tuple[re.Pattern[str], ...]
    always: bool  # no patterns: filters alone decide
    unfiltered: bool  # no size, language or path filter


class CompiledRules:
    """Routes turned into look-up tables; build once per `Rules`."""

    def __init__(self, rules: Rules):
        self.routes: list[_CompiledRoute] = []
        self.exact: dict[str, list[_Phrase]] = {}
        self.prefixes: list[tuple[str, _Phrase]] = []
        self.substrings: list[tuple[str, int, str]] = []
        # User `re:` patterns run with a time bound (RouteRegex); generated ones are safe.
        self.regexes: list[tuple[re.Pattern[str] | RouteRegex, int, str]] = []
        self.kinds: dict[str, list[tuple[int, str]]] = {}  # concept -> (route, pattern)
        self.word_cache: dict[str, _WordRoutes] = {}
        self.always: frozenset[int] = frozenset()  # routes without patterns
        for index, route in enumerate(rules.routes):
            label = (
                route.name or f"route {index + 1} ({route.file.rsplit('/', 1)[-1]}:{route.line})"
            )
            self.routes.append(
                _CompiledRoute(
                    route=route,
                    label=label,
                    languages=frozenset(lang.lower() for lang in route.languages),
                    paths=tuple(_glob(p) for p in route.paths),
                    always=not route.patterns,
                    unfiltered=route.min_tokens is None
                    and route.max_tokens is None
                    and not route.languages
                    and not route.paths,
                )
            )
            for pattern in route.patterns:
                self._add(pattern, index)
        self.always = frozenset(i for i, cr in enumerate(self.routes) if cr.always)
        self.rank = {tier: i for i, tier in enumerate(rules.tiers)}  # 0: the cheapest
        # The regexes' search functions themselves: one call less per pattern and request.
        # With the text each match must contain, to skip a search on ASCII text without it.
        self.searches = [
            (_searcher(rx), required_text(rx.pattern, re.I) or "", index, pattern)
            for rx, index, pattern in self.regexes
        ]
        # (route, pattern) -> the match and how it reads; matches are immutable, so shared.
        self._matches: dict[tuple[int, str], tuple[Match, str]] = {}

    def _add(self, pattern: str, index: int) -> None:
        if pattern.startswith(KIND_PREFIX):
            self.kinds.setdefault(pattern[len(KIND_PREFIX) :].strip(), []).append((index, pattern))
            return
        if pattern.startswith(REGEX_PREFIX):
            self.regexes.append((RouteRegex(pattern[len(REGEX_PREFIX) :], re.I), index, pattern))
            return
        text = pattern.strip().lower()
        anchored = text.startswith("^")
        text = text.lstrip("^").strip()
        if _SPACELESS.search(text):
            self.substrings.append((text, index, pattern))
            return
        words = [w for part in text.split() for w in _split(part)]
        if not words or _SYMBOLS.search(text):
            # Phrases with symbols ("c++", ".md", "console.log") become a regex with a word
            # boundary only on the sides where the phrase itself starts or ends with a letter.
            body = text.rstrip("*")
            rx = re.escape(body)
            if re.match(r"\w", body):
                rx = r"(?<!\w)" + rx
            if re.search(r"\w$", body) and not text.endswith("*"):
                rx += r"(?!\w)"
            self.regexes.append((re.compile(rx, re.I), index, pattern))
            return
        rest = tuple(words[1:])
        phrase = _Phrase(rest, index, pattern, anchored, any(w.endswith("*") for w in rest))
        first = words[0]
        if first.endswith("*"):
            self.prefixes.append((first[:-1], phrase))
        else:
            self.exact.setdefault(first, []).append(phrase)

    def routes_for(self, word: str) -> _WordRoutes:
        """Phrases whose first word matches `word`, and the (route, pattern) of each kind of
        work the word is, in the order they count (cached per distinct word)."""
        found = self.word_cache.get(word)
        if found is None:
            hits = list(self.exact.get(word, ()))
            hits.extend(p for prefix, p in self.prefixes if word.startswith(prefix))
            kinds = tuple(hit for concept in concepts(word) for hit in self.kinds.get(concept, ()))
            found = (tuple(hits), kinds) if hits or kinds else _NO_ROUTES
            if len(self.word_cache) < 100_000:
                self.word_cache[word] = found
        return found

    def match(self, index: int, pattern: str) -> tuple[Match, str]:
        """The match of route `index` by `pattern`, and its text for reasons."""
        found = self._matches.get((index, pattern))
        if found is None:
            cr = self.routes[index]
            m = Match(cr.label, cr.route.tier, pattern, cr.route.weight)
            found = (m, str(m))
            if len(self._matches) < 100_000:
                self._matches[(index, pattern)] = found
        return found


def _split(part: str) -> list[str]:
    star = part.endswith("*")
    words = _WORD.findall(part)
    if star and words:
        words[-1] += "*"
    return words


def _glob(pattern: str) -> re.Pattern[str]:
    # "**/" may match no directory at all, as in gitignore.
    rx = fnmatch.translate(pattern.replace("**/", "\0"))
    return re.compile(rx.replace("\0", "(?:.*/)?"))


def _searcher(rx: re.Pattern[str] | RouteRegex) -> Callable[[str], object]:
    """A function of the text that is truthy when `rx` matches somewhere in it."""
    if isinstance(rx, RouteRegex):
        return rx.search_function()
    return rx.search


def _word_matches(pattern_word: str, word: str) -> bool:
    if pattern_word.endswith("*"):
        return word.startswith(pattern_word[:-1])
    return word == pattern_word


# One compiled form per live Rules object; entries go away with the Rules.
_compiled: dict[int, tuple[weakref.ref[Rules], CompiledRules]] = {}


def compile_rules(rules: Rules) -> CompiledRules:
    """The compiled form of `rules`, built on first use and cached."""
    key = id(rules)
    entry = _compiled.get(key)
    if entry is not None and entry[0]() is rules:
        return entry[1]
    compiled = CompiledRules(rules)
    ref = weakref.ref(rules, lambda _r, key=key: _compiled.pop(key, None))
    _compiled[key] = (ref, compiled)
    return compiled


def _filters_pass(cr: _CompiledRoute, language: str | None, path: str | None, tokens: int) -> bool:
    route = cr.route
    if route.min_tokens is not None and tokens < route.min_tokens:
        return False
    if route.max_tokens is not None and tokens > route.max_tokens:
        return False
    if cr.languages and (language is None or language.lower() not in cr.languages):
        return False
    if cr.paths:
        if path is None:
            return False
        norm = path.replace("\\", "/")
        base = norm.rsplit("/", 1)[-1]
        if not any(p.match(norm) or p.match(base) for p in cr.paths):
            return False
    return True


def classify_rules(
    rules: Rules,
    text: str,
    *,
    language: str | None = None,
    path: str | None = None,
    selection_tokens: int = 0,
) -> Classification:
    """Score `text` against the routes of `rules` and pick a tier."""
    compiled = compile_rules(rules)
    tokens = estimate_tokens(text) + selection_tokens
    scan = text[:SCAN_CHARS]
    lower = scan.lower()
    hits: dict[int, str] = {}  # route index -> first pattern that matched

    head = _HEAD.match(lower)
    # Phrases match ordinary words only: a type named `Debug` or a product name is no intent.
    start = _head_start(scan[: head.end()]) if head else 0
    words = words_of(scan)
    n = len(words)
    singles: list[tuple[int, _Phrase]] = []
    kinds: list[tuple[int, tuple[tuple[int, str], ...]]] = []
    covered: set[int] = set()  # word positions inside a matched phrase of several words
    entries = looked_up(compiled.word_cache, words, compiled.routes_for)
    for i, entry in enumerate(entries):
        if entry is _NO_ROUTES:
            continue
        phrases, word_kinds = entry
        if word_kinds:
            kinds.append((i, word_kinds))
        for phrase in phrases:
            if phrase.route in hits or (phrase.anchored and i != start):
                continue
            rest = phrase.words
            if rest:
                if i + len(rest) >= n:
                    continue
                if not phrase.wildcard:
                    if words[i + 1 : i + 1 + len(rest)] != rest:
                        continue
                elif not all(_word_matches(pw, words[i + 1 + k]) for k, pw in enumerate(rest)):
                    continue
                cr = compiled.routes[phrase.route]
                if cr.unfiltered or _filters_pass(cr, language, path, tokens):
                    covered.update(range(i, i + len(rest) + 1))
                hits[phrase.route] = phrase.pattern
            else:
                singles.append((i, phrase))
    # A word that is part of a longer matched phrase ("debug" in "debug print statements")
    # is that phrase's evidence, not a second opinion.
    for i, phrase in singles:
        if phrase.route not in hits and i not in covered:
            hits[phrase.route] = phrase.pattern
    for i, word_kinds in kinds:
        if i in covered:
            continue
        for index, pattern in word_kinds:
            if index not in hits:
                hits[index] = pattern
    if compiled.substrings and not lower.isascii() and _SPACELESS.search(lower):
        for sub, index, pattern in compiled.substrings:
            if index not in hits and sub in lower:
                hits[index] = pattern
    ascii_text = scan.isascii()
    for search, needed, index, pattern in compiled.searches:
        if index in hits or (needed and ascii_text and needed not in lower):
            continue
        if search(scan):
            hits[index] = pattern

    shown: list[tuple[Match, str]] = []  # each match and how it reads
    scores: dict[str, float] = {}
    # Only the routes that matched or need no pattern, in the rules' order.
    for index in sorted(hits.keys() | compiled.always if compiled.always else hits):
        cr = compiled.routes[index]
        if not (cr.unfiltered or _filters_pass(cr, language, path, tokens)):
            continue
        route = cr.route
        pattern = hits.get(index)
        if pattern is None:
            pattern = _filter_label(route)
        shown.append(compiled.match(index, pattern))
        scores[route.tier] = scores.get(route.tier, 0.0) + route.weight

    if not scores:
        return Classification(
            tier=rules.default_tier,
            confidence=NO_MATCH_CONFIDENCE,
            reason=f"no route matched; default tier {rules.default_tier}",
            source="default",
            tokens=tokens,
        )
    if len(scores) == 1:
        tier = next(iter(scores))
    else:
        rank = compiled.rank
        # Highest score; on a tie, the more capable tier.
        tier = max(scores, key=lambda t: (scores[t], rank[t]))
    top = scores[tier]
    total = sum(scores.values())
    confidence = round(min(0.99, max(0.05, top / (total + 0.5))), 3)
    if len(shown) > 1:
        shown.sort(key=lambda ms: (ms[0].tier != tier, -ms[0].weight))
    matched = [m for m, _ in shown]
    winner = matched[0]
    others = [text for _, text in shown[1:]]
    reason = f"{winner.pattern!r} ({winner.route}) → {tier}"
    if others:
        reason += "; also matched: " + ", ".join(others)
    return Classification(
        tier=tier,
        confidence=confidence,
        reason=reason,
        source="rules",
        matched=matched,
        scores=scores,
        tokens=tokens,
    )


_head_starts: dict[str, int] = {}


def _head_start(head: str) -> int:
    """How many ordinary words a commit subject's head ("feat(cli): ") holds; heads repeat
    across requests, so each is scanned once."""
    found = _head_starts.get(head)
    if found is None:
        found = len(words_of(head))
        if len(_head_starts) < 10_000:
            _head_starts[head] = found
    return found


def _filter_label(route: Route) -> str:
    parts = []
    if route.languages:
        parts.append("language " + "/".join(route.languages))
    if route.paths:
        parts.append("path " + "/".join(route.paths))
    return " and ".join(parts) or "filters"


def classify(
    rules: Rules,
    text: str,
    *,
    language: str | None = None,
    path: str | None = None,
    selection_tokens: int = 0,
) -> Classification:
    """Classify a free-form request with the classifier the rules select.

    `rules.classifier.mode`: "rules" (patterns only), "learned" (the learned model alone),
    or "hybrid" (rules when confident, else the learned model with the rules' evidence).
    The learned model is loaded on first use, never at import. Before either, a request
    that asks for exactly what one of the rules' actions does ("explain this regex",
    "refactor this class into smaller functions") goes to that action's tier
    (`modelrouter.intents`).
    """
    by_rules = classify_rules(
        rules, text, language=language, path=path, selection_tokens=selection_tokens
    )
    by_action = classify_intent(rules, text, by_rules.tokens)
    if by_action is not None:
        return by_action
    mode = rules.classifier.mode
    if mode == "rules":
        return by_rules
    return _learned().classify_hybrid(rules, text, by_rules, use_rules=mode == "hybrid")


@functools.cache
def _learned() -> ModuleType:
    # Imported on first use, not at start-up; cached, as an import statement costs a
    # microsecond per request.
    import modelrouter.learned

    return modelrouter.learned


def classify_intent(rules: Rules, text: str, tokens: int = 0) -> Classification | None:
    """The tier of the action `text` asks for, when it asks for one the rules define with
    a fixed tier; None otherwise."""
    intent = recognise(text)
    if intent is None:
        return None
    action = rules.actions.get(intent.action)
    if action is None or action.tier not in rules.tiers:
        return None
    return Classification(
        tier=action.tier,
        confidence=INTENT_CONFIDENCE,
        reason=f"like the {action.title} action (tier {action.tier}): {intent.evidence}",
        source="action",
        tokens=tokens,
    )
