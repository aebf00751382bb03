-- wrk script written by `mayfly bench bodies`: POSTs the request bodies of a file, one per
-- line, each once in turn across all connections, and counts answers that are not the
-- expected status (wrk itself counts only non-2xx/3xx). The arguments after `--` are the
-- bodies file, the expected status and wrk's thread count (-t), which a thread cannot ask:
--   wrk -t2 -c256 -d10s -s post.lua http://HOST:PORT/api/v1/log/entries -- dsse.jsonl 201 2
--
-- Bodies are read from the file as they are sent, not loaded up front: wrk starts each
-- thread as soon as its own `init` returns and times the run only after the last one has, so
-- a thread that spent seconds loading a large file would let the others send uncounted time
-- and inflate Requests/sec.
local file
local threads = {}
-- Globals, so that `done` can read each thread's through thread:get.
expected, unexpected = 200, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  file = assert(io.open(args[1], "rb"))
  expected = tonumber(args[2] or "200")
  -- Each thread starts in its own part of the file, so two threads never send the same body.
  local count = tonumber(args[3] or "1")
  local size = file:seek("end")
  file:seek("set", math.floor((id - 1) * size / count))
  if id > 1 then
    file:read("*l") -- the rest of the line the offset fell in
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = file:read("*l")
  if body == nil or body == "" then
    file:seek("set", 0)
    body = file:read("*l")
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("unexpected")
  end
  io.write(string.format("answers other than %s: %d\n", threads[1]:get("expected"), total))
  for _, p in ipairs({50, 99}) do
    io.write(string.format("p%d: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
