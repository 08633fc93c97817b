"""A bounded HTTP load client: N requests, each on a new TCP connection, counted by the real
server that answered (X-Served-By). Prints one JSON object.

    python -m apps.loadclient --url http://10.0.0.100/ --connections 100
"""
import argparse
import http.client
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

MAX_CONNECTIONS = 100000


def failure(error):
    """What ended a failed request, in a word: `reset` (a RST: refused or reset), `closed` (the
    server closed without an answer), `timeout`, or the exception's name."""
    if isinstance(error, http.client.RemoteDisconnected):       # a ConnectionResetError too
        return "closed"
    if isinstance(error, (ConnectionRefusedError, ConnectionResetError)):
        return "reset"
    return "timeout" if isinstance(error, TimeoutError) else type(error).__name__


def request_once(host, port, path, timeout):
    """One GET on a new connection: (the serving host's name, None), or (None, what failed)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            return None, "HTTP %d" % response.status
        return response.getheader("X-Served-By"), None
    except (OSError, http.client.HTTPException) as e:
        return None, failure(e)
    finally:
        connection.close()


def run(url, connections, timeout, interval, timeline=False):
    """Counts by serving host, errors, and the longest time without a successful answer; with
    `timeline`, each request's start (Unix time), latency in seconds and serving host (both None
    if it failed), and each failed request's start and what failed (see `failure`)."""
    parts = urlsplit(url)
    served: Counter = Counter()
    errors, requests, failures = 0, [], []
    started = last_success = time.monotonic()
    max_gap = 0.0
    for _ in range(connections):
        asked, asked_at = time.monotonic(), time.time()
        server, failed = request_once(parts.hostname, parts.port or 80, parts.path or "/", timeout)
        now = time.monotonic()
        if timeline:
            requests.append([round(asked_at, 4), round(now - asked, 4) if server else None, server])
        if server:
            served[server] += 1
            max_gap, last_success = max(max_gap, now - last_success), now
        else:
            errors += 1
            failures.append([round(asked_at, 4), failed])
        if interval:
            time.sleep(interval)
    max_gap = max(max_gap, time.monotonic() - last_success)
    result = {"connections": connections, "served_by": dict(served), "errors": errors,
              "seconds": round(time.monotonic() - started, 3), "max_gap": round(max_gap, 3)}
    return dict(result, timeline=requests, failures=failures) if timeline else result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.loadclient", description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=100, help="1..%d" % MAX_CONNECTIONS)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between requests")
    parser.add_argument("--timeline", action="store_true",
                        help="also report each request's start time, latency and serving host (null if it failed), "
                             "and what each failed request met")
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error("--connections must be from 1 to %d" % MAX_CONNECTIONS)
    if urlsplit(args.url).scheme != "http" or not urlsplit(args.url).hostname:
        parser.error("--url must be an http:// URL, got %r" % args.url)
    print(json.dumps(run(args.url, args.connections, args.timeout, args.interval, args.timeline)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
