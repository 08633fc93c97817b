"""The few header fields the controller reads from copies of packets that hosts sent: a bounded
parser that never raises and never loops.

Not Ryu's packet library, for these bytes: anyone on the network writes them, and that library
loops forever on a TCP option of length 0 (ryu/lib/packet/tcp.py, TCPOption.parser returns the
buffer it was given), and raises on odd EtherTypes; found by apps/packetfuzz.py. Ryu still builds
the frames the controller sends (controller/openflow.py).
"""
import ipaddress
import struct
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ryu.lib.packet.ether_types import (ETH_TYPE_8021AD, ETH_TYPE_8021Q, ETH_TYPE_ARP as ETH_ARP,
                                        ETH_TYPE_IP as ETH_IP)
from ryu.lib.packet.in_proto import IPPROTO_ICMP as PROTO_ICMP, IPPROTO_TCP as PROTO_TCP, IPPROTO_UDP as PROTO_UDP

VLAN_TYPES = (ETH_TYPE_8021Q, ETH_TYPE_8021AD, 0x9100)      # and the old QinQ, which Ryu does not name
MAX_TAGS = 2


@dataclass(frozen=True)
class Frame:
    """What a copy says; None where the packet does not say it (or says it malformed)."""
    eth_src: str
    eth_type: int
    ip_src: Optional[str] = None       # IPv4 source, or ARP's sender address
    ip_dst: Optional[str] = None       # IPv4 destination, or ARP's target address
    proto: Optional[int] = None        # IPv4 protocol (None for ARP)
    src_port: Optional[int] = None     # TCP or UDP
    dst_port: Optional[int] = None
    tcp_flags: Optional[int] = None
    icmp_type: Optional[int] = None
    icmp_code: Optional[int] = None
    quoted_dst: Optional[str] = None   # an ICMP error's quoted IPv4 header: its destination
    quoted_proto: Optional[int] = None  # ...its protocol
    quoted_dst_port: Optional[int] = None  # ...and, for TCP or UDP, its destination port

    @property
    def is_ipv4(self) -> bool:
        return self.eth_type == ETH_IP and self.ip_src is not None


def _mac(raw: bytes) -> str:
    return ":".join("%02x" % b for b in raw)


def _ipv4_header(data: bytes) -> Optional[Tuple[str, str, int, bytes]]:
    """(source, destination, protocol, payload) of an IPv4 header at the start of `data`, or
    None if it is not a well-formed one. The payload stops at the header's total length."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    header_length, total_length = (data[0] & 0x0f) * 4, struct.unpack_from("!H", data, 2)[0]
    if header_length < 20 or len(data) < header_length:
        return None
    end = min(len(data), max(total_length, header_length))
    fragment_offset = struct.unpack_from("!H", data, 6)[0] & 0x1fff
    payload = data[header_length:end] if fragment_offset == 0 else b""    # later fragments carry no header
    return (str(ipaddress.IPv4Address(data[12:16])), str(ipaddress.IPv4Address(data[16:20])), data[9], payload)


def _transport(proto: int, payload: bytes) -> Dict[str, Any]:
    """The TCP/UDP ports and TCP flags, or ICMP type, code and quoted destination."""
    fields: Dict[str, Any] = {}
    if proto in (PROTO_TCP, PROTO_UDP) and len(payload) >= 4:
        fields["src_port"], fields["dst_port"] = struct.unpack_from("!HH", payload)
        if proto == PROTO_TCP and len(payload) >= 14:
            fields["tcp_flags"] = payload[13] | (payload[12] & 0x01) << 8
    elif proto == PROTO_ICMP and len(payload) >= 2:
        fields["icmp_type"], fields["icmp_code"] = payload[0], payload[1]
        quoted = _ipv4_header(payload[8:]) if len(payload) >= 28 else None
        if quoted:
            fields["quoted_dst"], fields["quoted_proto"] = quoted[1], quoted[2]
            if quoted[2] in (PROTO_TCP, PROTO_UDP) and len(quoted[3]) >= 4:
                fields["quoted_dst_port"] = struct.unpack_from("!H", quoted[3], 2)[0]
    return fields


def parse(data: bytes) -> Optional[Frame]:
    """The Frame of an Ethernet frame's bytes (VLAN tags skipped), or None if it is too short."""
    if len(data) < 14:
        return None
    eth_src, (eth_type,), offset = _mac(data[6:12]), struct.unpack_from("!H", data, 12), 14
    for _ in range(MAX_TAGS):
        if eth_type not in VLAN_TYPES or len(data) < offset + 4:
            break
        eth_type, offset = struct.unpack_from("!H", data, offset + 2)[0], offset + 4
    body = data[offset:]
    if eth_type == ETH_IP:
        header = _ipv4_header(body)
        if header is None:
            return Frame(eth_src, eth_type)
        src, dst, proto, payload = header
        return Frame(eth_src, eth_type, src, dst, proto, **_transport(proto, payload))
    if eth_type == ETH_ARP and len(body) >= 28 and body[4:6] == b"\x06\x04":    # Ethernet/IPv4 ARP
        return Frame(eth_src, eth_type, str(ipaddress.IPv4Address(body[14:18])),
                     str(ipaddress.IPv4Address(body[24:28])))
    return Frame(eth_src, eth_type)
