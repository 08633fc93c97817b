"""The health check's connection leaves only through the interface it is bound to: through the
right one it reaches the server; bound to another, or to one that does not exist, it fails
instead of taking whatever route the machine has (root, for SO_BINDTODEVICE)."""
import os
import re
import subprocess
import sys

import pytest

from controller.health import DEGRADED, FAIL
from controller.probe import InterfaceBoundConnection, check_health

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="SO_BINDTODEVICE needs root")


@pytest.fixture
def server():
    """A real HTTP server in its own process, as a web host's is."""
    process = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield int(re.search(r"port (\d+)", process.stdout.readline()).group(1))
    finally:
        process.kill()
        process.wait()


def get(port, interface):
    connection = InterfaceBoundConnection("127.0.0.1", port, interface, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def test_through_its_interface_the_probe_reaches_the_server(server):
    assert get(server, "lo") == 404          # an answer: http.server has no /health


def test_bound_to_a_missing_interface_the_probe_fails_rather_than_route_elsewhere(server):
    with pytest.raises(OSError):
        get(server, "no-such-if0")


def test_a_health_check_says_what_it_found(server):
    assert check_health("127.0.0.1", server, "lo", 1) == (DEGRADED, "HTTP 404", None)
    result, error, _ = check_health("127.0.0.1", server, "no-such-if0", 1)
    assert result == FAIL and error.startswith("OSError")
