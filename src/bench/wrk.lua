-- wrk script written by `mayfly bench bodies`: POSTs the request bodies of a file, one per
-- line, each once in turn across all connections, and counts answers that are not the
-- expected status (wrk itself counts only non-2xx/3xx). The arguments after `--` are the
-- bodies file, the expected status and wrk's thread count (-t), which a thread cannot ask:
--   wrk -t2 -c256 -d10s -s post.lua http://HOST:PORT/api/v1/log/entries -- dsse.jsonl 201 2
local bodies, next_body = {}, 1
local threads = {}
-- Globals, so that `done` can read each thread's through thread:get.
expected, unexpected = 200, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  for line in io.lines(args[1]) do
    table.insert(bodies, line)
  end
  expected = tonumber(args[2] or "200")
  -- Each thread starts in its own part of the file, so two threads never send the same entry.
  local count = tonumber(args[3] or "1")
  next_body = math.floor((id - 1) * #bodies / count) + 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
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
