-- wrk script of the benchmark (bench/run passes it with -s).
--
-- BENCH_TOKENS names a file of bearer tokens, one a line.  With one token
-- it goes into wrk.headers, so wrk sends one pre-built request again and
-- again (a polling client).  With more, every request takes the next token
-- of the pool in turn (many clients polling at the same pace), or a random
-- one when BENCH_ORDER=random: the requests are formatted once in init(),
-- so request() only picks one, and each thread starts at its own place.
--
-- BENCH_PATHS, with a pool, names a file of paths, one a line, paired with
-- the tokens line by line: each client polls its own session.
--
-- done() prints one line "BENCH_RESULT {json}" that bench/run collects:
-- requests, duration, bytes, wrk's error counters (errors.status counts
-- responses with a status above 399, wrk's "Non-2xx or 3xx responses") and
-- latency percentiles in microseconds.

-- the non-empty lines of the file named by the environment variable
local function lines_of(var)
   local path = os.getenv(var)
   local t = {}
   if path and path ~= "" then
      for line in io.lines(path) do
         if #line > 0 then
            t[#t + 1] = line
         end
      end
   end
   return t
end

local tokens = lines_of("BENCH_TOKENS")

if #tokens == 1 then
   wrk.headers["Authorization"] = "Bearer " .. tokens[1]
elseif #tokens > 1 then
   local requests = {}
   local n = #tokens
   local i = 0
   local threads = 0

   function setup(thread)
      thread:set("thread_no", threads)
      threads = threads + 1
   end

   local paths = lines_of("BENCH_PATHS")

   function init(args)
      for k, token in ipairs(tokens) do
         requests[k] = wrk.format(nil, paths[k],
                                  { ["Host"] = wrk.headers["Host"],
                                    ["Authorization"] = "Bearer " .. token })
      end
      i = ((thread_no or 0) * 331) % n
   end

   if os.getenv("BENCH_ORDER") == "random" then
      function request()
         return requests[math.random(n)]
      end
   else
      function request()
         i = i % n + 1
         return requests[i]
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,' ..
      '"p50":%d,"p90":%d,"p99":%d,"p999":%d},"tokens":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), #tokens))
end
