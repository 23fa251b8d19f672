"""Local-only paths: files whose contents must never leave the machine.

The rules key `privacy.local_only` lists globs (`.env`, `.env.*`, `*.pem`, `**/secrets/**`,
...). A request about such a file, or whose context includes one, may go only to backends
that run on this machine (`BackendConfig.is_local`); when none is usable the request is
refused with the reason.

Glob semantics follow `.gitignore`: a pattern without `/` matches a file or directory name
at any depth (`*.pem`, `.env`); a pattern with `/` matches the path relative to the
workspace root (`config/prod.yaml`, `**/secrets/**`); `*` stays within one path segment
and `**` spans any number. Matching ignores case, so `.ENV` is protected too.

A file on this machine is matched as named and with its symlinks resolved, so neither a link
`notes.txt → .env` nor a linked folder `cfg → secrets/` lets a protected file out. Editor
documents that are not files here (`untitled:`, `git:`, `vscode-remote:`, ...) are matched on
their URI's path; one whose URI names no path at all stays on the machine, since nothing
shows it is not a protected file (`document_local_only_reason`).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse, urlsplit

from modelrouter.config import BackendConfig, PrivacySettings, Rules

__all__ = [
    "PrivacyDecision",
    "command_words",
    "document_local_only_reason",
    "is_local_only",
    "local_only_match",
    "local_only_reason",
    "patch_paths",
    "split_candidates",
]


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate one `.gitignore`-style glob to a regex over a `/`-separated relative path."""
    pat = pattern.strip().replace("\\", "/")
    anchored = "/" in pat.rstrip("/")
    pat = pat.lstrip("/")
    if pat.endswith("/"):
        pat += "**"  # `secrets/` protects everything inside
    out: list[str] = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pat.startswith("/**", i) and i + 3 == len(pat):
            out.append("(?:/.*)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pat.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pat[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    body = "".join(out)
    # Unanchored patterns match a name at any depth; a match on a directory covers its contents.
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"{prefix}{body}(?:/.*)?", re.IGNORECASE | re.DOTALL)


def _fs_path(path: str) -> str:
    """A file path from a path or `file:` URI."""
    if path.startswith("file:"):
        path = unquote(urlparse(path).path)
        if re.match(r"^/[A-Za-z]:/", path):
            path = path[1:]  # file:///C:/x -> C:/x
    return path


def _relative(path: str, workspace: str | None) -> tuple[list[str], bool]:
    """Path segments of `path`, relative to `workspace` when inside it; and whether it was."""
    path = _fs_path(path)
    windows = bool(re.match(r"^[A-Za-z]:[\\/]", path))
    p: PurePath = PureWindowsPath(path) if windows else PurePosixPath(path)
    inside = False
    if workspace:
        ws = _fs_path(workspace)
        if not p.is_absolute():
            p = (PureWindowsPath(ws) if windows else PurePosixPath(ws)) / p  # relative to it
        try:
            p = p.relative_to(PureWindowsPath(ws) if windows else PurePosixPath(ws))
            inside = True
        except ValueError:
            pass
    parts = [part for part in p.parts if part not in ("/", "\\") and not part.endswith(":\\")]
    return parts, inside


def _globs(rules_or_settings: Rules | PrivacySettings | Iterable[str]) -> tuple[str, ...]:
    if isinstance(rules_or_settings, Rules):
        return tuple(rules_or_settings.privacy.local_only)
    if isinstance(rules_or_settings, PrivacySettings):
        return tuple(rules_or_settings.local_only)
    return tuple(rules_or_settings)


def local_only_match(
    path: str | PurePath | None,
    rules: Rules | PrivacySettings | Iterable[str],
    *,
    workspace: str | PurePath | None = None,
) -> str | None:
    """The first `local_only` glob that `path` (a file path or a URI) matches, or None.

    A local file matches when its name as given or its real path (symlinks resolved) does.
    """
    found = _first_match(path, rules, workspace)
    return found[0] if found else None


def _first_match(
    path: str | PurePath | None,
    rules: Rules | PrivacySettings | Iterable[str],
    workspace: str | PurePath | None,
    resolve: bool = True,
) -> tuple[str, str | None] | None:
    """(glob, the resolved path when only that matched) for the first match, or None."""
    if not path:
        return None
    globs = _globs(rules)
    views = _views(str(path), str(workspace) if workspace else None)
    if not resolve:
        views = itertools.islice(views, 1)  # as named: no look at the disk
    for candidate, base, resolved in views:
        glob = _match(candidate, globs, base)
        if glob is not None:
            return glob, candidate if resolved else None
    return None


