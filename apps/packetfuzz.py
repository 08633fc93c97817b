"""A bounded packet fuzzer for the cluster's own emulated hosts (scapy): from one host's interface,
malformed and odd frames to the VIP and to every other address, for a given time at a given
rate, from a seeded random generator (the same seed sends the same frames). Prints one JSON
object: frames sent per kind.

    /usr/bin/python3 -m apps.packetfuzz --iface c1-eth0 --seconds 30 --rate 300 --seed 1 \\
        --target 10.0.0.100,00:00:5e:00:01:01 --target 10.0.0.1,02:00:0a:00:00:01 ...

It runs on Debian's python3-scapy (the system Python), so it imports nothing of the project's.
Kinds: truncated frames; IP and TCP headers longer than the packet; lengths that lie; bad
checksums; odd EtherTypes; VLAN and QinQ tags; ARP with bad sizes and opcodes; IP options;
fragments (tiny, overlapping, stray); every TCP flag combination, odd TCP options; ICMP of every
type, errors quoting garbage; UDP; IP versions and header lengths that are not IPv4's; and a
share of each with a forged source (port security's side).
"""
import argparse
import json
import random
import sys
import time

from scapy.arch import get_if_addr
from scapy.config import conf
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_LSRR, IPOption_RR, IPOption_Timestamp, fragment
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

MAX_SECONDS, MAX_RATE = 600, 5000
ETHERTYPES = (0x0000, 0x05dc, 0x0600, 0x0800, 0x0806, 0x86dd, 0x8847, 0x88cc, 0x88b5, 0x8809, 0x9000, 0xffff)


class Fuzzer:
    def __init__(self, mac, ip, targets, seed):
        self.mac, self.ip, self.targets = mac, ip, targets     # targets: [(ip, mac)]
        self.rng = random.Random(seed)
        self.kinds = [getattr(self, name) for name in sorted(dir(self)) if name.startswith("kind_")]

    # --- helpers ------------------------------------------------------------------------------
    def junk(self, low=0, high=64):
        return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(low, high)))

    def base(self):
        """Ether/IP from this host (or, one time in eight, a forged source) to a random target."""
        ip, mac = self.rng.choice(self.targets)
        src_ip, src_mac = self.ip, self.mac
        if self.rng.random() < 0.125:
            src_ip = "10.0.%d.%d" % (self.rng.randint(0, 3), self.rng.randint(1, 254))
            if self.rng.random() < 0.5:
                src_mac = "02:%02x:%02x:%02x:%02x:%02x" % tuple(self.rng.getrandbits(8) for _ in range(5))
        return Ether(src=src_mac, dst=mac), IP(src=src_ip, dst=ip)

    def tcp(self, **fields):
        fields.setdefault("sport", self.rng.randint(1, 65535))
        fields.setdefault("dport", self.rng.choice([80, 22, 443, 2379, 2380, self.rng.randint(0, 65535)]))
        return TCP(**fields)

    # --- kinds: each returns the frame's bytes --------------------------------------------------
    def kind_truncated(self):
        ether, ip = self.base()
        frame = bytes(ether / ip / self.tcp(flags="S") / Raw(self.junk()))
        return frame[:self.rng.randint(1, len(frame) - 1)]

    def kind_long_headers(self):
        ether, ip = self.base()
        if self.rng.random() < 0.5:
            ip.ihl = self.rng.randint(6, 15)                      # claims options that are not there
            return bytes(ether / ip / Raw(self.junk(0, 8)))
        return bytes(ether / ip / self.tcp(flags="S", dataofs=self.rng.randint(6, 15)) / Raw(self.junk(0, 8)))

    def kind_lying_lengths(self):
        ether, ip = self.base()
        ip.len = self.rng.choice([0, 1, 19, 20, 21, 40, 1500, 65535, self.rng.randint(0, 65535)])
        udp = UDP(dport=self.rng.randint(0, 65535), len=self.rng.randint(0, 65535))
        inner = self.tcp(flags="S") if self.rng.random() < 0.5 else udp
        return bytes(ether / ip / inner / Raw(self.junk()))

    def kind_bad_checksums(self):
        ether, ip = self.base()
        ip.chksum = self.rng.getrandbits(16)
        return bytes(ether / ip / self.tcp(flags="S", chksum=self.rng.getrandbits(16)))

    def kind_odd_ethertypes(self):
        ether, _ = self.base()
        ether.type = self.rng.choice(ETHERTYPES + (self.rng.getrandbits(16),))
        return bytes(ether / Raw(self.junk(0, 120)))

    def kind_vlan_tags(self):
        ether, ip = self.base()
        tags = Dot1Q(vlan=self.rng.randint(0, 4095), prio=self.rng.randint(0, 7))
        if self.rng.random() < 0.5:
            tags = Dot1AD(vlan=self.rng.randint(0, 4095)) / tags
        return bytes(ether / tags / ip / self.tcp(flags="S"))

    def kind_bad_arp(self):
        ether, _ = self.base()
        ip, _ = self.rng.choice(self.targets)
        arp = ARP(hwlen=self.rng.choice([0, 1, 6, 7, 255]), plen=self.rng.choice([0, 3, 4, 5, 255]),
                  op=self.rng.randint(0, 65535), hwsrc=self.mac, psrc=self.ip, pdst=ip)
        frame = bytes(Ether(src=ether.src, dst="ff:ff:ff:ff:ff:ff") / arp)
        return frame[:self.rng.randint(14, len(frame))]

    def kind_ip_options(self):
        ether, ip = self.base()
        ip.options = self.rng.choice([[IPOption_RR()], [IPOption_LSRR(routers=[ip.dst])], [IPOption_Timestamp()],
                                      [IPOption_RR(), IPOption_Timestamp()]])
        return bytes(ether / ip / self.tcp(flags="S"))

    def kind_fragments(self):
        ether, ip = self.base()
        whole = ip / self.tcp(flags="S") / Raw(self.junk(16, 200))
        pieces = fragment(whole, fragsize=8 * self.rng.randint(1, 4))
        piece = self.rng.choice(pieces)
        if self.rng.random() < 0.3:
            piece.frag = self.rng.randint(0, 8191)                # stray or overlapping
        return bytes(ether / piece)

    def kind_tcp_flags(self):
        ether, ip = self.base()
        options = self.rng.choice([[], [("MSS", self.rng.randint(0, 65535))], [("WScale", 255)],
                                   [("SAck", (1, 2))], [("NOP", None)] * 10, [("EOL", None)]])
        return bytes(ether / ip / self.tcp(flags=self.rng.randint(0, 255), urgptr=self.rng.getrandbits(16),
                                           options=options) / Raw(self.junk(0, 32)))

    def kind_icmp(self):
        ether, ip = self.base()
        message = ICMP(type=self.rng.randint(0, 255), code=self.rng.randint(0, 255))
        if self.rng.random() < 0.5:           # an error quoting garbage, or a truncated quote
            message = ICMP(type=3, code=self.rng.randint(0, 15))
            return bytes(ether / ip / message / Raw(self.junk(0, 40)))
        return bytes(ether / ip / message / Raw(self.junk()))

    def kind_udp(self):
        ether, ip = self.base()
        return bytes(ether / ip / UDP(sport=self.rng.randint(0, 65535), dport=self.rng.randint(0, 65535))
                     / Raw(self.junk()))

    def kind_not_ipv4(self):
        ether, ip = self.base()
        frame = bytearray(bytes(ether / ip / self.tcp(flags="S")))
        frame[14] = self.rng.choice([0x00, 0x65, 0x41, 0x44, 0xf5, self.rng.getrandbits(8)])   # version, IHL
        return bytes(frame)

    def next_frame(self):
        kind = self.rng.choice(self.kinds)
        return kind.__name__[len("kind_"):], kind()


