"""Local-only paths: files whose contents must never leave the machine.

The rules key `privacy.local_only` lists globs (`.env`, `.env.*`, `*.pem`, `**/secrets/**`,
...). A request about such a file, or whose context includes one, may go only to backends
that run on this machine (`BackendConfig.is_local`); when none is usable the request is
refused with the reason.

Glob semantics follow `.gitignore`: a pattern without `/` matches a file or directory name
at any depth (`*.pem`, `.env`); a pattern with `/` matches the path relative to the
workspace root (`config/prod.yaml`, `**/secrets/**`); `*` stays within one path segment
and `**` spans any number. Matching ignores case, so `.ENV` is protected too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse

from modelrouter.config import BackendConfig, PrivacySettings, Rules

__all__ = [
    "PrivacyDecision",
    "is_local_only",
    "local_only_match",
    "local_only_reason",
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
    """The first `local_only` glob that `path` (a file path or `file:` URI) matches, or None."""
    if not path:
        return None
    segments, inside = _relative(str(path), str(workspace) if workspace else None)
    if not segments:
        return None
    rel = "/".join(segments)
    for glob in _globs(rules):
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
) -> str | None:
    """Why a request involving `paths` must stay on this machine, or None when it may leave."""
    for path in paths:
        glob = local_only_match(path, rules, workspace=workspace)
        if glob is not None:
            name = PurePosixPath(_fs_path(str(path)).replace("\\", "/")).name or str(path)
            return f"{name} matches local_only pattern {glob!r}"
    return None


@dataclass(frozen=True)
class PrivacyDecision:
    """Which candidate backends a request may use, and why the others may not."""

    allowed: list[BackendConfig]
    refused: list[tuple[BackendConfig, str]]  # (backend, reason)


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
