"""The controller reads hosts' packets with a parser that never raises and never loops: random
bytes (hypothesis), and the packet fuzzer's own frames (apps/packetfuzz.py, Debian's scapy)."""
import os
import shutil
import signal
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from controller.connlog import connection_record, passive_signal, spoofing_record
from controller.frames import parse
from tests.unit.conftest import ROOT

SCAPY_PYTHON = "/usr/bin/python3"
ETHER_IP = bytes.fromhex("00005e000101" "02000a00000b" "0800")
TARGETS = ["10.0.0.100,00:00:5e:00:01:01", "10.0.1.11,02:00:0a:00:00:01", "255.255.255.255,ff:ff:ff:ff:ff:ff"]


def read_everything(data):
    """All the controller makes of one copy, within 1 s."""
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        parse(data)
        connection_record(data, "s_pub", refused=True)
        spoofing_record(data, "s_pub", 4, "c1", "10.0.0.11")
        passive_signal(data, {"10.0.1.11": "web1"}, {"02:00:0a:00:01:0b": "web1"})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


@settings(max_examples=2000, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=120).map(lambda tail: ETHER_IP + tail),
                 st.binary(min_size=20, max_size=120).map(lambda tail: ETHER_IP + b"\x4f" + tail)))
def test_random_bytes_never_raise_or_hang(data):
    read_everything(data)


def test_a_tcp_option_of_length_zero_is_read_as_a_syn():
    """Such a frame hung Ryu's parser (and with it the controller) for good."""
    ip = bytes.fromhex("4500002c00010000400600000a00000b0a000064")
    tcp = bytes.fromhex("9c4000500000000000000000" "6002ffff00000000" "de000000")   # option 0xde, length 0
    frame = parse(ETHER_IP + ip + tcp)
    assert (frame.ip_src, frame.dst_port, frame.tcp_flags) == ("10.0.0.11", 80, 0x002)
    assert connection_record(ETHER_IP + ip + tcp, "s_pub")["destination.port"] == 80


@pytest.mark.skipif(not shutil.which(SCAPY_PYTHON) or subprocess.run(
    [SCAPY_PYTHON, "-c", "import scapy"], capture_output=True).returncode, reason="python3-scapy is not installed")
def test_every_frame_of_the_packet_fuzzer_is_read_in_bounded_time():
    out = subprocess.run([SCAPY_PYTHON, "-m", "apps.packetfuzz", "--dump", "--seconds", "20", "--rate", "300",
                          "--seed", "7"] + ["--target=" + t for t in TARGETS],
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    frames = [line.split() for line in out.splitlines()]
    assert len(frames) == 6000 and len({kind for kind, _ in frames}) == 13
    for _, data in frames:
        read_everything(bytes.fromhex(data))
