"""The REST API under random requests (hypothesis), against the real controller process: random
methods, paths, content types and lengths, and bodies (invalid UTF-8, deep nesting, huge numbers,
NaN, wrong types) at every endpoint. Every answer is a 2xx or 4xx JSON document, never a 5xx or a
stack trace; the controller stays up; the virtual service and the blocks change only through
requests that were answered 2xx."""
import http.client
import json
import re
import socket
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core.apitoken import AUTHORIZATION, BEARER
from tests.unit.conftest import running_controller

NAMES = st.one_of(st.sampled_from(["web1", "web2", "web3", "db1", "c1", "", "..", "web1/x", "%00", "WEB1"]),
                  st.text(max_size=300))
ADDRESSES = st.one_of(st.sampled_from(["10.0.0.77", "10.0.0.78", "10.0.0.100", "10.0.1.11", "0.0.0.0",
                                       "255.255.255.255", "10.0.0.300", "::1", "10.0.0.77/24"]),
                      st.ip_addresses(v=4).map(str), st.text(max_size=50))
PATHS = st.one_of(
    st.sampled_from(["/lb/status", "/lb/backends", "/lb/blocks", "/", "/lb", "/lb/", "/lb/status/",
                     "/lb/backends/", "//lb/status", "/lb/../lb/status", "/lb/nodes", "/lb/cluster", "/lb/alerts",
                     "/dashboard", "/dashboard/dashboard.js", "/dashboard/../rest.py", "/dashboard/x"]),
    NAMES.map(lambda name: "/lb/nodes/%s/%s" % (quote(name, safe=""), "fail" if len(name) % 2 else "recover")),
    NAMES.map(lambda name: "/lb/backends/" + quote(name, safe="")),
    ADDRESSES.map(lambda ip: "/lb/blocks/" + quote(ip, safe="")),
    st.text(max_size=200).map(lambda path: "/" + quote(path)))
NUMBERS = st.one_of(st.integers(), st.integers(min_value=10 ** 18, max_value=10 ** 400),
                    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none())
SCALARS = st.one_of(NUMBERS, st.text(max_size=100), ADDRESSES, NAMES)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                     st.dictionaries(st.text(max_size=10), inner, max_size=5)),
                    max_leaves=20)
FIELDS = st.sampled_from(["weight", "name", "ip", "seconds", "reason", "colour"])
OBJECTS = st.dictionaries(FIELDS, st.one_of(SCALARS, JSON), max_size=4)


def encoded(document):
    """JSON as Python writes it: NaN and Infinity included, as a careless client would send."""
    return json.dumps(document, allow_nan=True).encode()


BODIES = st.one_of(
    st.none(), st.just(b""),
    OBJECTS.map(encoded), JSON.map(encoded),
    st.binary(max_size=300),                                                  # invalid UTF-8, anything
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.sampled_from([b'{"weight": 1e999}', b'{"weight": -0}', b'{"weight": 1' + b"0" * 5000 + b"}",
                     b'\xef\xbb\xbf{"weight": 1}', b'{"weight": 1, "weight": 2}', b'{"ip": "10.0.0.77\x00"}']))
CONTENT_TYPES = st.sampled_from([None, "application/json", "application/json; charset=latin-1", "text/plain",
                                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                 "application/json; charset=\u00e9", "*/*", "garbage"])
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"])
TOKENS = st.sampled_from(["the run's"] * 4 + [None, "a wrong one"])   # mostly past the gate, to the handlers


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    with running_controller(tmp_path_factory.mktemp("fuzz")) as (url, tmp, process, headers):
        yield urlsplit(url).netloc, tmp, process, headers


def call(netloc, method, path, body=None, content_type=None, length=None, auth=None):
    """One request on its own connection, with the headers `auth`: (status, headers, body bytes)."""
    connection = http.client.HTTPConnection(netloc, timeout=10)
    headers = dict(auth or {})
    if content_type is not None:
        headers["Content-Type"] = content_type
    if body is not None:
        headers["Content-Length"] = str(len(body) if length is None else length)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def service_state(netloc):
    """What requests may change: each real server's weight and membership, and the blocks."""
    backends = json.loads(call(netloc, "GET", "/lb/backends")[2])["backends"]
    blocks = json.loads(call(netloc, "GET", "/lb/blocks")[2])["blocks"]
    return ([(b["name"], b["weight"], b["in_service"]) for b in backends],
            sorted((b["ip"], b["reason"]) for b in blocks))


