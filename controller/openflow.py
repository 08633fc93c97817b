"""FlowSpec -> OpenFlow 1.3 messages (with Open vSwitch's Nicira extensions). The only place
that knows how a spec becomes a FlowMod, how the sync engine's messages (controller/sync.py)
are sent, and how what a switch reports back is read."""
import struct
from typing import Any, List, Optional, Sequence, TypeAlias

from ryu.lib.packet import arp, ethernet, packet
from ryu.ofproto.nicira_ext import NX_CT_F_COMMIT, NX_CT_RECIRC_NONE   # NONE: go on with the next action
from ryu.ofproto.nicira_ext import NX_MP_ALG_MODULO_N, ofs_nbits

from controller.pipeline import BROADCAST, COOKIE_AFFINITY, ETH_ARP, ETH_IP, ETH_PROBE, PRI_MATCH
from controller.specs import (FAST_FAILOVER, Conntrack, FlowSpec, Group, GroupSpec, LearnAffinity, LearnSeen, Meter,
                              Move, Output, Resubmit, SetField, SourceHash)
from controller.sync import AddFlow, AddGroup, AddMeter, Barrier, DeleteFlow, DeleteGroup, Message, Read

CONTROLLER_MAC = "02:00:00:00:00:fe"   # source of the controller's own frames
NX_HASH_FIELDS_NW_SRC = 4              # Open vSwitch's nx_hash_fields (Ryu names only the first two)
# Ryu ships no type hints: its datapaths, parsers, messages and stats stand as these names.
Datapath: TypeAlias = Any
OFMessage: TypeAlias = Any
Parser: TypeAlias = Any
Ofproto: TypeAlias = Any


def _copied(parser: Parser, name: str, bits: int) -> Any:
    """A learn spec: the new flow matches this field's value in the packet that taught it."""
    return parser.NXFlowSpecMatch(src=(name, 0), dst=(name, 0), n_bits=bits)


def _learn_seen(parser: Parser, action: LearnSeen) -> Any:
    """A UDP/ICMP flow's addresses and protocol -> reg3 = 1 (seen, not logged again)."""
    specs = [parser.NXFlowSpecMatch(src=ETH_IP, dst=("eth_type_nxm", 0), n_bits=16),
             _copied(parser, "ipv4_src_nxm", 32), _copied(parser, "ipv4_dst_nxm", 32),
             _copied(parser, "ip_proto_nxm", 8), parser.NXFlowSpecLoad(src=1, dst=("reg3", 0), n_bits=32)]
    return parser.NXActionLearn(table_id=action.table_id, specs=specs, priority=100, cookie=0,
                                idle_timeout=action.idle_timeout, fin_idle_timeout=0, hard_timeout=0,
                                fin_hard_timeout=0, flags=0)


def _learn_affinity(parser: Parser, action: LearnAffinity) -> Any:
    """A persistence entry: (service, client prefix) -> reg1 = this packet's reg1."""
    low = 32 - action.prefixlen
    prefix = [parser.NXFlowSpecMatch(src=("ipv4_src_nxm", low), dst=("ipv4_src_nxm", low), n_bits=action.prefixlen)]
    specs = [parser.NXFlowSpecMatch(src=ETH_IP, dst=("eth_type_nxm", 0), n_bits=16),
             parser.NXFlowSpecMatch(src=action.index, dst=("reg2", 0), n_bits=32)]
    specs += prefix if action.prefixlen else []
    specs.append(parser.NXFlowSpecLoad(src=("reg1", 0), dst=("reg1", 0), n_bits=32))
    return parser.NXActionLearn(table_id=action.table_id, specs=specs, priority=PRI_MATCH, cookie=COOKIE_AFFINITY,
                                idle_timeout=action.idle_timeout, fin_idle_timeout=0, hard_timeout=0,
                                fin_hard_timeout=0, flags=0)


def _conntrack(parser: Parser, action: Conntrack) -> Any:
    marks = [] if action.mark is None else [parser.OFPActionSetField(ct_mark=action.mark)]
    return parser.NXActionCT(flags=NX_CT_F_COMMIT if action.commit else 0, zone_src="", zone_ofs_nbits=action.zone,
                             recirc_table=NX_CT_RECIRC_NONE if action.table is None else action.table,
                             alg=0, actions=marks)


