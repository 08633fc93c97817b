"""The harness's start-up path reads Mininet's output without tripping on binary bytes, and finds
its controller listening without telnet (no root: Mininet's read path is fed from a pipe)."""
import os
import socket
import threading

import mininet.node
import mininet.util
from hypothesis import given, settings, strategies as st

from topologies.mininet_io import ListeningController, port_listening, read_output_leniently
from topologies import cluster  # noqa: F401 - importing the harness turns lenient reading on

OPENFLOW_HELLO = bytes.fromhex("04000008a46e0279")     # version 1.3, HELLO, a random xid


def test_importing_the_harness_makes_mininet_read_leniently():
    assert mininet.node.decode(b"\xa4") == "\ufffd" and mininet.util.decode(b"\xa4") == "\ufffd"


def node_reading(data):
    """What a Mininet node's buffered `read` returns for `data` written by its shell."""
    node = mininet.node.Node.__new__(mininet.node.Node)      # no shell: its stdout is a pipe
    node.readbuf, node.decoder = "", mininet.node.getincrementaldecoder()
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as node.stdout:
        os.write(write_end, data)
        os.close(write_end)
        text = ""
        while True:
            chunk = node.read(1024)
            if not chunk and not node.readbuf:
                return text
            text += chunk


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_a_nodes_output_of_random_bytes_is_read_without_raising(data):
    read_output_leniently()
    text = node_reading(data)
    assert text == data.decode("utf-8", errors="replace")[:len(text)]


def test_telnets_output_with_a_hello_in_it_is_read():
    text = node_reading(b"Trying 127.0.0.1...\r\nEscape character is 'A'.\r\n" + OPENFLOW_HELLO)
    assert text.startswith("Trying 127.0.0.1") and "\ufffd" in text


def test_pexec_output_of_random_bytes_decodes():
    assert mininet.node.decode(bytes(range(256))).startswith("\x00\x01")


def hello_server():
    """A TCP server on loopback that greets every connection with an OpenFlow HELLO, as Ryu does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(OPENFLOW_HELLO)
    threading.Thread(target=serve, daemon=True).start()
    return server


def test_the_controller_check_connects_without_reading_the_hello():
    server = hello_server()
    port = server.getsockname()[1]
    try:
        controller = ListeningController.__new__(ListeningController)
        assert all(controller.isListening("127.0.0.1", port) for _ in range(20))
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
    assert not port_listening("127.0.0.1", port)
