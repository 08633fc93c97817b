"""The `lb` table: GET /lb/backends printed the way `ipvsadm -Ln --stats` prints LVS, and as
`ipvsadm -S -n` saves it."""
from core.ipvsadm import RealServerEntry, ServiceKey, ServiceTable, VirtualService

FORWARD_NAMES = {"nat": "Masq", "dr": "Route", "tun": "Tunnel"}   # ipvsadm's words
SCHEDULER_NAMES = {"maglev": "mh"}                                 # ipvsadm's name of each


def format_lb_table(service, status):
    proxies = ", ".join("%s %s" % (p["name"], p["role"]) for p in status.get("proxies", []))
    lines = [
        "IP Virtual Server (lvsdn): %s forwarding, VIP %s, proxies %s (%s), controller packet-ins %d"
        % (service["mode"].upper(), status.get("vip_state", "up"), status.get("proxy_mode", "active-standby"),
           proxies or "none", status["packet_in"]),
        "Prot LocalAddress:Port Scheduler",
        "  -> RemoteAddress:Port    Forward Weight ActiveConn State    Slots   InPkts    InBytes",
        "%-4s %s:%d %s (Maglev, %d slots)" % (service["protocol"].upper(), service["vip"], service["port"],
                                              "mh", service["table_size"]),
    ]
    for b in service["backends"]:
        state = b["state"] if b["in_service"] else "removed"
        lines.append("  -> %-21s %-7s %-6d %-10d %-8s %-7d %-9d %d" % (
            "%s:%d" % (b["rip"], b["port"]), FORWARD_NAMES[service["mode"]], b["weight"],
            b["active_connections"], state, b["slots"], b["packets"], b["bytes"]))
    return "\n".join(lines)


def saved_rules(service):
    """The virtual service as `ipvsadm -S -n` prints it: its real servers in service, with
    their weights (one taken out of the service is not in LVS's table either)."""
    real_servers = tuple(sorted(RealServerEntry(b["rip"], b["port"], service["mode"], b["weight"])
                                for b in service["backends"] if b["in_service"]))
    key = ServiceKey(service["protocol"], service["vip"], service["port"])
    scheduler = SCHEDULER_NAMES.get(service["scheduler"], service["scheduler"])
    return ServiceTable([VirtualService(key, scheduler=scheduler, real_servers=real_servers)]).save()
