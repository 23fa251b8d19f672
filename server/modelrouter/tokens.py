"""Offline token estimates.

Exact counts need the provider's tokenizer (and often a download); routing and cost estimates
only need a close, fast figure. English prose and code average about four characters per
token for current BPE tokenizers; characters outside ASCII (CJK, accented text, emoji) cost
roughly one token each.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Approximate number of tokens in `text` (0 for empty text). Pure, no network, O(n) in C."""
    if not text:
        return 0
    if text.isascii():
        return -(-len(text) // CHARS_PER_TOKEN)
    ascii_chars = len(text.encode("ascii", "ignore"))
    other = len(text) - ascii_chars
    return -(-ascii_chars // CHARS_PER_TOKEN) + other
