"""Redaction on arbitrary text: restoring always gives back the exact original, and no
planted credential survives, wherever it sits and however the text around it looks."""

from __future__ import annotations

import itertools
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.redact import Redactor, StreamRestorer, scan

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
code_text = st.text(alphabet=st.sampled_from(string.printable + "éü—✓"), max_size=300) | st.text(
    max_size=200
)
alnum = string.ascii_letters + string.digits


def key_like(prefix: str, n: int, alphabet: str = alnum) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n).map(lambda s: prefix + s)


planted = st.one_of(
    key_like("sk-proj-", 40),
    key_like("sk-ant-api03-", 60),
    key_like("AIza", 35),
    key_like("ghp_", 36),
    key_like("AKIA", 16, string.ascii_uppercase + string.digits),
)
separators = st.sampled_from([" ", "\n", "'", '"', "=", ": ", "(", ",", "\t", "`"])


@FUZZ
@given(text=code_text)
def test_restore_inverts_redact_exactly(text: str) -> None:
    redactor = Redactor()
    assert redactor.restore(redactor.redact(text)) == text


@FUZZ
@given(
    before=code_text,
    after=code_text,
    secret=planted,
    left=separators,
    right=separators,
)
def test_planted_keys_never_survive(
    before: str, after: str, secret: str, left: str, right: str
) -> None:
    text = f"{before}{left}{secret}{right}{after}"
    redactor = Redactor()
    out = redactor.redact(text)
    assert secret not in out
    assert redactor.count >= 1
    assert redactor.restore(out) == text


@FUZZ
@given(texts=st.lists(code_text, min_size=1, max_size=4), secret=planted)
def test_one_value_one_placeholder_across_messages(texts: list[str], secret: str) -> None:
    redactor = Redactor()
    out = redactor.redact_all([f"{t} {secret} " for t in texts])
    placeholders = {o.split(" ")[-2] for o in out}
    assert len(placeholders) == 1


@FUZZ
@given(text=code_text, secret=planted, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_streamed_restore_matches_whole_restore(text: str, secret: str, cuts: list[int]) -> None:
    redactor = Redactor()
    reply = redactor.redact(f"{text} {secret} {text}")
    points = sorted({c % (len(reply) + 1) for c in cuts})
    edges = [0, *points, len(reply)]
    restorer = StreamRestorer(redactor)
    shown = "".join(restorer.feed(reply[a:b]) for a, b in itertools.pairwise(edges))
    assert shown + restorer.flush() == redactor.restore(reply)


@FUZZ
@given(text=st.text(max_size=2000))
def test_findings_are_ordered_and_disjoint(text: str) -> None:
    findings = scan(text)
    for f in findings:
        assert text[f.start : f.end] == f.value
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start
