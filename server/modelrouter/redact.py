"""Secret redaction: find credentials in outgoing text, swap them for placeholders, put them back.

A `Redactor` lives for one request. Each distinct secret value gets one placeholder
(`REDACTED_API_KEY_1`, `REDACTED_PASSWORD_2`, ...) that stays the same everywhere it
appears in that request, so the model can still see that two places use the same value.
`restore` puts the original values back into the model's reply, so an edit written from
redacted context leaves the user's file with its real values.

What counts as a secret (see `scan`):
- provider API keys with a known shape (OpenAI/DeepSeek `sk-`, Anthropic `sk-ant-`, Google
  `AIza`, GitHub `ghp_`/`github_pat_`, Slack `xox?-`, Stripe, Hugging Face, npm, PyPI);
- AWS access key ids, and AWS secret keys next to their usual names;
- private key blocks (PEM, OpenSSH, PGP), even when cut off before their END line;
- JSON Web Tokens; passwords inside URLs (`scheme://user:password@host`, also with no user
  or an unencoded `/` or `#` in the password); passwords written as prose ("the password
  is hunter2!");
- values assigned to secret-looking names (`password = "..."`, `API_TOKEN=...`,
  `"client_secret": "..."`);
- other long high-entropy tokens. Hex strings (hashes, commit ids), UUIDs, integrity hashes
  (`sha512-...`) and anything in a lockfile are left alone: they are checksums, not secrets.
"""

from __future__ import annotations

import json
import keyword
import math
import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

__all__ = [
    "Finding",
    "Redactor",
    "StreamRestorer",
    "hide_values",
    "scan",
    "scrub",
    "shannon_entropy",
]


@dataclass(frozen=True)
class Finding:
    """One secret found in a text: `text[start:end] == value`."""

    kind: str  # api_key, aws_key, private_key, jwt, password, secret, token
    start: int
    end: int
    value: str


