"""Look-ups in the bounded per-key caches of the request path, done in C.

The classifier keeps what it works out per distinct chunk of text, word, word pair and
feature; a request's keys are nearly all known already, so looking them all up with one
`map` and filling in the few missing ones costs a fraction of a loop over the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any


def looked_up(cache: dict, keys: Sequence[Hashable], compute: Callable[[Any], Any]) -> list:
    """`cache[key]` for each key; `compute(key)` for those missing (it caches them itself,
    up to its own bound)."""
    found = list(map(cache.get, keys))
    if None in found:
        found = [v if v is not None else compute(key) for v, key in zip(found, keys, strict=True)]
    return found
