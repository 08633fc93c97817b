"""What each LVS forwarding method needs outside the flow tables, as shell commands.

Pure functions of the description and its services: the harness runs them (real servers in
their namespaces, proxies in the root namespace), and the proxies' undo lists at teardown (what
real servers were given goes with their namespaces). A real server gets what each method it
serves by needs, for each VIP it serves.

  NAT  real servers route through the virtual gateway (their default route, set by the
       topology from the description); one that also serves by DR or TUN routes by r0, and
       sends its NAT replies to the gateway by a rule per protocol and source port.
  DR   real servers hold the VIP on lo and must not answer or announce it in ARP
       (arp_ignore=1, arp_announce=2), so the VIP's ARP stays with the active proxy.
  TUN  as DR, plus one VXLAN device per proxy VNI with the MAC the proxy writes as inner
       eth_dst, and no reverse-path filter (requests arrive on the VXLAN device, replies leave
       by eth0). Proxies get a tunnel port, an address on their LOCAL port, and a route in OVS's
       tunnel route table selected by packet mark (docs/PLATFORM.md).
r0 forwards replies whose source is the VIP from the LAN side: its reverse-path filter is off.
In every mode the proxies keep their connections in the datapath's connection tracker, one zone
per proxy, following the client-to-VIP direction only (controller/pipeline.py): conntrack_setup.
"""
import ipaddress

from core.addressing import CONNECTION_IDLE_TIMEOUT, VXLAN_UDP_PORT, tunnel_mac


def _sysctl(**settings):
    return "sysctl -qw " + " ".join("net.ipv4.conf.%s=%s" % (k.replace("__", "."), v)
                                    for k, v in sorted(settings.items()))


def vxlan_device(vni):
    return "vxlan%d" % vni


NAT_TABLE = 100     # a real server's routing table for NAT replies, when its default route is r0


def real_server_setup(description, web, services=None):
    """What a real server needs for the services it serves (the description's by default): for
    DR and TUN, each VIP it answers from on lo, ARP silenced; for TUN, the VXLAN devices; for NAT
    beside DR or TUN (its default route then r0), its NAT replies routed to the NAT gateway by
    their protocol and source port."""
    entries = [(s.key, e) for s in (description.services if services is None else services)
               for e in s.entries if e.address == web.ip]
    methods = {e.method for _, e in entries}
    lan = web.service_interface.name
    commands = []
    if methods - {"nat"}:
        commands += ["ip addr add %s/32 dev lo" % vip
                     for vip in dict.fromkeys(key.vip for key, e in entries if e.method != "nat")]
        commands.append(_sysctl(all__arp_ignore=1, all__arp_announce=2,
                                **{lan + "__arp_ignore": 1, lan + "__arp_announce": 2}))
    if "tun" in methods:
        commands += _tunnel_ends(description, web)
    if "nat" in methods and description.proxies and web.gateway != description.nat_gateway:
        # The LAN stays direct (the controller's health checks come from it), before the rules.
        commands += ["ip route replace default via %s dev %s table %d" % (description.nat_gateway, lan, NAT_TABLE),
                     "ip rule add to %s lookup main pref %d" % (_lan_network(description), NAT_TABLE)]
        commands += ["ip rule add ipproto %s sport %d lookup %d pref %d" % (protocol, port, NAT_TABLE, NAT_TABLE + 1)
                     for protocol, port in dict.fromkeys((k.protocol, e.port) for k, e in entries
                                                         if e.method == "nat")]
    return commands


def _tunnel_ends(description, web):
    lan = web.service_interface.name
    commands = [_sysctl(all__rp_filter=0, default__rp_filter=0, lo__rp_filter=0, **{lan + "__rp_filter": 0})]
    for t in description.tunnels:
        dev = vxlan_device(t.vni)
        commands += ["ip link add %s type vxlan id %d dstport %d local %s nolearning"
                     % (dev, t.vni, VXLAN_UDP_PORT, web.ip),
                     "ip link set %s address %s up" % (dev, tunnel_mac(web.ip)),
                     _sysctl(**{dev + "__rp_filter": 0})]
    return commands


