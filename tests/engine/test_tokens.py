"""Offline token estimates."""

from modelrouter.tokens import estimate_tokens


def test_empty_is_zero():
    assert estimate_tokens("") == 0


def test_ascii_is_about_four_chars_per_token():
    assert estimate_tokens("abcd" * 25) == 25
    assert estimate_tokens("abcde") == 2


def test_non_ascii_counts_one_token_per_character():
    assert estimate_tokens("修复问题") == 4
    assert estimate_tokens("fix 修复") == 1 + 2


def test_grows_with_length():
    assert estimate_tokens("word " * 1000) > estimate_tokens("word " * 10)
