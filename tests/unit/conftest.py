"""A real single-member etcd on loopback for the store and web app tests (no root needed)."""
import shutil
import socket
import subprocess
import time

import pytest
import requests


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