def parse_target(text):
    ip, sep, mac = text.partition(",")
    if not sep:
        raise argparse.ArgumentTypeError("a target is IP,MAC; got %r" % text)
    return ip, mac


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iface", help="the interface to send on")
    parser.add_argument("--dump", action="store_true",
                        help="print the frames (hex, a kind and a frame per line) instead of sending them")
    parser.add_argument("--seconds", type=float, default=30, help="0..%d" % MAX_SECONDS)
    parser.add_argument("--rate", type=int, default=300, help="frames per second, 1..%d" % MAX_RATE)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", type=parse_target, action="append", required=True, metavar="IP,MAC")
    args = parser.parse_args(argv)
    if not 0 <= args.seconds <= MAX_SECONDS or not 1 <= args.rate <= MAX_RATE:
        parser.error("--seconds must be from 0 to %d and --rate from 1 to %d" % (MAX_SECONDS, MAX_RATE))
    if not args.dump and not args.iface:
        parser.error("--iface is needed to send (or --dump to print the frames)")
    count = int(args.seconds * args.rate)
    if args.dump:
        fuzzer = Fuzzer("02:00:0a:00:00:0b", "10.0.0.11", args.target, args.seed)
        for _ in range(count):
            kind, frame = fuzzer.next_frame()
            print(kind, frame.hex())
        return
    conf.verb = 0
    socket = conf.L2socket(iface=args.iface)
    with open("/sys/class/net/%s/address" % args.iface) as f:
        fuzzer = Fuzzer(f.read().strip(), get_if_addr(args.iface), args.target, args.seed)
    sent: dict = {}
    started = time.monotonic()
    for i in range(count):
        kind, frame = fuzzer.next_frame()
        socket.send(frame)
        sent[kind] = sent.get(kind, 0) + 1
        delay = started + (i + 1) / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    socket.close()
    json.dump({"sent": sum(sent.values()), "kinds": sent, "seconds": round(time.monotonic() - started, 2),
               "seed": args.seed}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
