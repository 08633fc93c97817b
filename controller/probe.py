"""The real-server health checks (controller/checks.py's checkers): HTTP_GET of /health,
TCP_CHECK, DNS_CHECK and UDP_CHECK. Every check leaves only through the controller's management
interface (SO_BINDTODEVICE). With a source address alone the kernel would still route a probe
through any interface; while a run's LAN is torn down that is the machine's default route, and
the probes would leave the emulated network and be answered by whatever is there."""
import http.client
import os
import socket
import struct
from typing import Callable, Dict, Optional, Tuple

import eventlet

from controller.checks import DNS_CHECK, HTTP_GET, TCP_CHECK, UDP_CHECK
from controller.health import DEGRADED, FAIL, OK
from core.addressing import WHOAMI

Result = Tuple[str, Optional[str], Optional[str]]    # result, what went wrong or None, requests served or None
DNS_HEADER = struct.Struct("!HHHHHH")    # id, flags, questions, answers, authority, additional
DNS_RD, DNS_QR, DNS_RCODE = 0x0100, 0x8000, 0x000f
DATAGRAM = 4096


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


def bound_socket(kind: int, interface: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.settimeout(timeout)
    return sock


def check_health(ip: str, port: int, interface: str, timeout: float) -> Result:
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


def check_connect(ip: str, port: int, interface: str, timeout: float) -> Result:
    """TCP_CHECK: a connection made (and closed) within `timeout`."""
    try:
        with eventlet.Timeout(timeout), bound_socket(socket.SOCK_STREAM, interface, timeout) as sock:
            sock.connect((ip, port))
        return OK, None, None
    except eventlet.Timeout:
        return FAIL, "no connection in %g s" % timeout, None
    except OSError as e:
        return FAIL, "%s: %s" % (type(e).__name__, e), None


def dns_query(qid: int, name: str = WHOAMI) -> bytes:
    """A DNS query for `name`'s A record, recursion desired."""
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label)
    return DNS_HEADER.pack(qid, DNS_RD, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def dns_answered(reply: bytes, qid: int) -> Optional[str]:
    """None when `reply` answers query `qid` with at least one record, else what is wrong."""
    if len(reply) < DNS_HEADER.size:
        return "a reply of %d bytes is no DNS message" % len(reply)
    rid, flags, _, answers, _, _ = DNS_HEADER.unpack_from(reply)
    if rid != qid or not flags & DNS_QR:
        return "a reply to another query"
    if flags & DNS_RCODE or not answers:
        return "rcode %d with %d answers" % (flags & DNS_RCODE, answers)
    return None


def _exchange(ip: str, port: int, interface: str, timeout: float, question: bytes,
              judge: Callable[[bytes], Optional[str]]) -> Result:
    """One datagram asked and its answer judged (None: good); a refusal (ICMP port unreachable)
    or silence fails."""
    try:
        with eventlet.Timeout(timeout), bound_socket(socket.SOCK_DGRAM, interface, timeout) as sock:
            sock.connect((ip, port))
            sock.send(question)
            wrong = judge(sock.recv(DATAGRAM))
        return (OK, None, None) if wrong is None else (FAIL, wrong, None)
    except eventlet.Timeout:
        return FAIL, "no answer in %g s" % timeout, None
    except OSError as e:
        return FAIL, "%s: %s" % (type(e).__name__, e), None


def check_dns(ip: str, port: int, interface: str, timeout: float) -> Result:
    """DNS_CHECK: `whoami.lvsdn.` answered with a record."""
    qid = int.from_bytes(os.urandom(2), "big")
    return _exchange(ip, port, interface, timeout, dns_query(qid), lambda reply: dns_answered(reply, qid))


def check_datagram(ip: str, port: int, interface: str, timeout: float) -> Result:
    """UDP_CHECK: a datagram answered by any datagram."""
    return _exchange(ip, port, interface, timeout, b"lvsdn health check", lambda reply: None)


CHECKERS: Dict[str, Callable[[str, int, str, float], Result]] = {
    HTTP_GET: check_health, TCP_CHECK: check_connect, DNS_CHECK: check_dns, UDP_CHECK: check_datagram}
