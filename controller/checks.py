"""Which check watches each real server of each service, as keepalived's checkers: HTTP_GET of
/health on the HTTP ports (80, 8080 and the cluster's own), TCP_CHECK (a connection made) on any
other TCP port, DNS_CHECK (a query answered: `whoami.lvsdn.`) on a DNS service's real servers,
UDP_CHECK (a datagram answered) on any other UDP port. A check is per web host, protocol and
port: services that share a real server's port share its check. Pure: controller/probe.py makes
the checks, ClusterState keeps their health."""
from dataclasses import dataclass
from typing import Dict, Iterable

from core.ipvsadm import RealServerEntry, ServiceKey, VirtualService

HTTP_GET, TCP_CHECK, DNS_CHECK, UDP_CHECK = "HTTP_GET", "TCP_CHECK", "DNS_CHECK", "UDP_CHECK"
HTTP_PORTS = (80, 8080)


@dataclass(frozen=True, order=True)
class CheckKey:
    """What one check watches: a web host's port."""
    web: str
    protocol: str
    port: int

    def __str__(self) -> str:
        return "%s %s/%d" % (self.web, self.protocol, self.port)


def checker(key: ServiceKey, http_port: int) -> str:
    """The checker of a real server of the service `key` (keepalived's names)."""
    if key.protocol == "udp":
        return DNS_CHECK if key.is_dns else UDP_CHECK
    return HTTP_GET if key.port in HTTP_PORTS + (http_port,) else TCP_CHECK


def check_key(web: str, service: VirtualService, entry: RealServerEntry) -> CheckKey:
    return CheckKey(web, service.key.protocol, entry.port)


def host_check(web: str, http_port: int) -> CheckKey:
    """The check every web host has whatever it serves: HTTP_GET on the cluster's HTTP port."""
    return CheckKey(web, "tcp", http_port)


def checks(hosts: Iterable[str], services: Iterable[VirtualService], names: Dict[str, str],
           http_port: int) -> Dict[CheckKey, str]:
    """Every check now, {key: checker}: each web host's HTTP port, and each real server's port of
    each service (`names`: web host by address); the first service to name a port sets its
    checker."""
    found = {host_check(web, http_port): HTTP_GET for web in hosts}
    for service in services:
        for entry in service.real_servers:
            key = check_key(names[entry.address], service, entry)
            found.setdefault(key, checker(service.key, http_port))
    return found
