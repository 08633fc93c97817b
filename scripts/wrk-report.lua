-- wrk's report as one JSON line (latencies in microseconds), for scripts/bench.py.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'REPORT {"rps": %.1f, "requests": %d, "errors": %d, "p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests / (summary.duration / 1e6), summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
