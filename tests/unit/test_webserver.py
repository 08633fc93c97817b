"""The web application's HTTP behaviour, with a real etcd behind it."""
import io
import json

import pytest

from apps.store import ConversationStore
from apps.webserver import MAX_TEXT, WebApp


def call(app, method, path, body=None, headers=None, query=""):
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "REMOTE_ADDR": "10.0.0.11", "REMOTE_PORT": "40000",
               "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()})
    seen = {}

    def start_response(status, response_headers):
        seen["status"], seen["headers"] = status, dict(response_headers)
    payload = b"".join(app(environ, start_response))
    decoded = json.loads(payload) if seen["headers"]["Content-Type"] == "application/json" else payload
    return int(seen["status"].split()[0]), seen["headers"], decoded


@pytest.fixture
def app(etcd_url):
    return WebApp("web1", io.StringIO(), ConversationStore([etcd_url]))


def test_index_names_the_server_and_the_client():
    log = io.StringIO()
    code, headers, body = call(WebApp("web1", log), "GET", "/")
    assert code == 200 and headers["X-Served-By"] == "web1"
    assert body == {"served_by": "web1", "client": "10.0.0.11:40000"}
    record = json.loads(log.getvalue())
    assert record["source.ip"] == "10.0.0.11" and record["http.response.status_code"] == 200
    assert record["url.path"] == "/" and "@timestamp" in record


def test_a_conversation_is_created_appended_to_and_read(app):
    code, headers, body = call(app, "POST", "/conversation")
    conversation = body["id"]
    assert code == 201 and headers["Set-Cookie"] == "conversation=%s; Path=/" % conversation
    for n in (1, 2):
        code, headers, body = call(app, "POST", "/conversation/%s/turns" % conversation, {"text": "turn %d" % n})
        assert code == 201 and body == {"turn": n, "served_by": "web1"} and headers["X-Served-By"] == "web1"
    code, _, body = call(app, "GET", "/conversation/" + conversation)
    assert code == 200 and [t["text"] for t in body["turns"]] == ["turn 1", "turn 2"]
    assert json.loads(app.access_log.getvalue().splitlines()[-1])["conversation.id"] == conversation


def test_an_idempotency_key_makes_a_retry_return_the_same_turn(app):
    conversation = call(app, "POST", "/conversation")[2]["id"]
    path = "/conversation/%s/turns" % conversation
    first = call(app, "POST", path, {"text": "once"}, {"Idempotency-Key": "req-1"})
    again = call(app, "POST", path, {"text": "once"}, {"Idempotency-Key": "req-1"})
    assert first[2]["turn"] == again[2]["turn"] == 1
    assert len(call(app, "GET", "/conversation/" + conversation)[2]["turns"]) == 1


