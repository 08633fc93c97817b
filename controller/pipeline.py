"""The pipeline's names: every table of every switch kind and its order, the groups, meters,
cookies and priorities (as FAUCET's faucet_pipeline.py), and the protocol numbers it matches.
The flows themselves: controller/edge.py, controller/guard.py and controller/proxy.py.

The Ryu adapter (controller/openflow.py) turns each FlowSpec into an OFPFlowMod. Every flow is
installed ahead of time from the cluster description and the balancer's state; no connection
needs the controller.

Edge switches (s_pub, s_lan, s_db, s_far), in tables:
  0 INGRESS      a blocked source dropped (s_pub); port security: a host's port lets in only its
                 own MAC and IP (ARP's sender too), r0's only its MAC and no source of the switch's
                 own subnet but its own; forged IPv4 and ARP dropped and copied to the controller
                 through meter 4 (logged as spoofing, with the port); the proxies' ports pass.
  1 SEGMENT      least privilege (core/segmentation.py, docs/SECURITY.md's matrix): at the
                 sender's own port, what it may send to whom; the rest dropped and copied
                 through meter 3 (logged as blocked).
  2 SWITCH       static L2 among the switch's hosts, plus steering of the VIP (and in NAT the
                 real servers' gateway) to the active proxy, or spread over both by hash
                 (active-active); the controller's liveness probes coming back from the proxies
                 go to the controller.
 10-12 LOG       the connection log: every forwarding (or blocking) flow ends with a resubmit
                 here; a copy of each TCP SYN, and of the first packet of each UDP or ICMP flow,
                 goes to the controller through meter 1. The copy is made after the packet has
                 been forwarded, so a meter that drops copies never holds up forwarding.
Steering goes through groups whose buckets watch the proxies' ports: a fast-failover group (the
active proxy first, the standby next) or a select group (active-active). A port is live while its
link is up and BFD, run by the switches on every proxy cable, hears the proxy: a crashed, cut off
or hung proxy is left behind by the datapath itself, before (or without) the controller.

Proxy pipeline (lb1, lb2), in tables. Per-connection state lives in the datapath's connection
tracker, in the proxy's own zone, with the connection's real server in its mark: a new connection
changes no flow table and, once the pipeline's few megaflows exist, takes no upcall (the 5-tuple
is hashed in the datapath, `dp_hash`, never matched).
  0 CLASSIFY     ARP for the VIPs (and NAT gateway) answered in the data plane; packets to a
                 virtual service (VIP, protocol, port) tagged with its index (reg2) and looked up
                 in the connection tracker, then on to 1; NAT replies from real servers
                 rewritten back to their service's VIP and port and passed to 4;
                 liveness probes sent back where they came from; a SYN copied by the other
                 proxy (to SYNC_MAC, the real server's id in the source MAC) committed to the
                 connection tracker with that server as its mark, and not forwarded: connection
                 sync in the data plane, as LVS's sync daemon.
  1 CONNECTIONS  a packet of a tracked connection whose real server is up goes to that server
                 (ct_mark: affinity across weight and membership changes); a SYN, a connection
                 of a server that left the table, or an untracked packet (a UDP flow's first
                 datagram) goes to its service's select group (through 2 and 3 if the service
                 is persistent). Every packet of a persistent service's connection also looks its
                 client up in 2, which keeps the client's entry alive while it is in use.
  2 AFFINITY     persistence entries, one per client (its address under the service's -M
                 netmask) of a persistent service, learned in 5 with the service's -p as their
                 idle timeout: each loads the real server the client reached into reg1. Learned
                 by the switch (cookie COOKIE_AFFINITY), so the controller leaves them alone.
  3 PERSISTENT   a persistent service's new connection: to the real server its client's entry
                 names while that server is up (quiescent included, as LVS), committed as a
                 bucket would; no entry, or its server down: the service's select group.
  group 0x100+i  service i's select group: TABLE_SIZE equal buckets, one per slot of the table
                 its scheduler fills (controller/schedulers.py). Open vSwitch hashes the 5-tuple
                 in the datapath (dp_hash) and maps hash value i to bucket i; each bucket commits
                 the connection with its slot's real server.
  4 SLOTS        the same slots for a source-hashed service (sh), which has no group: the
                 client's address alone is hashed (multipath on nw_src) into reg3, and the flow
                 of service i's slot reg3 commits as a bucket would.
  5 SELECTED     after the commit: a SYN is copied to the other proxy, naming its real server
                 (which commits it and, for a persistent service, learns the client's entry
                 too); a persistent service's client's entry learned.
  6 FORWARD      one flow per real server of each service (a destination: reg1 and ct_mark
                 hold the service's index << 8 | the web host's id): the forwarding method (NAT
                 rewrite of address and port, DR MAC rewrite, TUN VXLAN encapsulation). Its
                 counters are the destination's traffic; a second flow per TCP destination
                 counts the clients' FINs (closed connections).
  7 EGRESS       NAT replies towards the public side: the client's MAC, or r0's for others.
Only the client-to-VIP direction passes the connection tracker (DR and TUN replies never reach
the proxy; NAT replies are rewritten statelessly), so the tracker follows each connection one way,
as LVS does in DR mode; the harness turns the tracker's sequence checks off and sets its zones'
timeouts (topologies/forwarding.py: conntrack_setup).
"""
# The protocol numbers the pipeline matches, named once for every module that builds or reads it.
from ryu.lib.packet.arp import ARP_REPLY, ARP_REQUEST  # noqa: F401
from ryu.lib.packet.ether_types import ETH_TYPE_ARP as ETH_ARP, ETH_TYPE_IP as ETH_IP  # noqa: F401
from ryu.lib.packet.icmp import ICMP_DEST_UNREACH  # noqa: F401
from ryu.lib.packet.in_proto import IPPROTO_ICMP as PROTO_ICMP, IPPROTO_TCP as PROTO_TCP  # noqa: F401
from ryu.lib.packet.in_proto import IPPROTO_UDP as PROTO_UDP  # noqa: F401
from ryu.lib.packet.tcp import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN  # noqa: F401
from ryu.ofproto.ofproto_v1_3 import OFPP_CONTROLLER as CONTROLLER, OFPP_IN_PORT as IN_PORT  # noqa: F401
from ryu.ofproto.ofproto_v1_3 import OFPP_LOCAL as LOCAL  # noqa: F401