# Known shapes: (kind, literal prefixes, pattern). Each pattern is tried only where one of
# its prefixes occurs (`str.find` is far cheaper than a regex attempt at every position).
# Order matters only for ties: the first listed wins an exact overlap.
_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA")
_KNOWN: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (kind, prefixes, re.compile(pattern))
    for kind, prefixes, pattern in (
        (
            "private_key",
            ("-----BEGIN",),
            # A whole key block; a block cut off before its END line (context trimmed)
            # is redacted up to the end of its base64 body.
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            r"|(?:[\s\\]|\\n|[A-Za-z0-9+/=:,-])*)",
        ),
        ("api_key", ("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        ("api_key", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        ("api_key", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}"),
        ("api_key", ("gh",), r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}"),
        ("api_key", ("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{22,255}"),
        ("api_key", ("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("api_key", ("k_live_", "k_test_"), r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("api_key", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}"),
        ("api_key", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}"),
        ("api_key", ("pypi-AgE",), r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
        ("api_key", ("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}"),
        (
            "aws_key",
            (*_AWS_PREFIXES, "APKA"),
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",
        ),
        ("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    )
)


def _known_shapes(text: str) -> list[Finding]:
    found: list[Finding] = []
    for kind, prefixes, pattern in _KNOWN:
        for prefix in prefixes:
            # `k_live_` is found one character in: the pattern starts at the `s`/`r` before.
            back = 1 if prefix.startswith("k_") else 0
            at = text.find(prefix)
            while at != -1:
                m = pattern.match(text, max(0, at - back))
                if m is not None:
                    value = m.group(0).rstrip() if kind == "private_key" else m.group(0)
                    found.append(Finding(kind, m.start(), m.start() + len(value), value))
                at = text.find(prefix, at + 1)
    return found


# The AWS secret access key has no prefix: recognise it by the name it is stored under.
_AWS_SECRET = re.compile(
    r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*(?:[:=]|:=|=>)\s*[\"']?"
    r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)

# Password in a URL: postgres://user:PASSWORD@host, redis://:PASSWORD@host (no user). People
# paste passwords with an unencoded `/` or `#`, so the value runs to the `@` that is followed
# by a host; `host:8080/path@x` is a port and a path, not a password (see `scan`).
_URL_PASSWORD = re.compile(
    r"\b[a-z][a-z0-9+.-]*://[^\s:/@\"'`]*:(?P<value>[^\s@\"'`]{3,256}?)@"
    r"(?=[A-Za-z0-9\[][A-Za-z0-9.\-\[\]:]*(?:[/?#\s\"'`,;)]|$))"
)
# A password written as prose: "password hunter2", "the password is X", "pwd: X".
_PROSE_PASSWORD = re.compile(
    r"(?i)(?P<name>[A-Za-z0-9_.-]*?(?:password|passphrase|passwd|pwd))"
    r"(?:[ \t]+(?:is|was)|[ \t]*:)?[ \t]+[\"'`]?(?P<value>[^\s\"'`]{3,128})"
)

# Secret-looking names; the name must END with one of these words (`token_type` is not one).
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey"
    r"|access[_-]?key|auth[_-]?key|private[_-]?key|secret[_-]?key|signing[_-]?key"
    r"|encryption[_-]?key|client[_-]?secret|credentials?|auth)"
)
# name [: type] (= | : | := | =>) "value"   — covers Python, JS/TS, Go, YAML, JSON, TOML.
_QUOTED_ASSIGN = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(?P<name>" + _SECRET_NAME + r")[\"']?"
    r"(?:\s*:\s*[A-Za-z_][\w\[\], .|]*?)?\s*(?::=|=>|==?|:)\s*"
    r"(?P<q>[\"'`])(?P<value>(?:(?!(?P=q))[^\\\n]|\\.){1,512}?)(?P=q)"
)
# .env / shell / INI / YAML style without quotes: NAME=value, export NAME=value, name: value.
# In code the same shape is usually an expression (`token = next_token()`); see `_bare_value_ok`.
_BARE_ASSIGN = re.compile(
    r"(?im)^[ \t]*(?:export[ \t]+)?(?P<name>" + _SECRET_NAME + r")(?P<sep>[ \t]*(?:=|:)[ \t]*)"
    r"(?P<value>[^\s\"'`#][^\s\"'`]{2,511})[ \t]*(?:#.*)?$"
)
_CODE_CHARS = re.compile(r"[()\[\]{},;]|^[A-Z]\w*$|\.\w+\(")


def _bare_value_ok(name: str, sep: str, value: str) -> bool:
    """Whether an unquoted assigned value is a literal secret rather than code."""
    if _CODE_CHARS.search(value):
        return False  # calls, subscripts, collections, type names
    if sep == "=" and name.isupper():
        return True  # NAME=value: .env and shell files
    # `token = next_token` in code is a variable; a literal secret has a digit or a symbol.
    return not re.fullmatch(r"[A-Za-z_][A-Za-z_.]*", value)


def _url_password_ok(value: str) -> bool:
    """Whether the `user:VALUE@` part of a URL is a password, not `host:port/path@...`."""
    if _NOT_A_VALUE.match(value):
        return False
    head = re.split(r"[/?]", value, maxsplit=1)[0]
    return head == value or not head.isdigit()


def _prose_passwords(text: str) -> list[tuple[int, str]]:
    """Passwords written in sentences: "password hunter2!", "the password is Tr0ub4dor".

    Prose mentions passwords without giving one far more often ("password reset", "the
    password is required"), so only a value that does not read as a word counts: it has a
    digit or a symbol, or capitals past its first letter.
    """
    found: list[tuple[int, str]] = []  # (start, value)
    lowered = text.translate(_ASCII_LOWER)
    starts: set[int] = set()
    for word in ("pass", "pwd"):
        at = lowered.find(word)
        while at != -1:
            start = at
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
                start -= 1
            starts.add(start)
            at = lowered.find(word, at + 1)
    for start in sorted(starts):
        m = _PROSE_PASSWORD.match(text, start)
        if m is None:
            continue
        value = m.group("value").rstrip(".,;:!?)]}")
        if len(value) < 4 or value in _KEYWORDS or _NOT_A_VALUE.match(value):
            continue
        if re.search(r"[()\[\]{},;]|\.\w+\(", value) or value.startswith(("=", "$", "<")):
            continue
        wordy = value.isalpha() and (value[1:].islower() or value.isupper())
        if wordy:
            continue
        found.append((m.start("value"), value))
    return found


_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential", "auth")
# ASCII-only lower-casing keeps every offset where it was (str.lower() may not).
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# Values that are not secrets: references, templates, placeholders and obvious non-values.
_NOT_A_VALUE = re.compile(
    r"""(?ix)^(?:
        \$\{?[\w.]*\}?        # $VAR, ${VAR}
      | \{\{.*\}\} | \{%.*%\} | <[^>]*> | %[sd] | \{\w*\}   # templates
      | (?:true|false|null|none|nil|undefined|bearer|basic|string|str|bytes|required|optional)
      | (?:os\.|process\.env|env\.|getenv|environ|settings\.|config\.|self\.|this\.).*
      | \*+ | x+ | \.+ | -+
      | \#[0-9a-f]{3,8}        # colours
      | [\d.]+                 # numbers, versions, OIDs
      | REDACTED_\w+
    )$"""
)

_KEYWORDS = frozenset(keyword.kwlist) | {"function", "const", "let", "var", "async", "await"}
_FORMAT = re.compile(r"%[-#0 +]?\d*[sdrif]|\{\d*\}|\{[a-z_]+\}")
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,512}={0,3}(?![A-Za-z0-9+/_=-])")
_HEX = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Checksums announce themselves: sha256:..., sha512-..., integrity: ..., "hash": ...
_HASH_CONTEXT = re.compile(
    r"(?i)(?:sha1|sha224|sha256|sha384|sha512|md5|blake2b?|integrity|checksum|hash|digest"
    r"|commit|rev|revision|etag|nonce|sri)[\"']?\s*[:=\-]?\s*[\"']?(?:[\w+-]*[:-])?$"
)
LOCKFILE_NAMES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "pipfile.lock",
        "uv.lock",
        "pdm.lock",
        "cargo.lock",
        "go.sum",
        "gemfile.lock",
        "composer.lock",
        "flake.lock",
        "packages.lock.json",
        "bun.lock",
        "mix.lock",
        "pubspec.lock",
        "podfile.lock",
    }
)

# Shannon entropy (bits per character) a token needs, for its length. Random base62 text
# reaches about log2(n) for short n and ~5.7 for long n; identifiers and words stay well below.
_ENTROPY_CAP = 4.2
_ENTROPY_SHORT_FACTOR = 0.82


def shannon_entropy(text: str) -> float:
    """Shannon entropy of `text` in bits per character (0.0 for the empty string)."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _looks_random(token: str) -> bool:
    """True for a token that looks like a generated credential rather than code or a hash."""
    core = token.strip("=")
    n = len(core)
    if n < 20 or n > 512:
        return False
    if _HEX.match(core) or _UUID.search(core):
        return False  # hashes, commit ids and UUIDs are identifiers, not credentials
    has_lower = any(c.islower() for c in core)
    has_upper = any(c.isupper() for c in core)
    digits = sum(c.isdigit() for c in core)
    if not (has_lower and has_upper and digits):
        return False  # words, CONSTANTS and long CamelCase identifiers
    if "/" in core and all(part.isalpha() or not part for part in re.split(r"[/_.-]", core)):
        return False
    # Identifiers keep their digits together (`v2`, `2024`); generated tokens scatter them.
    if len(re.findall(r"\d+", core)) < 2:
        return False
    # Identifiers are made of words: long lowercase runs cover most of them, rarely so in
    # generated text.
    if sum(len(run) for run in re.findall(r"[a-z]{3,}", core)) > 0.5 * n:
        return False
    # Snake/kebab identifiers: mostly lowercase words joined by separators.
    words = re.split(r"[_-]", core)
    if len(words) >= 3 and all(w.isalpha() or w.isdigit() or not w for w in words):
        return False
    threshold = min(_ENTROPY_CAP, _ENTROPY_SHORT_FACTOR * math.log2(n))
    return shannon_entropy(core) >= threshold


def _is_lockfile(path: str | None) -> bool:
    return bool(path) and PurePosixPath(str(path).replace("\\", "/")).name.lower() in LOCKFILE_NAMES


def _assignments(text: str) -> list[re.Match[str]]:
    """Matches of the assignment patterns, tried only where a secret-looking word occurs.

    Running them over the whole text costs a backtracking attempt at every position; code
    mentions these words rarely, so starting at each mention's identifier is far cheaper.
    """
    matches: list[re.Match[str]] = []
    tried: set[tuple[int, re.Pattern[str]]] = set()
    lowered = text.translate(_ASCII_LOWER)
    hits = []
    for word in _SECRET_WORDS:
        at = lowered.find(word)
        while at != -1:
            hits.append(at)
            at = lowered.find(word, at + 1)
    for start in sorted(hits):
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            start -= 1
        line_start = text.rfind("\n", 0, start) + 1
        for at, pattern in ((start, _QUOTED_ASSIGN), (line_start, _BARE_ASSIGN)):
            if (at, pattern) in tried:
                continue
            tried.add((at, pattern))
            m = pattern.match(text, at)
            if m is not None:
                matches.append(m)
    return matches


def scan(text: str, *, path: str | None = None, known: Iterable[str] = ()) -> list[Finding]:
    """Every secret in `text`, in order, without overlaps.

    `path` (the file the text comes from, if any) turns off the entropy check for lockfiles.
    `known` are exact values that must always be treated as secrets (e.g. the configured API
    keys), whatever they look like.
    """
    found = _known_values(text, known)
    found += _known_shapes(text)
    for m in _AWS_SECRET.finditer(text):
        found.append(Finding("aws_key", m.start("value"), m.end("value"), m.group("value")))
    at = text.find("://")
    while at != -1:
        start = at
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "+.-"):
            start -= 1
        m = _URL_PASSWORD.match(text, start)
        if m is not None and _url_password_ok(m.group("value")):
            found.append(Finding("password", m.start("value"), m.end("value"), m.group("value")))
        at = text.find("://", at + 3)
    for start, value in _prose_passwords(text):
        found.append(Finding("password", start, start + len(value), value))
    for m in _assignments(text):
        value = m.group("value")
        if (
            len(value) < 3
            or _NOT_A_VALUE.match(value.strip())
            or value in _KEYWORDS
            or not re.search(r"\w", value)
        ):
            continue
        if value.lower() == m.group("name").lower() or _FORMAT.search(value):
            continue
        if m.re is _BARE_ASSIGN and not _bare_value_ok(m.group("name"), m.group("sep"), value):
            continue
        name = m.group("name").lower()
        kind = "password" if ("pass" in name or name.endswith("pwd")) else "secret"
        found.append(Finding(kind, m.start("value"), m.end("value"), value))
    if not _is_lockfile(path):
        for m in _TOKEN.finditer(text):
            token = m.group(0)
            if not _looks_random(token):
                continue
            before = text[max(0, m.start() - 24) : m.start()]
            if _HASH_CONTEXT.search(before):
                continue
            if "/" in token and before[-1:] in (".", "/", ":", "~"):
                continue  # a URL or file path
            found.append(Finding("token", m.start(), m.end(), token))
    return _without_overlaps(found)


def _known_values(text: str, known: Iterable[str]) -> list[Finding]:
    found: list[Finding] = []
    for value in known:
        if value and len(value) >= 4:
            start = text.find(value)
            while start != -1:
                found.append(Finding("api_key", start, start + len(value), value))
                start = text.find(value, start + len(value))
    return found


def scrub(text: str, *, known: Iterable[str] = ()) -> str:
    """`text` with every secret replaced by `[redacted]`: for error messages and logs."""
    findings = scan(text, known=[k for k in known if k])
    for f in reversed(findings):
        text = text[: f.start] + "[redacted]" + text[f.end :]
    return text


def hide_values(text: str, values: Iterable[str]) -> str:
    """`text` with each of `values` (e.g. the configured API keys) replaced by `[key hidden]`."""
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, "[key hidden]")
    return text


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    # Earliest first; at the same start the longest wins; stable sort keeps list order on ties.
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    end = -1
    for f in found:
        if f.start >= end:
            kept.append(f)
            end = f.end
    return kept


_PLACEHOLDER_KIND = {
    "api_key": "API_KEY",
    "aws_key": "AWS_KEY",
    "private_key": "PRIVATE_KEY",
    "jwt": "JWT",
    "password": "PASSWORD",
    "secret": "SECRET",
    "token": "TOKEN",
}


@dataclass
class Redactor:
    """Redacts secrets for one request and restores them in the reply.

    The same value always maps to the same placeholder within one `Redactor`; placeholders
    never collide with text already present in what was redacted.
    """

    known: tuple[str, ...] = ()  # exact values always redacted (configured API keys)
    enabled: bool = True  # False: only the `known` values are redacted
    _by_value: dict[str, str] = field(default_factory=dict, repr=False)
    _by_placeholder: dict[str, str] = field(default_factory=dict, repr=False)
    _prefix: str = field(default="REDACTED_", repr=False)
    _restore_re: re.Pattern[str] | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        """How many distinct secret values were redacted so far."""
        return len(self._by_value)

    @property
    def placeholders(self) -> dict[str, str]:
        """Placeholder -> kind label, for display (never the values)."""
        return {p: p[len(self._prefix) :].rsplit("_", 1)[0] for p in self._by_placeholder}

    def redact(self, text: str, *, path: str | None = None) -> str:
        """`text` with every secret replaced by its placeholder."""
        if not text or not (self.enabled or self.known):
            return text
        self._choose_prefix([text])
        if self.enabled:
            findings = scan(text, path=path, known=self.known)
        else:
            findings = _without_overlaps(_known_values(text, self.known))
        if not findings:
            return text
        out: list[str] = []
        pos = 0
        for f in findings:
            out.append(text[pos : f.start])
            out.append(self._placeholder_for(f))
            pos = f.end
        out.append(text[pos:])
        return "".join(out)

    def redact_all(self, texts: list[str], *, path: str | None = None) -> list[str]:
        """Redact several texts of one request (e.g. every message), sharing placeholders."""
        self._choose_prefix(texts)
        return [self.redact(text, path=path) for text in texts]

    def restore(self, text: str, *, in_json: bool = False) -> str:
        """`text` with every placeholder this redactor issued replaced by its original value.

        `in_json`: `text` is JSON (tool-call arguments), so a placeholder sits inside a JSON
        string and its value is escaped there; a `"` or `\\` in a secret must not break it.
        """
        if not self._by_placeholder or not text:
            return text
        assert self._restore_re is not None
        if in_json:
            return self._restore_re.sub(
                lambda m: _json_string_body(self._by_placeholder[m.group(0)]), text
            )
        return self._restore_re.sub(lambda m: self._by_placeholder[m.group(0)], text)

    def missing(self, text: str) -> list[str]:
        """Placeholders issued for secrets that do not come back in `text` (for warnings)."""
        return [p for p in self._by_placeholder if p not in text]

    def _choose_prefix(self, texts: list[str]) -> None:
        # Placeholders must not collide with text the user already has: if the input already
        # contains the prefix, pick another one before issuing anything.
        if self._by_value:
            return
        n = 0
        while any(self._prefix in t for t in texts):
            n += 1
            self._prefix = f"REDACTED{n}_"

    def _placeholder_for(self, f: Finding) -> str:
        existing = self._by_value.get(f.value)
        if existing:
            return existing
        placeholder = f"{self._prefix}{_PLACEHOLDER_KIND.get(f.kind, 'SECRET')}_{self.count + 1}"
        self._by_value[f.value] = placeholder
        self._by_placeholder[placeholder] = f.value
        # Longest first so REDACTED_TOKEN_1 never eats the front of REDACTED_TOKEN_12.
        names = sorted(self._by_placeholder, key=len, reverse=True)
        self._restore_re = re.compile("(?:" + "|".join(map(re.escape, names)) + r")(?![0-9])")
        return placeholder


def _json_string_body(value: str) -> str:
    """`value` escaped as the inside of a JSON string (without the quotes)."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


class StreamRestorer:
    """Restores placeholders in streamed text, holding back a chunk tail that may be cut mid-way.

    Feed chunks with `feed`; call `flush` at the end of the stream. `in_json`: the stream
    is JSON (tool-call arguments), values are restored JSON-escaped.
    """

    def __init__(self, redactor: Redactor, *, in_json: bool = False) -> None:
        self._redactor = redactor
        self._in_json = in_json
        self._pending = ""
        self._longest = max((len(p) for p in redactor._by_placeholder), default=0)

    def feed(self, chunk: str) -> str:
        """Text that is safe to show now, with placeholders restored."""
        if not self._longest:
            return chunk
        text = self._pending + chunk
        # Hold back from the last position where a placeholder could be starting.
        cut = len(text)
        start = max(0, len(text) - self._longest)
        idx = text.find(self._redactor._prefix[:1], start)
        while idx != -1:
            tail = text[idx:]
            if any(p.startswith(tail) for p in self._redactor._by_placeholder):
                cut = idx
                break
            idx = text.find(self._redactor._prefix[:1], idx + 1)
        ready, self._pending = text[:cut], text[cut:]
        return self._redactor.restore(ready, in_json=self._in_json)

    def flush(self) -> str:
        """Whatever is still held back, restored."""
        text, self._pending = self._pending, ""
        return self._redactor.restore(text, in_json=self._in_json)
