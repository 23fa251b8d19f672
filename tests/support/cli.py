"""Running the `modelrouter` command line the way a user does: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


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


def ask_rules(tmp_path: Path, fake: Any) -> str:
    """A rules file whose one tier, `feature`, is an Anthropic backend with an OpenAI fallback."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        backends:
          primary:
            type: anthropic
            base_url: "{fake.base_url("anthropic", "primary")}"
            model: claude-test
            price: {{input: 3, output: 15}}
          fallback:
            type: openai
            base_url: "{fake.base_url("openai", "fallback")}"
            model: gpt-test
            price: {{input: 1, output: 2}}
        tiers:
          feature: [primary, fallback]
        default_tier: feature
        """)
    )
    return str(path)
