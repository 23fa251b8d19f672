--- `:ModelRouter {action} [instruction]` and its completion (|:ModelRouter|).
local M = {}

local api = vim.api
local notify = require('modelrouter.notify')

--- Runs a `:ModelRouter` invocation (the table |nvim_create_user_command()| passes).
function M.run(cmd)
  local mr = require('modelrouter')
  local sub, rest = cmd.args:match('^%s*(%S+)%s*(.-)%s*$')
  local bufnr = api.nvim_get_current_buf()
  if not sub then
    local names = table.concat(mr.action_names(), ', ')
    notify(('usage: :[range]ModelRouter {action} (one of: %s)'):format(names), vim.log.levels.WARN)
  elseif sub == 'stats' then
    mr.stats(rest)
  elseif sub == 'cancel' then
    mr.cancel()
  elseif sub == 'redo' then
    mr.redo({ bufnr = bufnr })
  else
    mr.run(sub, {
      bufnr = bufnr,
      range = require('modelrouter.range').of_command(bufnr, cmd),
      instruction = rest ~= '' and rest or nil,
    })
  end
end

--- Completion: action names for the first argument, nothing after it.
function M.complete(arglead, cmdline, cursorpos)
  local before = cmdline:sub(1, cursorpos)
  local _, nargs = before:gsub('%s+', ' ')
  if nargs > 1 then
    return {}
  end
  return vim.tbl_filter(function(n)
    return vim.startswith(n, arglead)
  end, require('modelrouter').action_names())
end

return M
