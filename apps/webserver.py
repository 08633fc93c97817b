"""The web application that runs on every real server (eventlet WSGI).

    GET /        -> {"served_by": NAME, "client": "IP:PORT"}
    GET /health  -> 200 {"status": "ok"}
Every answer is JSON and carries X-Served-By; every request is written to an access log as a JSON
line with ECS-style field names.
"""
import argparse
import json
import sys
import time

import eventlet
from eventlet import wsgi

from controller.eventlog import ecs_timestamp


class NullLog:
    def write(self, _):
        pass


class WebApp:
    def __init__(self, name, access_log):
        self.name = name
        self.access_log = access_log
        self.routes = {"/": self.index, "/health": self.health}

    def index(self, environ):
        return 200, {"served_by": self.name,
                     "client": "%s:%s" % (environ["REMOTE_ADDR"], environ.get("REMOTE_PORT"))}

    def health(self, _environ):
        return 200, {"status": "ok"}

    def dispatch(self, environ):
        handler = self.routes.get(environ["PATH_INFO"])
        if handler is None:
            return 404, {"error": "no such resource: %s" % environ["PATH_INFO"]}
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return 405, {"error": "%s is not allowed on %s; use GET"
                         % (environ["REQUEST_METHOD"], environ["PATH_INFO"])}
        return handler(environ)

    def __call__(self, environ, start_response):
        started = time.monotonic()
        status, body = self.dispatch(environ)
        payload = (json.dumps(body) + "\n").encode()
        start_response("%d %s" % (status, "OK" if status < 400 else "Error"),
                       [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                        ("X-Served-By", self.name)])
        self.log(environ, status, time.monotonic() - started)
        return [payload]

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
