"""A UDP echo for a real server's UDP services other than DNS: each datagram comes back as
`served_by=NAME ` and the datagram, from the address it was sent to (the VIP, for DR and TUN,
where the kernel would otherwise answer from the host's own address), so that a client sees which
real server answered: the UDP counterpart of the web app's `served_by`.

    python -m apps.udpecho --name web1 --port 5000      # serve
    python -m apps.udpecho --ask 10.0.1.11 5000         # one question: prints the answer, exit 0
"""
import argparse
import socket
import struct
import sys

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)      # Linux's value, for Pythons that lack the name
PKTINFO = struct.Struct("=I4s4s")                    # struct in_pktinfo: ifindex, spec_dst, addr
MAX_DATAGRAM = 65535


def answer(name, data):
    return b"served_by=" + name.encode() + b" " + data


def serve(name, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.bind(("0.0.0.0", port))
        while True:
            data, ancillary, _, client = sock.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(PKTINFO.size))
            to = next((PKTINFO.unpack(d[:PKTINFO.size])[2] for level, kind, d in ancillary
                       if (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO)), None)
            reply_from = [(socket.IPPROTO_IP, IP_PKTINFO, PKTINFO.pack(0, to, bytes(4)))] if to else []
            sock.sendmsg([answer(name, data)], reply_from, 0, client)


def ask(address, port, timeout=1.0):
    """The answer to one datagram, or None (connected: only an answer from `address` counts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((address, port))
        sock.send(b"hello")
        try:
            return sock.recv(MAX_DATAGRAM).decode(errors="replace")
        except (socket.timeout, ConnectionRefusedError):
            return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m apps.udpecho", description=__doc__.split("\n")[0])
    parser.add_argument("--name", help="this host's name, in each answer")
    parser.add_argument("--port", type=int, help="the UDP port to serve")
    parser.add_argument("--ask", nargs=2, metavar=("ADDRESS", "PORT"), help="ask once and print the answer")
    args = parser.parse_args(argv)
    if args.ask:
        reply = ask(args.ask[0], int(args.ask[1]))
        print(reply or "no answer")
        return 0 if reply else 1
    if not args.name or not args.port or not 1 <= args.port <= 65535:
        parser.error("serving needs --name and a --port from 1 to 65535")
    try:
        serve(args.name, args.port)
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        print("udpecho: cannot serve UDP port %d: %s" % (args.port, e.strerror), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
