--- Messages to the user, all with the same prefix.
---@param msg string
---@param level integer|nil a |vim.log.levels| value; default INFO
return function(msg, level)
  vim.notify('ModelRouter: ' .. msg, level or vim.log.levels.INFO)
end
