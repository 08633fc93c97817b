"""The peer director: what an operator would build instead of this project, keepalived (VRRP, one
VIP between two hosts) and HAProxy (TCP mode) on the hosts lb1 and lb2 that stand in the
proxies' place (describe(director="haproxy")). Pure functions of the description: the harness
writes these files into the run directory and starts the daemons in the director hosts.

Configured as a careful operator would: HAProxy listens on the service port on every address (so
the backup is ready the moment the VIP arrives), checks each real server's /health every 200 ms
(fall 2, rise 2, as the controller does) and spreads connections round-robin; keepalived runs
VRRPv3 with unicast adverts between the two directors (no multicast on the LAN), both as BACKUP
with nopreempt (a recovered director does not take the VIP back, as the project's default), and
gives the VIP up when its HAProxy dies.
"""
from dataclasses import dataclass

from core.settings import Checked, integer, seconds

VRID = 51


@dataclass(frozen=True)
class PeerSettings(Checked):
    WHAT = "VRRP"
    advert_int: float = seconds(1.0, 0.01, 255)       # between VRRP adverts: keepalived's default
    check_interval_ms: int = integer(200, 10, 60000)  # HAProxy health checks (inter), with fall 2 rise 2


def directors(description):
    return description.hosts_with_role("director")


def haproxy_config(description, settings, stats_socket):
    """haproxy.cfg; `stats_socket` is the path of its runtime API (show stat: each server's state)."""
    servers = "\n".join("    server %s %s:%d check" % (w.name, w.ip, description.http_port)
                        for w in description.real_servers)
    return """global
    maxconn 8000
    nbthread 1
    stats socket {stats} mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    default-server inter {inter}ms fall 2 rise 2

frontend vip
    bind :{port}
    default_backend real_servers

backend real_servers
    balance roundrobin
    option httpchk GET /health
{servers}
""".format(inter=settings.check_interval_ms, port=description.http_port, servers=servers, stats=stats_socket)


def keepalived_config(description, director, settings, pidfile):
    """keepalived.conf for one director; `pidfile` is its HAProxy's, which the track script
    watches."""
    me = description.host(director)
    peer = next(h for h in directors(description) if h.name != director)
    public = me.interface_on(description.public_edge)
    priority = 150 - 50 * [h.name for h in directors(description)].index(director)
    return """global_defs {{
    router_id {name}
    script_user root
    enable_script_security
    vrrp_garp_master_refresh 0
}}

vrrp_script haproxy_alive {{
    script "/usr/bin/pgrep -F {pidfile}"
    interval 1
    fall 1
    rise 1
}}

vrrp_instance VIP {{
    state BACKUP
    nopreempt
    interface {interface}
    virtual_router_id {vrid}
    version 3
    priority {priority}
    advert_int {advert}
    unicast_src_ip {me}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        {vip}/{prefixlen} dev {interface}
    }}
    track_script {{
        haproxy_alive
    }}
}}
""".format(name=director, pidfile=pidfile, interface=public.name, vrid=VRID, priority=priority,
           advert=settings.advert_int, me=public.ip, peer=peer.interface_on(description.public_edge).ip,
           vip=description.vip, prefixlen=public.prefixlen)
