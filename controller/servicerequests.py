"""The REST API's JSON requests about virtual services, turned into the ipvsadm commands they
stand for (core/ipvsadm.py), so that a change through the API meets exactly the checks of the
same change in a rules file or at the `lb` prompt. A field that is wrong is refused naming the
field, its value and what is allowed (IpvsadmError)."""
import ipaddress
import json
from typing import Any, Dict, Optional, Tuple

from core.ipvsadm import (MAX_WEIGHT, METHODS, PROTOCOLS, Command, IpvsadmError, RealServerEntry, ServiceKey,
                          VirtualService, netmask_of)
from core.validation import MAX_PERSISTENCE
from core.rules import is_integer

SERVICE_FIELDS = ("protocol", "vip", "port")
SERVICE_OPTIONS = ("scheduler", "persistence", "netmask")
EDIT_OPTIONS = ("scheduler", "persistence", "netmask", "sorry_server")
SERVER_FIELDS = ("address",)
SERVER_OPTIONS = ("port", "method", "weight")


def _refuse(field: str, value: object, allowed: str) -> IpvsadmError:
    return IpvsadmError("%s must be %s, got %s" % (field, allowed, json.dumps(value)))


def _address(value: object, field: str) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise _refuse(field, value, "an IPv4 address such as 10.0.0.100") from None


def _port(value: object, field: str) -> int:
    text = value if isinstance(value, str) else None
    if text is not None and text.isdigit():
        value = int(text)
    if not is_integer(value, 1, 65535):
        raise _refuse(field, value, "a port from 1 to 65535")
    return int(value)


def service_key(protocol: object, vip: object, port: object) -> ServiceKey:
    """The service a request names (in its path or its body)."""
    if protocol not in PROTOCOLS:
        raise _refuse("protocol", protocol, "one of " + ", ".join(PROTOCOLS))
    return ServiceKey(str(protocol), _address(vip, "vip"), _port(port, "port"))


def endpoint(address: object, port: object) -> Tuple[str, int]:
    """The real server a request names in its path."""
    return _address(address, "the real server's address"), _port(port, "the real server's port")


def _scheduler(body: Dict[str, Any], current: Optional[VirtualService]) -> str:
    scheduler = body.get("scheduler", current.scheduler if current else "mh")
    if not isinstance(scheduler, str):
        raise _refuse("scheduler", scheduler, "a scheduler's name, such as mh")
    return scheduler


def _persistence(body: Dict[str, Any], current: Optional[VirtualService]) -> Tuple[Optional[int], Optional[str]]:
    """(-p, -M) from {"persistence": seconds or null, "netmask"}, what is not given as it is."""
    persistence = body.get("persistence", current.persistence if current else None)
    if persistence is not None and not is_integer(persistence, 1, MAX_PERSISTENCE):
        raise _refuse("persistence", persistence, "null or a timeout from 1 to %d seconds" % MAX_PERSISTENCE)
    netmask = body.get("netmask", current.netmask if current and current.persistence is not None else None)
    if netmask is not None and persistence is None:
        raise _refuse("netmask", netmask, "null without persistence: it groups a persistent service's clients")
    if netmask is not None:
        try:
            netmask = netmask_of(netmask)
        except IpvsadmError:
            raise _refuse("netmask", netmask, "a netmask such as 255.255.255.0") from None
    return persistence, netmask


def add_service(body: Dict[str, Any]) -> Command:
    """{"protocol", "vip", "port", "scheduler" (mh if not given), "persistence", "netmask"}: -A."""
    persistence, netmask = _persistence(body, None)
    return Command("-A", key=service_key(body["protocol"], body["vip"], body["port"]),
                   scheduler=_scheduler(body, None), persistence=persistence, netmask=netmask)


def edit_service(key: ServiceKey, body: Dict[str, Any], current: VirtualService) -> Command:
    """{"scheduler", "persistence", "netmask"}: -E, what is not given kept as it is."""
    persistence, netmask = _persistence(body, current)
    return Command("-E", key=key, scheduler=_scheduler(body, current), persistence=persistence, netmask=netmask)


def server_command(op: str, key: ServiceKey, body: Dict[str, Any], current: Optional[RealServerEntry],
                   default_method: str) -> Command:
    """-a ({"address", "port" (the service's), "method" (the cluster's), "weight" (1)}) or -e
    (what is not given kept as it is)."""
    address = _address(body["address"], "address") if current is None else current.address
    port = current.port if current else _port(body.get("port", key.port), "port")
    method = body.get("method", current.method if current else default_method)
    if method not in METHODS:
        raise _refuse("method", method, "one of " + ", ".join(METHODS))
    weight = body.get("weight", current.weight if current else 1)
    if not is_integer(weight, 0, MAX_WEIGHT):
        raise _refuse("weight", weight, "an integer from 0 to %d (0: quiescent)" % MAX_WEIGHT)
    return Command(op, key=key, server=(address, port), method=method, weight=weight)


def sorry_server(key: ServiceKey, value: object, default_method: str) -> Optional[RealServerEntry]:
    """{"address", "port" (the service's), "method" (the cluster's)} or null: a service's sorry
    server (keepalived's sorry_server)."""
    if value is None:
        return None
    if not isinstance(value, dict) or "address" not in value or set(value) - {"address", "port", "method"}:
        raise _refuse("sorry_server", value, 'null or {"address", "port", "method"} (address required)')
    method = value.get("method", default_method)
    if method not in METHODS:
        raise _refuse("sorry_server's method", method, "one of " + ", ".join(METHODS))
    return RealServerEntry(_address(value["address"], "sorry_server's address"),
                           _port(value.get("port", key.port), "sorry_server's port"), method)
