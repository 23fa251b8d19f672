--- `:ModelRouter stats`: usage, spend and savings from the ledger.
local M = {}

local function money(x)
  return ('$%.4f'):format(tonumber(x) or 0)
end

local function n(v)
  return tonumber(v) or 0
end

--- A `modelrouter.stats` summary as lines of text.
---@param s table
---@param since string
---@return string[]
function M.format(s, since)
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
    n(s.escalations) > 0 and ('escalations %d (%.1f%% of answers re-asked a tier up), costing %s'):format(
      n(s.escalations),
      100 * n(s.escalation_rate),
      money(s.escalation_cost_usd)
    ) or 'escalations: none',
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

return M
