"""The real-server health check's HTTP connection: it leaves only through the controller's
management interface (SO_BINDTODEVICE). With a source address alone the kernel would still route
a probe through any interface; while a run's LAN is torn down that is the machine's default
route, and the probes would leave the emulated network and be answered by whatever is there."""
import http.client
import socket
from typing import Optional, Tuple

import eventlet

from controller.health import DEGRADED, FAIL, OK


class InterfaceBoundConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket is bound to one network interface; connecting raises
    OSError when that interface does not exist (the probe then fails, as it should)."""

    def __init__(self, host: str, port: int, interface: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.interface = interface

    def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def check_health(ip: str, port: int, interface: str, timeout: float) -> Tuple[str, Optional[str], Optional[str]]:
    """One HTTP check of a real server's /health, bounded by `timeout` as a whole: (result, what
    went wrong or None, the X-Requests-Served header or None)."""
    connection = InterfaceBoundConnection(ip, port, interface, timeout=timeout)
    try:
        with eventlet.Timeout(timeout):
            connection.request("GET", "/health")
            response = connection.getresponse()
        served = response.getheader("X-Requests-Served")
        return (OK, None, served) if response.status == 200 else (DEGRADED, "HTTP %d" % response.status, served)
    except eventlet.Timeout:
        return FAIL, "no answer in %g s" % timeout, None
    except (OSError, http.client.HTTPException) as e:
        return FAIL, "%s: %s" % (type(e).__name__, e), None
    finally:
        connection.close()
