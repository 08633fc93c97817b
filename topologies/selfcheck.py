"""Checks that a running cluster is what its description says and that each tier answers.

Used by `run.py --no-cli` and by the emulation tests. Each check returns (ok, detail).
"""
import re


def _ping(cluster, source, target_ip):
    out = cluster.host(source).cmd("ping -c1 -W2 %s" % target_ip)
    return " 0% packet loss" in out


def check_addresses(cluster):
    """Every host interface carries the IP and MAC of the description."""
    wrong = []
    for host in cluster.description.hosts:
        shown = cluster.host(host.name).cmd("ip -o addr show; ip -o link show")
        for intf in host.interfaces:
            link = re.search(r"\d+: %s[@:].*?link/ether (\S+)" % re.escape(intf.name), shown)
            if "%s/%d" % (intf.ip, intf.prefixlen) not in shown or not link or link.group(1) != intf.mac:
                wrong.append(intf.name)
    return not wrong, "all %d hosts as described" % len(cluster.description.hosts) if not wrong \
        else "differ from the description: " + ", ".join(wrong)


def check_controller(cluster):
    """Every switch holds its flows, a proxy carries the VIP, and every background loop of the
    controller goes round."""
    status = cluster.rest("GET", "/lb/status")
    not_ready = [s["name"] for s in status["switches"] if not s["ready"]]
    stale = [name for name, loop in status.get("loops", {}).items() if loop["stale"]]
    ok = not not_ready and not stale and (status["active_proxy"] is not None or status["director"] != "sdn")
    if ok:
        return ok, ("%d switches connected with flows, active proxy %s, %d packet-ins, %d loops going round"
                    % (len(status["switches"]), status["active_proxy"], status["packet_in"], len(status["loops"])))
    return ok, ("switches not ready: %s; active proxy %s; loops stale: %s"
                % (not_ready or "none", status["active_proxy"], stale or "none"))


def check_etcd(cluster):
    members = cluster.etcd.health()
    healthy = [m["endpoint"] for m in members if m["health"]]
    return len(healthy) == 3, "%d of 3 members healthy" % len(healthy)


def check_public_side(cluster):
    d = cluster.description
    router = d.router.interface_on(d.public_edge).ip
    failed = [c.name for c in cluster.description.hosts_with_role("client") if not _ping(cluster, c.name, router)]
    return not failed, "every client reaches r0" if not failed else "cannot reach r0: " + ", ".join(failed)


def check_server_side(cluster):
    d = cluster.description
    dbs = [h.ip for h in d.hosts_with_role("db")]
    failed = ["%s->%s" % (w.name, ip) for w in d.real_servers
              for ip in [d.router.interface_on(w.service_interface.switch).ip] + dbs
              if not _ping(cluster, w.name, ip)]
    return not failed, "every web host reaches r0 and db1..db3" if not failed else "unreachable: " + ", ".join(failed)


def check_web_tier(cluster):
    """Each real server's every program answers (the web app, and what each service gives it)."""
    wrong = [web for web in cluster.real_servers.names if not cluster.real_servers.healthy(web)]
    return not wrong, ("every real server answers on each of its ports" if not wrong
                       else "no answer from: " + ", ".join(wrong))


def check_vip(cluster):
    """Every client reaches every VIP by ping and every service on it, answered by a real server."""
    d = cluster.description
    servers = {w.name for w in d.real_servers}
    failed, served = [], set()
    for client in d.hosts_with_role("client"):
        for service in cluster.services.current:
            answer = cluster.real_servers.served_by(client.name, service)
            if answer in servers:
                served.add(answer)
            else:
                failed.append("%s (%s)" % (client.name, service.key))
        failed += ["%s (ping %s)" % (client.name, vip) for vip in d.vips if not _ping(cluster, client.name, vip)]
    services = ", ".join(str(s.key) for s in cluster.services.current)
    return not failed, ("every client reaches %s and ping (served by %s)" % (services, ", ".join(sorted(served)))
                        if not failed else "unreachable: " + ", ".join(failed))


def check_logging(cluster):
    """Connection-log copies reach the controller, and the log reviewer (when on) is running."""
    copies = cluster.rest("GET", "/lb/status")["log_copies"]
    reviewer = not cluster.review or cluster.reviewer.following
    ok = copies > 0 and reviewer
    state = "log reviewer following" if cluster.review else "log reviewer off"
    return ok, ("%d connection attempts logged, %s" % (copies, state) if ok
                else "connection log copies: %d; log reviewer alive: %s" % (copies, reviewer))


CHECKS = [
    ("addresses", check_addresses),
    ("controller", check_controller),
    ("etcd", check_etcd),
    ("public side", check_public_side),
    ("server side", check_server_side),
    ("web tier", check_web_tier),
    ("vip", check_vip),
    ("logging", check_logging),
]


def run_checks(cluster):
    """[(name, ok, detail)] for every check; a check that raises counts as failed."""
    results = []
    for name, check in CHECKS:
        try:
            ok, detail = check(cluster)
        except Exception as e:  # noqa: BLE001 - a broken check is a failed check, with its reason
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
        results.append((name, ok, detail))
    return results
