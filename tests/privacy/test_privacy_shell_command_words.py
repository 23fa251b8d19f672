"""A local-only file named anywhere in a shell command or a patch is found, however the
command wraps it, and no value makes the readers fail."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.privacy import command_words, local_only_reason, patch_paths

GLOBS = [".env*", "*.pem", "*.key", "**/secrets/**", "id_rsa*"]
PROTECTED = st.sampled_from(
    [".env", ".env.prod", "config/.env.local", "server.pem", "deploy/tls.key",
     "app/secrets/token.txt", "/home/u/.ssh/id_rsa", "../.env"]
)  # fmt: skip
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_./", min_size=1, max_size=12)
# How shells put a file name in a command.
WRAPS = st.sampled_from(
    ["{}", "'{}'", '"{}"', "> {}", ">{}", "< {}", "2>>{}", "--file={}", "VAR={}", "$(cat {})",
     "`cat {}`", "{};", "({})", "{}|", "x,{}"]
)  # fmt: skip


def _private(command: object) -> list[str]:
    return [w for w in command_words(command) if local_only_reason([w], GLOBS, resolve=False)]


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(WORD, max_size=6),
    after=st.lists(WORD, max_size=6),
    path=PROTECTED,
    wrap=WRAPS,
    sep=st.sampled_from([" ", "  ", "\t", "\n", " && ", " | ", "; "]),
)
def test_a_protected_file_is_found_wherever_the_command_puts_it(before, after, path, wrap, sep):
    command = sep.join([*before, wrap.format(path), *after])
    assert _private(command), command
    assert _private(["bash", "-lc", command]), command


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        WORD.filter(lambda w: "env" not in w and not w.endswith((".pem", ".key"))), max_size=10
    )
)
def test_benign_words_are_not_protected(words):
    words = [w for w in words if "secrets" not in w and "id_rsa" not in w]
    assert _private(" ".join(words)) == []


@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=8),
        st.integers(),
        st.none(),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    )
)
def test_any_value_is_read_without_failing(value):
    words = command_words(value)
    assert isinstance(words, list) and all(isinstance(w, str) and w for w in words)


def test_a_huge_command_is_read_in_bounded_time():
    words = command_words("echo " + "a" * 10_000_000 + " .env")
    # Only the start is read: the bound keeps a pasted script cheap on the request path.
    assert sum(map(len, words)) <= 20_000


HEADERS = st.sampled_from(
    ["*** Update File: {}", "*** Add File: {}", "*** Delete File: {}", "*** Move to: {}",
     "+++ b/{}", "--- a/{}", "+++ {}"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    path=PROTECTED,
    header=HEADERS,
    body=st.lists(st.text(alphabet=" +-@abcdef=1\t", max_size=30), max_size=8),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_a_patch_naming_a_protected_file_is_found(path, header, body, newline):
    patch = newline.join(["*** Begin Patch", *body, header.format(path), *body, "*** End Patch"])
    found = [p for p in patch_paths(patch) if local_only_reason([p], GLOBS, resolve=False)]
    assert found == [path], patch


@given(st.one_of(st.text(max_size=400), st.integers(), st.none(), st.lists(st.text(), max_size=3)))
def test_any_patch_value_is_read_without_failing(value):
    assert all(isinstance(p, str) and p == p.strip() and p for p in patch_paths(value))