BROADCAST = "ff:ff:ff:ff:ff:ff"
SYNC_MAC = "02:5c:00:00:00:01"    # SYN copies between the proxies...
SYNC_SOURCE = "02:5c:00:00:00:00"  # ...whose source MAC ends with their real server's id
ETH_PROBE = 0x88b5            # IEEE 802 local experimental: the controller's liveness probes

T_CLASSIFY, T_CONNECTIONS, T_AFFINITY, T_PERSISTENT, T_SLOTS, T_SELECTED, T_FORWARD, T_EGRESS = range(8)  # proxies
T_INGRESS, T_SEGMENT, T_SWITCH = 0, 1, 2   # on edge switches: port security, segmentation, forwarding
T_LOG, T_SEEN, T_LOG_NEW = 10, 11, 12     # on edge switches: the connection log
# Each switch kind's tables, in the order a packet meets them (the docstring says what each does).
PROXY_TABLES = (("classify", T_CLASSIFY), ("connections", T_CONNECTIONS), ("affinity", T_AFFINITY),
                ("persistent", T_PERSISTENT), ("slots", T_SLOTS), ("selected", T_SELECTED), ("forward", T_FORWARD),
                ("egress", T_EGRESS))
EDGE_TABLES = (("ingress", T_INGRESS), ("segment", T_SEGMENT), ("switch", T_SWITCH), ("log", T_LOG),
               ("seen", T_SEEN), ("log_new", T_LOG_NEW))
GROUP_FAILOVER = 2            # on s_pub (and s_lan with NAT): the active proxy, else the next live one
GROUP_SPREAD = 3              # on s_pub, active-active: the VIPs' packets over the live proxies
GROUPS = (("failover", GROUP_FAILOVER), ("spread", GROUP_SPREAD))
GROUP_SERVICE_BASE = 0x100    # on proxies: service i's Maglev slots are group 0x100 + i (i from 1 to 255)
GROUP_SERVICES = range(GROUP_SERVICE_BASE + 1, GROUP_SERVICE_BASE + 256)


LOG_METER = 1                 # on edge switches: the connection log's copies
PASSIVE_METER = 2             # on edge switches with real servers: their RSTs and ICMP errors
DENY_METER = 3                # on edge switches: copies of what segmentation refused
SPOOF_METER = 4               # on edge switches: copies of forged packets
LOG_RATE, LOG_BURST = 500, 100          # connection-log copies per second per switch, and burst
PASSIVE_RATE, PASSIVE_BURST = 100, 20   # real servers' RST and ICMP-error copies per second per switch
SPOOF_RATE, SPOOF_BURST = 100, 50       # copies of forged packets per second per switch
NEW_FLOW_IDLE = 30            # s a UDP/ICMP flow stays "seen" (not logged again) while idle

