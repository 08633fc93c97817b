"""`lb -S` read back: a cluster started from the rules another one saved (`lb -S`, as `run.py
--services FILE` reads them) serves the same services as `lb -Ln` lists them."""
import pytest

from tests.emulation.test_services import RULES
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


def listed(cluster):
    """`lb -Ln` without its figures: each service line, each real server's address, method and
    weight."""
    return [" ".join(line.split()[:4]) for line in cluster.ipvsadm("-Ln").splitlines()[3:]]


def test_saved_rules_read_back_give_the_same_lb_table(tmp_path):
    with Cluster(mode="nat", clients=2, webs=2, services=RULES) as first:
        first.ipvsadm("-e -t 10.0.0.101:8080 -r 10.0.1.12:8080 -g -w 3")        # changed at run time
        saved, table = first.ipvsadm("-S"), listed(first)
    path = tmp_path / "ipvsadm.rules"
    path.write_text(saved + "\n")
    with Cluster(mode="nat", clients=2, webs=2, services=path.read_text().splitlines(),
                 services_from=str(path)) as second:
        assert listed(second) == table and second.ipvsadm("-S") == saved
    assert "-> 10.0.1.12:8080 Route 3" in table
