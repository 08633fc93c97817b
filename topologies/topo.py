"""The Mininet topology of the cluster, built from core/description.py.

For the topology alone (with the project's controller, or any OpenFlow 1.3 controller, on 6653):
    sudo .venv/bin/python -m controller.launcher --mode nat --clients 4 --webs 2 &
    sudo mn --custom topologies/topo.py --topo lvs,mode=nat,clients=4,webs=2 \
            --controller remote,ip=127.0.0.1,port=6653 [--test pingsegments]
Without a controller nothing forwards: the switches fail secure, since s_pub and s_lan are joined
twice (through lb1 and lb2) and a learning switch would loop. `--test pingsegments` pings every
pair of hosts that share an edge switch and that segmentation lets ping (r0 pings everyone).
"""
import ipaddress
import itertools
import os
import subprocess
import sys

from mininet.node import Host, OVSSwitch
from mininet.topo import Topo

# mn --custom runs this file through exec(), without __file__; its code object knows the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(sys._getframe(0).f_code.co_filename))))
from core.addressing import SDN, VIP  # noqa: E402  (mn --custom loads this file by path)
from core.builder import describe  # noqa: E402
from core.segmentation import may_ping  # noqa: E402
from core.settings import ProxyPolicy  # noqa: E402

OFFLOADS_OFF = "ethtool -K %s tx off tso off gso off >/dev/null 2>&1"


def kernel_datapath_available():
    """True where the openvswitch kernel module is loaded or can be loaded."""
    if os.path.isdir("/sys/module/openvswitch"):
        return True
    try:
        return subprocess.call(["modprobe", "-q", "openvswitch"], stderr=subprocess.DEVNULL) == 0
    except OSError:     # no modprobe at all (a container without kmod)
        return False


USERSPACE = not kernel_datapath_available()
DATAPATH_TYPE = "netdev" if USERSPACE else "system"   # as ovs-vsctl and the OVS database name them


class ClusterSwitch(OVSSwitch):
    """OVS bridge on the kernel datapath, or the userspace one where the kernel lacks it.

    On the userspace datapath TCP stalls until checksum and segmentation offloads are off on
    both ends of every veth (docs/PLATFORM.md), so each side turns its own off.

    Its ports are interfaces of the root namespace, which also holds the controller's management
    address. With ARP on, the kernel answers a host's ARP for that address on any of them, and
    the host's replies then bypass the switch (seen after a web host's link came back: its
    health-check answers went to s_lan-eth4's own MAC). The datapath reads and writes the ports'
    frames raw, so ARP off changes no forwarding.

    `bfd_ports` run BFD from the moment they are added (`bfd`: Open vSwitch's interface options),
    so that a port is never live before BFD hears the other end.
    """
    def __init__(self, name, bfd_ports=(), bfd="", **params):
        self.bfd_ports, self.bfd = frozenset(bfd_ports), bfd
        params.setdefault("protocols", "OpenFlow13")
        params.setdefault("failMode", "secure")
        if USERSPACE:
            params.setdefault("datapath", "user")
        super().__init__(name, **params)

    def intfOpts(self, intf):
        options = super().intfOpts(intf)
        return options + " " + self.bfd if self.ports[intf] in self.bfd_ports else options

    def start(self, controllers):
        super().start(controllers)
        for intf in self.intfList():
            if intf.name != "lo":
                self.cmd("ip link set dev %s arp off" % intf.name)
                if USERSPACE:
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


def management_routes(description):
    """Routes of the management interface: each LAN real server and r0 directly, remote real
    servers through r0."""
    router = description.router.interface_on(description.lan_edge).ip
    routes = ["%s/32" % router] + ["%s/32" % w.ip for w in description.real_servers_on(description.lan_edge)]
    remote = description.router.interface_on(description.remote_edge)
    if remote:
        network = ipaddress.ip_interface("%s/%d" % (remote.ip, remote.prefixlen)).network
        routes.append("%s via %s" % (network, router))
    return routes


def bfd_ports(description, switch):
    """The ports of a switch that run BFD: both ends of every proxy's cables."""
    return tuple(port for proxy in description.proxies
                 for end, port, _ in description.proxy_cable_ends(proxy) if end == switch)


class LvsTopo(Topo):
    """The cluster's topology: from a description, or from the parameters of describe(). With
    `plain`, the switches are learning switches (fail mode standalone, no controller): only for
    a description whose directors are hosts, where no two switches are joined twice."""
    def build(self, mode="nat", clients=4, webs=2, remote_webs=0, vip=VIP, director=SDN, description=None,
              proxy_policy=ProxyPolicy(), plain=False):
        description = description or describe(mode=mode, clients=clients, webs=webs, remote_webs=remote_webs,
                                              vip=vip, director=director)
        self.description = description
        bfd = "bfd:enable=true bfd:min_rx=%d bfd:min_tx=%d" % (proxy_policy.bfd_min_rx, proxy_policy.bfd_min_tx)
        for switch in description.switches:
            self.addSwitch(switch.name, cls=ClusterSwitch, dpid="%016x" % switch.dpid,
                           bfd_ports=bfd_ports(description, switch.name), bfd=bfd,
                           **({"failMode": "standalone"} if plain else {}))
        for host in description.hosts:
            first = host.interfaces[0]
            address = "%s/%d" % (first.ip, first.prefixlen)
            extra = {"cls": ClusterHost, "ip": address}
            if host.role == "router":
                extra["cls"] = Router
            elif host.role == "management":
                extra = {"cls": ManagementHost, "ip": None, "address": address, "inNamespace": False,
                         "routes": management_routes(description)}
            self.addHost(host.name, mac=first.mac,
                         defaultRoute="via %s" % host.gateway if host.gateway else None, **extra)
            for intf in host.interfaces:
                ip = {} if host.role == "management" else {"ip": "%s/%d" % (intf.ip, intf.prefixlen)}
                self.addLink(host.name, intf.switch, port2=intf.port, intfName1=intf.name,
                             addr1=intf.mac, params1=ip)
        for trunk in description.trunks:
            self.addLink(trunk.switch_a, trunk.switch_b, port1=trunk.port_a, port2=trunk.port_b)


def segment_pairs(description):
    """(switch, source host, destination address) for every two hosts that share an edge switch
    and that the segmentation matrix lets ping (core/segmentation.py)."""
    for switch in description.switches:
        if switch.role == "proxy":
            continue
        here = [(h, h.interface_on(switch.name)) for h in description.hosts if h.interface_on(switch.name)]
        for (source, intf), (_, target) in itertools.permutations(here, 2):
            if source.role == "router" or may_ping(description, source, intf, target.ip):
                yield switch.name, source.name, target.ip


def ping_segments(net):
    """`mn --test pingsegments`: one ping between every two hosts that share an edge switch; a
    line per switch, then the total (as Mininet's pingall prints)."""
    results: dict = {}
    for switch, source, address in segment_pairs(net.topo.description):
        reply = net[source].cmd("ping -c1 -W1 %s" % address)
        results.setdefault(switch, []).append(" 0% packet loss" in reply)
    for switch, replies in results.items():
        print("%s: %d/%d pairs answered" % (switch, replies.count(True), len(replies)))
    answered = sum(r.count(True) for r in results.values())
    total = sum(len(r) for r in results.values())
    print("*** Results: %d%% dropped (%d/%d received)" % (100 * (total - answered) // max(total, 1), answered, total))


topos = {"lvs": LvsTopo}
tests = {"pingsegments": ping_segments}
