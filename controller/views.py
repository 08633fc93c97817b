"""What the REST API and `lb` show of ClusterState (controller/state.py): the status, the first
service by web host (/lb/backends), and every service with its real servers (/lb/services)."""
from collections import Counter
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from controller.checks import check_key, host_check
from controller.maglev import TABLE_SIZE
from controller.schedulers import active_connections
from controller.specs import ServiceView, destination
from core.ipvsadm import RealServerEntry, ServiceKey
from core.validation import SCHEDULERS

if TYPE_CHECKING:
    from controller.state import ClusterState


def proxy_status(state: "ClusterState", name: str) -> Dict[str, Any]:
    health = state.proxies.health(name, state.connected, state.ports)
    alive = state.proxies.alive(name, state.connected, state.ports)
    role = "active" if name in state.proxies.active else ("standby" if alive else "down")
    return {"name": name, "dpid": "%#x" % state.description.switch(name).dpid, "role": role,
            "health": health, "cables": _cable_states(state, name),
            "packets": sum(c.get("packets", 0) for c in state.counters.get(name, {}).values())}


def _cable_states(state: "ClusterState", proxy: str) -> List[Dict[str, Any]]:
    """Each end of the proxy's cables: its link and BFD's verdict ("unknown" until the switch
    has said)."""
    states = []
    for switch, port, peer in state.description.proxy_cable_ends(proxy):
        known = state.ports.get((switch, port))
        states.append({"switch": switch, "port": port, "to": peer,
                       "link": "unknown" if known is None else ("up" if known.link else "down"),
                       "bfd": "unknown" if known is None else ("up" if known.live else (
                           "down" if state.proxies.end_silent((switch, port), state.ports) or not known.link
                           else "coming up"))})
    return states


def status(state: "ClusterState") -> Dict[str, Any]:
    d = state.description
    return {
        "mode": d.mode,
        "vip": d.vip,
        "vip_mac": d.vip_mac,
        "active_proxy": state.active_proxy,
        "active_proxies": list(state.proxies.active),
        "director": d.director,
        "vip_state": "up" if state.proxies.active else ("down" if d.proxies else "held by the directors"),
        "proxy_mode": state.proxies.policy.mode,
        "preempt": state.proxies.policy.preempt,
        "preempt_delay": state.proxies.policy.preempt_delay,
        "bfd": {"min_rx_ms": state.proxies.policy.bfd_min_rx, "min_tx_ms": state.proxies.policy.bfd_min_tx,
                "held": state.proxies.bfd_held()},
        "last_failover": state.proxies.last_failover,
        "proxies": [proxy_status(state, p) for p in d.proxies],
        "backends": [{"name": w.name, "rip": w.ip, "weight": state.book.weight(w.name),
                      "state": state.real_server_state(w)} for w in d.real_servers],
        "services": [{"service": str(key), "index": index} for key, index in sorted(state.book.indexes.items())],
        "switches": [{"name": s.name, "dpid": "%#x" % s.dpid, "role": s.role,
                      "connected": s.name in state.connected, "ready": s.name in state.ready}
                     for s in d.switches],
        "packet_in": state.packet_in_count,
        "probe_replies": state.probe_count,
        "log_copies": state.log_copies,
        "log_copies_dropped": state.log_copies_dropped,
        "segmentation": state.segmentation,
        "refused": state.refused,
        "spoofed": state.spoofed,
        "copies_lost": sum(a.lost for a in state.copies.values()),
        "copies": [dict(switch=switch, meter=meter, **account.figures())
                   for (switch, meter), account in sorted(state.copies.items())],
    }


def backends(state: "ClusterState") -> Dict[str, Any]:
    """The first virtual service, ipvsadm style, by web host: each with its weight, state,
    share of the Maglev table, open connections (through the active proxy), connections
    given to it and traffic (both proxies); web hosts out of the service too."""
    d = state.description
    first = state.book.first()
    view = state.service_view(first) if first else None
    rows = []
    persisted = _persisted(state)
    for web in d.real_servers:
        entry = state.book.entry(web.name)
        row = _row(state, view if entry else None, web.name, entry, persisted)
        rows.append(dict(row, in_service=entry is not None, weight=state.book.weight(web.name)))
    key = first.key if first else ServiceKey("tcp", d.vip, d.http_port)
    return {"vip": key.vip, "port": key.port, "protocol": key.protocol, "mode": d.mode,
            "scheduler": "maglev", "table_size": TABLE_SIZE, "active_proxy": state.active_proxy,
            "backends": rows}