def router_setup(description):
    interfaces = [i.name for i in description.router.interfaces]
    return [_sysctl(all__rp_filter=0, **{name + "__rp_filter": 0 for name in interfaces})]


def proxy_setup(description, proxy):
    """Root-namespace commands that make a proxy bridge a VXLAN tunnel endpoint (when a service
    tunnels)."""
    if "tun" not in description.methods:
        return []
    t = description.tunnel(proxy)
    commands = [
        "ovs-vsctl set bridge %s other-config:hwaddr=%s -- add-port %s %s-vxlan -- set interface "
        "%s-vxlan type=vxlan options:remote_ip=flow options:key=%d ofport_request=%d"
        % (proxy, t.local_mac, proxy, proxy, proxy, t.vni, t.port),
        "ip addr replace %s/%d dev %s" % (t.local_ip, _lan_network(description).prefixlen, proxy),
        "ip link set %s mtu %d up" % (proxy, description.lan_mtu),
        "ovs-appctl ovs/route/add %s %s pkt_mark=%d" % (_lan_network(description), proxy, t.pkt_mark),
    ]
    # Static neighbours: the real servers' MACs are known, no ARP round trip before the first packet.
    local = description.real_servers_on(description.lan_edge)
    commands += ["ovs-appctl tnl/neigh/set %s %s %s" % (proxy, web.ip, web.service_interface.mac)
                 for web in local]
    remote = _remote_network(description)
    if remote is not None:
        # Remote real servers are one hop away, through r0's LAN address.
        gateway = description.router.interface_on(description.lan_edge)
        commands += ["ovs-appctl ovs/route/add %s %s %s pkt_mark=%d" % (remote, proxy, gateway.ip, t.pkt_mark),
                     "ovs-appctl tnl/neigh/set %s %s %s" % (proxy, gateway.ip, gateway.mac)]
    return commands


def proxy_teardown(description, proxy):
    if "tun" not in description.methods:
        return []
    mark = description.tunnel(proxy).pkt_mark
    networks = [_lan_network(description)] + ([_remote_network(description)] if _remote_network(description) else [])
    return ["ovs-appctl ovs/route/del %s pkt_mark=%d" % (net, mark) for net in networks]


def conntrack_setup(description, datapath_type):
    """Timeouts of the proxies' zones: a connection is forgotten after CONNECTION_IDLE_TIMEOUT
    idle, and so is a connection synced from the other proxy (seen once, as a SYN). The tracker
    sees one direction, so in its terms every connection stays "opening" (tcp_syn_recv) and a
    synced one "first packet" (tcp_syn_sent). The userspace tracker's sequence checks need both
    directions: off, or it would refuse a one-way connection's packets once past the first
    window."""
    timeouts = " ".join("%s=%d" % (name, CONNECTION_IDLE_TIMEOUT)
                        for name in ("tcp_syn_sent", "tcp_syn_recv", "tcp_established"))
    commands = ["ovs-vsctl --may-exist add-zone-tp %s zone=%d %s"
                % (datapath_type, description.conntrack_zone(p), timeouts) for p in description.proxies]
    if datapath_type == "netdev" and description.proxies:
        commands.append("ovs-appctl dpctl/ct-disable-tcp-seq-chk")
    return commands


def conntrack_teardown(description, datapath_type):
    commands = ["ovs-vsctl --if-exists del-zone-tp %s zone=%d" % (datapath_type, description.conntrack_zone(p))
                for p in description.proxies]
    if datapath_type == "netdev" and description.proxies:
        commands.append("ovs-appctl dpctl/ct-enable-tcp-seq-chk")
    return commands


def _router_network(description, switch):
    intf = switch and description.router.interface_on(switch)
    return intf and ipaddress.ip_interface("%s/%d" % (intf.ip, intf.prefixlen)).network


def _lan_network(description):
    return _router_network(description, description.lan_edge)


def _remote_network(description):
    return _router_network(description, description.remote_edge)
