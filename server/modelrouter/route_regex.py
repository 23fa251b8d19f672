"""Regular expressions from the rules (`re:` route patterns), matched with a time bound.

Python's `re` backtracks: a pattern like `(a+)+$` takes exponential time on a short text
(28 characters, 13 s), which would freeze routing and the language server's event loop.
Each pattern is checked once, when the rules are compiled (`backtracking_risk`):

- patterns that cannot backtrack catastrophically (nothing repeated inside a repetition,
  no repeated alternation of overlapping branches, no adjacent repetitions of overlapping
  characters, no backreferences) run on `re`, as fast as before — the shipped rules are all
  of this kind;
- the others run on the `regex` module (same syntax and Unicode semantics as `re`, so a
  user's rules mean what they meant) with a timeout; a pattern that hits it is switched off
  for the rest of the process with one warning, so its cost is paid once.

A linear-time engine (RE2) was the alternative; it rejects lookarounds and backreferences
and its `\\w` is ASCII-only, so existing routes would silently match differently.
`modelrouter rules check` reports the risky patterns as warnings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

try:  # Python 3.11+
    from re import _compiler as sre_compile  # type: ignore[attr-defined]
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_compile  # type: ignore[no-redef]
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

__all__ = ["MATCH_TIMEOUT_S", "RouteRegex", "backtracking_risk", "required_text"]

log = logging.getLogger(__name__)

MATCH_TIMEOUT_S = 0.05  # per search, for patterns that may backtrack catastrophically

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_SINGLE = {
    sre_constants.LITERAL,
    sre_constants.NOT_LITERAL,
    sre_constants.ANY,
    sre_constants.IN,
    sre_constants.CATEGORY,
}
# Characters sampled to decide whether two single-character matchers can overlap.
_SAMPLE = [chr(c) for c in range(0x250)] + ["\u00a0", "\u2028", "\u4e00", "\U0001f600"]


def backtracking_risk(pattern: str, flags: int = re.IGNORECASE) -> str | None:
    """Why `pattern` may take exponential (or high polynomial) time, or None when it cannot.

    A static check on the parsed pattern; errs on the side of "risky" for constructs it
    cannot reason about. A pattern `re` cannot parse gives None (the rules loader reports it).
    """
    try:
        tree = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        return None
    return _risk(list(tree), flags)


def required_text(pattern: str, flags: int = re.IGNORECASE) -> str | None:
    """Lower-case ASCII text that every match of `pattern` contains, for a case-insensitive
    pattern (the longest run of plain characters in its top-level sequence), or None.

    On ASCII text, `required_text(p) not in text.lower()` proves that `p` cannot match
    without running it: `re`'s case-insensitive search tries every position once a pattern
    starts with a lookbehind or an alternation, which costs microseconds on a long request.
    """
    try:
        tree = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        return None
    if not tree.state.flags & re.IGNORECASE:
        return None
    best, run = "", ""
    for op, av in tree:
        if op == sre_constants.LITERAL and av < 128:
            run += chr(av).lower()
            best = max(best, run, key=len)
        else:
            run = ""
    return best or None


def _risk(items: list[tuple[Any, Any]], flags: int) -> str | None:
    # Unbounded single-character repetitions earlier in this sequence that could still take
    # over the text up to here (`.*` before `a`): one overlapping the next repetition makes
    # the split between them ambiguous, which backtracks polynomially (`.*a.*a.*a`).
    reach: list[tuple[Any, Any]] = []
    for op, av in items:
        why = None
        if op == sre_constants.GROUPREF or op == sre_constants.GROUPREF_EXISTS:
            return "it uses a backreference"
        if op in _REPEATS:
            _low, high, sub = av
            body = list(sub)
            repeats = high > 1
            if repeats and _varies(body):
                return "a repeated group contains another repetition or an alternation, like (a+)+"
            if high == sre_constants.MAXREPEAT:
                single = len(body) == 1 and body[0][0] in _SINGLE
                if reach and (not single or any(_overlap(r, body[0], flags) for r in reach)):
                    return "two repetitions can match the same text, like \\s*\\s* or .*a.*"
                reach = [body[0]] if single else []
            else:
                reach = []
            why = _risk(body, flags)
        elif op in _SINGLE:
            reach = [r for r in reach if _covers(r, (op, av), flags)]
        elif op == sre_constants.AT:
            pass  # anchors match no text
        else:
            reach = []
            if op == sre_constants.SUBPATTERN:
                why = _risk(list(av[-1]), flags)
            elif op == sre_constants.BRANCH:
                for branch in av[1]:
                    why = why or _risk(list(branch), flags)
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                why = _risk(list(av[1]), flags)
        if why:
            return why
    return None


def _varies(items: list[tuple[Any, Any]]) -> bool:
    """Whether `items` can match text of different lengths or ways (a repeat or branch)."""
    for op, av in items:
        if op in _REPEATS:
            low, high, sub = av
            if high != low or _varies(list(sub)):
                return True
        elif op == sre_constants.BRANCH:
            branches = [list(b) for b in av[1]]
            if not all(len(b) == 1 and b[0][0] in _SINGLE for b in branches):
                return True
        elif op == sre_constants.SUBPATTERN:
            if _varies(list(av[-1])):
                return True
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT) and _varies(list(av[1])):
            return True
    return False


def _overlap(a: tuple[Any, Any], b: tuple[Any, Any], flags: int) -> bool:
    """Whether two single-character matchers accept a common character."""
    first, second = _matcher(a, flags), _matcher(b, flags)
    return any(first(c) and second(c) for c in _SAMPLE)


def _covers(a: tuple[Any, Any], b: tuple[Any, Any], flags: int) -> bool:
    """Whether matcher `a` accepts every character `b` accepts (so `a*` can run past `b`)."""
    first, second = _matcher(a, flags), _matcher(b, flags)
    return all(first(c) for c in _SAMPLE if second(c))


_MATCHERS: dict[tuple[str, int], Any] = {}


def _matcher(item: tuple[Any, Any], flags: int) -> Any:
    key = (repr(item), flags)
    found = _MATCHERS.get(key)
    if found is None:
        state = sre_parse.State()
        state.flags = flags
        compiled = sre_compile.compile(sre_parse.SubPattern(state, [item]), flags)
        found = _MATCHERS[key] = lambda c: compiled.fullmatch(c) is not None
    return found


class RouteRegex:
    """One `re:` pattern: `search(text)` says whether it matches, in bounded time."""

    def __init__(self, pattern: str, flags: int = re.IGNORECASE) -> None:
        self.pattern = pattern
        self.risk = backtracking_risk(pattern, flags)
        self.disabled = False  # set after a search timed out
        self._fast: re.Pattern[str] | None = None
        self._bounded: Any = None
        if self.risk is None:
            self._fast = re.compile(pattern, flags)
        else:
            import regex  # only for risky patterns: it is not needed on the fast path

            self._bounded = regex.compile(pattern, regex.IGNORECASE if flags & re.I else 0)

    def search_function(self) -> Callable[[str], object]:
        """A function of the text, truthy when the pattern matches: `re`'s own search for a
        safe pattern, else `search`."""
        return self._fast.search if self._fast is not None else self.search

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text` (False once it has timed out)."""
        if self._fast is not None:
            return self._fast.search(text) is not None
        if self.disabled:
            return False
        try:
            return self._bounded.search(text, timeout=MATCH_TIMEOUT_S) is not None
        except TimeoutError:
            self.disabled = True
            log.warning(
                "route pattern %r took longer than %g s (%s); it is switched off until the "
                "rules are reloaded — run `modelrouter rules check`",
                self.pattern,
                MATCH_TIMEOUT_S,
                self.risk,
            )
            return False
