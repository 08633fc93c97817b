"""FlowSpec -> OpenFlow 1.3 messages (with Open vSwitch's Nicira extensions). The only place
that knows how a spec becomes a FlowMod."""
from ryu.lib.packet import arp, ethernet, packet
from ryu.ofproto import nicira_ext

from controller.flows import (BROADCAST, ETH_PROBE, LearnConnection, LearnSeen, Meter, Move, Multipath, Output,
                              Resubmit, SetField)

CONTROLLER_MAC = "02:00:00:00:00:fe"   # source of the controller's own frames

HASH_SYMMETRIC_L3L4 = 2   # NX_HASH_FIELDS_SYMMETRIC_L3L4: IP addresses, protocol, L4 ports


def _copied(parser, name, bits):
    """A learn spec: the new flow matches this field's value in the packet that taught it."""
    return parser.NXFlowSpecMatch(src=(name, 0), dst=(name, 0), n_bits=bits)


def _learn_action(parser, table_id, specs, cookie, idle_timeout, fin_idle_timeout=0):
    ipv4 = parser.NXFlowSpecMatch(src=0x0800, dst=("eth_type_nxm", 0), n_bits=16)
    return parser.NXActionLearn(table_id=table_id, specs=[ipv4] + specs, priority=100, cookie=cookie,
                                idle_timeout=idle_timeout, fin_idle_timeout=fin_idle_timeout,
                                hard_timeout=0, fin_hard_timeout=0, flags=0)


def _learn(parser, action):
    """A TCP connection's 5-tuple -> its real server in `action.register`."""
    specs = [parser.NXFlowSpecMatch(src=6, dst=("ip_proto_nxm", 0), n_bits=8),
             _copied(parser, "ipv4_src_nxm", 32), _copied(parser, "ipv4_dst_nxm", 32),
             _copied(parser, "tcp_src_nxm", 16), _copied(parser, "tcp_dst_nxm", 16),
             parser.NXFlowSpecLoad(src=(action.register, 0) if action.value is None else action.value,
                                   dst=(action.register, 0), n_bits=32)]
    return _learn_action(parser, action.table_id, specs, action.cookie, action.idle_timeout,
                         action.fin_idle_timeout)


def _learn_seen(parser, action):
    """A UDP/ICMP flow's addresses and protocol -> reg3 = 1 (seen, not logged again)."""
    specs = [_copied(parser, "ipv4_src_nxm", 32), _copied(parser, "ipv4_dst_nxm", 32),
             _copied(parser, "ip_proto_nxm", 8), parser.NXFlowSpecLoad(src=1, dst=("reg3", 0), n_bits=32)]
    return _learn_action(parser, action.table_id, specs, 0, action.idle_timeout)


def _action(parser, action):
    if isinstance(action, Output):
        return parser.OFPActionOutput(action.port)
    if isinstance(action, SetField):
        return parser.OFPActionSetField(**{action.field: action.value})
    if isinstance(action, Move):
        return parser.NXActionRegMove(src_field=action.src, dst_field=action.dst,
                                      n_bits=action.n_bits)
    if isinstance(action, Resubmit):
        return parser.NXActionResubmitTable(table_id=action.table_id)
    if isinstance(action, Multipath):
        return parser.NXActionMultipath(
            fields=HASH_SYMMETRIC_L3L4, basis=0, algorithm=nicira_ext.NX_MP_ALG_MODULO_N,
            max_link=action.n_links - 1, arg=0, ofs_nbits=nicira_ext.ofs_nbits(0, 15), dst=action.dst)
    if isinstance(action, LearnConnection):
        return _learn(parser, action)
    if isinstance(action, LearnSeen):
        return _learn_seen(parser, action)
    raise TypeError("no OpenFlow translation for action %r" % (action,))


def flow_mod(datapath, spec, command=None):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    actions = [_action(parser, a) for a in spec.actions if not isinstance(a, Meter)]
    instructions = [parser.OFPInstructionMeter(a.meter_id) for a in spec.actions if isinstance(a, Meter)]
    instructions += [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)] if actions else []
    return parser.OFPFlowMod(datapath=datapath, table_id=spec.table_id, priority=spec.priority,
                             command=ofp.OFPFC_ADD if command is None else command,
                             cookie=spec.cookie, match=parser.OFPMatch(**spec.match_dict),
                             instructions=instructions)


def delete_strict(datapath, spec):
    ofp = datapath.ofproto
    mod = flow_mod(datapath, spec, ofp.OFPFC_DELETE_STRICT)
    mod.out_port, mod.out_group = ofp.OFPP_ANY, ofp.OFPG_ANY
    return mod


def delete_all_flows(datapath):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPFlowMod(datapath=datapath, table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE,
                             out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch())


def delete_by_cookie(datapath, table_id, cookie, cookie_mask):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPFlowMod(datapath=datapath, table_id=table_id, command=ofp.OFPFC_DELETE,
                             cookie=cookie, cookie_mask=cookie_mask, out_port=ofp.OFPP_ANY,
                             out_group=ofp.OFPG_ANY, match=parser.OFPMatch())


def flow_stats_request(datapath, table_id):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPFlowStatsRequest(datapath, table_id=table_id, out_port=ofp.OFPP_ANY,
                                      out_group=ofp.OFPG_ANY)


def aggregate_request(datapath, table_id, cookie):
    """Totals (flow count, packets, bytes) of a table's flows carrying exactly `cookie`."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPAggregateStatsRequest(datapath, 0, table_id, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                           cookie, 0xffffffffffffffff, parser.OFPMatch())


def packet_out(datapath, port, frame):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPPacketOut(datapath=datapath, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port)], data=frame)


def build_frame(*protocols):
    """An Ethernet frame, serialized, from Ryu packet-library layers."""
    pkt = packet.Packet()
    for protocol in protocols:
        pkt.add_protocol(protocol)
    pkt.serialize()
    return bytes(pkt.data)


def probe_frame():
    """A liveness probe: an Ethernet frame of the local experimental EtherType, padded."""
    return build_frame(ethernet.ethernet(dst=BROADCAST, src=CONTROLLER_MAC, ethertype=ETH_PROBE)) + \
        b"lvsdn liveness probe".ljust(46, b"\0")


def gratuitous_arp(ip, mac):
    return build_frame(ethernet.ethernet(dst=BROADCAST, src=mac, ethertype=0x0806),
                       arp.arp(opcode=arp.ARP_REQUEST, src_mac=mac, src_ip=ip, dst_mac="00:00:00:00:00:00",
                               dst_ip=ip))


def log_meter(datapath, meter_id, rate, burst):
    """A drop band of `rate` packets per second: how many log copies may reach the controller."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return [parser.OFPMeterMod(datapath, command=ofp.OFPMC_DELETE, meter_id=meter_id),
            parser.OFPMeterMod(datapath, command=ofp.OFPMC_ADD, flags=ofp.OFPMF_PKTPS | ofp.OFPMF_BURST
                               | ofp.OFPMF_STATS, meter_id=meter_id,
                               bands=[parser.OFPMeterBandDrop(rate=rate, burst_size=burst)])]


def meter_stats_request(datapath, meter_id):
    return datapath.ofproto_parser.OFPMeterStatsRequest(datapath, 0, meter_id)


def port_is_up(ofp, port):
    return not (port.state & ofp.OFPPS_LINK_DOWN) and not (port.config & ofp.OFPPC_PORT_DOWN)
