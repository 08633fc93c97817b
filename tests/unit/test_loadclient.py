"""The load client names what each failed request met, against real sockets on loopback."""
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps import loadclient


class Named(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Served-By", "web1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


@pytest.fixture
def listener():
    """A listening socket on loopback that accepts and then does what the test tells it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def serve_once(sock, then):
    def run():
        connection, _ = sock.accept()
        connection.recv(4096)
        then(connection)
    threading.Thread(target=run, daemon=True).start()


def test_an_answer_names_its_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Named)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = loadclient.run("http://127.0.0.1:%d/" % server.server_port, 3, 1.0, 0, timeline=True)
    finally:
        server.shutdown()
    assert result["served_by"] == {"web1": 3} and result["errors"] == 0 and result["failures"] == []


def test_a_closed_port_is_a_reset(listener):
    port = listener.getsockname()[1]
    listener.close()
    assert loadclient.request_once("127.0.0.1", port, "/", 1.0) == (None, "reset")


def test_a_server_closing_without_an_answer(listener):
    serve_once(listener, lambda connection: connection.close())
    assert loadclient.request_once("127.0.0.1", listener.getsockname()[1], "/", 1.0) == (None, "closed")


def test_a_server_that_never_answers_is_a_timeout(listener):
    held = []
    serve_once(listener, held.append)
    assert loadclient.request_once("127.0.0.1", listener.getsockname()[1], "/", 0.2) == (None, "timeout")


def test_failures_are_listed_with_their_start(listener):
    port = listener.getsockname()[1]
    listener.close()
    result = loadclient.run("http://127.0.0.1:%d/" % port, 2, 1.0, 0, timeline=True)
    assert result["errors"] == 2 and [what for _, what in result["failures"]] == ["reset", "reset"]
    assert [at for at, _ in result["failures"]] == [at for at, _, _ in result["timeline"]]
