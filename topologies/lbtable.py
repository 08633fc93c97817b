"""The `lb` table: GET /lb/backends printed the way `ipvsadm -Ln --stats` prints LVS."""

FORWARD_NAMES = {"nat": "Masq", "dr": "Route", "tun": "Tunnel"}   # ipvsadm's words


def format_lb_table(service, status):
    lines = [
        "IP Virtual Server (lvsdn): %s forwarding, active proxy %s, controller packet-ins %d"
        % (service["mode"].upper(), service["active_proxy"] or "NONE (VIP down)", status["packet_in"]),
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