@pytest.mark.parametrize("method,suffix,body,headers,code,message", [
    ("POST", "/turns", b'{"text": ', None, 400, "malformed JSON"),
    ("POST", "/turns", {}, None, 400, '"text", a non-empty string'),
    ("POST", "/turns", {"text": 5}, None, 400, '"text", a non-empty string'),
    ("POST", "/turns", {"text": ""}, None, 400, '"text", a non-empty string'),
    ("POST", "/turns", {"text": "x", "mood": "happy"}, None, 400, "unknown field(s): mood"),
    ("POST", "/turns", ["text"], None, 400, "must be a JSON object"),
    ("POST", "/turns", {"text": "é" * (MAX_TEXT // 2 + 1)}, None, 413, "a turn holds at most 4096"),
    ("POST", "/turns", b"x" * (64 * 1024 + 1), None, 413, "at most 65536 are read"),
    ("POST", "/turns", {"text": "x"}, {"Idempotency-Key": "no spaces"}, 400, "Idempotency-Key must be"),
    ("GET", "/turns", None, None, 405, "GET is not allowed"),
    ("DELETE", "", None, None, 405, "DELETE is not allowed"),
])
def test_bad_requests_get_json_errors_and_write_nothing(app, method, suffix, body, headers, code, message):
    conversation = call(app, "POST", "/conversation")[2]["id"]
    call(app, "POST", "/conversation/%s/turns" % conversation, {"text": "kept"})
    status, response_headers, answer = call(app, method, "/conversation/" + conversation + suffix, body, headers)
    assert status == code and message in answer["error"] and response_headers["X-Served-By"] == "web1"
    assert [t["text"] for t in call(app, "GET", "/conversation/" + conversation)[2]["turns"]] == ["kept"]


@pytest.mark.parametrize("path", ["/conversation/" + "0" * 32, "/conversation/" + "0" * 32 + "/turns",
                                  "/conversation/not-an-id"])
def test_unknown_conversations_are_404(app, path):
    method = "POST" if path.endswith("turns") else "GET"
    code, _, body = call(app, method, path, {"text": "x"} if method == "POST" else None)
    assert code == 404 and "conversation" in body["error"]


def test_health_follows_the_db_tier(app):
    assert call(app, "GET", "/health")[0] == 200
    before = int(call(app, "GET", "/health")[1]["X-Requests-Served"])
    call(app, "GET", "/")
    assert int(call(app, "GET", "/health")[1]["X-Requests-Served"]) == before + 1   # health checks aside
    app.db_reachable = False
    code, _, body = call(app, "GET", "/health")
    assert code == 503 and "DB tier is unreachable" in body["error"]


def test_downloads_check_their_parameters():
    app = WebApp("web2", io.StringIO())
    code, headers, body = call(app, "GET", "/download", query="bytes=1000")
    assert code == 200 and len(body) == 1000 and headers["X-Served-By"] == "web2"
    code, _, body = call(app, "GET", "/download", query="bytes=-5")
    assert code == 400 and "bytes must be an integer" in body["error"]
    assert call(app, "GET", "/nope")[0] == 404 and call(app, "POST", "/health")[0] == 405


def test_slow_answers_late_only_on_the_host_it_names():
    import time
    app = WebApp("web2", io.StringIO())
    started = time.monotonic()
    assert call(app, "GET", "/slow", query="on=web1&ms=500")[2]["served_by"] == "web2"
    assert time.monotonic() - started < 0.3
    assert call(app, "GET", "/slow", query="on=web2&ms=200")[0] == 200 and time.monotonic() - started >= 0.2
    code, _, body = call(app, "GET", "/slow", query="on=web2&ms=99999")
    assert code == 400 and "ms must be an integer from 0 to 10000" in body["error"]


def test_login_succeeds_for_a_known_user_and_logs_failures():
    log = io.StringIO()
    app = WebApp("web1", log)
    code, _, body = call(app, "POST", "/login", {"user": "alice", "password": "wonderland"})
    assert code == 200 and body["user"] == "alice"
    code, _, body = call(app, "POST", "/login", {"user": "alice", "password": "guess"})
    assert code == 401 and body["error"] == "wrong user or password"
    code, _, _ = call(app, "POST", "/login", {"user": "mallory", "password": "x"})
    assert code == 401
    records = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(r["event.outcome"], r["user.name"]) for r in records] == [
        ("success", "alice"), ("failure", "alice"), ("failure", "mallory")]
    assert all(r["event.category"] == "authentication" and r["source.ip"] == "10.0.0.11" for r in records)


@pytest.mark.parametrize("body", [{"user": "alice"}, {"user": "alice", "password": 5}, ["alice"],
                                  {"user": "", "password": "x"}, {"user": "a", "password": "b", "x": 1}])
def test_malformed_logins_are_400(body):
    code, _, answer = call(WebApp("web1", io.StringIO()), "POST", "/login", body)
    assert code == 400 and ("two non-empty strings" in answer["error"] or "a JSON object" in answer["error"])
