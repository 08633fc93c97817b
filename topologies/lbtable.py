"""The `lb` table: GET /lb/services printed the way `ipvsadm -Ln` prints LVS's table, with
`--stats` or `--rate` as ipvsadm takes them, and this project's own columns (each real server's
state and share of its service's Maglev slots)."""

FORWARD_NAMES = {"nat": "Masq", "dr": "Route", "tun": "Tunnel"}   # ipvsadm's words


def header(status):
    proxies = ", ".join("%s %s" % (p["name"], p["role"]) for p in status.get("proxies", []))
    return ("IP Virtual Server (lvsdn): VIPs %s, proxies %s (%s), controller packet-ins %d"
            % (status.get("vip_state", "up"), status.get("proxy_mode", "active-standby"), proxies or "none",
               status["packet_in"]))


def _columns(flag):
    if flag == "--stats":
        return "Conns      InPkts     InBytes"
    if flag == "--rate":
        return "CPS        InPPS      InBPS"
    if flag == "--persistent-conn":
        return "PersistConn ActiveConn State"
    return "ActiveConn State    Slots"


def _figures(server, flag, rates):
    if flag == "--stats":
        return "%-10d %-10d %d" % (server["connections"], server["packets"], server["bytes"])
    if flag == "--rate":
        cps, pps, bps = rates.get((server["rip"], server["port"]), (0, 0, 0))
        return "%-10d %-10d %d" % (cps, pps, bps)
    if flag == "--persistent-conn":
        return "%-11d %-10d %s" % (server["persistent_connections"], server["active_connections"], server["state"])
    return "%-10d %-8s %d" % (server["active_connections"], server["state"], server["slots"])


def _persistence(service):
    """ipvsadm's words for a persistent service: persistent 300 (mask 255.255.255.0)."""
    if service.get("persistence") is None:
        return ""
    mask = "" if service["netmask"] == "255.255.255.255" else " mask %s" % service["netmask"]
    return " persistent %d%s" % (service["persistence"], mask)


def format_entries(entries):
    """GET /lb/persistence's entries, one line each, after `lb -Ln --persistent-conn`'s table."""
    if not entries:
        return "Persistence entries: none"
    return "\n".join(["Persistence entries (read every few seconds):"] + [
        "  %s client %s -> %s (%s), %d packets, learned %d s ago" % (
            e["service"], e["client"], e["rip"], e["real_server"], e["packets"], e["age_s"]) for e in entries])


def format_services(services, status, flag=None, rates=None):
    """The table of every service (GET /lb/services' "services"); `rates`, for --rate: per
    (service, real server address, port), (connections, packets, bytes) per second."""
    lines = [header(status), "Prot LocalAddress:Port Scheduler Flags",
             "  -> RemoteAddress:Port           Forward Weight %s" % _columns(flag)]
    for service in services:
        lines.append("%-4s %s:%d %s (%s, %d slots)%s%s" % (
            service["protocol"].upper(), service["vip"], service["port"], service["scheduler"],
            service["scheduler_note"], service["table_size"], _persistence(service),
            "" if service["state"] == "up" else "  [no real server up]"))
        for server in service["real_servers"]:
            lines.append("  -> %-29s %-7s %-6d %s" % (
                "%s:%d" % (server["rip"], server["port"]), FORWARD_NAMES[server["method"]], server["weight"],
                _figures(server, flag, (rates or {}).get(service["service"], {}))))
    return "\n".join(lines)


def rates(before, after, seconds):
    """Per service and real server, (connections, packets, bytes) per second between two
    GET /lb/services answers `seconds` apart."""
    def figures(services):
        return {(s["service"], r["rip"], r["port"]): (r["connections"], r["packets"], r["bytes"])
                for s in services for r in s["real_servers"]}
    old, new = figures(before), figures(after)
    found: dict = {}
    for (service, rip, port), now in new.items():
        then = old.get((service, rip, port), now)
        found.setdefault(service, {})[(rip, port)] = tuple(round((b - a) / seconds) for a, b in zip(then, now))
    return found


def format_status(status):
    """GET /lb/status in a dozen lines (the CLI's `status`; `status --json` gives it whole)."""
    proxies = ", ".join("%s %s%s" % (p["name"], p["role"], _unhealthy(p)) for p in status["proxies"]) or "none"
    bfd = status["bfd"]
    vips = "VIPs %s: %s (%s forwarding by default; director %s)" % (
        status["vip_state"], status["vip"], status["mode"].upper(), status["director"])
    lines = [vips,
             "proxies %s: %s; BFD %d/%d ms%s" % (status["proxy_mode"], proxies, bfd["min_rx_ms"], bfd["min_tx_ms"],
                                                 ", held" if bfd["held"] else "")]
    failover = status.get("last_failover")
    if failover:
        moved = (", ".join(failover["from"]) or "none", ", ".join(failover["to"]) or "none")
        lines.append("last failover %s: %s -> %s (%s)" % ((failover["at"],) + moved + (failover["cause"],)))
    lines.append("real servers: " + ", ".join("%s %s %s w%d" % (b["name"], b["rip"], b["state"], b["weight"])
                                              for b in status["backends"]))
    lines.append("services (lb -Ln for the table): " + ", ".join(s["service"] for s in status["services"]))
    ready = [s for s in status["switches"] if s["connected"] and s["ready"]]
    waiting = [s["name"] for s in status["switches"] if s not in ready]
    lines.append("switches: %d of %d connected and ready%s; flows %s" % (
        len(ready), len(status["switches"]), " (waiting: %s)" % ", ".join(waiting) if waiting else "",
        "in sync" if status.get("flows_in_sync") else "being written"))
    lines.append("connection log: %d copies, %d dropped by the meters, %d lost; segmentation %s: %d refused, "
                 "%d forged dropped" % (status["log_copies"], status["log_copies_dropped"], status["copies_lost"],
                                        "on" if status["segmentation"] else "off", status["refused"],
                                        status["spoofed"]))
    stale = [name for name, loop in status.get("loops", {}).items() if loop["stale"] or loop["failed_rounds"]]
    loops = "in trouble: " + ", ".join(stale) if stale else "all running"
    lines.append("controller: %d packet-ins, %d probe replies; loops %s"
                 % (status["packet_in"], status["probe_replies"], loops))
    refused = status.get("api", {}).get("refused", {})
    if refused:
        lines.append("API requests refused: " + ", ".join("%s %d" % kv for kv in sorted(refused.items())))
    return "\n".join(lines)


def _unhealthy(proxy):
    bad = [what for what, ok in proxy.get("health", {}).items() if not ok]
    return " (no %s)" % ", ".join(bad) if bad else ""
