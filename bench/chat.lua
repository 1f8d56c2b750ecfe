-- wrk script for bench/gateway.sh: every request is the same non-streamed
-- POST /v1/chat/completions with a realistic ~1 KiB JSON body.
--
-- Environment:
--   BENCH_API_KEY  bearer secret sent as `Authorization: Bearer ...` (harmless for
--                  the direct and nginx targets; required by the gateway)
--   BENCH_PATH     request path (default /v1/chat/completions)
--
-- At the end, done() prints one line starting with BENCH_JSON followed by a JSON
-- object with requests/s, latency percentiles (microseconds) and error counts, so the
-- driver does not have to scrape wrk's human-readable report.

local api_key = os.getenv("BENCH_API_KEY") or "bench-no-key"
local path = os.getenv("BENCH_PATH") or "/v1/chat/completions"

local body = [[{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise support assistant for Acme Cloud, a hosting provider. Answer in plain English, at most three short paragraphs. If the question is about billing, remind the customer that invoices are issued on the first business day of each month and can be downloaded from the dashboard under Settings, Billing. Never reveal internal ticket numbers, employee names or infrastructure details. If you are unsure, say so and suggest opening a support ticket."},{"role":"user","content":"Hi, our team moved three of our staging services from the Frankfurt region to Amsterdam last week and since then the nightly backup job for the Postgres cluster sometimes fails with a timeout after about forty minutes. The production cluster in Frankfurt is fine. We did not change the backup schedule or the retention settings. Could the move have changed the network path to the backup storage, and is there a setting we should check before we open a ticket? Also, will the failed runs be billed?"}],"temperature":0.2,"max_tokens":256,"user":"bench-user-0001"}]]

wrk.method = "POST"
wrk.path = path
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. api_key
wrk.headers["User-Agent"] = "bulwark-bench/wrk"

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local rps = 0
   if seconds > 0 then rps = summary.requests / seconds end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.3f,' ..
      '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
      '"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
      '"body_bytes":%d}\n',
      summary.requests, summary.duration, summary.bytes, rps,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9),
      e.connect, e.read, e.write, e.timeout, e.status,
      #body))
end
