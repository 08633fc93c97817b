"""The Mininet topology of the cluster, built from topologies/description.py.

For the topology alone (with the project's controller, or any OpenFlow 1.3 controller, on 6653):
    sudo mn --custom topologies/topo.py --topo lvs,mode=nat,clients=4,webs=2 \
            --controller remote,ip=127.0.0.1,port=6653
Without a controller nothing forwards: the switches fail secure, since s_pub and s_lan are joined
twice (through lb1 and lb2) and a learning switch would loop.
"""
import ipaddress
import os
import subprocess
import sys

from mininet.node import Host, OVSSwitch
from mininet.topo import Topo

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from topologies.description import describe  # noqa: E402  (mn --custom loads this file by path)

OFFLOADS_OFF = "ethtool -K %s tx off tso off gso off >/dev/null 2>&1"


def kernel_datapath_available():
    """True where the openvswitch kernel module is loaded or can be loaded."""
    if os.path.isdir("/sys/module/openvswitch"):
        return True
    return subprocess.call(["modprobe", "-q", "openvswitch"], stderr=subprocess.DEVNULL) == 0


USERSPACE = not kernel_datapath_available()


class ClusterSwitch(OVSSwitch):
    """OVS bridge on the kernel datapath, or the userspace one where the kernel lacks it.

    On the userspace datapath TCP stalls until checksum and segmentation offloads are off on
    both ends of every veth (PLATFORM.md), so each side turns its own off.
    """
    def __init__(self, name, **params):
        params.setdefault("protocols", "OpenFlow13")
        params.setdefault("failMode", "secure")
        if USERSPACE:
            params.setdefault("datapath", "user")
        super().__init__(name, **params)

    def start(self, controllers):
        super().start(controllers)
        if USERSPACE:
            for intf in self.intfList():
                if intf.name != "lo":
                    self.cmd(OFFLOADS_OFF % intf.name)


class ClusterHost(Host):
    """A host with offloads off (userspace datapath) and no IPv6 chatter in the logs."""
    def config(self, **params):
        result = super().config(**params)
        if self.inNamespace:      # never touch the root namespace's IPv6
            self.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        if USERSPACE:
            for intf in self.intfList():
                self.cmd(OFFLOADS_OFF % intf.name)
        return result


class ManagementHost(ClusterHost):
    """The controller's interface on the server LAN, in the root namespace: host routes to each
    real server (and to the remote net through r0), nothing wider."""
    def config(self, address=None, routes=(), **params):
        # Mininet's own setIP goes through ifconfig, which turns a /32 into /0: set it here.
        result = super().config(**params)
        self.cmd("ip addr replace %s dev %s" % (address, self.defaultIntf()))
        for route in routes:
            self.cmd("ip route replace %s dev %s" % (route, self.defaultIntf()))
        return result


class Router(ClusterHost):
    """r0: forwards between the public net and the server LAN."""
    def config(self, **params):
        result = super().config(**params)
        self.cmd("sysctl -qw net.ipv4.ip_forward=1")
        return result


def management_routes(desc):
    """Routes of the management interface: each LAN real server and r0 directly, remote real
    servers through r0."""
    router = desc.host("r0").interface_on("s_lan").ip
    routes = ["%s/32" % router] + ["%s/32" % w.ip for w in desc.real_servers
                                   if w.service_interface.switch == "s_lan"]
    remote = desc.host("r0").interface_on("s_far")
    if remote:
        network = ipaddress.ip_interface("%s/%d" % (remote.ip, remote.prefixlen)).network
        routes.append("%s via %s" % (network, router))
    return routes


class LvsTopo(Topo):
    def build(self, mode="nat", clients=4, webs=2, description=None):
        desc = description or describe(mode=mode, clients=int(clients), webs=int(webs))
        for switch in desc.switches:
            self.addSwitch(switch.name, cls=ClusterSwitch, dpid="%016x" % switch.dpid)
        for host in desc.hosts:
            first = host.interfaces[0]
            address = "%s/%d" % (first.ip, first.prefixlen)
            extra = {"cls": ClusterHost, "ip": address}
            if host.role == "router":
                extra["cls"] = Router
            elif host.role == "management":
                extra = {"cls": ManagementHost, "ip": None, "address": address, "inNamespace": False,
                         "routes": management_routes(desc)}
            self.addHost(host.name, mac=first.mac,
                         defaultRoute="via %s" % host.gateway if host.gateway else None, **extra)
            for intf in host.interfaces:
                ip = {} if host.role == "management" else {"ip": "%s/%d" % (intf.ip, intf.prefixlen)}
                self.addLink(host.name, intf.switch, port2=intf.port, intfName1=intf.name,
                             addr1=intf.mac, params1=ip)
        for trunk in desc.trunks:
            self.addLink(trunk.switch_a, trunk.switch_b, port1=trunk.port_a, port2=trunk.port_b)


topos = {"lvs": LvsTopo}
