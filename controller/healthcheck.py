"""Running the real servers' health checks: the active check every interval, and the extra checks
a passive signal (a real server's RST, an ICMP error about it) asks for. What a result means is
decided by ClusterState (controller/health.py); this module makes the checks, logs them and says
when the flows must follow. Ryu-free: it schedules with the `spawn_after` it is given."""
import time
from typing import Callable, Optional, Tuple

from controller.connlog import passive_signal
from controller.health import CONFIRM, DOWN
from controller.probe import check_health
from controller.state import ClusterState
from core.description import ClusterDescription, Host
from core.eventlog import EventLog, ecs_timestamp
from core.settings import HealthSettings


class HealthChecker:
    def __init__(self, description: ClusterDescription, state: ClusterState, settings: HealthSettings,
                 event_log: EventLog, spawn_after: Callable, changed: Callable[[], None],
                 check: Callable = check_health):
        self.description = description
        self.state = state
        self.settings = settings
        self.event_log = event_log
        self.spawn_after = spawn_after
        self.changed = changed           # the flows must follow a change of health
        self.check = check
        # health checks leave through this interface only (controller/probe.py)
        self.interface = description.management_interface.name
        self.by_ip = {w.ip: w.name for w in description.real_servers}
        self.by_mac = {w.service_interface.mac: w.name for w in description.real_servers}

    def active_check(self, web: Host) -> None:
        """One health check of a real server's /health (from the management interface on the
        LAN); act when its health changes."""
        if self.state.probe_result(web.name, self._probe(web)[0]):
            self.health_changed(web.name)
            self.changed()

    def passive_signal(self, switch: str, data: bytes) -> None:
        """A real server's RST or an ICMP error about it: check it at once (or at the end of the
        check interval, if one was made within it), and take it out if the checks fail."""
        server, signal = passive_signal(data, self.by_ip, self.by_mac)
        delay = None if server is None or signal is None else self.state.passive_signal(server, signal)
        if delay is not None:
            self.spawn_after(delay, self._extra_checks, server, signal, switch, ecs_timestamp())

    def _extra_checks(self, server: str, signal: str, switch: str, seen_at: str) -> None:
        """Extra checks after a passive signal, the next at once while they fail, until the
        state decides (controller/health.py: `fall` failed checks in a row take it out)."""
        web = self.description.host(server)
        verdict: Optional[str] = CONFIRM
        while verdict == CONFIRM:
            started = time.monotonic()
            result, error = self._probe(web)
            self.event_log.emit("real-server-suspect", "%s: %s; an extra health check: %s%s"
                                % (server, signal, result, " (%s)" % error if error else ""),
                                destination_ip=web.ip, observer_name=switch, labels_result=result,
                                labels_signal_at=seen_at, labels_check_ms=round((time.monotonic() - started) * 1000, 1))
            verdict = self.state.passive_check_result(server, signal, result)
        if verdict == DOWN:
            self.health_changed(server)
            self.changed()

    def _probe(self, web: Host) -> Tuple[str, Optional[str]]:
        """One HTTP check of a real server's /health: (result, what went wrong or None)."""
        result, error, served = self.check(web.ip, self.description.http_port, self.interface, self.settings.timeout)
        self.state.requests_served(web.name, served)
        return result, error

    def health_changed(self, server: str) -> None:
        health = self.state.health[server]
        self.event_log.emit("real-server-health", "%s is %s: %s" % (server, health.state, health.last_change_cause),
                            destination_ip=self.description.host(server).ip, labels_state=health.state)
