"""Running the `modelrouter` command line the way a user does: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_modelrouter(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`python -m modelrouter ARGS` with a bare environment: a system PATH plus `env`.

    Nothing else is inherited, so no API key, rules file or data directory of the machine
    running the tests can leak in or be written to.
    """
    return subprocess.run(
        [sys.executable, "-m", "modelrouter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
    )
