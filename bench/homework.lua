-- (a) GET /api/v1/me/homework, each request as the next of many partners.
-- Argument: a file with one access token per line (written by bench/load.py).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  -- Threads start at different partners, then walk the list round-robin.
  i = ((id or 1) - 1) * 997 % #tokens
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/v1/me/homework", { ["Authorization"] = "Bearer " .. tokens[i] })
end
