--- Running the server's long commands (`modelrouter.run`, `modelrouter.redo`) and the
--- quick ones behind `:ModelRouter cancel` and `stats`, and reporting how they ended.
local M = {}

local api = vim.api
local client = require('modelrouter.client')
local notify = require('modelrouter.notify')
local range = require('modelrouter.range')

--- LSP error code of a request the client cancelled.
local REQUEST_CANCELLED = -32800

local function config()
  return require('modelrouter').config
end

local function should_wait(opts)
  if opts.wait ~= nil then
    return opts.wait
  end
  if config().wait ~= nil then
    return config().wait
  end
  return #api.nvim_list_uis() == 0
end

--- Writes a file the edit created or extended in the background (write-tests' test file):
--- the server reported it as written, and a modified buffer in no window would otherwise
--- be lost from sight and stop `:wq`. A file shown in a window is left for the user to save.
local function save_background_file(result, args)
  local uri = type(result.uri) == 'string' and result.uri or nil
  if not uri or uri == args.uri or not vim.startswith(uri, 'file:') then
    return
  end
  local bufnr = vim.uri_to_bufnr(uri)
  if not api.nvim_buf_is_loaded(bufnr) or not vim.bo[bufnr].modified then
    return
  end
  if #vim.fn.win_findbuf(bufnr) > 0 then
    return
  end
  -- Text ending in a newline inserted into an empty buffer leaves Neovim's one empty line
  -- after it, which would be written as a second newline.
  local count = api.nvim_buf_line_count(bufnr)
  if count > 1 and api.nvim_buf_get_lines(bufnr, count - 1, count, false)[1] == '' then
    api.nvim_buf_set_lines(bufnr, count - 1, count, false, {})
  end
  local path = api.nvim_buf_get_name(bufnr)
  vim.fn.mkdir(vim.fs.dirname(path), 'p')
  local ok, err = pcall(api.nvim_buf_call, bufnr, function()
    vim.cmd('silent update')
  end)
  if not ok then
    notify(('could not write %s: %s'):format(path, err), vim.log.levels.ERROR)
  end
end

--- Reports the result of `modelrouter.run` / `modelrouter.redo`: an answer is shown in its
--- own buffer; a result with nothing applied is not repeated: the server already said why
--- (window/showMessage), and a cancellation is reported by |modelrouter.cancel()|.
---@param args table the command's argument (`action`, `uri`, ...)
function M.report(err, result, args)
  if err then
    if err.code == REQUEST_CANCELLED then
      notify('cancelled, nothing changed')
    else
      notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
    end
  elseif type(result) == 'table' and type(result.answer) == 'string' then
    require('modelrouter.answer').show(result, args.action)
  elseif type(result) == 'table' and result.applied then
    save_background_file(result, args)
    local who = (result.model and result.model ~= vim.NIL) and (' [' .. result.model .. ']') or ''
    notify((result.message or 'applied') .. who)
  end
end

--- Sends a long-running command and reports its outcome; blocks when asked to.
local function start(bufnr, opts, command, build_args)
  local finished = false
  local function go(c)
    local args = build_args(c)
    local ok = client.execute(c, command, { args }, function(err, result)
      finished = true
      M.report(err, result, args)
      if opts.on_done then
        opts.on_done(err, result)
      end
    end, bufnr)
    if not ok then
      finished = true
      notify('the server has stopped', vim.log.levels.ERROR)
    end
  end
  client.with_client(bufnr, go, function()
    finished = true
  end)
  if should_wait(opts) then
    vim.wait(config().timeout, function()
      return finished
    end, 20)
  end
end

--- See |modelrouter.run()|.
function M.run(action, opts)
  opts = vim.deepcopy(opts or {})
  local bufnr = opts.bufnr or api.nvim_get_current_buf()
  -- Capture the range now: a prompt may move the cursor.
  local r = opts.range or range.current_line(bufnr)
  local c = client.get(bufnr)
  local meta = c and require('modelrouter.actions').find(c, action)
  if meta and meta.disabled and meta.disabled ~= vim.NIL then
    notify(('%s is unavailable: %s'):format(action, meta.disabled), vim.log.levels.WARN)
    return
  end
  local function go(instruction)
    start(bufnr, opts, 'modelrouter.run', function(cl)
      return {
        action = action,
        uri = vim.uri_from_bufnr(bufnr),
        range = range.to_lsp(bufnr, r, range.encoding(cl)),
        instruction = instruction,
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

--- See |modelrouter.redo()|.
function M.redo(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or api.nvim_get_current_buf()
  local cursor = api.nvim_win_get_cursor(0)
  start(bufnr, opts, 'modelrouter.redo', function(c)
    return {
      uri = vim.uri_from_bufnr(bufnr),
      position = range.position(bufnr, cursor[1] - 1, cursor[2], range.encoding(c)),
    }
  end)
end

--- See |modelrouter.cancel()|.
function M.cancel()
  local clients = vim.lsp.get_clients({ name = client.NAME })
  if #clients == 0 then
    notify('the server is not running', vim.log.levels.WARN)
    return
  end
  for _, c in ipairs(clients) do
    client.execute(c, 'modelrouter.cancel', {}, function(err, result)
      if err then
        notify(err.message, vim.log.levels.ERROR)
      else
        local n = type(result) == 'table' and result.cancelled or 0
        notify(('cancelled %d job(s), nothing changed'):format(n))
      end
    end)
  end
end

--- See |modelrouter.stats()|.
function M.stats(since)
  since = (since and since ~= '') and since or '7d'
  local bufnr = api.nvim_get_current_buf()
  local c = client.get(bufnr) or client.get()
  if not c then
    notify('the server is not running', vim.log.levels.WARN)
    return
  end
  local done = false
  client.execute(c, 'modelrouter.stats', { { since = since } }, function(err, result)
    done = true
    if err then
      notify(err.message, vim.log.levels.ERROR)
    else
      notify(table.concat(require('modelrouter.stats').format(result or {}, since), '\n'))
    end
  end, bufnr)
  if should_wait({}) then
    vim.wait(10000, function()
      return done
    end, 20)
  end
end

return M
