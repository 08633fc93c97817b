import io
import json

from apps.webserver import WebApp


def call(app, method, path):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": "10.0.0.11", "REMOTE_PORT": "40000"}
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)
    body = b"".join(app(environ, start_response))
    return int(seen["status"].split()[0]), seen["headers"], json.loads(body)


def test_index_names_the_server_and_the_client():
    log = io.StringIO()
    code, headers, body = call(WebApp("web1", log), "GET", "/")
    assert code == 200 and headers["X-Served-By"] == "web1"
    assert body == {"served_by": "web1", "client": "10.0.0.11:40000"}
    record = json.loads(log.getvalue())
    assert record["source.ip"] == "10.0.0.11" and record["http.response.status_code"] == 200
    assert record["url.path"] == "/" and "@timestamp" in record


def test_errors_are_json_and_carry_the_server_name():
    app = WebApp("web2", io.StringIO())
    code, headers, body = call(app, "GET", "/nope")
    assert code == 404 and headers["X-Served-By"] == "web2" and "no such resource" in body["error"]
    code, _, body = call(app, "POST", "/health")
    assert code == 405 and "POST is not allowed on /health" in body["error"]
