-- (b) POST /api/v1/checkins: a fresh UUID and the current time for every request, as
-- the next of several partners, each with a valid body for an exercise of their
-- current stage. Argument: a file of lines "<access token>\t<rest of the JSON body>"
-- (written by bench/load.py; the rest holds assignment_id, exercise, answers, ...).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local partners = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local token, rest = line:match("^([^\t]+)\t(.*)$")
    partners[#partners + 1] = { "Bearer " .. token, rest }
  end
  math.randomseed(os.time() * 64 + (id or 1))
  i = ((id or 1) - 1) * 31 % #partners
end

local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    r(0, 0xffff), r(0, 0xffff), r(0, 0xffff), r(0, 0x0fff),
    r(0x8000, 0xbfff), r(0, 0xffff), r(0, 0xffff), r(0, 0xffff))
end

function request()
  i = i % #partners + 1
  local p = partners[i]
  local body = '{"id":"' .. uuid4() .. '","occurred_at":"' ..
    os.date("!%Y-%m-%dT%H:%M:%SZ") .. '",' .. p[2] .. '}'
  return wrk.format("POST", "/api/v1/checkins",
    { ["Authorization"] = p[1], ["Content-Type"] = "application/json" }, body)
end
