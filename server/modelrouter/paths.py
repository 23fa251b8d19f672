"""Where ModelRouter keeps what it writes for the user (ledger, provenance, answers)."""

from __future__ import annotations

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
