"""An open-loop HTTP load client: requests sent at a fixed rate whatever the answers do, each on a
new TCP connection, each latency counted from the time the request was *scheduled* (not sent),
so that a slow answer cannot hold the next requests back and hide the wait (no coordinated
omission, as wrk2 measures). Prints one JSON object with percentiles in milliseconds.

    python -m apps.openloop --url http://10.0.0.100/ --rate 300 --seconds 5
"""
import argparse
import asyncio
import json
import math
import sys
from urllib.parse import urlsplit

MAX_REQUESTS = 100000


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list (None for an empty one)."""
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def summary(rate, seconds, latencies, errors):
    """The report: percentiles of the latencies (s) in ms; a failed request counts as an error
    and has no latency."""
    ordered = sorted(latencies)

    def ms(value):
        return None if value is None else round(value * 1000, 2)
    return {"rate": rate, "seconds": seconds, "sent": len(latencies) + errors, "ok": len(latencies),
            "errors": errors, "mean": ms(sum(ordered) / len(ordered) if ordered else None),
            "p50": ms(percentile(ordered, 0.5)), "p90": ms(percentile(ordered, 0.9)),
            "p99": ms(percentile(ordered, 0.99)),
            "p999": ms(percentile(ordered, 0.999)), "max": ms(ordered[-1] if ordered else None)}


async def request(host, port, path, timeout):
    """One GET on a new connection; True when it was answered 200."""
    async def exchange():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
            status = await reader.readline()
            await reader.read()             # to the end: the answer is complete
            return status.split(b" ")[1:2] == [b"200"]
        finally:
            writer.close()
    try:
        return await asyncio.wait_for(exchange(), timeout)
    except (OSError, asyncio.TimeoutError):
        return False


async def run(url, rate, seconds, timeout):
    parts = urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    loop = asyncio.get_running_loop()
    latencies, errors = [], 0

    async def one(scheduled):
        nonlocal errors
        if await request(parts.hostname, parts.port or 80, target, timeout):
            latencies.append(loop.time() - scheduled)
        else:
            errors += 1

    start = loop.time() + 0.1
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        tasks.append(asyncio.ensure_future(one(scheduled)))
    await asyncio.gather(*tasks)
    return summary(rate, seconds, latencies, errors)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.openloop", description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=200, help="requests per second, 1 to 5000")
    parser.add_argument("--seconds", type=float, default=5, help="how long to send, 0.1 to 300")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    args = parser.parse_args(argv)
    if not 1 <= args.rate <= 5000:
        parser.error("--rate must be from 1 to 5000 requests per second, got %g" % args.rate)
    if not 0.1 <= args.seconds <= 300 or args.rate * args.seconds > MAX_REQUESTS:
        parser.error("--seconds must be from 0.1 to 300, and rate x seconds at most %d" % MAX_REQUESTS)
    if not 0.01 <= args.timeout <= 60:
        parser.error("--timeout must be from 0.01 to 60 seconds, got %g" % args.timeout)
    if urlsplit(args.url).scheme != "http" or not urlsplit(args.url).hostname:
        parser.error("--url must be an http:// URL, got %r" % args.url)
    print(json.dumps(asyncio.run(run(args.url, args.rate, args.seconds, args.timeout))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
