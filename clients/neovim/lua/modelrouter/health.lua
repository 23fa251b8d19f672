--- :checkhealth modelrouter
local M = {}

local health = vim.health

function M.check()
  local mr = require('modelrouter')

  health.start('Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.10 or newer is required', 'upgrade Neovim')
  end

  health.start('Server')
  local exe = mr.config.cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    health.error(
      ('server command not found: %s'):format(exe),
      { 'install it: pip install modelrouter', 'or set `cmd` in require("modelrouter").setup()' }
    )
    return
  end
  -- :checkhealth runs in its own buffer; the buffer it was opened from is the alternate one.
  local bufnr = vim.fn.bufnr('#')
  bufnr = bufnr > 0 and bufnr or nil
  local report, err = mr.doctor(bufnr)
  local version = (report and report.version) and ('modelrouter ' .. report.version)
    or mr.server_version()
  health.ok(('%s (%s)'):format(version or 'unknown version', vim.fn.exepath(exe)))
  local client = (bufnr and mr.client(bufnr)) or mr.client()
  if client then
    health.ok(('running (client %d, root %s)'):format(client.id, client.root_dir or 'none'))
  else
    health.info('not running for this buffer; the report below is from `modelrouter doctor`')
  end
  if not report then
    health.error('could not get a report from the server: ' .. tostring(err))
    return
  end

  health.start('Rules')
  local rules_file = report.rules_file ~= vim.NIL and report.rules_file or 'unknown'
  local errors = report.rules_errors or {}
  if #errors == 0 then
    health.ok('rules file: ' .. rules_file)
  else
    health.error(
      ('rules file has %d error(s): %s'):format(#errors, rules_file),
      { 'fix the file; a running server keeps the last good rules meanwhile' }
    )
    for _, e in ipairs(errors) do
      health.error(e)
    end
  end

  health.start('Backends')
  local backends = report.backends or {}
  if #backends == 0 and #errors == 0 then
    health.warn('no backends configured')
  end
  for _, b in ipairs(backends) do
    local what = ('%s (%s, %s)'):format(b.name, b.type, b.model)
    if b.usable then
      health.ok(what)
    else
      local why = b.reason ~= vim.NIL and b.reason or 'unknown reason'
      health.warn(('%s: unusable, %s'):format(what, why))
    end
  end

  health.start('Fixers')
  local fixers = report.fixers or {}
  if #fixers == 0 then
    health.info('no fixers in the rules: every action goes to a model')
  end
  for _, f in ipairs(fixers) do
    local actions = table.concat(f.actions or {}, ', ')
    if f.found then
      local version = f.version ~= vim.NIL and f.version or 'version unknown'
      health.ok(('%s (%s) answers %s first'):format(f.name, version, actions))
    else
      health.warn(
        ('%s not found: %s go to the models'):format(f.name, actions),
        { 'install it (pip install typos ruff), or remove it from `fixers:` in the rules' }
      )
    end
  end
end

return M