def check_answer(method, path, status, headers, body):
    """Every answer a 2xx, 3xx or 4xx; every one JSON but the dashboard's page and files."""
    assert 200 <= status < 500, (status, body[:300])
    if not headers.get("Content-Type", "").startswith("application/json"):
        assert status < 400 and (path == "/" or path.startswith("/dashboard")), (path, status, headers)
        return
    if method != "HEAD":
        document = json.loads(body)
        assert isinstance(document, dict)
        if status >= 400:
            assert isinstance(document["error"], str) and "Traceback" not in document["error"]


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(method=METHODS, path=PATHS, body=BODIES, content_type=CONTENT_TYPES,
       short_by=st.one_of(st.none(), st.integers(min_value=1, max_value=20)), token=TOKENS)
def test_random_requests_get_json_answers_and_change_only_what_succeeded(controller, method, path, body,
                                                                         content_type, short_by, token):
    netloc, _, process, headers = controller
    length = None if body is None or short_by is None else max(0, len(body) - short_by)   # a length that lies
    auth = {None: {}, "a wrong one": {AUTHORIZATION: BEARER + "x" * 43}}.get(token, headers)
    before = service_state(netloc)
    status, headers, answer = call(netloc, method, path, body, content_type, length, auth)
    check_answer(method, path, status, headers, answer)
    if status >= 400 or method in ("GET", "HEAD", "OPTIONS") or auth is not controller[3]:
        assert service_state(netloc) == before, (method, path, body, status, answer[:200])
    assert process.poll() is None


@pytest.mark.parametrize("body", [b'{"weight": NaN}', b'{"weight": Infinity}', b'{"weight": -Infinity}',
                                  b'{"weight": 1e400}', b'{"weight": 3.0}', b'{"weight": 100000000000000000000}'])
def test_numbers_that_are_no_weight_are_refused_by_name(controller, body):
    netloc, _, _, auth = controller
    status, _, answer = call(netloc, "PUT", "/lb/backends/web1", body, "application/json", auth=auth)
    assert status == 400 and "weight must be an integer from 0 to 65535" in json.loads(answer)["error"]


def test_a_body_nested_beyond_reason_is_refused_saying_so(controller):
    netloc, _, _, auth = controller
    status, _, answer = call(netloc, "PUT", "/lb/backends/web1", b"[" * 30_000 + b"]" * 30_000, "application/json",
                             auth=auth)
    assert status == 400 and "nested" in json.loads(answer)["error"]


def test_a_body_beyond_the_limit_is_refused_unread(controller):
    netloc, _, _, auth = controller
    status, _, answer = call(netloc, "POST", "/lb/blocks", b" " * 100_000 + b'{"ip": "10.0.0.77"}', "application/json",
                             auth=auth)
    assert status == 413 and "at most 65536 are read" in json.loads(answer)["error"]


@pytest.mark.parametrize("frame", [b"GARBAGE\r\n\r\n",
                                   b"PUT /lb/backends/web1 HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}",
                                   b"PUT /lb/backends/web1 HTTP/1.1\r\nContent-Length: -1\r\n\r\n{}",
                                   b"GET /lb/status HTTP/9.9\r\n\r\n", b"\x00\xff\r\n\r\n"])
def test_what_is_not_http_is_refused_by_the_server_itself(controller, frame):
    """Framing the API never sees: the HTTP server answers 400 (or 505) itself, not in JSON, and
    goes on."""
    netloc, _, process, _ = controller
    host, port = netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(frame)
        answer = s.recv(200)
    assert re.search(rb"\b(400|505)\b", answer), answer        # an HTTP/0.9 line gets the page alone
    assert process.poll() is None and call(netloc, "GET", "/lb/status")[0] == 200


def test_after_the_fuzzing_the_controller_is_up_and_logged_no_exception(controller):
    netloc, tmp, process, _ = controller
    status, _, answer = call(netloc, "GET", "/lb/status")
    assert status == 200 and json.loads(answer)["mode"] == "tun" and process.poll() is None
    log = (tmp / "controller.log").read_text()
    assert "Traceback" not in log and "failed" not in log, log[-3000:]
