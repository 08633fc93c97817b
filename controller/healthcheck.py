"""Running the real servers' health checks: the active check every interval, and the extra checks
a passive signal (a real server's RST, an ICMP error about it) asks for. What a result means is
decided by ClusterState (controller/health.py); this module makes the checks, logs them and says
when the flows must follow. Ryu-free: it schedules with the `spawn_after` it is given."""
import time
from typing import Callable, Dict, Optional, Tuple

from controller.checks import HTTP_GET, CheckKey, host_check
from controller.connlog import passive_signal
from controller.health import CONFIRM, DOWN
from controller.probe import CHECKERS, check_health
from controller.state import ClusterState
from core.description import ClusterDescription, Host
from core.eventlog import EventLog, ecs_timestamp
from core.settings import HealthSettings


class HealthChecker:
    def __init__(self, description: ClusterDescription, state: ClusterState, settings: HealthSettings,
                 event_log: EventLog, spawn_after: Callable, changed: Callable[[], None],
                 check: Callable = check_health, checkers: Dict[str, Callable] = CHECKERS):
        self.description = description
        self.state = state
        self.settings = settings
        self.event_log = event_log
        self.spawn_after = spawn_after
        self.changed = changed           # the flows must follow a change of health
        self.checkers = dict(checkers, **{HTTP_GET: check})
        # health checks leave through this interface only (controller/probe.py)
        self.interface = description.management_interface.name
        self.by_ip = {w.ip: w.name for w in description.real_servers}
        self.by_mac = {w.service_interface.mac: w.name for w in description.real_servers}

    def _host(self, web: str) -> CheckKey:
        return host_check(web, self.description.http_port)

    def active_check(self, web: Host) -> None:
        """One round of a real server's checks (from the management interface on the LAN): its
        HTTP port's now, each other port a service gives it beside; act when a health changes."""
        self._check(self._host(web.name))
        for key in [k for k in self.state.checks if k.web == web.name and k != self._host(web.name)]:
            self.spawn_after(0, self._check, key)

    def _check(self, key: CheckKey) -> None:
        if key in self.state.checks and self.state.check_result(key, self._probe(key)[0]):
            self.check_changed(key)
            self.changed()

    def passive_signal(self, switch: str, data: bytes) -> None:
        """A real server's RST or an ICMP error about it: check the port it is about at once (or
        at the end of the check interval, if one was made within it), and take the server out of
        the services on that port if the checks fail."""
        server, signal, about = passive_signal(data, self.by_ip, self.by_mac)
        if server is None or signal is None:
            return
        key = CheckKey(server, *about) if about else self._host(server)
        key = key if key in self.state.checks else self._host(server)
        delay = self.state.passive_signal(server, signal, key)
        if delay is not None:
            self.spawn_after(delay, self._extra_checks, key, signal, switch, ecs_timestamp())

    def _extra_checks(self, key: CheckKey, signal: str, switch: str, seen_at: str) -> None:
        """Extra checks after a passive signal, the next at once while they fail, until the
        state decides (controller/health.py: `fall` failed checks in a row take it out)."""
        verdict: Optional[str] = CONFIRM
        while verdict == CONFIRM:
            started = time.monotonic()
            result, error = self._probe(key)
            self.event_log.emit("real-server-suspect", "%s: %s; an extra health check: %s%s"
                                % (self._name(key), signal, result, " (%s)" % error if error else ""),
                                destination_ip=self.description.host(key.web).ip, observer_name=switch,
                                labels_result=result, labels_signal_at=seen_at,
                                labels_check_ms=round((time.monotonic() - started) * 1000, 1))
            verdict = self.state.passive_check_result(key.web, signal, result, key)
        if verdict == DOWN:
            self.check_changed(key)
            self.changed()

    def _probe(self, key: CheckKey) -> Tuple[str, Optional[str]]:
        """One check by its checker: (result, what went wrong or None)."""
        kind = self.state.checks.get(key, HTTP_GET)
        result, error, served = self.checkers[kind](self.description.host(key.web).ip, key.port, self.interface,
                                                    self.settings.timeout)
        if key == self._host(key.web):
            self.state.requests_served(key.web, served)
        return result, error

    def _name(self, key: CheckKey) -> str:
        """A check as the log names it: the web host for its HTTP port's, else with its port."""
        return key.web if key == self._host(key.web) else "%s (%s)" % (key, self.state.checks.get(key))

    def health_changed(self, server: str) -> None:
        self.check_changed(self._host(server))

    def check_changed(self, key: CheckKey) -> None:
        health = self.state.check_health(key)
        self.event_log.emit("real-server-health", "%s is %s: %s" % (self._name(key), health.state,
                                                                    health.last_change_cause),
                            destination_ip=self.description.host(key.web).ip, labels_state=health.state,
                            **({} if key == self._host(key.web) else {"labels_check": str(key)}))
