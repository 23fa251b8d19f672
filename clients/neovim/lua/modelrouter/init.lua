--- ModelRouter: LLM code actions, each sent to the cheapest model that can do it.
---
--- A thin layer over Neovim's built-in LSP client: it starts `modelrouter lsp`, and turns
--- `:ModelRouter {action}` into the server's `modelrouter.*` commands. Edits come back as
--- `workspace/applyEdit`, progress as `$/progress` (|LspProgress|), provenance as hover.
local M = {}

local api = vim.api
local NAME = 'modelrouter'
local has_011 = vim.fn.has('nvim-0.11') == 1

--- Commands handled here rather than by a rules action.
local BUILTINS = { 'ask', 'cancel', 'redo', 'stats' }

--- LSP error code of a request the client cancelled.
local REQUEST_CANCELLED = -32800

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

local state = {
  ---@type table<integer, table> client id -> last `modelrouter/status` payload
  status = {},
  ---@type table<integer, {items: table[], at: number}> client id -> `modelrouter.actions`
  actions = {},
}

local function notify(msg, level)
  vim.notify('ModelRouter: ' .. msg, level or vim.log.levels.INFO)
end

--- `client:request()` on 0.11+, `client.request()` on 0.10.
local function request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function execute(client, command, args, handler, bufnr)
  return request(
    client,
    'workspace/executeCommand',
    { command = command, arguments = args },
    handler,
    bufnr
  )
end

local function as_object(t)
  return (t == nil or next(t) == nil) and vim.empty_dict() or t
end

--- The ModelRouter client attached to `bufnr`, or any running one when `bufnr` is nil.
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.client(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr, name = NAME })) do
    if client.initialized then
      return client
    end
  end
end

--- True when a client for `bufnr` exists but has not finished initializing.
local function starting(bufnr)
  local filter = { bufnr = bufnr, name = NAME, _uninitialized = true }
  for _, client in ipairs(vim.lsp.get_clients(filter)) do
    if not client.initialized then
      return true
    end
  end
  return false
end

local function should_wait(opts)
  if opts.wait ~= nil then
    return opts.wait
  end
  if M.config.wait ~= nil then
    return M.config.wait
  end
  return #api.nvim_list_uis() == 0
end

local lsp_config

--- Starts (or reuses) the server for a file buffer: on 0.10 from the FileType autocmd, and
--- on any version for a buffer that has none yet, e.g. one without a filetype, which never
--- gets the FileType event that normally starts it.
local function start_for(bufnr)
  local filetypes = M.config.filetypes
  if vim.bo[bufnr].buftype ~= '' then
    return false
  end
  if filetypes and not vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  local config = has_011 and vim.lsp.config[NAME] and vim.deepcopy(vim.lsp.config[NAME])
    or lsp_config()
  if type(config.root_dir) ~= 'string' then
    config.root_dir = vim.fs.root(bufnr, M.config.root_markers) or vim.fn.getcwd()
  end
  config.root_markers = nil
  return vim.lsp.start(config, { bufnr = bufnr }) ~= nil
end

--- Calls `fn(client)` once the server is attached to `bufnr` and initialized, or
--- `on_fail()` when it cannot be attached or does not start in time.
local function with_client(bufnr, fn, on_fail)
  local client = M.client(bufnr)
  if not client and not starting(bufnr) and start_for(bufnr) then
    client = M.client(bufnr)
  end
  if client then
    return fn(client)
  end
  if not starting(bufnr) then
    notify(
      'the server is not attached to this buffer (see :checkhealth modelrouter)',
      vim.log.levels.ERROR
    )
    return on_fail()
  end
  local done = false
  api.nvim_create_autocmd('LspAttach', {
    buffer = bufnr,
    callback = function(args)
      local c = vim.lsp.get_client_by_id(args.data.client_id)
      if done or not c or c.name ~= NAME then
        return
      end
      done = true
      vim.schedule(function()
        fn(c)
      end)
      return true
    end,
  })
  vim.defer_fn(function()
    if not done then
      done = true
      notify('the server did not start in time', vim.log.levels.ERROR)
      on_fail()
    end
  end, math.min(M.config.timeout, 30000))
