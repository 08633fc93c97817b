"""A real single-member etcd on loopback for the store and web app tests, and the real controller
process with no switch connected for the REST API's (no root needed)."""
import contextlib
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from core.apitoken import HARNESS, TOKEN_FILE_NAME, make_token_file, request_headers
from core.builder import describe
from core.paths import ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory):
    if not shutil.which("etcd"):
        pytest.skip("etcd is not installed: run scripts/install.sh")
    client, peer = free_port(), free_port()
    url = "http://127.0.0.1:%d" % client
    process = subprocess.Popen(
        ["etcd", "--name", "unit", "--data-dir", str(tmp_path_factory.mktemp("etcd")),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
         "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
         "--initial-cluster", "unit=http://127.0.0.1:%d" % peer],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(url + "/health", timeout=1).json().get("health") == "true":
                break
        except requests.RequestException:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "etcd did not start"
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@contextlib.contextmanager
def running_controller(tmp):
    """The controller (TUN, 3 real servers) on free loopback ports, its events, its own log and
    its API token in `tmp`: (REST URL, tmp, process, the headers a change needs)."""
    (tmp / "cluster.json").write_text(describe(mode="tun", webs=3).to_json())
    token = make_token_file(str(tmp / TOKEN_FILE_NAME))
    rest_port = free_port()
    with open(tmp / "controller.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "controller.launcher", "--cluster", str(tmp / "cluster.json"),
             "--rest-port", str(rest_port), "--of-port", str(free_port()), "--events", str(tmp / "events.jsonl"),
             "--api-token", str(tmp / TOKEN_FILE_NAME)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % rest_port
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/lb/status", timeout=1)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, "controller did not start"
            time.sleep(0.1)
    try:
        yield url, tmp, process, request_headers(token, HARNESS)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    """A test module's own controller: its REST URL, its event log and a session that carries
    its token (for the requests that change something)."""
    with running_controller(tmp_path_factory.mktemp("controller")) as (url, tmp, _, headers):
        with requests.Session() as session:
            session.headers.update(headers)
            yield url, tmp / "events.jsonl", session


@pytest.fixture(scope="module")
def api(controller):
    return controller[0]


@pytest.fixture(scope="module")
def changes(controller):
    """A requests session with the run's token, for the requests that change something."""
    return controller[2]
