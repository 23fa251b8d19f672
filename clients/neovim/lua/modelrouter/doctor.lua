--- The server's report for |:checkhealth| (`modelrouter.doctor`, or `modelrouter doctor
--- --json` when no server runs) and its version.
local M = {}

local api = vim.api
local client = require('modelrouter.client')

local function config()
  return require('modelrouter').config
end

--- The server command with its `lsp` subcommand swapped for `args`.
local function cli(args)
  local cmd = {}
  for _, part in ipairs(config().cmd) do
    if part == 'lsp' then
      break
    end
    cmd[#cmd + 1] = part
  end
  return vim.list_extend(cmd, args)
end

---@param bufnr integer|nil
---@return table|nil report
---@return string|nil error
function M.report(bufnr)
  local c = (bufnr and client.get(bufnr)) or client.get()
  if c then
    local params = { command = 'modelrouter.doctor', arguments = {} }
    local res, err = client.request_sync(c, 'workspace/executeCommand', params, 10000, bufnr)
    if res and res.result then
      return res.result
    end
    return nil, err or (res and res.err and res.err.message) or 'no answer from the server'
  end
  local cmd = cli({ 'doctor', '--json' })
  local rules = config().settings.rulesFile
  if rules and rules ~= '' then
    vim.list_extend(cmd, { '--rules', vim.fn.expand(rules) })
  end
  local name = bufnr and api.nvim_buf_get_name(bufnr) or ''
  local root = vim.fs.root(name ~= '' and name or vim.fn.getcwd(), config().root_markers)
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
  local out = vim.system({ config().cmd[1], '--version' }, { text = true }):wait(10000)
  if out.code == 0 then
    return vim.trim(out.stdout)
  end
end

return M
