--- Ranges: what a `:ModelRouter` invocation covers, in byte columns, and its conversion to
--- LSP positions in the client's position encoding.
local M = {}

local api = vim.api
local has_011 = vim.fn.has('nvim-0.11') == 1

local function line_at(bufnr, row)
  return api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

--- The position encoding the client negotiated.
---@param client vim.lsp.Client
---@return string
function M.encoding(client)
  return client.offset_encoding or 'utf-16'
end

--- Byte column -> LSP character offset in `encoding`.
---@return {line: integer, character: integer}
function M.position(bufnr, row, col, encoding)
  local line = line_at(bufnr, row)
  col = math.max(0, math.min(col, #line))
  if encoding == 'utf-8' then
    return { line = row, character = col }
  end
  if has_011 then
    return { line = row, character = vim.str_utfindex(line, encoding, col, false) }
  end
  local utf32, utf16 = vim.str_utfindex(line, col)
  return { line = row, character = encoding == 'utf-16' and utf16 or utf32 }
end

--- The current line as `{row, 0, row, #line}`.
function M.current_line(bufnr)
  local row = api.nvim_win_get_cursor(0)[1] - 1
  return { row, 0, row, #line_at(bufnr, row) }
end

--- The byte range `{start_row, start_col, end_row, end_col}` (0-based, end exclusive) a
--- user command covers: the current line, a line range, or a charwise visual selection
--- when the range is exactly `'<,'>`.
---@param cmd {range: integer, line1?: integer, line2?: integer}
function M.of_command(bufnr, cmd)
  if cmd.range == 0 then
    return M.current_line(bufnr)
  end
  local srow, erow = cmd.line1 - 1, cmd.line2 - 1
  local vs, ve = api.nvim_buf_get_mark(bufnr, '<'), api.nvim_buf_get_mark(bufnr, '>')
  if cmd.range == 2 and vim.fn.visualmode() == 'v' and vs[1] - 1 == srow and ve[1] - 1 == erow then
    local last = line_at(bufnr, erow)
    local ecol = math.min(ve[2], #last)
    -- '> marks the first byte of the last selected character; the range ends after it.
    ecol = ecol + #vim.fn.strcharpart(last:sub(ecol + 1), 0, 1)
    return { srow, vs[2], erow, ecol }
  end
  return { srow, 0, erow, #line_at(bufnr, erow) }
end

--- A byte range as an LSP range in `encoding`.
function M.to_lsp(bufnr, r, encoding)
  return {
    start = M.position(bufnr, r[1], r[2], encoding),
    ['end'] = M.position(bufnr, r[3], r[4], encoding),
  }
end

return M
