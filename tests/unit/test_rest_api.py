"""The real controller process, with no switch connected, answers its REST API in JSON."""
import json
import subprocess
import sys

import pytest
import requests

from tests.unit.conftest import ROOT

JSON_BODY = {"Content-Type": "application/json"}


def test_status_describes_the_cluster(api):
    status = requests.get(api + "/lb/status", timeout=5).json()
    assert status["mode"] == "tun" and status["vip"] == "10.0.0.100"
    assert status["active_proxy"] is None
    assert [b["name"] for b in status["backends"]] == ["web1", "web2", "web3"]
    assert {"name", "rip", "weight", "state"} <= set(status["backends"][0])
    assert status["packet_in"] == 0


@pytest.mark.parametrize("method,path,code,message", [
    ("GET", "/nowhere", 404, "no such resource: /nowhere"),
    ("DELETE", "/lb/status", 405, "DELETE is not allowed on /lb/status; use GET"),
])
def test_bad_requests_get_a_json_error(api, changes, method, path, code, message):
    response = changes.request(method, api + path, timeout=5)
    assert response.status_code == code
    assert response.headers["Content-Type"].startswith("application/json")
    assert message in response.json()["error"]


def test_launcher_refuses_a_missing_description():
    result = subprocess.run([sys.executable, "-m", "controller.launcher", "--cluster", "/nonexistent.json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "cluster description /nonexistent.json cannot be read: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def config(api):
    return [(b["name"], b["weight"], b["in_service"])
            for b in requests.get(api + "/lb/backends", timeout=5).json()["backends"]]


def test_backends_list_the_virtual_service(api):
    service = requests.get(api + "/lb/backends", timeout=5).json()
    assert service["vip"] == "10.0.0.100" and service["scheduler"] == "maglev"
    assert config(api) == [("web1", 1, True), ("web2", 1, True), ("web3", 1, True)]


def test_weight_change_membership_and_back(api, changes):
    assert changes.put(api + "/lb/backends/web2", json={"weight": 3}, timeout=5).json()["weight"] == 3
    assert changes.delete(api + "/lb/backends/web3", timeout=5).json()["in_service"] is False
    response = changes.post(api + "/lb/backends", json={"name": "web3", "weight": 2}, timeout=5)
    assert response.status_code == 201 and response.json()["weight"] == 2
    changes.put(api + "/lb/backends/web2", json={"weight": 1}, timeout=5)
    changes.put(api + "/lb/backends/web3", json={"weight": 1}, timeout=5)
    assert config(api) == [("web1", 1, True), ("web2", 1, True), ("web3", 1, True)]


@pytest.mark.parametrize("method,path,body,code,message", [
    ("PUT", "/lb/backends/web1", '{"weight": -1}', 400, "weight must be an integer from 0 to 65535, got -1"),
    ("PUT", "/lb/backends/web1", '{"weight": "3"}', 400, 'weight must be an integer from 0 to 65535, got "3"'),
    ("PUT", "/lb/backends/web1", '{"weight": 1.5}', 400, "got 1.5"),
    ("PUT", "/lb/backends/web1", '{"weight": true}', 400, "got true"),
    ("PUT", "/lb/backends/web1", '{"weight": 70000}', 400, "got 70000"),
    ("PUT", "/lb/backends/web1", "{}", 400, "missing field(s): weight"),
    ("PUT", "/lb/backends/web1", '{"weight": 1, "colour": 2}', 400, "unknown field(s): colour"),
    ("PUT", "/lb/backends/web1", '{"weight": ', 400, "malformed JSON"),
    ("PUT", "/lb/backends/web1", "[1]", 400, "must be a JSON object"),
    ("PUT", "/lb/backends/web1", "", 400, "must be a JSON object"),
    ("PUT", "/lb/backends/web9", '{"weight": 1}', 404, "no real server named 'web9'"),
    ("POST", "/lb/backends", '{"name": "web1"}', 400, "web1 is already in the virtual service"),
    ("POST", "/lb/backends", '{"name": 5}', 400, "name must be a string"),
    ("POST", "/lb/backends", '{"name": "web1", "weight": -3}', 400, "weight must be an integer"),
    ("POST", "/lb/backends", '{"name": "db1"}', 404, "no real server named 'db1'"),
    ("DELETE", "/lb/backends/web9", None, 404, "no real server named 'web9'"),
    ("GET", "/lb/backends/web1", None, 405, "GET is not allowed on /lb/backends/web1; use PUT"),
])
def test_bad_requests_change_nothing(api, method, path, body, code, message, changes):
    before = config(api)
    response = changes.request(method, api + path, data=body, headers=JSON_BODY, timeout=5)
    assert response.status_code == code
    assert message in response.json()["error"]
    assert config(api) == before


def test_a_source_is_blocked_listed_and_unblocked(api, changes):
    response = changes.post(api + "/lb/blocks", json={"ip": "10.0.0.77", "seconds": 120, "reason": "test"}, timeout=5)
    assert response.status_code == 201 and response.json()["ip"] == "10.0.0.77"
    listed = requests.get(api + "/lb/blocks", timeout=5).json()["blocks"]
    assert [(b["ip"], b["reason"]) for b in listed] == [("10.0.0.77", "test")] and 0 < listed[0]["seconds_left"] <= 120
    assert changes.delete(api + "/lb/blocks/10.0.0.77", timeout=5).json() == {"ip": "10.0.0.77", "blocked": False}
    assert requests.get(api + "/lb/blocks", timeout=5).json()["blocks"] == []


@pytest.mark.parametrize("body,code,message", [
    ('{"ip": "10.0.0.300"}', 400, "ip must be an IPv4 address"),
    ('{"ip": "c1"}', 400, "ip must be an IPv4 address"),
    ('{"ip": 10}', 400, "ip must be an IPv4 address"),
    ('{"ip": "10.0.0.100"}', 400, "10.0.0.100 is the VIP, one of the cluster's own addresses"),
    ('{"ip": "10.0.0.1"}', 400, "10.0.0.1 is r0"),
    ('{"ip": "10.0.1.11"}', 400, "10.0.1.11 is web1"),
    ('{"ip": "127.0.0.1"}', 400, "not a host address"),
    ('{"ip": "10.0.0.77", "seconds": -5}', 400, "seconds must be an integer from 1"),
    ('{"ip": "10.0.0.77", "seconds": "600"}', 400, "seconds must be an integer"),
    ('{"ip": "10.0.0.77", "colour": 1}', 400, "unknown field(s): colour"),
    ('{}', 400, "missing field(s): ip"),
])
def test_bad_blocks_are_refused_and_change_nothing(api, body, code, message, changes):
    response = changes.post(api + "/lb/blocks", data=body, headers=JSON_BODY, timeout=5)
    assert response.status_code == code and message in response.json()["error"]
    assert requests.get(api + "/lb/blocks", timeout=5).json()["blocks"] == []


def test_unblocking_what_is_not_blocked_is_404(api, changes):
    response = changes.delete(api + "/lb/blocks/10.0.0.99", timeout=5)
    assert response.status_code == 404 and "10.0.0.99 is not blocked" in response.json()["error"]


def test_changes_to_the_virtual_service_are_logged_as_events(controller):
    url, events, changes = controller
    assert changes.put(url + "/lb/backends/web2", json={"weight": 4}, timeout=5).status_code == 200
    assert changes.put(url + "/lb/backends/web2", json={"weight": 1}, timeout=5).status_code == 200
    assert changes.put(url + "/lb/backends/web2", json={"weight": -1}, timeout=5).status_code == 400
    changed = [json.loads(line) for line in events.read_text().splitlines() if "weight-changed" in line]
    assert [e["message"] for e in changed][-2:] == ["web2's weight: 1 -> 4", "web2's weight: 4 -> 1"]
    assert changed[-1]["destination.ip"] == "10.0.1.12"


def test_the_dashboard_is_served_from_the_controller_itself(api, changes):
    root = requests.get(api + "/", allow_redirects=False, timeout=5)
    assert root.status_code == 302 and root.headers["Location"].endswith("/dashboard")
    page = requests.get(api + "/dashboard", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for asset in ("/dashboard/dashboard.js", "/dashboard/dashboard.css"):
        assert requests.get(api + asset, timeout=5).status_code == 200
        assert asset in page.text                       # referenced by the page, from the controller
    assert "http" not in page.text.replace("http://www.w3.org", "")    # no CDN
    assert requests.get(api + "/dashboard/../rest.py", timeout=5).status_code == 404
    wrong = changes.post(api + "/dashboard", timeout=5)
    assert wrong.status_code == 405 and "use GET" in wrong.json()["error"]


def test_nodes_the_cluster_and_alerts_are_listed(api):
    nodes = {n["name"]: n for n in requests.get(api + "/lb/nodes", timeout=5).json()["nodes"]}
    assert {"lb1", "lb2", "web1", "db1", "c1"} <= set(nodes) and "r0" not in nodes
    assert nodes["lb1"]["role"] == "proxy" and len(nodes["lb1"]["links"]) == 4 and nodes["lb1"]["failed"] is None
    cluster = requests.get(api + "/lb/cluster", timeout=5).json()
    assert cluster["vip"] == "10.0.0.100" and {h["name"] for h in cluster["hosts"]} >= {"r0", "web3"}
    assert requests.get(api + "/lb/alerts", timeout=5).json() == {"alerts": [], "reviewer": False}


@pytest.mark.parametrize("path,body,code,message", [
    ("/lb/nodes/lb1/fail", {"kind": "link"}, 400, "not connected to the controller: nothing was changed"),
    ("/lb/nodes/r0/fail", {"kind": "link"}, 404, "no node 'r0' to fail"),
    ("/lb/nodes/web1/fail", {"kind": "melt"}, 400, "kind must be one of link"),
    ("/lb/nodes/web1/fail", {}, 400, "missing field(s): kind"),
    ("/lb/nodes/web1/recover", None, 400, "web1 has not been failed through the API"),
])
def test_bad_node_requests_are_refused_and_change_nothing(api, path, body, code, message, changes):
    response = changes.post(api + path, json=body, timeout=5)
    assert response.status_code == code and message in response.json()["error"]
    assert all(n["failed"] is None for n in requests.get(api + "/lb/nodes", timeout=5).json()["nodes"])


def events_of(events, action):
    return [json.loads(line) for line in events.read_text().splitlines() if '"%s"' % action in line]


@pytest.mark.parametrize("method,path,body", [
    ("PUT", "/lb/backends/web1", {"weight": 0}), ("POST", "/lb/backends", {"name": "web1"}),
    ("DELETE", "/lb/backends/web1", None), ("POST", "/lb/blocks", {"ip": "10.0.0.77"}),
    ("DELETE", "/lb/blocks/10.0.0.77", None), ("POST", "/lb/nodes/web1/fail", {"kind": "link"}),
    ("POST", "/lb/nodes/web1/recover", None), ("POST", "/lb/nowhere", None)])
@pytest.mark.parametrize("token", [None, "Bearer " + "x" * 43])
def test_a_change_without_the_runs_token_is_401_and_changes_nothing(controller, method, path, body, token):
    api, events = controller[:2]
    before = (config(api), requests.get(api + "/lb/blocks", timeout=5).json())
    response = requests.request(method, api + path, json=body, headers={"Authorization": token} if token else {},
                                timeout=5)
    assert response.status_code == 401 and "token" in response.json()["error"]
    assert (config(api), requests.get(api + "/lb/blocks", timeout=5).json()) == before
    refused = events_of(events, "api-refused")[-1]
    assert refused["url.path"] == path and refused["http.request.method"] == method
    assert refused["labels.reason"] == ("wrong-token" if token else "no-token") and "x" * 43 not in refused["message"]


def test_a_body_that_is_not_json_is_415_even_with_the_token(api, changes):
    response = changes.put(api + "/lb/backends/web1", data='{"weight": 0}', headers={"Content-Type": "text/plain"},
                           timeout=5)
    assert response.status_code == 415 and "application/json, not text/plain" in response.json()["error"]
    assert config(api)[0] == ("web1", 1, True)


def test_a_foreign_host_is_refused_and_reads_stay_open(api, changes):
    assert requests.get(api + "/lb/status", timeout=5).status_code == 200          # no token needed to read
    for call in (requests.get, changes.put):
        response = call(api + "/lb/backends/web1", json={"weight": 0}, headers={"Host": "rebound.example:8080"},
                        timeout=5)
        assert response.status_code == 403 and "does not name this controller" in response.json()["error"]
    assert config(api)[0] == ("web1", 1, True)


def test_a_token_on_the_query_string_is_refused(api, changes):
    token = changes.headers["Authorization"].split()[1]
    response = requests.put(api + "/lb/backends/web1?token=" + token, json={"weight": 0}, timeout=5)
    assert response.status_code == 401 and "a token on the URL is refused" in response.json()["error"]
    assert config(api)[0] == ("web1", 1, True)


def test_each_change_is_logged_with_its_door(controller):
    api, events, changes = controller
    for door in ("dashboard", "reviewer"):
        changes.put(api + "/lb/backends/web3", json={"weight": 1}, headers={"X-Lvsdn-Door": door}, timeout=5)
    assert changes.post(api + "/lb/blocks", json={"ip": "10.0.0.79", "seconds": 60}, timeout=5).status_code == 201
    changes.delete(api + "/lb/blocks/10.0.0.79", timeout=5)
    assert [e["labels.door"] for e in events_of(events, "weight-changed")[-2:]] == ["dashboard", "reviewer"]
    assert [e["labels.door"] for e in events_of(events, "block-added")[-1:] + events_of(events, "block-removed")[-1:]] \
        == ["harness", "harness"]
    assert requests.get(api + "/lb/status", timeout=5).json()["api"]["refused"]


@pytest.mark.parametrize("mode,content,message", [
    (None, None, "cannot be read: No such file or directory"),
    (0o600, "", "is empty"),
    (0o644, "t" * 43, "is open to others (mode 0644)"),
])
def test_the_launcher_refuses_a_bad_token_file_in_one_line(tmp_path, mode, content, message):
    path = tmp_path / "api-token"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    result = subprocess.run([sys.executable, "-m", "controller.launcher", "--api-token", str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m controller.launcher: error: the API token file %s " % path)
    assert message in lines[0]
