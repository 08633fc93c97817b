"""The web application that runs on every real server (eventlet WSGI). It keeps no state of its
own: conversations live in the DB tier (apps/store.py), so any web host can carry on any one.

    POST /conversation                  -> 201 {"id": ID}, also the cookie `conversation`
    POST /conversation/ID/turns         {"text": ...} -> 201 {"turn": n, "served_by": NAME};
                                        an Idempotency-Key header makes a retry return the same turn
    GET  /conversation/ID               -> {"id": ID, "turns": [{"turn", "text", "served_by", "at"}]}
    POST /login                         {"user": ..., "password": ...} -> 200, or 401 (the failure
                                        logged, for the log reviewer's brute-force criterion)
    GET  /health                        -> 200 when the DB tier answers, else 503; X-Requests-Served:
                                           the requests answered so far, health checks aside
    GET  /                              -> {"served_by": NAME, "client": "IP:PORT"}
    GET  /download?bytes=N[&rate=R]     -> N bytes of a fixed pattern (see `pattern`), paced at
                                           R bytes/s when given: bulk and long-lived transfers
    GET  /slow?on=NAME&ms=N             -> as /, after N ms if this host is NAME, else at once: one
                                           slow real server beside fast ones (scripts/schedbench.py)
Every answer carries X-Served-By; errors are JSON {"error": ...}. Every request is written to an
access log as a JSON line with ECS-style field names.
"""
import argparse
import hashlib
import hmac
import json
import re
import sys
import time
from urllib.parse import parse_qs

import eventlet
from routes import Mapper

from apps.store import ConversationStore, NotFound, Unavailable
from core.eventlog import ecs_timestamp
from core.httpbody import HttpError, json_object

