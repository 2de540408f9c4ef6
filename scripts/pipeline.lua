-- wrk script: 16 pipelined requests per write.
init = function(args)
  local r = {}
  for i = 1, 16 do
    r[i] = wrk.format(nil, "/hello")
  end
  req = table.concat(r)
end

request = function()
  return req
end
