"""Where Mininet reads bytes it does not control, made safe for the harness, and one leak.

- Mininet decodes every command's output as strict UTF-8 (`Node.read`, `Node.pexec`, `errRun`):
  one byte of binary output from a host (a tool's progress bar, a dump, a stray packet echoed
  by a shell) raises UnicodeDecodeError in the middle of a start or a test. The harness reads
  them leniently instead: a bad byte becomes U+FFFD.
- `RemoteController` checks the controller's port with `telnet`, whose output then holds the
  controller's OpenFlow HELLO (binary, with a random xid) when it arrives before telnet quits.
  `ListeningController` asks with a socket of its own and reads nothing.
- `RemoteController.stop` does nothing, so `net.stop()` never ends the shell Mininet gave it: a
  process making cluster after cluster (the test suite, the benchmark) kept one `bash` per
  cluster until it exited. `ListeningController` ends it as every other node's stop does.
"""
import codecs
import socket

import mininet.node
import mininet.util
from mininet.node import RemoteController

ENCODING = "utf-8"


def lenient_decoder():
    return codecs.getincrementaldecoder(ENCODING)(errors="replace")


def lenient_decode(data):
    return data.decode(ENCODING, errors="replace")


def read_output_leniently():
    """Every Mininet node made from now on, and every pexec and errRun, decodes leniently.
    Mininet takes these two functions by name into each module: both modules are set."""
    for module in (mininet.node, mininet.util):
        module.getincrementaldecoder = lenient_decoder
        module.decode = lenient_decode


def port_listening(ip, port, timeout=2.0):
    """True when something accepts TCP connections on ip:port; nothing is read from it."""
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


class ListeningController(RemoteController):
    """A controller run outside Mininet (the harness starts it), checked without telnet."""

    def isListening(self, ip, port):
        return port_listening(ip, port)

    def stop(self, *_args, **_kwargs):
        self.terminate()              # the controller itself is the harness's to stop