# Priorities, one table for the whole pipeline (as FAUCET's valve_of keeps one).
PRI_BLOCK = 500      # a blocked source: dropped before anything else
PRI_LOCAL = 300      # the switch's own traffic: liveness probes, ARP it answers, its tunnel endpoint
PRI_SYNC = 250       # SYN copies between the proxies
PRI_HIGH = 200       # the VIP and the NAT gateway: steered, served; a SYN choosing its server anew
PRI_NARROW = 110     # a narrower case of a PRI_MATCH flow, counted apart (a SYN, a FIN)
PRI_MATCH = 100      # an exact match: a host's MAC, a connection's server, a real server, a client
PRI_BROAD = 90       # the general case under PRI_MATCH: broadcast, a flow's first packet
PRI_DEFAULT = 10     # the default route
PRI_MISS = 0         # what matched nothing more specific

# tcp_flags matches (value, mask)
SYN_ONLY = (TCP_SYN, TCP_SYN | TCP_ACK)     # a connection's first packet
FIN_SET = (TCP_FIN, TCP_FIN)
RST_SET = (TCP_RST, TCP_RST)

# Cookies tag what installed a flow.
COOKIE_L2 = 0x1
COOKIE_STEER = 0x2
COOKIE_LB = 0x3
COOKIE_PROBE = 0x4
COOKIE_BLOCK = 0x5
COOKIE_LOG = 0x6
COOKIE_PASSIVE = 0x7
COOKIE_GUARD = 0x8            # port security and segmentation: what may pass
COOKIE_DENY = 0x9             # ...what segmentation refused (its copies to the controller)
COOKIE_SPOOF = 0xa            # ...forged packets (their copies to the controller)
COOKIE_AFFINITY = 0xb        # persistence entries the proxies learn: not a kind, so never synced away
COOKIE_KINDS = (COOKIE_L2, COOKIE_STEER, COOKIE_LB, COOKIE_PROBE, COOKIE_BLOCK, COOKIE_LOG, COOKIE_PASSIVE,
                COOKIE_GUARD, COOKIE_DENY, COOKIE_SPOOF)
KIND_MASK = 0xffffffff        # the low half of a switch's cookie: the kind; the high half: a fingerprint
# The words for each kind and each priority (the trace, controller/trace.py, speaks them).
COOKIE_WORDS = {COOKIE_L2: ("l2", "static L2 forwarding"),
                COOKIE_STEER: ("steer", "the VIPs steered to the proxies"),
                COOKIE_LB: ("lb", "the load balancer"),
                COOKIE_PROBE: ("probe", "the controller's liveness probes"),
                COOKIE_BLOCK: ("block", "a blocked source"),
                COOKIE_LOG: ("log", "the connection log"),
                COOKIE_PASSIVE: ("passive", "the passive health checks"),
                COOKIE_GUARD: ("guard", "port security and segmentation: what may pass"),
                COOKIE_DENY: ("deny", "what segmentation refuses"),
                COOKIE_SPOOF: ("spoof", "a forged packet"),
                COOKIE_AFFINITY: ("affinity", "a persistence entry the proxy learned")}
PRIORITY_NAMES = {PRI_BLOCK: "block", PRI_LOCAL: "local", PRI_SYNC: "sync", PRI_HIGH: "high", PRI_NARROW: "narrow",
                  PRI_MATCH: "match", PRI_BROAD: "broad", PRI_DEFAULT: "default", PRI_MISS: "miss"}
METER_NAMES = {LOG_METER: "the connection log's copies", PASSIVE_METER: "the passive checks' copies",
               DENY_METER: "copies of what segmentation refused", SPOOF_METER: "copies of forged packets"}
# Every copy an edge switch sends the controller passes the meter of its kind, and only that one
# (controller/accounting.py counts each meter's copies against what the controller received).
COPY_METERS = {COOKIE_LOG: LOG_METER, COOKIE_DENY: DENY_METER, COOKIE_SPOOF: SPOOF_METER,
               COOKIE_PASSIVE: PASSIVE_METER}


def service_group(index: int) -> int:
    """The select group of the service with this index."""
    return GROUP_SERVICE_BASE + index
