"""What the forwarding method needs beyond flows, carried out in the running network: the
commands topologies/forwarding.py writes, run in the hosts and the root namespace."""
import time

from topologies import forwarding
from topologies.runstate import ClusterError, sh
from topologies.topo import DATAPATH_TYPE

METHOD_SET_UP = {"nat": "real servers route through the virtual gateway",
                 "dr": "VIP on the real servers' lo, ARP silenced",
                 "tun": "VXLAN endpoints on proxies and real servers"}


def set_up(cluster):
    """What the forwarding method needs beyond flows: see topologies/forwarding.py."""
    description = cluster.description
    host_commands(cluster, description.router.name, forwarding.router_setup(description))
    if description.lan_mtu != 1500:
        for link in cluster.net.links:
            if {description.lan_edge, description.remote_edge} & {link.intf1.node.name, link.intf2.node.name}:
                for intf in (link.intf1, link.intf2):
                    intf.node.cmd("ip link set %s mtu %d" % (intf.name, description.lan_mtu))
    for proxy in description.proxies:
        root_commands(forwarding.proxy_setup(description, proxy), proxy)
    set_up_conntrack(description)
    cluster.services.set_up()
    if cluster.directors_are_hosts:
        return "the real servers answer the directors on their own LAN"
    return "; ".join("%s: %s" % (m.upper(), METHOD_SET_UP[m]) for m in sorted(description.methods))


def root_commands(commands, what):
    """Run commands in the root namespace; ClusterError naming `what` for the first that fails.
    OVS learns an address just given to a bridge's LOCAL port asynchronously, and refuses a
    route through it until then: a route is retried."""
    for command in commands:
        for _ in range(20):
            result = sh(*command.split())
            if result.returncode == 0 or "ovs/route/add" not in command:
                break
            time.sleep(0.1)
        if result.returncode != 0:
            raise ClusterError("setting up %s failed: %s: %s" % (what, command, result.stderr.strip()))


def set_up_conntrack(description):
    """The proxies' connection tracking (forwarding.conntrack_setup). Zone timeouts live in
    the datapath's record of the Open vSwitch database, made here if there is none yet."""
    dp = DATAPATH_TYPE
    if description.proxies and sh("ovs-vsctl", "get", "Open_vSwitch", ".", "datapaths:" + dp).returncode:
        sh("ovs-vsctl", "--", "--id=@dp", "create", "Datapath", "datapath_version=0",
           "--", "set", "Open_vSwitch", ".", "datapaths:%s=@dp" % dp)
    root_commands(forwarding.conntrack_setup(description, dp), "connection tracking")


def undo(description):
    for proxy in description.proxies:
        for command in forwarding.proxy_teardown(description, proxy):
            sh(*command.split())
    for command in forwarding.conntrack_teardown(description, DATAPATH_TYPE):
        sh(*command.split())


def host_commands(cluster, node, commands):
    for command in commands:
        out, err, code = cluster.host(node).pexec(command)    # split on spaces, run in the node's namespaces
        if code != 0:
            raise ClusterError("configuring %s failed: %s: %s" % (node, command, (err or out).strip()))
