"""Password shapes that slipped through: URLs with no user or with an unencoded `/` or `#` in
the password, and passwords written as prose; and a request text holding a secret is never
stored in the ledger, even when it carries a routing label."""

from __future__ import annotations

import re
import sqlite3
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.backends.base import Message, Usage
from modelrouter.engine import Attempt, Job, Outcome
from modelrouter.ledger import Ledger, build_entry
from modelrouter.redact import Redactor, scan

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("REDIS_URL=redis://:Kq8sPw3xZ@cache.internal:6379/0", "Kq8sPw3xZ"),
        ("url = 'rediss://:Kq8sPw3xZ@cache.internal'", "Kq8sPw3xZ"),
        ("postgres://app:pa/ss#w0rd@db.internal:5432/app", "pa/ss#w0rd"),
        ("mysql://root:a#b/c9@10.0.0.5/db", "a#b/c9"),
        ("amqp://guest:x/y/z1@rabbit:5672", "x/y/z1"),
        ("the password is hunter2!", "hunter2"),
        ("Log in as admin, password Tr0ub4dor&3, then restart.", "Tr0ub4dor&3"),
        ("Password: CorrectHorse9", "CorrectHorse9"),
        ("my passphrase was s3cr3t-words.", "s3cr3t-words"),
        ("the db_password is pw-Lq84Jd72Ks.", "pw-Lq84Jd72Ks"),
    ],
)
def test_new_password_shapes_are_found_and_restored(text, secret):
    assert secret in {f.value for f in scan(text)}
    redactor = Redactor()
    out = redactor.redact(text)
    assert secret not in out
    assert redactor.restore(out) == text


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com:443/users/@alice",
        "see http://localhost:8080/docs@latest",
        "git@github.com:org/repo.git",
        "ssh://git@host:22/repo",
        "a password reset flow",
        "the password is required",
        "Password hashing uses bcrypt.",
        "pass the value to the parser",
        "password = get_password()",
        "the password is REDACTED_PASSWORD_1",
        "reset your password (Ctrl+P)",
    ],
)
def test_lookalikes_are_left_alone(text):
    assert scan(text) == []


password = st.text(alphabet=string.ascii_letters + string.digits + "/#!%&*-_", min_size=6).filter(
    lambda p: (
        any(c.isdigit() for c in p)
        and any(c.isalpha() for c in p)
        and p[0].isalnum()
        # `user:8080/path@` reads as a port and a path, not a password: the one shape left alone
        and not re.match(r"\d+[/?]", p)
    )
)
user = st.sampled_from(["", "app", "root", "svc-user"])
scheme = st.sampled_from(["redis", "rediss", "postgres", "mysql", "amqp", "mongodb"])
host = st.sampled_from(["db.internal", "10.0.0.5", "cache", "db.internal:5432"])
prose = st.sampled_from(["password {}", "the password is {}", "Password: {}", "pwd {}"])
around = st.text(alphabet=string.ascii_letters + " \n.,", max_size=60)


@FUZZ
@given(before=around, after=around, s=scheme, u=user, p=password, h=host)
def test_planted_url_passwords_never_survive(before, after, s, u, p, h):
    text = f"{before} {s}://{u}:{p}@{h}/x {after}"
    redactor = Redactor()
    out = redactor.redact(text)
    assert f":{p}@" not in out
    assert redactor.restore(out) == text


@FUZZ
@given(before=around, after=around, shape=prose, p=password)
def test_planted_prose_passwords_never_survive(before, after, shape, p):
    p = p.rstrip("/#!%&*-_")
    text = f"{before}\n{shape.format(p)} {after}"
    redactor = Redactor()
    out = redactor.redact(text)
    assert p not in out.split()
    assert redactor.restore(out) == text


def _outcome(job: Job) -> Outcome:
    return Outcome(
        text="answer",
        backend="cloud",
        model="m",
        tier=job.tier,
        reason="r",
        attempts=[Attempt("cloud", "m", "ok")],
        usage=Usage(3, 3),
        cost_usd=0.0,
        top_tier_cost_usd=0.0,
        latency_s=0.1,
        first_token_s=0.05,
    )


@pytest.mark.parametrize(
    "text",
    [
        "connect with the password is hunter2! and fix the retry",
        "use redis://:Kq8sPw3xZ@cache.internal for the cache",
        "the key configured-key-value-42 fails",
        'fix this: API_TOKEN = "tok-Hs82Kd91Lq"',
    ],
)
def test_labelled_request_text_with_a_secret_is_not_stored(tmp_path, text):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    job = Job([Message("user", text)], tier="debug", tier_override="debug")
    entry = build_entry(job, outcome=_outcome(job), keys=["configured-key-value-42"])
    entry_id = ledger.record(entry)
    clean = Job([Message("user", "design a cache")], tier="debug", tier_override="debug")
    ledger.record(build_entry(clean, outcome=_outcome(clean)))
    ledger.close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    stored = dict(db.execute("SELECT id, prompt FROM requests"))
    assert stored[entry_id] is None
    assert "design a cache" in stored.values()
    dump = "\n".join(db.iterdump())
    for piece in ("hunter2", "Kq8sPw3xZ", "configured-key-value-42", "tok-Hs82Kd91Lq"):
        assert piece not in dump
