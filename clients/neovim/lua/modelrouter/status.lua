--- The statusline: the server's `modelrouter/status` notifications, per client.
local M = {}

local api = vim.api

---@type table<integer, table> client id -> last `modelrouter/status` payload
local by_client = {}
---@type table<integer, integer> client id -> how many payloads were stored
local versions = {}

local function str(v)
  return (v ~= nil and v ~= vim.NIL) and tostring(v) or nil
end

--- Stores a status payload, fires `User ModelRouterStatus` and redraws the statuslines.
---@param client_id integer
---@param payload table|nil
function M.set(client_id, payload)
  if type(payload) ~= 'table' then
    return
  end
  by_client[client_id] = payload
  versions[client_id] = (versions[client_id] or 0) + 1
  api.nvim_exec_autocmds(
    'User',
    { pattern = 'ModelRouterStatus', modeline = false, data = payload }
  )
  vim.cmd.redrawstatus({ bang = true })
end

--- How many payloads were stored for a client: a reply to a `modelrouter.status` request
--- is a snapshot, older than any notification that arrived after the request was sent.
---@param client_id integer
---@return integer
function M.version(client_id)
  return versions[client_id] or 0
end

--- The statusline text for a client: the model working now, else the last model and
--- today's spend; empty when nothing is known yet.
---@param client vim.lsp.Client|nil
---@return string
function M.text(client)
  local s = client and by_client[client.id]
  if not s then
    return ''
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

return M
