--- Answers (`explain`, and `ask` answered in prose) in a read-only scratch buffer. It has no
--- file behind it, so no language server attaches to it (|modelrouter-answers|).
local M = {}

local api = vim.api

local function str(v)
  return (v ~= nil and v ~= vim.NIL) and tostring(v) or nil
end

--- The window showing an earlier answer, reused for the next one.
local function answer_window()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if vim.b[api.nvim_win_get_buf(win)].modelrouter_answer then
      return win
    end
  end
end

--- Shows `result.answer` below the current window; the cursor stays where it is.
---@param result table a `modelrouter.run` result with `answer`
---@param action string|nil the action id that asked
---@return integer bufnr
function M.show(result, action)
  local who = str(result.model) or str(result.backend) or 'the model'
  local via = str(result.backend) and str(result.model) and (' via ' .. result.backend) or ''
  local tier = str(result.tier) and (', tier ' .. result.tier) or ''
  local lines = { ('<!-- %s · %s%s%s -->'):format(action or 'answer', who, via, tier), '' }
  vim.list_extend(lines, vim.split(tostring(result.answer), '\n', { plain = true }))

  local buf = api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.b[buf].modelrouter_answer = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'markdown'
  pcall(api.nvim_buf_set_name, buf, ('modelrouter://answer/%d'):format(buf))
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'Close the answer' })

  local win = answer_window()
  if win then
    api.nvim_win_set_buf(win, buf)
  else
    local from = api.nvim_get_current_win()
    vim.cmd('botright split')
    api.nvim_win_set_buf(0, buf)
    api.nvim_set_current_win(from)
  end
  return buf
end

return M
