-- wrk script: DEPTH GETs of / sent in one write (HTTP/1.1 pipelining); wrk counts each response.
--   wrk -t1 -c64 -d5s -s bench/wrk_pipeline.lua http://127.0.0.1:PORT/ -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end

request = function()
  return req
end
