--- ModelRouter: LLM code actions, each sent to the cheapest model that can do it.
---
--- A thin layer over Neovim's built-in LSP client: it starts `modelrouter lsp`, and turns
--- `:ModelRouter {action}` into the server's `modelrouter.*` commands. Edits come back as
--- `workspace/applyEdit`, progress as `$/progress` (|LspProgress|), provenance as hover.
---
--- This module holds the configuration and the public API; the work is done in
--- `modelrouter.client` (start-up, 0.10/0.11 shims), `modelrouter.range` (columns and
--- ranges), `modelrouter.jobs` (running commands), `modelrouter.command` (`:ModelRouter`),
--- `modelrouter.status` (statusline), `modelrouter.answer`, `modelrouter.actions`,
--- `modelrouter.stats` and `modelrouter.doctor`.
local M = {}

---@class modelrouter.Config
---@field cmd string[] Command that starts the server.
---@field filetypes string[]|nil Filetypes to attach to; nil means every file.
---@field root_markers string[] Files that mark the workspace root.
---@field settings table Sent as initializationOptions and the "modelrouter" settings section:
---                      rulesFile, confirmEdits, designFolder, logFile.
---@field wait boolean|nil Block `:ModelRouter` until the edit is applied. nil: only when no
---                       UI is attached (scripts: `nvim --headless +'%ModelRouter fix-typo' +wq`).
---@field timeout integer Milliseconds to wait for the server to start, and for a blocking run.
local defaults = {
  cmd = { 'modelrouter', 'lsp' },
  filetypes = nil,
  root_markers = { '.modelrouter.yaml', '.git' },
  settings = {},
  wait = nil,
  timeout = 300000,
}

---@type modelrouter.Config
M.config = vim.deepcopy(defaults)

--- Configures and starts the server. Every option has a default, so `setup()` alone works
--- when `modelrouter` is on PATH.
---@param opts? modelrouter.Config
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  -- Lists replace, not merge.
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts and opts[key] then
      M.config[key] = opts[key]
    end
  end
  -- plugin/ is not sourced when the runtimepath gains this plugin after startup.
  if vim.fn.exists(':ModelRouter') ~= 2 then
    vim.g.loaded_modelrouter = nil
    vim.cmd.runtime('plugin/modelrouter.lua')
  end
  require('modelrouter.client').enable()
end

--- The ModelRouter client attached to `bufnr`, or any running one when `bufnr` is nil.
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.client(bufnr)
  return require('modelrouter.client').get(bufnr)
end

--- Runs a rules action (`fix-typo`, `implement`, ...) on a range of a buffer. An action that
--- needs an instruction (`ask`) prompts with |vim.ui.input()| when none is given.
---@param action string action id from the rules
---@param opts? {bufnr?: integer, range?: integer[], instruction?: string, wait?: boolean,
---              on_done?: fun(err, result)}
---  `range` is `{start_row, start_col, end_row, end_col}`, 0-based bytes, end exclusive;
---  default: the current line.
function M.run(action, opts)
  return require('modelrouter.jobs').run(action, opts)
end

--- Carries out a free-form instruction on a range (the `ask` action); prompts with
--- |vim.ui.input()| when {instruction} is nil or empty.
---@param instruction string|nil
---@param opts? table as for |modelrouter.run()|
function M.ask(instruction, opts)
  return M.run('ask', vim.tbl_extend('force', opts or {}, { instruction = instruction }))
end

--- Re-runs the request that wrote the code under the cursor one tier up.
---@param opts? {bufnr?: integer, wait?: boolean, on_done?: fun(err, result)}
function M.redo(opts)
  return require('modelrouter.jobs').redo(opts)
end

--- Cancels every running ModelRouter job; nothing they would have written is applied.
--- Goes through the server's `modelrouter.cancel`, so jobs started from code actions stop
--- too, and each cancelled `:ModelRouter` run still gets its (not applied) result.
function M.cancel()
  return require('modelrouter.jobs').cancel()
end

--- Shows usage, spend and savings from the ledger.
---@param since string|nil e.g. "7d" (default), "30d", "1d"
function M.stats(since)
  return require('modelrouter.jobs').stats(since)
end

--- Formats a `modelrouter.stats` summary as lines of text.
---@param s table
---@param since string
---@return string[]
function M.format_stats(s, since)
  return require('modelrouter.stats').format(s, since)
end

--- Action ids for completion: the server's actions (cached) and the built-in commands.
---@return string[]
function M.action_names()
  return require('modelrouter.actions').names()
end

--- A short string for statuslines: the model working now, else the last model and today's
--- spend; empty when the server is not running.
---@return string
function M.status()
  return require('modelrouter.status').text(M.client(vim.api.nvim_get_current_buf()) or M.client())
end

--- The server's `modelrouter.doctor` report. Asks the running server for `bufnr` when there
--- is one, else runs `modelrouter doctor --json`.
---@param bufnr integer|nil
---@return table|nil report
---@return string|nil error
function M.doctor(bufnr)
  return require('modelrouter.doctor').report(bufnr)
end

--- The server's version string, from `modelrouter --version`.
---@return string|nil
function M.server_version()
  return require('modelrouter.doctor').server_version()
end

return M