def _persisted(state: "ClusterState") -> Counter:
    """The active proxy's persistence entries, counted by destination."""
    return Counter(e["destination"] for e in state.affinity.get(state.active_proxy or "", ()))


def _row(state: "ClusterState", view: Optional[ServiceView], name: str,
         entry: Optional[RealServerEntry], persisted: Counter) -> Dict[str, Any]:
    """A real server of a service as `lb` and the API show it, with the check of its port (its
    counters zero, its HTTP port's check, when it is in no service); `persisted`: _persisted."""
    web = state.description.host(name)
    key = check_key(name, view.service, entry) if view and entry else host_check(name, state.description.http_port)
    d = destination(view.index, state.server_ids[name]) if view else -1
    active = state.counters.get(state.active_proxy or "", {}).get(d, {})
    traffic = [c.get(d, {}) for c in state.counters.values()]
    return {"name": name, "rip": web.ip, "port": entry.port if entry else None,
            "method": entry.method if entry else None, "weight": entry.weight if entry else None,
            "state": state.real_server_state(web, key), "check": state.checks.get(key),
            "inhibit_on_failure": bool(view and entry and entry.address in view.service.inhibit_on_failure),
            "slots": view.table.count(name) if view else 0,
            "last_change": state.check_health(key).last_change_cause,
            "last_passive_signal": state.passive_signals.get(name),
            "active_connections": active_connections(active),
            "persistent_connections": persisted[d],
            "connections": sum(t.get("opened", 0) for t in traffic),
            "requests": state.requests.get(name),
            "packets": sum(t.get("packets", 0) for t in traffic),
            "bytes": sum(t.get("bytes", 0) for t in traffic)}


def services(state: "ClusterState") -> List[Dict[str, Any]]:
    """Every virtual service with its real servers, in index order (/lb/services, `lb -Ln`)."""
    views = []
    persisted = _persisted(state)
    for service in state.book.ordered():
        view = state.service_view(service)
        sorry = _sorry(state, view)
        views.append({"protocol": service.key.protocol, "vip": service.key.vip, "port": service.key.port,
                      "service": str(service.key), "index": view.index, "scheduler": service.scheduler,
                      "scheduler_note": SCHEDULERS[service.scheduler],
                      "persistence": service.persistence, "netmask": service.netmask,
                      "table_size": TABLE_SIZE, "sorry_server": sorry,
                      "state": "sorry" if sorry and sorry["in_use"] else "up" if view.healthy else "down",
                      "real_servers": [_row(state, view, name, entry, persisted)
                                       for name, entry in state.book.hosts(service)]})
    return views


def _sorry(state: "ClusterState", view: ServiceView) -> Optional[Dict[str, Any]]:
    """A service's sorry server: its address, port and method, and whether it stands in now."""
    sorry = state.book.sorry(view.service)
    if sorry is None:
        return None
    name, entry = sorry
    return {"name": name, "address": entry.address, "port": entry.port, "method": entry.method,
            "in_use": name in view.healthy}


def persistence(state: "ClusterState") -> List[Dict[str, Any]]:
    """The persistence entries of the active proxy as last read (every few counter polls): each
    client prefix with its service and the real server it keeps (/lb/persistence)."""
    found = []
    for entry in state.affinity.get(state.active_proxy or "", ()):
        known = state.book.destinations().get(entry["destination"])
        if known is None:
            continue            # a removed service's or real server's, idle until it expires
        key, name = known
        found.append({"service": str(key), "client": entry["client"], "real_server": name,
                      "rip": state.description.host(name).ip, "packets": entry["packets"], "age_s": entry["age_s"]})
    return sorted(found, key=lambda e: (e["service"], e["client"]))
