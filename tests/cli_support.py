"""Running the `modelrouter` command line the way a user does: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_modelrouter(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`python -m modelrouter ARGS` with a bare environment: a system PATH plus `env`.

    Nothing else is inherited, so no API key, rules file or data directory of the machine
    running the tests can leak in or be written to. The data directory is the test's own
    (`$MODELROUTER_DATA_DIR`, set per test by conftest) unless `env` names another.
    """
    private = {k: v for k, v in os.environ.items() if k == "MODELROUTER_DATA_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "modelrouter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **private, **env},
    )
