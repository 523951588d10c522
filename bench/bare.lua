-- (c) The yardstick: GET the bare Flask app's one JSON endpoint (bench/bare_app.py).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

function request()
  return wrk.format("GET", "/hello")
end