def _scheme(text: str) -> str | None:
    """The URI scheme of `text` (lower case), or None for a plain path (`C:\\x` included)."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):", text)
    return m.group(1).lower() if m else None


def _views(path: str, workspace: str | None) -> Iterator[tuple[str, str | None, bool]]:
    """(path, workspace, is-resolved) spellings of one location to match the globs against."""
    scheme = _scheme(path)
    if scheme not in (None, "file"):
        # untitled:, git:, vscode-remote://host/..., ...: the URI's path is the file's path.
        try:
            yield unquote(urlsplit(path).path), workspace, False
        except ValueError:
            yield path, workspace, False
        return
    yield path, workspace, False
    fs = _fs_path(path)
    if re.match(r"^[A-Za-z]:[\\/]", fs) or "\0" in fs:
        return  # a Windows path named on another system; nothing to resolve here
    ws = _fs_path(workspace) if workspace else None
    joined = fs if os.path.isabs(fs) else os.path.join(ws or os.getcwd(), fs)
    try:
        real = os.path.realpath(joined)
        real_ws = os.path.realpath(ws) if ws else None
    except (OSError, ValueError):
        return
    if real != os.path.normpath(joined):
        yield real, real_ws, True


# A string's verdict depends on nothing but the strings: an agent's conversation repeats its
# tool calls' paths on every turn, and each costs tens of microseconds to match.
@lru_cache(maxsize=4096)
def _match(path: str, globs: tuple[str, ...], workspace: str | None) -> str | None:
    segments, inside = _relative(path, workspace)
    if not segments:
        return None
    rel = "/".join(segments)
    for glob in globs:
        if not glob.strip():
            continue
        regex = _glob_regex(glob)
        if inside or "/" not in glob.strip().strip("/"):
            if regex.fullmatch(rel):
                return glob
        # Outside the workspace, a pattern with a `/` may match any trailing part of the path.
        elif any(regex.fullmatch("/".join(segments[i:])) for i in range(len(segments))):
            return glob
    return None


def is_local_only(
    path: str | PurePath | None,
    rules: Rules | PrivacySettings | Iterable[str],
    *,
    workspace: str | PurePath | None = None,
) -> bool:
    """True when the file at `path` must never be sent to a backend that is not local."""
    return local_only_match(path, rules, workspace=workspace) is not None


def local_only_reason(
    paths: Iterable[str | PurePath | None],
    rules: Rules | PrivacySettings | Iterable[str],
    *,
    workspace: str | PurePath | None = None,
    resolve: bool = True,
) -> str | None:
    """Why a request involving `paths` must stay on this machine, or None when it may leave.
    `resolve=False` matches the paths as named only (words of a command, not files here)."""
    for path in paths:
        found = _first_match(path, rules, workspace, resolve)
        if found is not None:
            glob, resolved = found
            name = PurePosixPath(_fs_path(str(path)).replace("\\", "/")).name or str(path)
            if resolved is not None:
                return f"{name} is a link to {resolved}, which matches local_only pattern {glob!r}"
            return f"{name} matches local_only pattern {glob!r}"
    return None


def document_local_only_reason(
    uri: str,
    rules: Rules | PrivacySettings | Iterable[str],
    *,
    workspace: str | PurePath | None = None,
) -> str | None:
    """Why the editor document at `uri` must stay on this machine, or None when it may leave.

    Besides the `local_only` globs (see `local_only_match`), a document whose URI does not
    say where it comes from (no path: `untitled:`, an opaque or unreadable URI) stays too.
    """
    scheme = _scheme(uri)
    if scheme is not None and scheme != "file":
        try:
            where = unquote(urlsplit(uri).path)
        except ValueError:
            where = ""
        if not where.strip("/ "):
            shown = uri if len(uri) <= 60 else uri[:57] + "..."
            return f"the document's origin cannot be established ({shown})"
    return local_only_reason([uri], rules, workspace=workspace)


@dataclass(frozen=True)
class PrivacyDecision:
    """Which candidate backends a request may use, and why the others may not."""

    allowed: list[BackendConfig]
    refused: list[tuple[BackendConfig, str]]  # (backend, reason)


# A command longer than this is checked on its first words only: the bound keeps a pasted
# script from costing unbounded time on the request path.
_COMMAND_CHARS = 16_384
# Shell syntax around a file name: redirections, pipes, `--flag=`, `VAR=`, quotes.
_COMMAND_SPLIT = re.compile(r"[\s;&|()<>`'\"=,]+")


def command_words(command: object) -> list[str]:
    """The words of a shell command (a string, or an argv list) that could name a file:
    `cat .env`, `sed -i s/a/b/ config/.env.prod`, `echo x > secrets/key.pem`,
    `["bash", "-lc", "grep -r k ."]`. Over-inclusive on purpose: a word that only looks like
    a file name at worst keeps a request on a local backend."""
    if isinstance(command, list):
        text = " ".join(c for c in command if isinstance(c, str))
    elif isinstance(command, str):
        text = command
    else:
        return []
    return [w for w in _COMMAND_SPLIT.split(text[:_COMMAND_CHARS]) if w and w[0] != "-"]


# A patch is read this far for the files it names (C-speed search; patches carry whole files).
_PATCH_CHARS = 4 * 1024 * 1024
# The files a patch names: apply_patch's own headers and unified diff headers.
_PATCH_FILE = re.compile(
    r"^(?:\*\*\* (?:Add|Update|Delete) File: |\*\*\* Move to: |(?:---|\+\+\+) (?:[ab]/)?)"
    r"([^\r\n]+)",
    re.MULTILINE,
)


def patch_paths(patch: object) -> list[str]:
    """The files a patch names: `*** Update File: app/.env` (Codex's apply_patch) and
    `+++ b/app/.env` (unified diffs)."""
    if not isinstance(patch, str):
        return []
    return [p.strip() for p in _PATCH_FILE.findall(patch[:_PATCH_CHARS]) if p.strip()]


def split_candidates(candidates: Iterable[BackendConfig], reason: str | None) -> PrivacyDecision:
    """Keep only local backends when `reason` (from `local_only_reason`) says it is private."""
    allowed: list[BackendConfig] = []
    refused: list[tuple[BackendConfig, str]] = []
    for backend in candidates:
        if reason is None or backend.is_local:
            allowed.append(backend)
        else:
            refused.append((backend, f"not local; {reason}"))
    return PrivacyDecision(allowed, refused)
