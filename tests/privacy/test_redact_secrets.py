"""Secret redaction: every credential shape is found, placeholders are stable and restorable."""

from __future__ import annotations

import random
import string

import pytest
from modelrouter.redact import Redactor, StreamRestorer, scan, shannon_entropy

# Built at run time so the test file itself carries no real-looking key literal.
RNG = random.Random(8)
ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


OPENAI = "sk-proj-" + rand(40)
ANTHROPIC = "sk-ant-api03-" + rand(80)
GOOGLE = "AIza" + rand(35)
GITHUB = "ghp_" + rand(36)
GITHUB_PAT = "github_pat_" + rand(60)
SLACK = "xoxb-" + rand(12, string.digits) + "-" + rand(24)
AWS_ID = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
AWS_SECRET = rand(40, ALNUM + "/+")
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + rand(43)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(rand(64, ALNUM + "+/") for _ in range(4))
    + "\n-----END RSA PRIVATE KEY-----"
)
RANDOM_TOKEN = "Xq9vL2mR7tK4wZ8pB3nJ6yH1cF5dG0sA"

SOURCE = f'''
import os

OPENAI_KEY = "{OPENAI}"
client = Anthropic(api_key="{ANTHROPIC}")
maps_key = '{GOOGLE}'
GH = "{GITHUB}"
pat = "{GITHUB_PAT}"
slack = "{SLACK}"
aws_access_key_id = "{AWS_ID}"
aws_secret_access_key = "{AWS_SECRET}"
session = "{JWT}"
PRIVATE = """{PEM}"""
password = "hunter2!"
DB_URL = "postgres://admin:s3cr3t-pw@db.internal:5432/app"
opaque = "{RANDOM_TOKEN}"
'''

SECRETS = [
    OPENAI,
    ANTHROPIC,
    GOOGLE,
    GITHUB,
    GITHUB_PAT,
    SLACK,
    AWS_ID,
    AWS_SECRET,
    JWT,
    PEM,
    "hunter2!",
    "s3cr3t-pw",
    RANDOM_TOKEN,
]


def test_every_planted_secret_is_redacted_and_restored_exactly() -> None:
    redactor = Redactor()
    redacted = redactor.redact(SOURCE)
    for secret in SECRETS:
        assert secret not in redacted, secret
    # Fragments of the key block must not leak either.
    assert "PRIVATE KEY-----" not in redacted
    assert redactor.count == len(SECRETS)
    assert redactor.restore(redacted) == SOURCE


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (OPENAI, "api_key"),
        (ANTHROPIC, "api_key"),
        (GOOGLE, "api_key"),
        (GITHUB, "api_key"),
        (SLACK, "api_key"),
        (AWS_ID, "aws_key"),
        (JWT, "jwt"),
        (PEM, "private_key"),
    ],
)
def test_known_shapes_are_classified(text: str, kind: str) -> None:
    findings = scan(f"x = {text} # end")
    assert [(f.kind, f.value) for f in findings] == [(kind, text)]


def test_private_key_cut_off_by_trimming_is_still_redacted() -> None:
    truncated = PEM.split("-----END")[0]
    body_line = truncated.splitlines()[2]
    out = Redactor().redact("key = '''" + truncated)
    assert body_line not in out
    assert "BEGIN RSA PRIVATE KEY" not in out


@pytest.mark.parametrize(
    "line",
    [
        "PASSWORD=correct-horse-9",
        "export API_TOKEN=tok_81asd9",
        "db_password: str = 'correct horse battery'",
        '{"client_secret": "abc.def.ghi"}',
        "password: hunter22",
        "SECRET_KEY = 'django-insecure-x8'",
    ],
)
def test_secret_assignments_are_redacted(line: str) -> None:
    redactor = Redactor()
    out = redactor.redact(line)
    assert redactor.count == 1
    assert "REDACTED_" in out
    assert redactor.restore(out) == line


@pytest.mark.parametrize(
    "line",
    [
        'sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
        'id = "123e4567-e89b-12d3-a456-426614174000"',
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "integrity: sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKH"
        "fuwvY7kxvUdBeoGlODJ6+SfaPg==",
        "class AbstractSingletonProxyFactoryBean2Impl: pass",
        "token_type = 'bearer'",
        "password = os.environ['DB_PASSWORD']",
        "token = tokenizer.next_token()",
        "password: str",
        "api_key = ${OPENAI_API_KEY}",
        'password = "{{ vault_password }}"',
        "see https://en.wikipedia.org/wiki/IEEE_754-2008_revision",
        "def test_parse_user_profile_v2_handler_2024(): ...",
    ],
)
def test_ordinary_code_is_left_alone(line: str) -> None:
    assert scan(line) == [], line


def test_lockfile_hashes_are_not_secrets() -> None:
    lock = f'[[package]]\nname = "x"\nchecksum = "{RANDOM_TOKEN}"\nsource = "{rand(48)}"\n'
    assert [f for f in scan(lock, path="/repo/Cargo.lock") if f.kind == "token"] == []
    # The same text in an ordinary file is scanned.
    assert any(f.kind == "token" for f in scan(lock, path="/repo/notes.txt"))


def test_placeholders_are_stable_within_a_request() -> None:
    redactor = Redactor()
    first, second = redactor.redact_all([f"a = '{OPENAI}'", f"b = '{OPENAI}' c = '{GITHUB}'"])
    placeholder = first.split("'")[1]
    assert placeholder.startswith("REDACTED_API_KEY_")
    assert second.count(placeholder) == 1
    assert redactor.count == 2
    assert redactor.restore(second) == f"b = '{OPENAI}' c = '{GITHUB}'"


def test_placeholders_never_collide_with_the_users_text() -> None:
    text = f"literal = 'REDACTED_API_KEY_1'\nkey = '{OPENAI}'"
    redactor = Redactor()
    out = redactor.redact(text)
    assert "REDACTED_API_KEY_1" in out  # the user's literal survives
    assert redactor.restore(out) == text


def test_restore_only_touches_issued_placeholders() -> None:
    redactor = Redactor()
    out = redactor.redact(f"k = '{OPENAI}'")
    placeholder = out.split("'")[1]
    reply = f"k = '{placeholder}'  # also REDACTED_API_KEY_9 and {placeholder}0"
    assert (
        redactor.restore(reply) == f"k = '{OPENAI}'  # also REDACTED_API_KEY_9 and {placeholder}0"
    )


def test_known_values_are_always_redacted() -> None:
    configured = "plain-looking-value"
    redactor = Redactor(known=(configured,))
    assert configured not in redactor.redact(f"the key is {configured}.")


def test_disabled_redactor_changes_nothing() -> None:
    redactor = Redactor(enabled=False)
    assert redactor.redact(SOURCE) == SOURCE
    assert redactor.count == 0


def test_missing_reports_placeholders_the_reply_dropped() -> None:
    redactor = Redactor()
    out = redactor.redact(f"a = '{OPENAI}'; b = '{GITHUB}'")
    kept = out.split("'")[1]
    assert redactor.missing(f"a = '{kept}'") == [out.split("'")[3]]


def test_stream_restorer_handles_placeholders_split_across_chunks() -> None:
    redactor = Redactor()
    redacted = redactor.redact(SOURCE)
    for size in (1, 3, 7, 16):
        restorer = StreamRestorer(redactor)
        chunks = [redacted[i : i + size] for i in range(0, len(redacted), size)]
        shown = "".join(restorer.feed(c) for c in chunks) + restorer.flush()
        assert shown == SOURCE


def test_entropy_separates_random_from_words() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy(RANDOM_TOKEN) > shannon_entropy("passwordpasswordpassword12")
