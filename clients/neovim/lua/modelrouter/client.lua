--- The language client: its configuration, start-up for a buffer, and the shims between
--- Neovim 0.10 (`client.request()`) and 0.11+ (`client:request()`, |vim.lsp.config()|).
local M = {}

local api = vim.api
local notify = require('modelrouter.notify')

M.NAME = 'modelrouter'
M.has_011 = vim.fn.has('nvim-0.11') == 1

local function config()
  return require('modelrouter').config
end

--- `client:request()` on 0.11+, `client.request()` on 0.10.
function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- `client:request_sync()` on 0.11+, `client.request_sync()` on 0.10.
function M.request_sync(client, method, params, timeout, bufnr)
  if M.has_011 then
    return client:request_sync(method, params, timeout, bufnr)
  end
  return client.request_sync(method, params, timeout, bufnr)
end

--- `workspace/executeCommand` of one of the server's `modelrouter.*` commands.
function M.execute(client, command, args, handler, bufnr)
  return M.request(
    client,
    'workspace/executeCommand',
    { command = command, arguments = args },
    handler,
    bufnr
  )
end

--- The initialized ModelRouter client attached to `bufnr`, or any running one when `bufnr`
--- is nil.
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.get(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr, name = M.NAME })) do
    if client.initialized then
      return client
    end
  end
end

--- True when a client for `bufnr` exists but has not finished initializing.
local function starting(bufnr)
  local filter = { bufnr = bufnr, name = M.NAME, _uninitialized = true }
  for _, client in ipairs(vim.lsp.get_clients(filter)) do
    if not client.initialized then
      return true
    end
  end
  return false
end

local function as_object(t)
  return (t == nil or next(t) == nil) and vim.empty_dict() or t
end

--- What the client adds to Neovim's own capabilities: it shows `answer` results itself
--- (|modelrouter-answers|), so the server does not open them as files, which would attach
--- a second server to a file outside any project.
local function capabilities()
  return vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), {
    experimental = { modelrouter = { showAnswers = true } },
  })
end

--- The LSP client configuration: |vim.lsp.config()| on 0.11+, |vim.lsp.start()| on 0.10.
function M.config()
  local c = config()
  return {
    name = M.NAME,
    cmd = c.cmd,
    filetypes = c.filetypes,
    root_markers = c.root_markers,
    capabilities = capabilities(),
    init_options = as_object(c.settings),
    settings = { modelrouter = as_object(c.settings) },
    handlers = {
      ['modelrouter/status'] = function(_, payload, ctx)
        require('modelrouter.status').set(ctx.client_id, payload)
      end,
      -- settings.confirmEdits: ask before a model-written edit lands.
      ['workspace/applyEdit'] = function(err, params, ctx)
        if config().settings.confirmEdits and type(params) == 'table' then
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
          local args = ctx.params.arguments and ctx.params.arguments[1]
          require('modelrouter.jobs').report(err, result, type(args) == 'table' and args or {})
        elseif err then
          notify(err.message, vim.log.levels.ERROR)
        end
      end,
    },
  }
end

--- Starts (or reuses) the server for a file buffer: on 0.10 from the FileType autocmd, and
--- on any version for a buffer that has none yet, e.g. one without a filetype, which never
--- gets the FileType event that normally starts it.
---@return boolean started
function M.start_for(bufnr)
  local filetypes = config().filetypes
  if vim.bo[bufnr].buftype ~= '' then
    return false
  end
  if filetypes and not vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  local lsp_config = M.has_011 and vim.lsp.config[M.NAME] and vim.deepcopy(vim.lsp.config[M.NAME])
    or M.config()
  if type(lsp_config.root_dir) ~= 'string' then
    lsp_config.root_dir = vim.fs.root(bufnr, config().root_markers) or vim.fn.getcwd()
  end
  lsp_config.root_markers = nil
  return vim.lsp.start(lsp_config, { bufnr = bufnr }) ~= nil
end

--- Calls `fn(client)` once the server is attached to `bufnr` and initialized, or
--- `on_fail()` when it cannot be attached or does not start in time.
function M.with_client(bufnr, fn, on_fail)
  local client = M.get(bufnr)
  if not client and not starting(bufnr) and M.start_for(bufnr) then
    client = M.get(bufnr)
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
      if done or not c or c.name ~= M.NAME then
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
  end, math.min(config().timeout, 30000))
end

--- Starts the server for matching buffers, now and as they open, and asks each new client
--- for its actions and status.
function M.enable()
  local group = api.nvim_create_augroup('modelrouter', { clear = true })

  api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == M.NAME then
        require('modelrouter.actions').attached(client)
      end
    end,
  })

  if M.has_011 then
    vim.lsp.config(M.NAME, M.config())
    vim.lsp.enable(M.NAME)
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
    pattern = config().filetypes or '*',
    callback = function(args)
      M.start_for(args.buf)
    end,
  })
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype ~= '' then
      M.start_for(bufnr)
    end
  end
end

return M
