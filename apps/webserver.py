"""The web application that runs on every real server (eventlet WSGI).

    GET /                          -> {"served_by": NAME, "client": "IP:PORT"}
    GET /health                    -> 200 {"status": "ok"}
    GET /download?bytes=N[&rate=R] -> N bytes of a fixed pattern (see `pattern`), paced at
                                      R bytes/s when given: bulk and long-lived transfers
Every answer is JSON and carries X-Served-By; every request is written to an access log as a JSON
line with ECS-style field names.
"""
import argparse
import json
import sys
import time
from urllib.parse import parse_qs

import eventlet
from eventlet import wsgi

from controller.eventlog import ecs_timestamp

MAX_DOWNLOAD = 1 << 30
CHUNK = 64 * 1024
PATTERN_BLOCK = bytes(range(251)) * (CHUNK // 251 + 1)


def pattern(offset, size):
    """Bytes [offset, offset+size) of the download pattern: byte i is i mod 251, so a client can
    check a transfer byte for byte without holding a copy."""
    out = bytearray()
    while len(out) < size:
        start = (offset + len(out)) % 251
        out += PATTERN_BLOCK[start:start + min(CHUNK, size - len(out))]
    return bytes(out)


class BadRequest(ValueError):
    pass


def int_param(query, name, low, high, default=None):
    values = query.get(name)
    if not values:
        if default is None:
            raise BadRequest("missing query parameter %s (an integer from %d to %d)" % (name, low, high))
        return default
    if not values[0].isdigit() or not low <= int(values[0]) <= high:
        raise BadRequest("%s must be an integer from %d to %d, got %r" % (name, low, high, values[0]))
    return int(values[0])


def paced_chunks(size, rate):
    """The download body in chunks, sleeping so that it flows at `rate` bytes/s (0: unpaced)."""
    started = time.monotonic()
    for offset in range(0, size, CHUNK):
        if rate:
            delay = started + offset / rate - time.monotonic()
            if delay > 0:
                eventlet.sleep(delay)
        yield pattern(offset, min(CHUNK, size - offset))


class NullLog:
    def write(self, _):
        pass


class WebApp:
    def __init__(self, name, access_log):
        self.name = name
        self.access_log = access_log
        self.routes = {"/": self.index, "/health": self.health, "/download": self.download}

    def index(self, environ):
        return 200, {"served_by": self.name,
                     "client": "%s:%s" % (environ["REMOTE_ADDR"], environ.get("REMOTE_PORT"))}

    def health(self, _environ):
        return 200, {"status": "ok"}

    def download(self, environ):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        size = int_param(query, "bytes", 0, MAX_DOWNLOAD)
        rate = int_param(query, "rate", 1, MAX_DOWNLOAD, default=0)
        return 200, paced_chunks(size, rate), size

    def dispatch(self, environ):
        handler = self.routes.get(environ["PATH_INFO"])
        if handler is None:
            return 404, {"error": "no such resource: %s" % environ["PATH_INFO"]}
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return 405, {"error": "%s is not allowed on %s; use GET"
                         % (environ["REQUEST_METHOD"], environ["PATH_INFO"])}
        try:
            return handler(environ)
        except BadRequest as e:
            return 400, {"error": str(e)}

    def __call__(self, environ, start_response):
        started = time.monotonic()
        status, body, *stream_size = self.dispatch(environ)
        if stream_size:
            content_type, length, chunks = "application/octet-stream", stream_size[0], body
        else:
            payload = (json.dumps(body) + "\n").encode()
            content_type, length, chunks = "application/json", len(payload), [payload]
        start_response("%d %s" % (status, "OK" if status < 400 else "Error"),
                       [("Content-Type", content_type), ("Content-Length", str(length)),
                        ("X-Served-By", self.name)])
        self.log(environ, status, time.monotonic() - started)
        return chunks

    def log(self, environ, status, seconds):
        self.access_log.write(json.dumps({
            "@timestamp": ecs_timestamp(), "event.action": "http-request", "host.name": self.name,
            "source.ip": environ["REMOTE_ADDR"], "source.port": int(environ.get("REMOTE_PORT") or 0),
            "http.request.method": environ["REQUEST_METHOD"], "url.path": environ["PATH_INFO"],
            "http.response.status_code": status, "event.duration": int(seconds * 1e9),
        }) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.webserver", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="this web host's name (X-Served-By)")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--access-log", help="JSON-lines access log (default: none)")
    args = parser.parse_args(argv)
    try:
        sock = eventlet.listen((args.bind, args.port))
    except OSError as e:
        sys.exit("webserver: cannot listen on %s:%d: %s" % (args.bind, args.port, e.strerror))
    log = open(args.access_log, "a", buffering=1) if args.access_log else NullLog()
    wsgi.server(sock, WebApp(args.name, log), log_output=False)


if __name__ == "__main__":
    main()
