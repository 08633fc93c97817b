"""The cluster's fixed plan: forwarding methods, directors, counts, networks, addresses
and switch ports, from which core/builder.py describes a cluster.

Addressing (LVS terms: VIP = virtual IP, RIP = real server IP):
    public net   10.0.0.0/24   r0 .1, VIP .100, clients c1..cN .11..
    server LAN   10.0.1.0/24   r0 .1, NAT gateway (virtual, owned by the active proxy) .254,
                               proxies' tunnel endpoints .2 .3 (TUN), web hosts (real servers) .11..,
                               the controller's management interface .250 (health checks)
    DB net       10.0.2.0/24   db1..db3 .11..13, web hosts' second interface .21..
    remote net   10.0.3.0/24   r0 .1, remote web hosts .11.. (TUN only: real servers one L3 hop
                               away from the proxies, behind r0, on switch s_far)
Every interface's MAC is 02:00 followed by its IPv4 address, so a MAC in a trace names its owner.
"""
import ipaddress
from socket import IPPROTO_TCP, IPPROTO_UDP

MODES = ("nat", "tun", "dr")
# Who balances the VIP: this project's proxies (OVS switches lb1, lb2 driven by the controller),
# or the stack an operator would otherwise build, keepalived (VRRP) and HAProxy on two hosts lb1,
# lb2 in the proxies' place; the benchmark compares the two in the same network.
SDN, HAPROXY = "sdn", "haproxy"
DIRECTORS = (SDN, HAPROXY)
MAX_CLIENTS = 64
MAX_WEBS = 32
DB_COUNT = 3

PUBLIC_NET = ipaddress.IPv4Network("10.0.0.0/24")
LAN_NET = ipaddress.IPv4Network("10.0.1.0/24")
DB_NET = ipaddress.IPv4Network("10.0.2.0/24")
REMOTE_NET = ipaddress.IPv4Network("10.0.3.0/24")
MAX_REMOTE_WEBS = 16
VIP = "10.0.0.100"
VRID = 1
NAT_GATEWAY = "10.0.1.254"
NAT_GATEWAY_VRID = 2
# TUN: each proxy's tunnel endpoint (the bridge's LOCAL port) and VXLAN network identifier.
PROXY_LOCAL_HOST_ID = 2            # lb1 10.0.1.2, lb2 10.0.1.3
VNI_BASE = 100                     # lb1 VNI 101, lb2 VNI 102
PROXY_TUNNEL_PORT = 10
VXLAN_OVERHEAD = 50
VXLAN_UDP_PORT = 4789              # the tunnel's UDP port, at both ends (OVS's and Linux's default)
CONNECTION_IDLE_TIMEOUT = 300      # s a connection stays in a proxy's connection tracker while idle (LVS: 900)
LAN_MTU_TUN = 1600                 # room for VXLAN's 50 bytes (docs/PLATFORM.md)
ROUTER_HOST_ID = 1
CLIENT_BASE, WEB_BASE, DB_BASE, WEB_DB_BASE = 10, 10, 10, 20
HTTP_PORT = 80
DNS_PORT = 53
IP_PROTOCOLS = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP}   # a service's protocol: its IPv4 protocol number
WHOAMI = "whoami.lvsdn"   # the name each real server's DNS server answers with its own address (DNS_CHECK asks it)
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380

# Switch ports. Each edge switch reserves 1 and 2 for the proxies and 3 for the router,
# so a port number alone tells what sits behind it.
PROXY_NAMES = ("lb1", "lb2")
# The edge switches and the router, by name; code elsewhere asks the description for them.
PUBLIC_EDGE, LAN_EDGE, DB_EDGE, REMOTE_EDGE = "s_pub", "s_lan", "s_db", "s_far"
ROUTER = "r0"
PROXY_UPLINK_PORT = 1      # proxy port towards s_pub
PROXY_DOWNLINK_PORT = 2    # proxy port towards s_lan
EDGE_ROUTER_PORT = 3
EDGE_FIRST_HOST_PORT = 4
MGMT_PORT = 100            # s_lan port of the controller's management interface
MGMT_HOST_ID = 250


def mac_for(ip: str) -> str:
    """A locally administered MAC that spells the IPv4 address: 10.0.1.11 -> 02:00:0a:00:01:0b."""
    return "02:00:" + ":".join("%02x" % b for b in ipaddress.ip_address(ip).packed)


def tunnel_mac(rip: str) -> str:
    """The MAC of a real server's VXLAN devices (TUN): the inner eth_dst the proxy writes."""
    return "02:01:" + mac_for(rip)[6:]


def vrrp_mac(vrid: int) -> str:
    """The VRRP virtual router MAC (RFC 5798) that answers ARP for the VIP."""
    return "00:00:5e:00:01:%02x" % vrid