MAX_DOWNLOAD = 1 << 30
MAX_SLOW_MS = 10000
MAX_TEXT = 4096                 # bytes of UTF-8 in one turn
CHUNK = 64 * 1024
PATTERN_BLOCK = bytes(range(251)) * (CHUNK // 251 + 1)
HEALTH_INTERVAL = 0.2
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CONVERSATION_ID = r"[0-9a-f]{32}"


# A small fixed user table (demo accounts alice/wonderland, bob/builder): PBKDF2 hashes only.
LOGIN_SALT = b"lvsdn-demo-users"
USERS = {
    "alice": "a27448fefbf22c96dd6767cb705366adac47fc4cf53519bf0a16781c4bb71958",
    "bob": "c0724f5af3da6d15fd76912b6f700c236bbe598ddd4753b0f0ea1e71421966f8",
}
MAX_CREDENTIAL = 256


def password_hash(password):
    return hashlib.pbkdf2_hmac("sha256", password.encode(), LOGIN_SALT, 10000).hex()


def pattern(offset, size):
    """Bytes [offset, offset+size) of the download pattern: byte i is i mod 251, so a client can
    check a transfer byte for byte without holding a copy."""
    out = bytearray()
    while len(out) < size:
        start = (offset + len(out)) % 251
        out += PATTERN_BLOCK[start:start + min(CHUNK, size - len(out))]
    return bytes(out)


def int_param(query, name, low, high, default=None):
    values = query.get(name)
    if not values:
        if default is None:
            raise HttpError(400, "missing query parameter %s (an integer from %d to %d)" % (name, low, high))
        return default
    if not values[0].isdigit() or not low <= int(values[0]) <= high:
        raise HttpError(400, "%s must be an integer from %d to %d, got %r" % (name, low, high, values[0]))
    return int(values[0])


def json_body(environ):
    """The request's JSON object; HttpError (400 or 413) for anything else."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "Content-Length is not a number") from None
    return json_object(length, environ["wsgi.input"].read)


def paced_chunks(size, rate):
    """The download body in chunks, sleeping so that it flows at `rate` bytes/s (0: unpaced)."""
    started = time.monotonic()
    for offset in range(0, size, CHUNK):
        if rate:
            delay = started + offset / rate - time.monotonic()
            if delay > 0:
                eventlet.sleep(delay)
        yield pattern(offset, min(CHUNK, size - offset))


class WebApp:
    def __init__(self, name, access_log, store=None):
        self.name = name
        self.access_log = access_log
        self.store = store
        self.db_reachable = store is not None
        self.requests_served = 0                # health checks aside: read by the dashboard's chart
        self.routes = Mapper(explicit=True)     # Routes, as Ryu's REST framework uses it
        self.handlers = {}                      # route path -> {method: handler}
        for path, methods in (
                ("/", {"GET": self.index}),
                ("/health", {"GET": self.health}),
                ("/download", {"GET": self.download}),
                ("/slow", {"GET": self.slow}),
                ("/conversation", {"POST": self.create}),
                ("/login", {"POST": self.login}),
                ("/conversation/{conversation}", {"GET": self.read}),
                ("/conversation/{conversation}/turns", {"POST": self.append})):
            self.routes.connect(path, requirements={"conversation": CONVERSATION_ID})
            self.handlers[path] = methods

    # --- handlers: (status, body[, headers]) -------------------------------------------------
    def index(self, environ):
        return 200, {"served_by": self.name,
                     "client": "%s:%s" % (environ["REMOTE_ADDR"], environ.get("REMOTE_PORT"))}

    def slow(self, environ):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        delay = int_param(query, "ms", 0, MAX_SLOW_MS)
        if query.get("on", [""])[0] == self.name:
            eventlet.sleep(delay / 1000.0)
        return self.index(environ)

    def health(self, _environ):
        served = [("X-Requests-Served", str(self.requests_served))]
        if self.db_reachable:
            return 200, {"status": "ok", "db": "reachable"}, served
        return 503, {"status": "degraded", "error": "the DB tier is unreachable"}, served

    def download(self, environ):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        size = int_param(query, "bytes", 0, MAX_DOWNLOAD)
        rate = int_param(query, "rate", 1, MAX_DOWNLOAD, default=0)
        return 200, paced_chunks(size, rate), [("Content-Type", "application/octet-stream"),
                                               ("Content-Length", str(size))]

    def login(self, environ):
        body = json_body(environ)
        user, password = body.get("user"), body.get("password")
        if set(body) != {"user", "password"} or not all(
                isinstance(v, str) and 0 < len(v) <= MAX_CREDENTIAL for v in (user, password)):
            raise HttpError(400, 'the body must be {"user": ..., "password": ...}, two non-empty strings')
        known = USERS.get(user)
        ok = known is not None and hmac.compare_digest(known, password_hash(password))
        environ["lvsdn.log"] = {"event.category": "authentication", "event.outcome": "success" if ok else "failure",
                                "user.name": user[:64]}
        if not ok:
            return 401, {"error": "wrong user or password"}
        return 200, {"user": user, "served_by": self.name}

    def create(self, _environ):
        conversation = self.store.create()
        return 201, {"id": conversation}, [("Set-Cookie", "conversation=%s; Path=/" % conversation)]

    def read(self, _environ, conversation):
        return 200, {"id": conversation, "turns": self.store.turns(conversation)}

    def append(self, environ, conversation):
        body = json_body(environ)
        text = body.get("text")
        unknown = sorted(set(body) - {"text"})
        if unknown:
            raise HttpError(400, "unknown field(s): %s; expected: text" % ", ".join(unknown))
        if not isinstance(text, str) or not text:
            raise HttpError(400, 'the body needs "text", a non-empty string')
        if len(text.encode()) > MAX_TEXT:
            raise HttpError(413, "text is %d bytes; a turn holds at most %d" % (len(text.encode()), MAX_TEXT))
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise HttpError(400, "Idempotency-Key must be 1 to 64 letters, digits, '.', '_' or '-'")
        turn = self.store.append(conversation, text, self.name, request_key=key)
        return 201, {"turn": turn, "served_by": self.name}

    # --- plumbing -----------------------------------------------------------------------------
    def dispatch(self, environ):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        found = self.routes.routematch(path)
        if found is None:
            if path.startswith("/conversation/"):
                return 404, {"error": "no conversation at %s (ids are 32 hex digits)" % path}
            return 404, {"error": "no such resource: %s" % path}
        match, route = found
        methods = self.handlers[route.routepath]
        if method not in methods:
            return 405, {"error": "%s is not allowed on %s; use %s" % (method, path, ", ".join(methods))}
        if methods[method] in (self.create, self.read, self.append) and self.store is None:
            return 503, {"error": "this web host runs without a DB tier"}
        try:
            return methods[method](environ, **match)
        except HttpError as e:
            return e.status, {"error": str(e)}
        except NotFound:
            return 404, {"error": "no conversation %s (never created, or expired)" % match["conversation"]}
        except Unavailable as e:
            return 503, {"error": str(e)}

    def __call__(self, environ, start_response):
        started = time.monotonic()
        status, body, *extra = self.dispatch(environ)
        headers = extra[0] if extra else []
        if any(name == "Content-Length" for name, _ in headers):
            chunks = body
        else:
            payload = (json.dumps(body) + "\n").encode()
            chunks = [payload]
            headers = headers + [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response("%d %s" % (status, "OK" if status < 400 else "Error"), headers + [("X-Served-By", self.name)])
        if environ["PATH_INFO"] != "/health":
            self.requests_served += 1
        self.log(environ, status, time.monotonic() - started)
        return chunks

    def log(self, environ, status, seconds):
        match = re.search(r"/conversation/([0-9a-f]{32})", environ["PATH_INFO"])
        record = {
            "@timestamp": ecs_timestamp(), "event.action": "http-request", "host.name": self.name,
            "source.ip": environ["REMOTE_ADDR"], "source.port": int(environ.get("REMOTE_PORT") or 0),
            "http.request.method": environ["REQUEST_METHOD"], "url.path": environ["PATH_INFO"],
            "http.response.status_code": status, "event.duration": int(seconds * 1e9),
        }
        if match:
            record["conversation.id"] = match.group(1)
        record.update(environ.get("lvsdn.log", {}))
        self.access_log.write(json.dumps(record) + "\n")

    def watch_db(self):
        """Keep `db_reachable` current (a green thread), so that /health answers at once."""
        while True:
            self.db_reachable = self.store.ping(deadline=0.5)
            eventlet.sleep(HEALTH_INTERVAL)


class NullLog:
    def write(self, _):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.webserver", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="this web host's name (X-Served-By)")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--access-log", help="JSON-lines access log (default: none)")
    parser.add_argument("--etcd", help="the DB tier's client URLs, comma-separated")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds a conversation lives (lease)")
    args = parser.parse_args(argv)
    eventlet.monkey_patch()        # the etcd client (requests) must not block the server
    # Imported here, in the serving process only: importing eventlet.wsgi puts a green copy of
    # http.server into the `http` package, and a real thread in any other importer (a test's page
    # server) would then wait on green locks forever.
    from eventlet import wsgi
    try:
        sock = eventlet.listen((args.bind, args.port))
    except OSError as e:
        sys.exit("webserver: cannot listen on %s:%d: %s" % (args.bind, args.port, e.strerror))
    log = open(args.access_log, "a", buffering=1) if args.access_log else NullLog()
    store = ConversationStore(args.etcd.split(","), ttl=args.ttl) if args.etcd else None
    app = WebApp(args.name, log, store)
    if store is not None:
        eventlet.spawn(app.watch_db)
    wsgi.server(sock, app, log_output=False)


if __name__ == "__main__":
    main()
