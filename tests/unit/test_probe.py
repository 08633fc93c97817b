"""The health check's connection leaves only through the interface it is bound to: through the
right one it reaches the server; bound to another, or to one that does not exist, it fails
instead of taking whatever route the machine has (root, for SO_BINDTODEVICE)."""
import http.server
import os
import threading

import pytest

from controller.probe import InterfaceBoundConnection

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="SO_BINDTODEVICE needs root")


@pytest.fixture
def server():
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_):
            pass
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def get(port, interface):
    connection = InterfaceBoundConnection("127.0.0.1", port, interface, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def test_through_its_interface_the_probe_reaches_the_server(server):
    assert get(server, "lo") == 200


def test_bound_to_a_missing_interface_the_probe_fails_rather_than_route_elsewhere(server):
    with pytest.raises(OSError):
        get(server, "no-such-if0")