end

--- Byte column -> LSP character offset in the client's position encoding.
local function lsp_position(bufnr, row, col, encoding)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  col = math.max(0, math.min(col, #line))
  if encoding == 'utf-8' then
    return { line = row, character = col }
  end
  if has_011 then
    return { line = row, character = vim.str_utfindex(line, encoding, col, false) }
  end
  local utf32, utf16 = vim.str_utfindex(line, col)
  return { line = row, character = encoding == 'utf-16' and utf16 or utf32 }
end

local function encoding_of(client)
  return client.offset_encoding or 'utf-16'
end

local function line_length(bufnr, row)
  return #(api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or '')
end

--- The byte range `{start_row, start_col, end_row, end_col}` (0-based, end exclusive) a
--- `:ModelRouter` invocation covers: the current line, a line range, or a charwise visual
--- selection when the range is exactly `'<,'>`.
local function command_range(bufnr, cmd)
  if cmd.range == 0 then
    local row = api.nvim_win_get_cursor(0)[1] - 1
    return { row, 0, row, line_length(bufnr, row) }
  end
  local srow, erow = cmd.line1 - 1, cmd.line2 - 1
  local vs, ve = api.nvim_buf_get_mark(bufnr, '<'), api.nvim_buf_get_mark(bufnr, '>')
  if cmd.range == 2 and vim.fn.visualmode() == 'v' and vs[1] - 1 == srow and ve[1] - 1 == erow then
    local last = api.nvim_buf_get_lines(bufnr, erow, erow + 1, false)[1] or ''
    local ecol = math.min(ve[2], #last)
    -- '> marks the first byte of the last selected character; the range ends after it.
    ecol = ecol + #vim.fn.strcharpart(last:sub(ecol + 1), 0, 1)
    return { srow, vs[2], erow, ecol }
  end
  return { srow, 0, erow, line_length(bufnr, erow) }
end

local function to_lsp_range(bufnr, r, encoding)
  return {
    start = lsp_position(bufnr, r[1], r[2], encoding),
    ['end'] = lsp_position(bufnr, r[3], r[4], encoding),
  }
end

--- Reports the result of `modelrouter.run` / `modelrouter.redo`. A result with nothing
--- applied is not repeated: the server already said why (window/showMessage), and a
--- cancellation is reported by |modelrouter.cancel()|.
local function report(err, result)
  if err then
    if err.code == REQUEST_CANCELLED then
      notify('cancelled, nothing changed')
    else
      notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
    end
  elseif type(result) == 'table' and result.applied then
    local who = (result.model and result.model ~= vim.NIL) and (' [' .. result.model .. ']') or ''
    notify((result.message or 'applied') .. who)
  end
end

--- Sends a long-running command and reports its outcome; blocks when asked to.
local function start_job(bufnr, opts, command, build_args)
  local finished = false
  local function run(client)
    local ok = execute(client, command, build_args(client), function(err, result)
      finished = true
      report(err, result)
      if opts.on_done then
        opts.on_done(err, result)
      end
    end, bufnr)
    if not ok then
      finished = true
      notify('the server has stopped', vim.log.levels.ERROR)
    end
  end
  with_client(bufnr, run, function()
    finished = true
  end)
  if should_wait(opts) then
    vim.wait(M.config.timeout, function()
      return finished
    end, 20)
  end
end

local function find_action(client, id)
  local cached = state.actions[client.id]
  for _, a in ipairs(cached and cached.items or {}) do
    if a.id == id then
      return a
    end
  end
end

--- Runs a rules action (`fix-typo`, `implement`, ...) on a range of a buffer. An action that
--- needs an instruction (`ask`) prompts with |vim.ui.input()| when none is given.
---@param action string action id from the rules
---@param opts? {bufnr?: integer, range?: integer[], instruction?: string, wait?: boolean,
---              on_done?: fun(err, result)}
---  `range` is `{start_row, start_col, end_row, end_col}`, 0-based bytes, end exclusive;
---  default: the current line.
function M.run(action, opts)
  opts = vim.deepcopy(opts or {})
  local bufnr = opts.bufnr or api.nvim_get_current_buf()
  -- Capture the range now: a prompt may move the cursor.
  local r = opts.range or command_range(bufnr, { range = 0 })
  local client = M.client(bufnr)
  local meta = client and find_action(client, action)
  if meta and meta.disabled and meta.disabled ~= vim.NIL then
    notify(('%s is unavailable: %s'):format(action, meta.disabled), vim.log.levels.WARN)
    return
  end
  local function go(instruction)
    start_job(bufnr, opts, 'modelrouter.run', function(c)
      return {
        {
          action = action,
          uri = vim.uri_from_bufnr(bufnr),
          range = to_lsp_range(bufnr, r, encoding_of(c)),
          instruction = instruction,
        },
      }
    end)
  end
  local needs = action == 'ask' or (meta and meta.needs_instruction == true)
  if not needs or (opts.instruction and opts.instruction ~= '') then
    return go(opts.instruction)
  end
  vim.ui.input({ prompt = ('ModelRouter %s: '):format(action) }, function(input)
    if input and input ~= '' then
      go(input)
    end
  end)
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
  opts = opts or {}
  local bufnr = opts.bufnr or api.nvim_get_current_buf()
  local cursor = api.nvim_win_get_cursor(0)
  start_job(bufnr, opts, 'modelrouter.redo', function(client)
    return {
      {
        uri = vim.uri_from_bufnr(bufnr),
        position = lsp_position(bufnr, cursor[1] - 1, cursor[2], encoding_of(client)),
      },
    }
  end)
end

--- Cancels every running ModelRouter job; nothing they would have written is applied.
--- Goes through the server's `modelrouter.cancel`, so jobs started from code actions stop
--- too, and each cancelled `:ModelRouter` run still gets its (not applied) result.
function M.cancel()
  local clients = vim.lsp.get_clients({ name = NAME })
  if #clients == 0 then
    notify('the server is not running', vim.log.levels.WARN)
    return
  end
  for _, client in ipairs(clients) do
    execute(client, 'modelrouter.cancel', {}, function(err, result)
      if err then
        notify(err.message, vim.log.levels.ERROR)
      else
        local n = type(result) == 'table' and result.cancelled or 0
        notify(('cancelled %d job(s), nothing changed'):format(n))
      end
    end)
  end
end

local function money(x)
  return ('$%.4f'):format(tonumber(x) or 0)
end

--- Formats a `modelrouter.stats` summary as lines of text.
---@param s table
---@param since string
---@return string[]
function M.format_stats(s, since)
  local function n(v)
    return tonumber(v) or 0
  end
  local lines = {
    ('Usage, last %s: %d requests (%d answered, %d failed, %d cancelled)'):format(
      since,
      n(s.requests),
      n(s.ok),
      n(s.failed),
      n(s.cancelled)
    ),
    ('spend %s, saved %s against the top tier, fallback rate %.1f%%'):format(
      money(s.spend_usd),
      money(s.saved_usd),
      100 * n(s.fallback_rate)
    ),
  }
  for _, row in ipairs(type(s.by) == 'table' and s.by or {}) do
    lines[#lines + 1] = ('  %-24s %4d requests  %s'):format(
      tostring(row.key or '?'),
      n(row.requests),
      money(row.spend_usd)
    )
  end
  return lines
end

--- Shows usage, spend and savings from the ledger.
---@param since string|nil e.g. "7d" (default), "30d", "1d"
function M.stats(since)
  since = (since and since ~= '') and since or '7d'
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr) or M.client()
  if not client then
    notify('the server is not running', vim.log.levels.WARN)
    return
  end
  local done = false
  execute(client, 'modelrouter.stats', { { since = since } }, function(err, result)
    done = true
    if err then
      notify(err.message, vim.log.levels.ERROR)
    else
      notify(table.concat(M.format_stats(result or {}, since), '\n'))
    end
  end, bufnr)
  if should_wait({}) then
    vim.wait(10000, function()
      return done
    end, 20)
  end
end

--- Refreshes the cached action list of a client in the background.
local function refresh_actions(client)
  execute(client, 'modelrouter.actions', {}, function(err, result)
    if not err and type(result) == 'table' then
      state.actions[client.id] = { items = result, at = vim.uv.now() }
    end
  end)
end

--- Action ids for completion: the server's actions (cached) and the built-in commands.
---@return string[]
function M.action_names()
  local names, seen = {}, {}
  local function add(n)
    if n and not seen[n] then
      seen[n] = true
      names[#names + 1] = n
    end
  end
  for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
    local cached = state.actions[client.id]
    for _, a in ipairs(cached and cached.items or {}) do
      add(a.id)
    end
    -- Rules reload under a running server; keep completion fresh without blocking it.
    if client.initialized and (not cached or vim.uv.now() - cached.at > 5000) then
      refresh_actions(client)
    end
  end
  for _, n in ipairs(BUILTINS) do
    add(n)
  end
  table.sort(names)
  return names
end

--- A short string for statuslines: the model working now, else the last model and today's
--- spend; empty when the server is not running.
---@return string
function M.status()
  local client = M.client(api.nvim_get_current_buf()) or M.client()
  local s = client and state.status[client.id]
  if not s then
    return ''
  end
  local function str(v)
    return (v ~= nil and v ~= vim.NIL) and tostring(v) or nil
  end
  if s.working then
    return '⟳ ' .. (str(s.model) or str(s.backend) or 'working')
  end
  local parts = {}
  local last = str(s.last_model) or str(s.last_backend)
  if last then
    parts[#parts + 1] = last
  end
  local spend = tonumber(s.spend_today_usd)
  if spend then
    parts[#parts + 1] = (spend > 0 and spend < 0.01) and '<$0.01 today'
      or ('$%.2f today'):format(spend)
  end
  return table.concat(parts, ' · ')
end

local function set_status(client_id, payload)
  if type(payload) ~= 'table' then
    return
  end
  state.status[client_id] = payload
  api.nvim_exec_autocmds(
    'User',
    { pattern = 'ModelRouterStatus', modeline = false, data = payload }
  )
  vim.cmd.redrawstatus({ bang = true })
end

--- The server's `modelrouter.doctor` report. Asks the running server for `bufnr` when there
--- is one, else runs `modelrouter doctor --json`.
---@param bufnr integer|nil
---@return table|nil report
---@return string|nil error
function M.doctor(bufnr)
  local client = (bufnr and M.client(bufnr)) or M.client()
  if client then
    local params = { command = 'modelrouter.doctor', arguments = {} }
    local res, err
    if has_011 then
      res, err = client:request_sync('workspace/executeCommand', params, 10000, bufnr)
    else
      res, err = client.request_sync('workspace/executeCommand', params, 10000, bufnr)
    end
    if res and res.result then
      return res.result
    end
    return nil, err or (res and res.err and res.err.message) or 'no answer from the server'
  end
  -- The server command with its `lsp` subcommand swapped for `doctor --json`.
  local cmd = {}
  for _, part in ipairs(M.config.cmd) do
    if part == 'lsp' then
      break
    end
    cmd[#cmd + 1] = part
  end
  vim.list_extend(cmd, { 'doctor', '--json' })
  local rules = M.config.settings.rulesFile
  if rules and rules ~= '' then
    vim.list_extend(cmd, { '--rules', vim.fn.expand(rules) })
  end
  local name = bufnr and api.nvim_buf_get_name(bufnr) or ''
  local root = vim.fs.root(name ~= '' and name or vim.fn.getcwd(), M.config.root_markers)
  local ok, proc = pcall(vim.system, cmd, { text = true, cwd = root })
  if not ok then
    return nil, tostring(proc)
  end
  local out = proc:wait(15000)
  local decoded_ok, decoded = pcall(vim.json.decode, out.stdout or '')
  if decoded_ok and type(decoded) == 'table' then
    return decoded
  end
  return nil, vim.trim((out.stderr ~= '' and out.stderr) or out.stdout or ('exit ' .. out.code))
end

--- The server's version string, from `modelrouter --version`.
---@return string|nil
function M.server_version()
  local out = vim.system({ M.config.cmd[1], '--version' }, { text = true }):wait(10000)
  if out.code == 0 then
    return vim.trim(out.stdout)
  end
end

function lsp_config()
  local c = M.config
  return {
    name = NAME,
    cmd = c.cmd,
    filetypes = c.filetypes,
    root_markers = c.root_markers,
    init_options = as_object(c.settings),
    settings = { modelrouter = as_object(c.settings) },
    handlers = {
      ['modelrouter/status'] = function(_, payload, ctx)
        set_status(ctx.client_id, payload)
      end,
      -- settings.confirmEdits: ask before a model-written edit lands.
      ['workspace/applyEdit'] = function(err, params, ctx)
        if M.config.settings.confirmEdits and type(params) == 'table' then
          local label = params.label or 'the edit'
          local question = ('ModelRouter: apply %s?'):format(label)
          local choice = vim.fn.confirm(question, '&Apply\n&Discard', 1)
          if choice ~= 1 then
            return { applied = false, failureReason = 'discarded by the user' }
          end
        end
        return vim.lsp.handlers['workspace/applyEdit'](err, params, ctx)
      end,
      -- Code actions run `modelrouter.run` through Neovim's own handler: say what happened.
      ['workspace/executeCommand'] = function(err, result, ctx)
        local cmd = ctx.params and ctx.params.command
        if cmd == 'modelrouter.run' or cmd == 'modelrouter.redo' then
          report(err, result)
        elseif err then
          notify(err.message, vim.log.levels.ERROR)
        end
      end,
    },
  }
end

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
  local group = api.nvim_create_augroup('modelrouter', { clear = true })

  api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == NAME and not state.actions[client.id] then
        state.actions[client.id] = { items = {}, at = 0 }
        refresh_actions(client)
        execute(client, 'modelrouter.status', {}, function(err, result)
          if not err then
            set_status(client.id, result)
          end
        end)
      end
    end,
  })

  if has_011 then
    vim.lsp.config(NAME, lsp_config())
    vim.lsp.enable(NAME)
    -- vim.lsp.enable() only revisits open buffers after VimEnter; setup() may run before it
    -- (`nvim file.py -c 'lua require("modelrouter").setup()'`).
    if vim.v.vim_did_enter == 0 then
      for _, bufnr in ipairs(api.nvim_list_bufs()) do
        if api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype ~= '' then
          api.nvim_exec_autocmds('FileType', { group = 'nvim.lsp.enable', buffer = bufnr })
        end
      end
    end
    return
  end
  api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes or '*',
    callback = function(args)
      start_for(args.buf)
    end,
  })
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype ~= '' then
      start_for(bufnr)
    end
  end
end

--- Entry point of `:ModelRouter`, see |:ModelRouter|.
function M.command(cmd)
  local sub, rest = cmd.args:match('^%s*(%S+)%s*(.-)%s*$')
  local bufnr = api.nvim_get_current_buf()
  if not sub then
    local names = table.concat(M.action_names(), ', ')
    notify(('usage: :[range]ModelRouter {action} (one of: %s)'):format(names), vim.log.levels.WARN)
  elseif sub == 'stats' then
    M.stats(rest)
  elseif sub == 'cancel' then
    M.cancel()
  elseif sub == 'redo' then
    M.redo({ bufnr = bufnr })
  else
    M.run(sub, {
      bufnr = bufnr,
      range = command_range(bufnr, cmd),
      instruction = rest ~= '' and rest or nil,
    })
  end
end

--- Completion for `:ModelRouter`: action names for the first argument.
function M.complete(arglead, cmdline, cursorpos)
  local before = cmdline:sub(1, cursorpos)
  local _, nargs = before:gsub('%s+', ' ')
  if nargs > 1 then
    return {}
  end
  return vim.tbl_filter(function(n)
    return vim.startswith(n, arglead)
  end, M.action_names())
end

return M
