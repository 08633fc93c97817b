"""What an operator asks of the controller through the REST API (controller/rest.py): virtual
services, weights and real servers, blocks, nodes failed and recovered, the reviewer's alerts. Each change is made in
ClusterState, logged with the door it came through, and followed by the flows. Ryu-free: the
port-mods of a node's failure go out through the `PortMods` it is given."""
from typing import Callable, Iterable, List, Optional, Protocol, Tuple

from controller.access import Refusal
from controller.state import ClusterState
from core.description import ClusterDescription
from core.ipvsadm import Command, RealServerEntry, ServiceKey
from core.eventlog import EventLog, latest_records

ALERTS_SHOWN = 20

Ports = Iterable[Tuple[str, int]]


class PortMods(Protocol):
    def require(self, ports: Ports) -> None:
        """InvalidRequest unless every port can be set now (its switch connected and known)."""

    def set_down(self, ports: Ports, down: bool) -> None:
        """Configure every port down (or up again)."""


class Operations:
    def __init__(self, description: ClusterDescription, state: ClusterState, event_log: EventLog,
                 reconcile: Callable[[], None], port_mods: PortMods, alerts_file: Optional[str] = None) -> None:
        self.description = description
        self.state = state
        self.event_log = event_log
        self.reconcile = reconcile
        self.port_mods = port_mods
        self.alerts_file = alerts_file

    def apply(self, action: str, door: str, change: Callable[..., str], name: str, *args: object) -> None:
        """Run a state change of the virtual service (a request about real server `name`), log
        it as an event `action` with the door it came through, then bring the flows in line."""
        message = change(name, *args)
        self.state.services_changed()
        self.event_log.emit(action, message, destination_ip=self.description.host(name).ip, labels_door=door)
        self.reconcile()

    def change_services(self, command: Command, door: str) -> str:
        """An ipvsadm change of the virtual services (ClusterState.apply), logged with its door
        and the service it names; then the flows."""
        message = self.state.book.apply(command)
        self.state.services_changed()
        self.event_log.emit("service-changed", message, labels_door=door,
                            **({"labels_service": str(command.key)} if command.key else {}))
        self.reconcile()
        return message

    def set_sorry_server(self, key: ServiceKey, entry: Optional[RealServerEntry], door: str) -> str:
        message = self.state.book.set_sorry(key, entry)
        self.state.services_changed()
        self.event_log.emit("service-changed", message, labels_door=door, labels_service=str(key))
        self.reconcile()
        return message

    def block(self, ip: str, seconds: int, reason: str, door: str) -> str:
        ip = self.state.block(ip, seconds, reason)
        self.event_log.emit("block-added", "%s blocked for %d s: %s" % (ip, seconds, reason),
                            source_ip=ip, observer_name=self.description.public_edge, labels_door=door)
        self.reconcile()
        return ip

    def unblock(self, ip: str, door: str) -> None:
        self.state.unblock(ip)
        self.event_log.emit("block-removed", "%s unblocked" % ip, source_ip=ip,
                            observer_name=self.description.public_edge, labels_door=door)
        self.reconcile()

    def lift_expired_blocks(self) -> None:
        expired = self.state.expire_blocks()
        for ip in expired:
            self.event_log.emit("block-expired", "%s's ban ended" % ip, source_ip=ip,
                                observer_name=self.description.public_edge)
        if expired:
            self.reconcile()

    def fail_node(self, name: str, kind: str, door: str) -> None:
        """Fail a node as a cut would: every port of its cables taken down (port-mod)."""
        self.port_mods.require(self.state.node_failure(name, kind))      # refuses before anything changes
        self.port_mods.set_down(self.state.fail_node(name, kind), True)
        self.event_log.emit("node-failed", "%s failed through the API (%s): its cables' ports down" % (name, kind),
                            observer_name=name, labels_door=door)

    def recover_node(self, name: str, door: str) -> None:
        self.port_mods.require(self.state.node_recovery(name))
        self.port_mods.set_down(self.state.recover_node(name), False)
        self.event_log.emit("node-recovered", "%s recovered through the API: its cables' ports up" % name,
                            observer_name=name, labels_door=door)

    def refused(self, method: str, path: str, door: str, refusal: Refusal, unlogged: int) -> None:
        """A request the API's gate refused, in the event log (`unlogged`: refusals only counted)."""
        if refusal.logged:
            message = "%s %s refused (%d %s): %s" % (method, path, refusal.status, refusal.reason, refusal.message)
            self.event_log.emit("api-refused", message,
                                labels_door=door, labels_reason=refusal.reason, labels_status=refusal.status,
                                http_request_method=method, url_path=path, labels_unlogged=unlogged)

    def latest_alerts(self) -> List[dict]:
        """The log reviewer's latest alerts, newest first (none without its file)."""
        return latest_records(self.alerts_file, ALERTS_SHOWN)
