"""The virtual services as they are now (core/ipvsadm.py's model): each with its index, which
its connections' marks carry (controller/specs.py), changed by ipvsadm's commands all or nothing,
and the first service's real servers by web host, for /lb/backends. Pure: ClusterState holds one
(controller/state.py), saves it in its snapshot and builds the pipeline's view from it."""
import dataclasses
import json
from typing import Any, Dict, List, Optional, Set, Tuple

from controller.specs import destination, server_ids
from core.description import ClusterDescription, service_from_dict
from core.ipvsadm import (DEFAULT_WEIGHT, MAX_WEIGHT, Command, IpvsadmError, RealServerEntry, ServiceKey, ServiceTable,
                          VirtualService, parse_command)
from core.rules import is_integer
from core.services import apply_checked
from core.validation import MAX_SERVICES, check_service, check_services, check_together


class InvalidRequest(ValueError):
    """A request that cannot be applied; nothing was changed."""


class UnknownRealServer(LookupError):
    """A request named a real server the cluster does not have."""


class ServiceBook:
    def __init__(self, description: ClusterDescription) -> None:
        self.description = description
        self.services: Dict[ServiceKey, VirtualService] = {s.key: s for s in description.services}
        self.indexes: Dict[ServiceKey, int] = {s.key: i for i, s in enumerate(description.services, 1)}
        self.web_names = {h.ip: h.name for h in description.real_servers}
        self.server_ids = dict(server_ids(description))
        # Real servers taken out of the first service through /lb/backends, as they were (to come back so).
        self.left: Dict[str, RealServerEntry] = {}

    def destinations(self) -> Dict[int, Tuple[ServiceKey, str]]:
        """Every destination now: {its id: (service, web host)}."""
        return {destination(self.indexes[key], self.server_ids[self.web_names[entry.address]]):
                (key, self.web_names[entry.address])
                for key, service in self.services.items() for entry in service.real_servers}

    @property
    def persistent(self) -> bool:
        """Some service is persistent (-p): the proxies learn entries to be read."""
        return any(s.persistence is not None for s in self.services.values())

    def hosts(self, service: VirtualService) -> Tuple[Tuple[str, RealServerEntry], ...]:
        """(web host, its entry) of each real server of a service."""
        return tuple((self.web_names[e.address], e) for e in service.real_servers)

    def sorry(self, service: VirtualService) -> Optional[Tuple[str, RealServerEntry]]:
        """(web host, its entry) of the service's sorry server, if it has one."""
        entry = service.sorry_server
        return None if entry is None else (self.web_names[entry.address], entry)

    def set_sorry(self, key: ServiceKey, entry: Optional[RealServerEntry]) -> str:
        """The service's sorry server from now on (None: none), checked as a real server would
        be; what changed, in words."""
        service = dataclasses.replace(self.service(key), sorry_server=entry)
        check_service(self.description, service, at_run_time=True)
        check_together([service if s.key == key else s for s in self.services.values()])
        self.services[key] = service
        return "%s's sorry server: %s" % (key, "none" if entry is None else "%s:%d (%s)" % (
            entry.address, entry.port, entry.method.upper()))

    # --- the services, by ipvsadm's commands --------------------------------------------------
    def ipvsadm(self, line: str) -> str:
        """Carry out one ipvsadm change (-A -E -D -C -a -e -d, core/ipvsadm.py) on the services,
        or refuse it (IpvsadmError) changing nothing; what it did, in words."""
        return self.apply(parse_command(line))

    def apply(self, command: Command) -> str:
        """`ipvsadm` for a command already parsed."""
        if command.op in ("-L", "-S"):
            raise IpvsadmError("%s shows the services; the changes are -A, -E, -D, -C, -a, -e, -d" % command.op)
        table = ServiceTable(self.services.values())
        said = apply_checked(self.description, table, command)
        self._take(table.services)
        return said

    def _take(self, services: Dict[ServiceKey, VirtualService]) -> None:
        """The services from now on: a new one takes the lowest free index."""
        self.indexes = {key: index for key, index in self.indexes.items() if key in services}
        for key in sorted(services):
            if key not in self.indexes:
                self.indexes[key] = min(set(range(1, MAX_SERVICES + 1)) - set(self.indexes.values()))
        self.services = dict(services)

    def service(self, key: ServiceKey) -> VirtualService:
        """NoSuchEntry if there is no such service."""
        return ServiceTable(self.services.values()).service(key)

    def ordered(self) -> List[VirtualService]:
        """The services in the order of their indexes (the first is /lb/backends' service)."""
        return sorted(self.services.values(), key=lambda s: self.indexes[s.key])

    def first(self) -> Optional[VirtualService]:
        services = self.ordered()
        return services[0] if services else None

    def rules(self) -> str:
        """The services as `ipvsadm -S -n` saves them."""
        return ServiceTable(self.services.values()).save()

    # --- the first service's real servers, by web host (/lb/backends) -------------------------
    def _real_server(self, name: object) -> str:
        if name not in self.server_ids:
            raise UnknownRealServer("no real server named %r; real servers: %s" % (name, ", ".join(self.server_ids)))
        return str(name)

    @staticmethod
    def _check_weight(weight: object) -> int:
        if not is_integer(weight, 0, MAX_WEIGHT):
            raise InvalidRequest("weight must be an integer from 0 to %d, got %s"
                                 % (MAX_WEIGHT, json.dumps(weight)))
        return int(weight)

    def _first(self) -> VirtualService:
        service = self.first()
        if service is None:
            raise InvalidRequest("the cluster has no virtual service: add one (-A) first")
        return service

    def entry(self, name: str) -> Optional[RealServerEntry]:
        """The web host's entry in the first service (None: not in it, or no service)."""
        first = self.first()
        return next((e for e in first.real_servers if self.web_names[e.address] == name), None) if first else None

    def _change_first(self, name: str, entry: Optional[RealServerEntry]) -> None:
        """The first service with `name`'s entry replaced (None: taken out)."""
        service = self._first()
        others = tuple(e for e in service.real_servers if self.web_names[e.address] != name)
        services = dict(self.services)
        services[service.key] = dataclasses.replace(
            service, real_servers=tuple(sorted(others + ((entry,) if entry else ()))))
        self._take(services)

    def weight(self, name: str) -> int:
        entry = self.entry(name) or self.left.get(name)
        return entry.weight if entry else DEFAULT_WEIGHT

    @property
    def weights(self) -> Dict[str, int]:
        """Each web host's weight in the first service (as it was, for one out of it)."""
        return {name: self.weight(name) for name in self.server_ids}

    @property
    def members(self) -> Set[str]:
        """The web hosts in the first service."""
        first = self.first()
        return {self.web_names[e.address] for e in first.real_servers} if first else set()

    def set_weight(self, name: str, weight: object) -> str:
        """Weight 0 drains: no new connections, established ones continue. Says what changed."""
        before = self.weight(self._real_server(name))
        after = self._check_weight(weight)
        entry = self.entry(name)
        if entry is None:
            self.left[name] = dataclasses.replace(self._new_entry(name), weight=after)
        else:
            self._change_first(name, dataclasses.replace(entry, weight=after))
        return "%s's weight: %d -> %d%s" % (name, before, after, " (drained)" if after == 0 else "")

    def _new_entry(self, name: str) -> RealServerEntry:
        """A web host's entry in the first service as the cluster's forwarding method serves it."""
        port = self._first().key.port
        return self.left.get(name) or RealServerEntry(self.description.host(name).ip, port, self.description.mode)

    def add_member(self, name: object, weight: object = None) -> str:
        """Put a web host (back) into the first service, optionally with a new weight."""
        if not isinstance(name, str):
            raise InvalidRequest("name must be a string naming a web host, got %s" % json.dumps(name))
        self._real_server(name)
        checked = None if weight is None else self._check_weight(weight)
        if self.entry(name) is not None:
            raise InvalidRequest("%s is already in the virtual service" % name)
        entry = self._new_entry(name)
        entry = entry if checked is None else dataclasses.replace(entry, weight=checked)
        self._change_first(name, entry)
        self.left.pop(name, None)
        return "%s joined the virtual service with weight %d" % (name, entry.weight)

    def remove_member(self, name: str) -> str:
        self._real_server(name)
        entry = self.entry(name)
        if entry is None:
            raise InvalidRequest("%s is not in the virtual service" % name)
        self._change_first(name, None)
        self.left[name] = entry
        return "%s left the virtual service; its established connections continue" % name

    # --- what survives a restart --------------------------------------------------------------
    def snapshot(self) -> Dict[str, Any]:
        """The services with their indexes, and the real servers taken out of the first one."""
        return {"services": [{"index": self.indexes[s.key], "service": dataclasses.asdict(s)} for s in self.ordered()],
                "left": {name: dataclasses.asdict(entry) for name, entry in self.left.items()}}

    def restored(self, snapshot: Dict[str, Any]) -> "ServiceBook":
        """A book of a snapshot's services, each checked as a new one would be (ConfigError,
        KeyError, TypeError or ValueError if they cannot be taken back); this one unchanged."""
        saved = [(item["index"], service_from_dict(item["service"], "a saved service"))
                 for item in snapshot["services"]]
        check_services(self.description, [service for _, service in saved])
        indexes = [index for index, _ in saved]
        if len(set(indexes)) != len(indexes) or not all(is_integer(i, 1, MAX_SERVICES) for i in indexes):
            raise ValueError("the services' indexes must be distinct integers from 1 to %d, got %s"
                             % (MAX_SERVICES, indexes))
        book = ServiceBook(self.description)
        book.services = {service.key: service for _, service in saved}
        book.indexes = {service.key: index for index, service in saved}
        book.left = {n: RealServerEntry(**e) for n, e in snapshot["left"].items() if n in self.server_ids}
        return book
