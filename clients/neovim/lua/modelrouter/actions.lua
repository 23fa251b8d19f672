--- The server's action list (`modelrouter.actions`), cached per client for completion and
--- for refusing an unavailable action before anything is sent.
local M = {}

local client = require('modelrouter.client')

--- Commands handled by the plugin rather than by a rules action.
M.BUILTINS = { 'ask', 'cancel', 'redo', 'stats' }

---@type table<integer, {items: table[], at: number}> client id -> `modelrouter.actions`
local by_client = {}

--- Refreshes the cached action list of a client in the background.
local function refresh(c)
  client.execute(c, 'modelrouter.actions', {}, function(err, result)
    if not err and type(result) == 'table' then
      by_client[c.id] = { items = result, at = vim.uv.now() }
    end
  end)
end

--- A new client: fetch its actions and its status.
function M.attached(c)
  if by_client[c.id] then
    return
  end
  by_client[c.id] = { items = {}, at = 0 }
  refresh(c)
  local status = require('modelrouter.status')
  local seen = status.version(c.id)
  client.execute(c, 'modelrouter.status', {}, function(err, result)
    -- A notification that came in meanwhile is newer than this reply.
    if not err and status.version(c.id) == seen then
      status.set(c.id, result)
    end
  end)
end

--- The cached description of action `id` (`{id, title, tier, model, disabled, ...}`).
---@return table|nil
function M.find(c, id)
  local cached = by_client[c.id]
  for _, a in ipairs(cached and cached.items or {}) do
    if a.id == id then
      return a
    end
  end
end

--- Action ids for completion: the server's actions (cached) and the built-in commands.
---@return string[]
function M.names()
  local names, seen = {}, {}
  local function add(n)
    if n and not seen[n] then
      seen[n] = true
      names[#names + 1] = n
    end
  end
  for _, c in ipairs(vim.lsp.get_clients({ name = client.NAME })) do
    local cached = by_client[c.id]
    for _, a in ipairs(cached and cached.items or {}) do
      add(a.id)
    end
    -- Rules reload under a running server; keep completion fresh without blocking it.
    if c.initialized and (not cached or vim.uv.now() - cached.at > 5000) then
      refresh(c)
    end
  end
  for _, n in ipairs(M.BUILTINS) do
    add(n)
  end
  table.sort(names)
  return names
end

return M
