"""The real-server health check's HTTP connection: it leaves only through the controller's
management interface (SO_BINDTODEVICE). With a source address alone the kernel would still route
a probe through any interface; while a run's LAN is torn down that is the machine's default
route, and the probes would leave the emulated network and be answered by whatever is there."""
import http.client
import socket


class InterfaceBoundConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket is bound to one network interface; connecting raises
    OSError when that interface does not exist (the probe then fails, as it should)."""

    def __init__(self, host, port, interface, timeout):
        super().__init__(host, port, timeout=timeout)
        self.interface = interface

    def connect(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
