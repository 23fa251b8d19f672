"""What every test that runs a real Neovim shares: where the plugin and `nvim` are, and an
environment of its own (home, XDG folders, data dir) so no user config leaks in."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "clients" / "neovim"
BIN = Path(sys.executable).parent
SEARCH_PATH = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
NVIM = shutil.which("nvim", path=SEARCH_PATH)


def nvim_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a test Neovim: its own home, data dir and the plugin's path."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELROUTER_", "NVIM", "VIM"))}
    env.update(
        PATH=SEARCH_PATH,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        MODELROUTER_DATA_DIR=str(tmp_path / "data"),
        MODELROUTER_PLUGIN=str(PLUGIN),
        FAKE_CLOUD_KEY="test-key-not-secret",
        **extra,
    )
    return env
