-- :ModelRouter. The server itself starts with require("modelrouter").setup().
if vim.g.loaded_modelrouter then
  return
end
vim.g.loaded_modelrouter = true

vim.api.nvim_create_user_command('ModelRouter', function(cmd)
  require('modelrouter.command').run(cmd)
end, {
  nargs = '*',
  range = true,
  desc = 'ModelRouter: run an action on the line or range; ask, redo, stats, cancel',
  complete = function(arglead, cmdline, cursorpos)
    return require('modelrouter.command').complete(arglead, cmdline, cursorpos)
  end,
})
