"""Where ModelRouter keeps what it writes for the user (ledger, provenance, answers)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DATA_DIR_ENV = "MODELROUTER_DATA_DIR"


def data_dir() -> Path:
    """Where ModelRouter keeps its data: ``$MODELROUTER_DATA_DIR`` or the user data dir."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    # Imported here: most commands never need it, and start-up time counts for the server.
    import platformdirs

    return Path(platformdirs.user_data_dir("modelrouter", appauthor=False))


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the user alone: mode 0600 in a 0700 folder.

    What goes here (answers, conversations) may quote the user's code and its secrets. The
    file is replaced atomically; raises OSError.
    """
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # a folder an older version created 0755
    tmp = folder / f".{path.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
