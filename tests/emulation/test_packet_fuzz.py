"""Malformed and odd packets from a client for 30 s (apps/packetfuzz.py, scapy), to the VIP and to
every other address, in NAT, DR and TUN: the controller stays up with no exception in its log,
another client keeps being served, and the controller hears only what the design sends it
(metered copies; no other packet-in)."""
import json
import os
import subprocess

import pytest

from tests.emulation.helpers import status
from topologies.cluster import ROOT, Cluster

pytestmark = pytest.mark.emulation

SECONDS, RATE = 30, 300
SCAPY_PYTHON = "/usr/bin/python3"       # Debian's python3-scapy


def targets(d, switch):
    """(IP, MAC) of every address in the cluster as a host on `switch` would send to it: its
    neighbours' own MACs, the VIP's, r0's for everything beyond."""
    router = d.router.interface_on(switch).mac
    local = {i.ip: i.mac for i in d.host_ports(switch).values()}
    found = {(d.vip, d.vip_mac), ("255.255.255.255", "ff:ff:ff:ff:ff:ff"), (d.nat_gateway, router)}
    found |= {(i.ip, local.get(i.ip, router)) for h in d.hosts for i in h.interfaces}
    return sorted(found)


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_a_packet_fuzzer_on_one_client_leaves_the_cluster_serving_the_others(mode):
    with Cluster(mode=mode, clients=2, webs=2) as cluster:
        d = cluster.description
        before = status(cluster)
        c1 = d.host("c1").interface_on(d.public_edge)
        fuzzer = cluster.host("c1").popen(
            [SCAPY_PYTHON, "-m", "apps.packetfuzz", "--iface", c1.name, "--seconds", str(SECONDS),
             "--rate", str(RATE), "--seed", str(sum(map(ord, mode)))]
            + ["--target=%s,%s" % target for target in targets(d, d.public_edge)],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        client = cluster.app("c2", "apps.loadclient", "--url", "http://%s/" % d.vip, "--connections",
                             SECONDS * 20, "--interval", 0.03, "--timeout", 1)
        out, err = fuzzer.communicate(timeout=SECONDS + 60)
        assert fuzzer.returncode == 0, err
        sent = json.loads(out)
        served = json.loads(client.communicate(timeout=120)[0])
        after = status(cluster)
        assert sent["sent"] == SECONDS * RATE and len(sent["kinds"]) == 13
        assert served["errors"] <= 0.01 * SECONDS * 20, served
        assert cluster.controller.poll() is None
        with open(os.path.join(cluster.log_dir, "controller.log")) as log:
            text = log.read()
        assert "Traceback" not in text and "Exception" not in text, text[-3000:]
        assert after["packet_in"] == before["packet_in"] == 0           # nothing but what the design sends
        copies = after["log_copies"] + after["spoofed"] - before["log_copies"] - before["spoofed"]
        assert 0 < copies <= (500 + 500 + 100) * (SECONDS + 10) * len(d.switches)   # bounded by the meters
        assert after["spoofed"] > before["spoofed"] and after["refused"] > before["refused"]
