"""What cluster.fail() and cluster.recover() do: one table from a role and a kind of failure to
the failure and its undoing, so that the kinds the CLI offers are the table's own keys.

Each action takes the cluster and the node's name; a failure may return the sentence that says
what it means (the default is "<node> failed (<kind>)").
"""
import subprocess
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from topologies.runstate import ClusterError, sh, wait_until

CONTROLLER = "controller"
# A hung datapath: the bridge and its OpenFlow channel live on, but nothing it sends leaves.
# A token bucket with a 1-byte burst drops every frame (this kernel has no netem or gact).
HANG_QDISC = "tbf rate 8bit burst 1 limit 1"


@dataclass(frozen=True)
class Fault:
    fail: Callable[..., Optional[str]]
    recover: Callable[..., Optional[str]]


def cut(cluster, name):
    set_links(cluster, name, "down")


def reconnect(cluster, name):
    set_links(cluster, name, "up")
    restore_gateway(cluster, name)


def hang(cluster, name):
    set_hang(cluster, name, True)


def unhang(cluster, name):
    set_hang(cluster, name, False)


def crash_proxy(cluster, name):
    """The box dies: its NICs go dark at once and its OpenFlow channel drops."""
    set_proxy_links(cluster, name, "down", far_ends=False)
    sh("ovs-vsctl", "--timeout=5", "del-controller", name)


def reboot_proxy(cluster, proxy):
    """A crashed proxy boots again: its tables empty, as a box's after a reboot, its NICs up,
    its OpenFlow channel back. The bridge is kept (its ports, BFD, tunnel end): rebuilding it
    holds ovs-vswitchd's main thread for about 100 ms, long enough to silence BFD on the
    other proxy's cables, while this one's new sessions, not yet at full rate, hold."""
    commands: list = [("ovs-ofctl", "-O", "OpenFlow13", "del-" + table, proxy)
                      for table in ("flows", "groups", "meters")]
    commands += [("ovs-vsctl", "--timeout=5", "set-controller", proxy)
                 + tuple("%s:%s:%d" % (c.protocol, c.IP(), c.port) for c in cluster.net.controllers)]
    for command in commands:
        result = sh(*command)
        if result.returncode:
            raise ClusterError("rebooting %s failed: %s: %s" % (proxy, " ".join(command), result.stderr.strip()))
    set_proxy_links(cluster, proxy, "up", far_ends=False)


def crash_director(cluster, name):
    """The box dies: its daemons, and it falls silent (as a deleted proxy)."""
    cluster.peer.crash(name)
    set_links(cluster, name, "down")


def boot_director(cluster, name):
    """It boots again: links up, no VIP until keepalived says so."""
    reconnect(cluster, name)
    public = cluster.description.host(name).interface_on(cluster.description.public_edge)
    cluster.host(name).cmd("ip addr del %s/%d dev %s" % (cluster.vip, public.prefixlen, public.name))
    cluster.peer.boot(name)


def crash_etcd(cluster, name):
    cluster.etcd.crash(name)


def rejoin_etcd(cluster, name):
    cluster.etcd.rejoin(name)


def crash_web(cluster, name):
    cluster.real_servers.crash(name)


def restart_web(cluster, name):
    cluster.real_servers.restart(name)


def crash_controller(cluster, _name):
    if cluster.controller is None:
        raise ClusterError("this cluster has no controller to fail (director %s)" % cluster.description.director)
    cluster.controller.kill()             # SIGKILL: no goodbye to the switches
    cluster.controller.wait()
    return ("the controller crashed: the switches keep forwarding with their flows; no failover "
            "can happen until it returns (`recover controller`)")


def restart_controller(cluster, _name):
    cluster.start_controller()
    wait_until("the restarted controller to have every switch in sync", cluster.controller_in_sync, timeout=30)
    return "the controller is back, with the state it saved (the switches' flows were read, not wiped)"


LINK = Fault(cut, reconnect)
HANG = Fault(hang, unhang)
FAULTS: Dict[Tuple[str, str], Fault] = {
    ("web", "crash"): Fault(crash_web, restart_web),
    ("web", "link"): LINK,
    ("db", "crash"): Fault(crash_etcd, rejoin_etcd),
    ("db", "link"): LINK,
    ("proxy", "crash"): Fault(crash_proxy, reboot_proxy),
    ("proxy", "link"): LINK,
    ("proxy", "hang"): HANG,
    ("director", "crash"): Fault(crash_director, boot_director),
    ("director", "link"): LINK,
    ("director", "hang"): HANG,
    ("client", "link"): LINK,
    ("router", "link"): LINK,
    (CONTROLLER, "crash"): Fault(crash_controller, restart_controller),
}
FAILURE_KINDS: Dict[str, Tuple[str, ...]] = {}
for _role, _kind in FAULTS:
    FAILURE_KINDS[_role] = FAILURE_KINDS.get(_role, ()) + (_kind,)


def set_hang(cluster, name, hung):
    """A node that receives but sends nothing (see HANG_QDISC), or its recovery."""
    node = cluster.net[name]          # a switch's shell is in the root namespace, a host's in its own
    for intf in node.intfList():
        if intf.name != "lo":
            node.cmd("tc qdisc replace dev %s root %s" % (intf.name, HANG_QDISC) if hung
                     else "tc qdisc del dev %s root" % intf.name)


def restore_gateway(cluster, name):
    """A link going down takes the routes through it with it, the default route included, and
    coming back up does not restore them (a host's network manager would): put it back."""
    host = next((h for h in cluster.description.hosts if h.name == name), None)
    if host is not None and host.gateway:
        cluster.host(name).cmd("ip route replace default via %s" % host.gateway)


def set_links(cluster, name, status):
    if name in cluster.description.proxies:
        set_proxy_links(cluster, name, status)
        return
    for intf in cluster.description.host(name).interfaces:
        cluster.net.configLinkStatus(name, intf.switch, status)


def set_proxy_links(cluster, proxy, status, far_ends=True):
    """Every cable of a proxy at once (one `ip -batch`; Mininet's configLinkStatus takes one
    interface at a time, a proxy then being half cut off for milliseconds): its own ends,
    and with `far_ends` the edges' ends too. A switch's port N is "<switch>-ethN"."""
    ends = ["%s-eth%d" % (switch, port) for switch, port, _ in cluster.description.proxy_cable_ends(proxy)
            if far_ends or switch == proxy]
    batch = "".join("link set %s %s\n" % (end, status) for end in ends)
    result = subprocess.run(["ip", "-batch", "-"], input=batch, capture_output=True, text=True, timeout=10)
    if result.returncode:
        raise ClusterError("setting %s's links %s failed: %s" % (proxy, status, result.stderr.strip()))
