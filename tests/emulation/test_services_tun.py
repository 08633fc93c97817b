"""A UDP service by TUN with a remote real server (one L3 hop behind r0): every client is
answered, by both real servers across the clients, from the VIP (the UDP echo answers from the
address it was asked at, and the asking socket is connected to the VIP), straight back through
r0."""
import pytest

from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation

RULES = ["-A -u 10.0.0.100:5000 -s mh",
         "-a -u 10.0.0.100:5000 -r 10.0.1.11 -i",
         "-a -u 10.0.0.100:5000 -r 10.0.3.11 -i"]
CLIENTS = ("c1", "c2", "c3", "c4")


@pytest.fixture(scope="module")
def cluster():
    with Cluster(mode="tun", clients=4, webs=1, remote_webs=1, services=RULES) as running:
        yield running


def ask(cluster, client):
    """The UDP echo's answer to `client` (asked at the VIP), or None."""
    out = cluster.app(client, "apps.udpecho", "--ask", "10.0.0.100", 5000).communicate(timeout=30)[0].strip()
    return out.split()[0].split("=")[1] if out.startswith("served_by=") else None


def test_every_client_is_answered_from_the_vip_by_both_real_servers_across_the_clients(cluster):
    answers = {client: {ask(cluster, client) for _ in range(5)} for client in CLIENTS}
    assert all(len(a) == 1 and None not in a for a in answers.values()), answers    # one real server per client
    assert set().union(*answers.values()) == {"web1", "web2"}, answers


def test_the_remote_real_server_is_up_by_its_udp_check(cluster):
    (service,) = cluster.rest("GET", "/lb/services")["services"]
    assert [(r["name"], r["method"], r["state"], r["check"]) for r in service["real_servers"]] == [
        ("web1", "tun", "up", "UDP_CHECK"), ("web2", "tun", "up", "UDP_CHECK")]
    assert service["state"] == "up"