def _action(parser: Parser, action: object) -> Any:
    if isinstance(action, Output):
        return parser.OFPActionOutput(action.port)
    if isinstance(action, SetField):
        return parser.OFPActionSetField(**{action.field: action.value})
    if isinstance(action, Move):
        return parser.NXActionRegMove(src_field=action.src, dst_field=action.dst,
                                      n_bits=action.n_bits)
    if isinstance(action, Resubmit):
        return parser.NXActionResubmitTable(table_id=action.table_id)
    if isinstance(action, Conntrack):
        return _conntrack(parser, action)
    if isinstance(action, Group):
        return parser.OFPActionGroup(action.group_id)
    if isinstance(action, LearnSeen):
        return _learn_seen(parser, action)
    if isinstance(action, LearnAffinity):
        return _learn_affinity(parser, action)
    if isinstance(action, SourceHash):
        return parser.NXActionMultipath(fields=NX_HASH_FIELDS_NW_SRC, basis=0, algorithm=NX_MP_ALG_MODULO_N,
                                        max_link=action.slots - 1, arg=0, ofs_nbits=ofs_nbits(0, 31), dst=action.dst)
    raise TypeError("no OpenFlow translation for action %r" % (action,))


def flow_mod(datapath: Datapath, spec: FlowSpec, command: Optional[int] = None) -> OFMessage:
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    actions = [_action(parser, a) for a in spec.actions if not isinstance(a, Meter)]
    instructions = [parser.OFPInstructionMeter(a.meter_id) for a in spec.actions if isinstance(a, Meter)]
    instructions += [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)] if actions else []
    return parser.OFPFlowMod(datapath=datapath, table_id=spec.table_id, priority=spec.priority,
                             command=ofp.OFPFC_ADD if command is None else command,
                             cookie=spec.wire_cookie, match=parser.OFPMatch(**spec.match_dict),
                             instructions=instructions)


def group_mod(datapath: Datapath, spec: GroupSpec, command: Optional[int] = None) -> OFMessage:
    """A select group, its buckets of equal weight, or a fast-failover group (see
    flows.GroupSpec); a bucket watches its port, if it has one."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    fast_failover = spec.kind == FAST_FAILOVER
    watch_ports = spec.watch_ports or (ofp.OFPP_ANY,) * len(spec.buckets)
    buckets = [parser.OFPBucket(weight=0 if fast_failover else 1, watch_port=port, watch_group=ofp.OFPG_ANY,
                                actions=[_action(parser, a) for a in actions])
               for actions, port in zip(spec.buckets, watch_ports)]
    return parser.OFPGroupMod(datapath, ofp.OFPGC_ADD if command is None else command,
                              ofp.OFPGT_FF if fast_failover else ofp.OFPGT_SELECT, spec.group_id, buckets)


def delete_group(datapath: Datapath, group_id: int) -> OFMessage:
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPGroupMod(datapath, ofp.OFPGC_DELETE, ofp.OFPGT_SELECT, group_id)


def delete_strict(datapath: Datapath, spec: FlowSpec) -> OFMessage:
    ofp = datapath.ofproto
    mod = flow_mod(datapath, spec, ofp.OFPFC_DELETE_STRICT)
    mod.out_port, mod.out_group = ofp.OFPP_ANY, ofp.OFPG_ANY
    return mod


def read_request(datapath: Datapath, part: str) -> OFMessage:
    """What a switch holds: every flow, every group, or every meter's configuration."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    if part == "flows":
        return flow_stats_request(datapath, ofp.OFPTT_ALL)
    if part == "groups":
        return parser.OFPGroupDescStatsRequest(datapath, 0)
    return parser.OFPMeterConfigStatsRequest(datapath, 0, ofp.OFPM_ALL)


def read_back(part: str, stats: Sequence[Any]) -> List[Any]:
    """A read's reply, as the sync engine takes it: (key, cookie) per flow, ids of groups and
    meters."""
    if part == "flows":
        return [((s.table_id, s.priority, tuple(sorted(s.match.items()))), s.cookie) for s in stats]
    return [s.group_id if part == "groups" else s.meter_id for s in stats]


