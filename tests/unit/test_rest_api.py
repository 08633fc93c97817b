"""The real controller process, with no switch connected, answers its REST API in JSON."""
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from topologies.description import describe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("controller")
    (tmp / "cluster.json").write_text(describe(mode="tun", webs=3).to_json())
    rest_port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.launcher", "--cluster", str(tmp / "cluster.json"),
         "--rest-port", str(rest_port), "--of-port", str(free_port()), "--events", str(tmp / "events.jsonl")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % rest_port
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/lb/status", timeout=1)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, "controller did not start"
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


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
def test_bad_requests_get_a_json_error(api, method, path, code, message):
    response = requests.request(method, api + path, timeout=5)
    assert response.status_code == code
    assert response.headers["Content-Type"].startswith("application/json")
    assert message in response.json()["error"]


def test_launcher_refuses_a_missing_description():
    result = subprocess.run([sys.executable, "-m", "controller.launcher", "--cluster", "/nonexistent.json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "cluster description not found: /nonexistent.json" in result.stderr
    assert "Traceback" not in result.stderr