def encode(datapath: Datapath, message: Message) -> List[OFMessage]:
    """One of the sync engine's messages as the OpenFlow messages that carry it, the last with
    the engine's xid (a meter is deleted first: its band is replaced, not added to)."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    if isinstance(message, Read):
        messages = [read_request(datapath, message.part)]
    elif isinstance(message, AddFlow):
        messages = [flow_mod(datapath, message.spec)]
    elif isinstance(message, DeleteFlow):
        messages = [delete_strict(datapath, FlowSpec.from_key(message.key))]
    elif isinstance(message, AddGroup):
        messages = [group_mod(datapath, message.spec, ofp.OFPGC_MODIFY if message.modify else ofp.OFPGC_ADD)]
    elif isinstance(message, DeleteGroup):
        messages = [delete_group(datapath, message.group_id)]
    elif isinstance(message, AddMeter):
        messages = rate_meter(datapath, message.meter_id, message.rate, message.burst)
    elif isinstance(message, Barrier):
        messages = [parser.OFPBarrierRequest(datapath)]
    else:
        raise TypeError("no OpenFlow message for %r" % (message,))
    messages[-1].set_xid(message.xid)
    return messages


def flow_stats_request(datapath: Datapath, table_id: int) -> OFMessage:
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPFlowStatsRequest(datapath, table_id=table_id, out_port=ofp.OFPP_ANY,
                                      out_group=ofp.OFPG_ANY)


def packet_out(datapath: Datapath, port: int, frame: bytes) -> OFMessage:
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPPacketOut(datapath=datapath, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port)], data=frame)


def build_frame(*protocols: Any) -> bytes:
    """An Ethernet frame, serialized, from Ryu packet-library layers."""
    pkt = packet.Packet()
    for protocol in protocols:
        pkt.add_protocol(protocol)
    pkt.serialize()
    return bytes(pkt.data)


PROBE_TAG = b"lvsdn liveness probe"
_PROBE_HEADER = build_frame(ethernet.ethernet(dst=BROADCAST, src=CONTROLLER_MAC, ethertype=ETH_PROBE)) + PROBE_TAG
_SENT_AT = struct.Struct("!d")


def probe_frame(sent_at: float) -> bytes:
    """A liveness probe: an Ethernet frame of the local experimental EtherType that carries the
    controller's clock time it was sent at, padded."""
    return (_PROBE_HEADER + _SENT_AT.pack(sent_at)).ljust(len(_PROBE_HEADER) + 46, b"\0")


def probe_sent_at(frame: bytes) -> Optional[float]:
    """The time a probe frame was sent at (see probe_frame), or None if it is not one."""
    end = len(_PROBE_HEADER) + _SENT_AT.size
    if len(frame) < end or not frame.startswith(_PROBE_HEADER):
        return None
    return _SENT_AT.unpack_from(frame, len(_PROBE_HEADER))[0]


def gratuitous_arp(ip: str, mac: str) -> bytes:
    return build_frame(ethernet.ethernet(dst=BROADCAST, src=mac, ethertype=ETH_ARP),
                       arp.arp(opcode=arp.ARP_REQUEST, src_mac=mac, src_ip=ip, dst_mac="00:00:00:00:00:00",
                               dst_ip=ip))


def rate_meter(datapath: Datapath, meter_id: int, rate: int, burst: int) -> List[OFMessage]:
    """A drop band of `rate` packets per second: how many copies may reach the controller."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return [parser.OFPMeterMod(datapath, command=ofp.OFPMC_DELETE, meter_id=meter_id),
            parser.OFPMeterMod(datapath, command=ofp.OFPMC_ADD, flags=ofp.OFPMF_PKTPS | ofp.OFPMF_BURST
                               | ofp.OFPMF_STATS, meter_id=meter_id,
                               bands=[parser.OFPMeterBandDrop(rate=rate, burst_size=burst)])]


def port_mod(datapath: Datapath, port_no: int, hw_addr: str, down: bool) -> OFMessage:
    """A port taken administratively down (or brought back): Open vSwitch sets its interface
    down, as `ip link set down` would, so the cable's other end loses its carrier."""
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPPortMod(datapath, port_no=port_no, hw_addr=hw_addr, config=ofp.OFPPC_PORT_DOWN if down else 0,
                             mask=ofp.OFPPC_PORT_DOWN, advertise=0)


def meter_stats_request(datapath: Datapath, meter_id: int) -> OFMessage:
    return datapath.ofproto_parser.OFPMeterStatsRequest(datapath, 0, meter_id)


def port_is_up(ofp: Ofproto, port: Any) -> bool:
    """The port's link is up (its carrier, and not taken down by configuration)."""
    return not (port.state & ofp.OFPPS_LINK_DOWN) and not (port.config & ofp.OFPPC_PORT_DOWN)


def port_is_live(ofp: Ofproto, port: Any) -> bool:
    """The port may carry traffic as Open vSwitch sees it: its link up and, where BFD runs on
    it, BFD hearing the other end (what a fast-failover group's bucket watches)."""
    return bool(port.state & ofp.OFPPS_LIVE)
